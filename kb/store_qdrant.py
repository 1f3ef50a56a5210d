"""The one Qdrant store: :class:`kb.store_base.VectorStore` over a backend adapter.

Everything a store decides is written here once, for every engine: filters, point building
(through :mod:`kb.store_base`), hybrid search (dense and sparse prefetches fused by RRF in
one Query API batch that also returns each stage), paging, facets, the document registry,
repair, and the read/write lock. The engine is a :class:`kb.store_backend.Backend` adapter
that only makes client calls: :class:`kb.store_edge.EdgeShards` (Qdrant Edge in this
process, the default) or :class:`kb.store_server.ServerCollections` (qdrant-client, against a
server or its local mode). :class:`kb.store_edge.EdgeStore` and
:class:`kb.store_server.QdrantServerStore` are this class bound to one adapter each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ingest.models import Chunk
from kb.errors import IndexNotReady
from kb.models import DocRecord, Hit, SearchFilters, SparseVector
from kb.store_backend import (
    CHUNKS,
    DOCS,
    Backend,
    DateRange,
    Leaf,
    Match,
    MatchAny,
    Nearest,
    Payload,
    Rrf,
    Search,
    Target,
    Where,
)
from kb.store_base import (
    DATE_FIELD,
    DENSE,
    FACET_FIELDS,
    KIND,
    MATCH_FIELDS,
    META_ID,
    RRF_K,
    SPARSE,
    UPSERT_BATCH,
    RWLock,
    check_model,
    check_upsert,
    chunk_from_payload,
    chunk_point_id,
    chunk_points,
    doc_point,
    doc_point_id,
    meta_point,
    record_from_payload,
    single_stage_hits,
    sort_records,
    stage_hits,
)

logger = logging.getLogger(__name__)

SCROLL_PAGE = 1000
FACET_LIMIT = 10_000
IS_DOC = Match(KIND, "doc")


def search_where(filters: SearchFilters, extra: Sequence[Leaf] = ()) -> Where | None:
    """Translate :class:`SearchFilters` into a filter (``None`` when nothing filters)."""
    must: list[Leaf] = list(extra)
    for field in MATCH_FIELDS:
        values: list[str] = getattr(filters, field)
        if values:
            must.append(MatchAny(field, tuple(values)))
    if filters.date_from or filters.date_to:
        must.append(DateRange(DATE_FIELD, filters.date_from, filters.date_to))
    return Where(must=tuple(must)) if must else None


def _of_doc(doc_id: str) -> Match:
    return Match("doc_id", doc_id)


class QdrantStore:
    """:class:`kb.store_base.VectorStore` on a :class:`kb.store_backend.Backend`.

    Searches, reads and upserts hold the shared side of a read/write lock; creating the
    collections and closing hold the exclusive side (so do an embedded store's snapshot and
    restore).
    """

    def __init__(self, backend: Backend, batch: int = UPSERT_BATCH) -> None:
        """Wrap an adapter; nothing is opened or created until first use.

        Args:
            backend: the engine's client calls.
            batch: chunks per upsert call.
        """
        self.backend = backend
        self.batch = batch
        self._lock = RWLock()

    # -- lifecycle -------------------------------------------------------------------------

    def _ready(self) -> None:
        if not self.backend.exists(CHUNKS):
            raise IndexNotReady(f"{self.backend.absent}: run `kb ingest` first")

    def _meta(self) -> dict[str, Any] | None:
        if not self.backend.exists(DOCS):
            return None
        recs = self.backend.retrieve(DOCS, [META_ID])
        return recs[0] if recs else None

    def ensure_collection(self, model_id: str, dim: int) -> None:
        """Create the collections on first use, else check the model. See the protocol."""
        with self._lock.write():
            self.backend.create(dim)
            meta = self._meta()
            if meta is None:
                self.backend.upsert(DOCS, [meta_point(model_id, dim)])
                self.backend.flush()
                return
            check_model(meta, model_id, dim, self.backend.location)

    def has_collection(self) -> bool:
        """True when the collections exist and carry their model record."""
        with self._lock.read():
            return self.backend.exists(CHUNKS) and self._meta() is not None

    def flush(self) -> None:
        """Make written data durable (a server does so on every write already)."""
        with self._lock.read():
            self.backend.flush()

    def close(self) -> None:
        """Flush and release the files or connections."""
        with self._lock.write():
            self.backend.close()

    def __enter__(self) -> QdrantStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chunks ----------------------------------------------------------------------------

    def upsert_chunks(self, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]) -> None:
        """Write chunks with their vectors in batches; the same chunk ids overwrite."""
        check_upsert(chunks, dense, sparse)
        with self._lock.read():
            self._ready()
            for start in range(0, len(chunks), self.batch):
                end = start + self.batch
                self.backend.upsert(CHUNKS, chunk_points(chunks[start:end], dense[start:end], sparse[start:end]))

    def _delete_where(self, target: Target, where: Where) -> int:
        n = self.backend.count(target, where)
        if n:
            self.backend.delete_where(target, where)
        return n

    def delete_chunks(self, doc_id: str, keep_sha256: str | None = None) -> int:
        """Delete a document's chunks, or those of other versions than ``keep_sha256``."""
        where = Where(must=(_of_doc(doc_id),), must_not=(Match("content_sha256", keep_sha256),) if keep_sha256 else ())
        with self._lock.read():
            self._ready()
            return self._delete_where(CHUNKS, where)

    def _scroll(self, target: Target, where: Where | None, fields: list[str] | None = None) -> list[Payload]:
        out: list[Payload] = []
        offset: Any = None
        while True:
            page, offset = self.backend.scroll(target, where, fields, offset, SCROLL_PAGE)
            out.extend(page)
            if offset is None:
                return out

    def get_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks by ordinal."""
        with self._lock.read():
            self._ready()
            payloads = self._scroll(CHUNKS, Where(must=(_of_doc(doc_id),)))
        return sorted((chunk_from_payload(p) for p in payloads), key=lambda c: c.ordinal)

    def get_chunk(self, chunk_id: str) -> Chunk | None:
        """One chunk by id."""
        with self._lock.read():
            self._ready()
            recs = self.backend.retrieve(CHUNKS, [chunk_point_id(chunk_id)])
        return chunk_from_payload(recs[0]) if recs else None

    def count_chunks(self) -> int:
        """Number of chunks stored."""
        with self._lock.read():
            self._ready()
            return self.backend.count(CHUNKS, None)

    def chunk_ids(self) -> set[str]:
        """Every stored chunk id."""
        with self._lock.read():
            self._ready()
            return {p["chunk_id"] for p in self._scroll(CHUNKS, None, ["chunk_id"])}

    # -- registry --------------------------------------------------------------------------

    def put_document(self, record: DocRecord) -> None:
        """Insert or replace a document's registry record."""
        with self._lock.read():
            self._ready()
            self.backend.upsert(DOCS, [doc_point(record)])

    def get_document(self, doc_id: str) -> DocRecord | None:
        """A document's registry record."""
        with self._lock.read():
            self._ready()
            recs = self.backend.retrieve(DOCS, [doc_point_id(doc_id)])
        return record_from_payload(recs[0]) if recs else None

    def _records(self, where: Where | None) -> list[DocRecord]:
        with self._lock.read():
            self._ready()
            payloads = self._scroll(DOCS, where)
        return sort_records([record_from_payload(p) for p in payloads])

    def find_by_path(self, path: str) -> list[DocRecord]:
        """Records whose ``path`` equals ``path``."""
        return self._records(Where(must=(IS_DOC, Match("path", path))))

    def list_documents(self, filters: SearchFilters, limit: int, offset: int) -> list[DocRecord]:
        """Records matching ``filters`` by path; the registry is small, so it is sorted here."""
        return self._records(search_where(filters, [IS_DOC]))[offset : offset + limit]

    def count_documents(self, filters: SearchFilters) -> int:
        """Number of records matching ``filters``."""
        with self._lock.read():
            self._ready()
            return self.backend.count(DOCS, search_where(filters, [IS_DOC]))

    def delete_document(self, doc_id: str) -> None:
        """Remove a document's registry record."""
        with self._lock.read():
            self._ready()
            self.backend.delete_ids(DOCS, [doc_point_id(doc_id)])

    def facets(self, field: str, filters: SearchFilters) -> dict[str, int]:
        """Document counts per value of ``field``."""
        if field not in FACET_FIELDS:
            raise ValueError(f"cannot facet on {field!r}; use one of {sorted(FACET_FIELDS)}")
        with self._lock.read():
            self._ready()
            return self.backend.facet(DOCS, field, search_where(filters, [IS_DOC]), FACET_LIMIT)

    # -- search ----------------------------------------------------------------------------

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
        """RRF of dense and sparse prefetches in one batch that also returns each stage.

        The fused list is fetched from the top (``offset + limit`` points) and paged by
        :func:`kb.store_base.stage_hits`, which breaks RRF's ties by id.
        """
        where = search_where(filters)
        stages = [Search(Nearest(dense.astype(np.float32).tolist(), DENSE), prefetch_dense, where=where)]
        if sparse.indices:
            stages.append(Search(Nearest(sparse, SPARSE), prefetch_sparse, where=where))
        fused = Search(Rrf(RRF_K), offset + limit, where=where, prefetch=tuple(stages), payload=True)
        with self._lock.read():
            self._ready()
            res = self.backend.query([fused, *stages])
        ids = [[(pid, score) for pid, score, _ in r] for r in res[1:]]
        return stage_hits(res[0], ids[0], ids[1] if len(ids) > 1 else [], offset)

    def dense_search(self, dense: np.ndarray, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Dense nearest neighbours alone."""
        return self._single(Nearest(dense.astype(np.float32).tolist(), DENSE), filters, limit, offset)

    def sparse_search(self, sparse: SparseVector, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Sparse matches alone."""
        if not sparse.indices:
            return []
        return self._single(Nearest(sparse, SPARSE), filters, limit, offset)

    def _single(self, query: Nearest, filters: SearchFilters, limit: int, offset: int) -> list[Hit]:
        search = Search(query, limit, offset=offset, where=search_where(filters), payload=True)
        with self._lock.read():
            self._ready()
            res = self.backend.query([search])[0]
        return single_stage_hits(res, query.using, offset)

    # -- recovery --------------------------------------------------------------------------

    def repair(self) -> int:
        """Delete chunks whose (doc_id, content_sha256) is not in the registry."""
        records = self._records(Where(must=(IS_DOC,)))
        should: list[Leaf | Where] = [
            Where(must=(_of_doc(r.doc_id),), must_not=(Match("content_sha256", r.content_sha256),)) for r in records
        ]
        known = tuple(r.doc_id for r in records)
        should.append(Where(must_not=(MatchAny("doc_id", known),)) if known else Where())
        with self._lock.read():
            self._ready()
            n = self._delete_where(CHUNKS, Where(should=tuple(should)))
        if n:
            logger.warning("repair removed %s orphan chunks from %s", n, self.backend.location)
        return n
