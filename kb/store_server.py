"""The store on a Qdrant server (``KB_QDRANT_URL``) through qdrant-client.

The same class runs on qdrant-client's local mode in the contract tests. Local mode is not
thread-safe, so its calls are serialised by a lock; calls to a server run concurrently. Every
call is retried with exponential backoff on connection errors and 5xx answers, then raises
:class:`StoreUnavailable`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import httpx
import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ingest.models import Chunk
from kb.errors import IndexNotReady, StoreUnavailable
from kb.models import DocRecord, Hit, SearchFilters, SparseVector
from kb.store_base import (
    DATE_FIELD,
    DENSE,
    DOCS_SUFFIX,
    FACET_FIELDS,
    KEYWORD_FIELDS,
    KIND,
    MATCH_FIELDS,
    META_ID,
    RRF_K,
    SPARSE,
    UPSERT_BATCH,
    check_model,
    check_upsert,
    chunk_payload,
    chunk_point_id,
    doc_payload,
    doc_point_id,
    record_from_payload,
    single_stage_hits,
    sort_records,
    stage_hits,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
_DOC_VECTOR = "d"
_SCROLL_PAGE = 1000


def server_filter(filters: SearchFilters, extra: Sequence[models.Condition] = ()) -> models.Filter | None:
    """Translate :class:`SearchFilters` into a qdrant-client filter (``None`` when empty)."""
    must: list[models.Condition] = list(extra)
    for field in MATCH_FIELDS:
        values: list[str] = getattr(filters, field)
        if values:
            must.append(models.FieldCondition(key=field, match=models.MatchAny(any=list(values))))
    if filters.date_from or filters.date_to:
        must.append(
            models.FieldCondition(
                key=DATE_FIELD, range=models.DatetimeRange(gte=filters.date_from, lte=filters.date_to)
            )
        )
    return models.Filter(must=must) if must else None


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


_IS_DOC = _match(KIND, "doc")


def _retryable(err: Exception) -> bool:
    if isinstance(err, UnexpectedResponse):
        return err.status_code is not None and err.status_code >= 500
    return isinstance(err, ResponseHandlingException | httpx.TransportError | ConnectionError | TimeoutError)


class QdrantServerStore:
    """:class:`kb.store_base.VectorStore` through a :class:`QdrantClient`."""

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        retries: int = 3,
        backoff_s: float = 0.2,
        serialize: bool | None = None,
    ) -> None:
        """Wrap a client.

        Args:
            client: a client for a server, or in local mode for tests.
            collection: name of the chunk collection; the registry is ``<name>__docs``.
            retries: retries after the first failed attempt of a call.
            backoff_s: first retry delay, doubled on each retry.
            serialize: lock every call; defaults to True for local mode (not thread-safe).
        """
        self.client = client
        self.collection = collection
        self.docs = collection + DOCS_SUFFIX
        self.retries = retries
        self.backoff_s = backoff_s
        opts: dict[str, Any] = getattr(client, "init_options", {}) or {}
        local = bool(opts.get("location") == ":memory:" or opts.get("path"))
        self._local = local
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if (local if serialize is None else serialize) else nullcontext()
        )

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                with self._lock:
                    return fn(*args, **kwargs)
            except Exception as err:
                if not _retryable(err):
                    raise
                if attempt == self.retries:
                    raise StoreUnavailable(
                        f"Qdrant did not answer after {attempt + 1} attempts ({err}); "
                        "check KB_QDRANT_URL, KB_QDRANT_API_KEY and that the server is running"
                    ) from err
                logger.warning("Qdrant call failed (attempt %s), retrying in %.1fs", attempt + 1, delay)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # -- lifecycle -------------------------------------------------------------------------

    def _meta(self) -> dict[str, Any] | None:
        if not self._call(self.client.collection_exists, self.docs):
            return None
        recs = self._call(self.client.retrieve, self.docs, [META_ID], with_payload=True)
        return dict(recs[0].payload or {}) if recs else None

    def ensure_collection(self, model_id: str, dim: int) -> None:
        """Create the collections on first use, else check the model. See the protocol."""
        if not self._call(self.client.collection_exists, self.collection):
            self._call(
                self.client.create_collection,
                self.collection,
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            self._indexes(self.collection)
        if not self._call(self.client.collection_exists, self.docs):
            self._call(
                self.client.create_collection,
                self.docs,
                vectors_config={_DOC_VECTOR: models.VectorParams(size=1, distance=models.Distance.DOT)},
            )
            self._indexes(self.docs, KIND)
        meta = self._meta()
        if meta is None:
            point = models.PointStruct(
                id=META_ID,
                vector={_DOC_VECTOR: [1.0]},
                payload={KIND: "meta", "model_id": model_id, "dim": dim},
            )
            self._call(self.client.upsert, self.docs, [point], wait=True)
            logger.info("created collection %s (dim %s)", self.collection, dim)
            return
        check_model(meta, model_id, dim, self.collection)

    def _indexes(self, name: str, *extra: str) -> None:
        if self._local:  # local mode ignores payload indexes and warns about each one
            return
        for field in (*KEYWORD_FIELDS, *extra):
            self._call(self.client.create_payload_index, name, field, models.PayloadSchemaType.KEYWORD)
        self._call(self.client.create_payload_index, name, DATE_FIELD, models.PayloadSchemaType.DATETIME)

    def has_collection(self) -> bool:
        """True when the collections exist and carry their model record."""
        return self._call(self.client.collection_exists, self.collection) and self._meta() is not None

    def _ready(self) -> None:
        if not self._call(self.client.collection_exists, self.collection):
            raise IndexNotReady(f"collection {self.collection} does not exist yet: run `kb ingest` first")

    def flush(self) -> None:
        """Nothing to do: the server owns durability (every write waits for it)."""

    def close(self) -> None:
        """Close the client's connections."""
        self._call(self.client.close)

    # -- chunks ----------------------------------------------------------------------------

    def upsert_chunks(self, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]) -> None:
        """Write chunks with their vectors; the same chunk ids overwrite."""
        check_upsert(chunks, dense, sparse)
        self._ready()
        for start in range(0, len(chunks), UPSERT_BATCH):
            points = [
                models.PointStruct(
                    id=chunk_point_id(c.chunk_id),
                    vector={
                        DENSE: dense[i].astype(np.float32).tolist(),
                        SPARSE: models.SparseVector(indices=list(sparse[i].indices), values=list(sparse[i].values)),
                    },
                    payload=chunk_payload(c),
                )
                for i, c in enumerate(chunks[start : start + UPSERT_BATCH], start=start)
            ]
            self._call(self.client.upsert, self.collection, points, wait=True)

    def _delete_where(self, name: str, flt: models.Filter) -> int:
        n = self._call(self.client.count, name, count_filter=flt, exact=True).count
        if n:
            self._call(self.client.delete, name, models.FilterSelector(filter=flt), wait=True)
        return n

    def delete_chunks(self, doc_id: str, keep_sha256: str | None = None) -> int:
        """Delete a document's chunks, or those of other versions than ``keep_sha256``."""
        self._ready()
        must_not: list[models.Condition] = [_match("content_sha256", keep_sha256)] if keep_sha256 else []
        return self._delete_where(self.collection, models.Filter(must=[_match("doc_id", doc_id)], must_not=must_not))

    def _scroll(self, name: str, flt: models.Filter | None, payload: bool | list[str] = True) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset: Any = None
        while True:
            recs, offset = self._call(
                self.client.scroll,
                name,
                scroll_filter=flt,
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=payload,
            )
            out.extend(dict(r.payload or {}) for r in recs)
            if offset is None:
                return out

    def get_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks by ordinal."""
        self._ready()
        payloads = self._scroll(self.collection, models.Filter(must=[_match("doc_id", doc_id)]))
        return sorted((Chunk.model_validate(p) for p in payloads), key=lambda c: c.ordinal)

    def get_chunk(self, chunk_id: str) -> Chunk | None:
        """One chunk by id."""
        self._ready()
        recs = self._call(self.client.retrieve, self.collection, [chunk_point_id(chunk_id)], with_payload=True)
        return Chunk.model_validate(recs[0].payload) if recs else None

    def count_chunks(self) -> int:
        """Number of chunks stored."""
        self._ready()
        return int(self._call(self.client.count, self.collection, exact=True).count)

    def chunk_ids(self) -> set[str]:
        """Every stored chunk id."""
        self._ready()
        return {p["chunk_id"] for p in self._scroll(self.collection, None, ["chunk_id"])}

    # -- registry --------------------------------------------------------------------------

    def put_document(self, record: DocRecord) -> None:
        """Insert or replace a document's registry record."""
        self._ready()
        point = models.PointStruct(
            id=doc_point_id(record.doc_id), vector={_DOC_VECTOR: [1.0]}, payload=doc_payload(record)
        )
        self._call(self.client.upsert, self.docs, [point], wait=True)

    def get_document(self, doc_id: str) -> DocRecord | None:
        """A document's registry record."""
        self._ready()
        recs = self._call(self.client.retrieve, self.docs, [doc_point_id(doc_id)], with_payload=True)
        return record_from_payload(dict(recs[0].payload or {})) if recs else None

    def _records(self, flt: models.Filter | None) -> list[DocRecord]:
        self._ready()
        return sort_records([record_from_payload(p) for p in self._scroll(self.docs, flt)])

    def find_by_path(self, path: str) -> list[DocRecord]:
        """Records whose ``path`` equals ``path``."""
        return self._records(models.Filter(must=[_IS_DOC, _match("path", path)]))

    def list_documents(self, filters: SearchFilters, limit: int, offset: int) -> list[DocRecord]:
        """Records matching ``filters`` by path; the registry is small, so it is sorted here."""
        return self._records(server_filter(filters, [_IS_DOC]))[offset : offset + limit]

    def count_documents(self, filters: SearchFilters) -> int:
        """Number of records matching ``filters``."""
        self._ready()
        flt = server_filter(filters, [_IS_DOC])
        return int(self._call(self.client.count, self.docs, count_filter=flt, exact=True).count)

    def delete_document(self, doc_id: str) -> None:
        """Remove a document's registry record."""
        self._ready()
        self._call(self.client.delete, self.docs, models.PointIdsList(points=[doc_point_id(doc_id)]), wait=True)

    def facets(self, field: str, filters: SearchFilters) -> dict[str, int]:
        """Document counts per value of ``field``."""
        if field not in FACET_FIELDS:
            raise ValueError(f"cannot facet on {field!r}; use one of {sorted(FACET_FIELDS)}")
        self._ready()
        resp = self._call(
            self.client.facet,
            self.docs,
            field,
            facet_filter=server_filter(filters, [_IS_DOC]),
            limit=10_000,
            exact=True,
        )
        return {str(h.value): int(h.count) for h in resp.hits}

    # -- search ----------------------------------------------------------------------------

    @staticmethod
    def _points(res: Sequence[models.ScoredPoint]) -> list[tuple[str, float, dict[str, Any]]]:
        return [(str(p.id), float(p.score), dict(p.payload or {})) for p in res]

    def hybrid_search(
        self,
        dense: np.ndarray,
        sparse: SparseVector,
        filters: SearchFilters,
        limit: int,
        offset: int = 0,
        prefetch_dense: int = 60,
        prefetch_sparse: int = 60,
    ) -> list[Hit]:
        """RRF of dense and sparse prefetches in one batch that also returns each stage."""
        self._ready()
        flt = server_filter(filters)
        stages: list[tuple[Any, str, int]] = [(dense.astype(np.float32).tolist(), DENSE, prefetch_dense)]
        if sparse.indices:
            sq = models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
            stages.append((sq, SPARSE, prefetch_sparse))
        fused = models.QueryRequest(
            query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
            prefetch=[models.Prefetch(query=q, using=u, limit=n, filter=flt) for q, u, n in stages],
            filter=flt,
            limit=offset + limit,
            with_payload=True,
        )
        singles = [models.QueryRequest(query=q, using=u, limit=n, filter=flt, with_payload=False) for q, u, n in stages]
        res = self._call(self.client.query_batch_points, self.collection, [fused, *singles])
        ids = [[(str(p.id), float(p.score)) for p in r.points] for r in res[1:]]
        return stage_hits(self._points(res[0].points), ids[0], ids[1] if len(ids) > 1 else [], offset)

    def dense_search(self, dense: np.ndarray, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Dense nearest neighbours alone."""
        return self._single(dense.astype(np.float32).tolist(), DENSE, filters, limit, offset)

    def sparse_search(self, sparse: SparseVector, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Sparse matches alone."""
        if not sparse.indices:
            return []
        q = models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
        return self._single(q, SPARSE, filters, limit, offset)

    def _single(self, q: Any, using: str, filters: SearchFilters, limit: int, offset: int) -> list[Hit]:
        self._ready()
        res = self._call(
            self.client.query_points,
            self.collection,
            query=q,
            using=using,
            query_filter=server_filter(filters),
            limit=limit,
            offset=offset,
            with_payload=True,
        )
        return single_stage_hits(self._points(res.points), using, offset)

    # -- recovery --------------------------------------------------------------------------

    def repair(self) -> int:
        """Delete chunks whose (doc_id, content_sha256) is not in the registry."""
        records = self._records(models.Filter(must=[_IS_DOC]))
        should: list[models.Condition] = [
            models.Filter(must=[_match("doc_id", r.doc_id)], must_not=[_match("content_sha256", r.content_sha256)])
            for r in records
        ]
        known = [r.doc_id for r in records]
        should.append(
            models.Filter(must_not=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=known))])
            if known
            else models.Filter()
        )
        n = self._delete_where(self.collection, models.Filter(should=should))
        if n:
            logger.warning("repair removed %s orphan chunks from %s", n, self.collection)
        return n
