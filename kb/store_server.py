"""The store on a Qdrant server (``KB_QDRANT_URL``) through qdrant-client.

:class:`ServerCollections` is the backend adapter (see :mod:`kb.store_backend`): the store's
plain filters, points and searches become qdrant-client calls on the collections
``<collection>`` and ``<collection>__docs``. :class:`QdrantServerStore` is
:class:`kb.store_qdrant.QdrantStore` on it.

The same class runs on qdrant-client's local mode in the contract and congruence tests. Local
mode is not thread-safe, so its calls are serialised by a lock; calls to a server run
concurrently. Every call is retried with exponential backoff on connection errors and 5xx
answers, then raises :class:`StoreUnavailable`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from kb import store_backend as sb
from kb.errors import StoreUnavailable
from kb.models import SparseVector
from kb.store_base import DATE_FIELD, DENSE, DOC_VECTOR, DOCS_SUFFIX, KEYWORD_FIELDS, KIND, SPARSE
from kb.store_qdrant import QdrantStore

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _leaf(c: sb.Leaf) -> models.FieldCondition:
    if isinstance(c, sb.Match):
        return models.FieldCondition(key=c.key, match=models.MatchValue(value=c.value))
    if isinstance(c, sb.MatchAny):
        return models.FieldCondition(key=c.key, match=models.MatchAny(any=list(c.values)))
    return models.FieldCondition(key=c.key, range=models.DatetimeRange(gte=c.gte, lte=c.lte))


def server_filter(where: sb.Where | None) -> models.Filter | None:
    """A qdrant-client filter for ``where``."""
    flt: models.Filter | None = sb.translate(where, _leaf, lambda m, n, s: models.Filter(must=m, must_not=n, should=s))
    return flt


def _vector(v: list[float] | SparseVector) -> Any:
    return models.SparseVector(indices=list(v.indices), values=list(v.values)) if isinstance(v, SparseVector) else v


def _query(s: sb.Search) -> tuple[Any, str | None]:
    if isinstance(s.query, sb.Nearest):
        return _vector(s.query.vector), s.query.using
    return models.RrfQuery(rrf=models.Rrf(k=s.query.k)), None


def _request(s: sb.Search) -> models.QueryRequest:
    prefetch = [
        models.Prefetch(query=q, using=u, limit=p.limit, filter=server_filter(p.where))
        for p in s.prefetch
        for q, u in [_query(p)]
    ]
    query, using = _query(s)
    return models.QueryRequest(
        query=query,
        using=using,
        prefetch=prefetch or None,
        filter=server_filter(s.where),
        limit=s.limit,
        offset=s.offset,
        with_payload=s.payload,
    )


def _retryable(err: Exception) -> bool:
    if isinstance(err, UnexpectedResponse):
        return err.status_code is not None and err.status_code >= 500
    return isinstance(err, ResponseHandlingException | httpx.TransportError | ConnectionError | TimeoutError)


class ServerCollections:
    """Backend adapter: a chunk collection and its ``__docs`` registry through a :class:`QdrantClient`."""

    def __init__(
        self, client: QdrantClient, collection: str, retries: int, backoff_s: float, serialize: bool | None
    ) -> None:
        """Wrap a client; arguments and their defaults as for :class:`QdrantServerStore`."""
        self.client = client
        self.names: dict[sb.Target, str] = {sb.CHUNKS: collection, sb.DOCS: collection + DOCS_SUFFIX}
        self.location = collection
        self.absent = f"collection {collection} does not exist yet"
        self.retries = retries
        self.backoff_s = backoff_s
        opts: dict[str, Any] = getattr(client, "init_options", {}) or {}
        self._local = bool(opts.get("location") == ":memory:" or opts.get("path"))
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if (self._local if serialize is None else serialize) else nullcontext()
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

    # -- collections -----------------------------------------------------------------------

    def exists(self, target: sb.Target) -> bool:
        """The collection exists."""
        return self._call(self.client.collection_exists, self.names[target])

    def create(self, dim: int) -> None:
        """Create whichever collection is missing, with its payload indexes."""
        if not self.exists(sb.CHUNKS):
            self._call(
                self.client.create_collection,
                self.names[sb.CHUNKS],
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            self._indexes(sb.CHUNKS)
            logger.info("created collection %s (dim %s)", self.location, dim)
        if not self.exists(sb.DOCS):
            self._call(
                self.client.create_collection,
                self.names[sb.DOCS],
                vectors_config={DOC_VECTOR: models.VectorParams(size=1, distance=models.Distance.DOT)},
            )
            self._indexes(sb.DOCS, KIND)

    def _indexes(self, target: sb.Target, *extra: str) -> None:
        if self._local:  # local mode ignores payload indexes and warns about each one
            return
        for field in (*KEYWORD_FIELDS, *extra):
            self._call(self.client.create_payload_index, self.names[target], field, models.PayloadSchemaType.KEYWORD)
        self._call(self.client.create_payload_index, self.names[target], DATE_FIELD, models.PayloadSchemaType.DATETIME)

    def flush(self) -> None:
        """Nothing to do: the server owns durability (every write waits for it)."""

    def close(self) -> None:
        """Close the client's connections."""
        self._call(self.client.close)

    # -- calls -----------------------------------------------------------------------------

    def upsert(self, target: sb.Target, points: Sequence[sb.Point]) -> None:
        """Write points and wait for the server to apply them."""
        native = [
            models.PointStruct(id=p.id, vector={k: _vector(v) for k, v in p.vectors.items()}, payload=p.payload)
            for p in points
        ]
        self._call(self.client.upsert, self.names[target], native, wait=True)

    def retrieve(self, target: sb.Target, ids: Sequence[str]) -> list[sb.Payload]:
        """Payloads by point id."""
        recs = self._call(self.client.retrieve, self.names[target], list(ids), with_payload=True)
        return [dict(r.payload or {}) for r in recs]

    def scroll(
        self, target: sb.Target, where: sb.Where | None, fields: list[str] | None, offset: Any, limit: int
    ) -> tuple[list[sb.Payload], Any]:
        """One page of payloads."""
        recs, after = self._call(
            self.client.scroll,
            self.names[target],
            scroll_filter=server_filter(where),
            limit=limit,
            offset=offset,
            with_payload=fields or True,
        )
        return [dict(r.payload or {}) for r in recs], after

    def count(self, target: sb.Target, where: sb.Where | None) -> int:
        """Exact count."""
        return int(
            self._call(self.client.count, self.names[target], count_filter=server_filter(where), exact=True).count
        )

    def delete_ids(self, target: sb.Target, ids: Sequence[str]) -> None:
        """Delete by id."""
        self._call(self.client.delete, self.names[target], models.PointIdsList(points=list(ids)), wait=True)

    def delete_where(self, target: sb.Target, where: sb.Where) -> None:
        """Delete by filter."""
        flt = server_filter(where)
        assert flt is not None
        self._call(self.client.delete, self.names[target], models.FilterSelector(filter=flt), wait=True)

    def facet(self, target: sb.Target, key: str, where: sb.Where | None, limit: int) -> dict[str, int]:
        """Exact counts per value."""
        resp = self._call(
            self.client.facet, self.names[target], key, facet_filter=server_filter(where), limit=limit, exact=True
        )
        return {str(h.value): int(h.count) for h in resp.hits}

    def query(self, searches: Sequence[sb.Search]) -> list[list[sb.Scored]]:
        """One batch request on the chunk collection."""
        res = self._call(self.client.query_batch_points, self.names[sb.CHUNKS], [_request(s) for s in searches])
        return [[(str(p.id), float(p.score), dict(p.payload or {})) for p in r.points] for r in res]


class QdrantServerStore(QdrantStore):
    """:class:`kb.store_qdrant.QdrantStore` through a :class:`QdrantClient`."""

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
        super().__init__(ServerCollections(client, collection, retries, backoff_s, serialize))
