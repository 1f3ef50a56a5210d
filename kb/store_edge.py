"""The default store: Qdrant Edge, Qdrant's engine running inside this process.

:class:`EdgeShards` is the backend adapter (see :mod:`kb.store_backend`): it opens and
creates the folder's two shards and turns the store's plain filters, points and searches into
``qdrant_edge`` calls. :class:`EdgeStore` is :class:`kb.store_qdrant.QdrantStore` on it, plus
what only files allow: :meth:`EdgeStore.optimize` and snapshots (:mod:`kb.snapshot`).

Files live under ``<path>/<collection>/`` as two shards, ``chunks`` and ``docs``. Qdrant Edge
writes every update to its write-ahead log before returning, and :meth:`EdgeStore.close`
flushes segments, so a later process opens the folder where this one left it.

Two processes at once: the first one to open a shard holds a lock on its WAL until it closes
or exits (including after ``kill -9``); the second gets :class:`StoreUnavailable` saying the
folder is in use. Run the API and ``kb ingest`` against a Qdrant server (``KB_QDRANT_URL``)
when both must write at the same time, or ingest through the API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from kb import store_backend as sb
from kb.errors import IndexNotReady, StoreCorrupted, StoreUnavailable
from kb.models import SparseVector
from kb.snapshot import restore_snapshot, take_snapshot
from kb.store_base import DATE_FIELD, DENSE, DOC_VECTOR, KEYWORD_FIELDS, KIND, SPARSE, UPSERT_BATCH
from kb.store_qdrant import QdrantStore

logger = logging.getLogger(__name__)

# Qdrant reports failures of its own files (I/O, decoding) with this prefix; bad requests differ.
_STORAGE_ERROR = "Service runtime error"

Shards = tuple[qe.EdgeShard, qe.EdgeShard]


def _leaf(c: sb.Leaf) -> qe.FieldCondition:
    if isinstance(c, sb.Match):
        return qe.FieldCondition(c.key, match=qe.MatchValue(c.value))
    if isinstance(c, sb.MatchAny):
        return qe.FieldCondition(c.key, match=qe.MatchAny(list(c.values)))
    gte, lte = (d.isoformat() if d else None for d in (c.gte, c.lte))
    return qe.FieldCondition(c.key, range=qe.RangeDateTime(gte=gte, lte=lte))


def edge_filter(where: sb.Where | None) -> qe.Filter | None:
    """A Qdrant Edge filter for ``where``."""
    flt: qe.Filter | None = sb.translate(where, _leaf, lambda m, n, s: qe.Filter(must=m, must_not=n, should=s))
    return flt


def _vector(v: list[float] | SparseVector) -> Any:
    return qe.SparseVector(list(v.indices), list(v.values)) if isinstance(v, SparseVector) else v


def _query(s: sb.Search) -> Any:
    if isinstance(s.query, sb.Nearest):
        return qe.Query.Nearest(_vector(s.query.vector), using=s.query.using)
    return qe.Fusion.Rrf(k=s.query.k)


def _request(s: sb.Search) -> qe.QueryRequest:
    prefetches = [qe.Prefetch(limit=p.limit, query=_query(p), filter=edge_filter(p.where)) for p in s.prefetch]
    return qe.QueryRequest(
        limit=s.limit,
        offset=s.offset,
        query=_query(s),
        prefetches=prefetches or None,
        filter=edge_filter(s.where),
        with_payload=s.payload,
    )


class _Guarded:
    """A shard whose storage failures (damaged files found while reading or writing) raise
    :class:`StoreCorrupted` naming the folder and the way to recover; other errors pass."""

    def __init__(self, shard: qe.EdgeShard, owner: EdgeShards) -> None:
        self._shard = shard
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._shard, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as err:
                if str(err).startswith(_STORAGE_ERROR):
                    logger.info("storage error in %s: %s", self._owner.root, err)
                    raise self._owner.corrupted("is damaged", err) from err
                raise

        return call


class EdgeShards:
    """Backend adapter: the ``chunks`` and ``docs`` Qdrant Edge shards in ``root``.

    Every call on a shard goes through ``access`` (by default :meth:`opened`), which
    :class:`EdgeStore` routes through its ``_shards`` so tests can watch each WAL write.
    """

    def __init__(self, root: Path, access: Callable[[], Shards] | None = None) -> None:
        """Remember the folder; shards open on first use."""
        self.root = root
        self.location = str(root)
        self.absent = f"no index in {root} yet"
        self._access = access or self.opened
        self._open_mutex = threading.Lock()
        self._chunks: qe.EdgeShard | None = None
        self._docs: qe.EdgeShard | None = None

    # -- files -----------------------------------------------------------------------------

    def load(self, folder: Path) -> qe.EdgeShard:
        """Open one shard folder; raises :class:`StoreUnavailable` or :class:`StoreCorrupted`."""
        try:
            return qe.EdgeShard.load(str(folder))
        except Exception as err:
            if "WouldBlock" in str(err):
                raise StoreUnavailable(
                    f"the store in {self.root} is in use by another process; stop it first "
                    "or point both at a Qdrant server with KB_QDRANT_URL"
                ) from err
            raise self.corrupted("cannot be opened", err) from err

    def corrupted(self, what: str, err: Exception) -> StoreCorrupted:
        """The error for damaged files, naming the folder and the recovery."""
        return StoreCorrupted(
            f"the store in {self.root} {what} ({err}). Recover with "
            f"`kb restore SNAPSHOT`, or delete {self.root} and run `kb ingest` again"
        )

    def open(self) -> bool:
        """Open existing shards; False when there are none yet. Caller holds the store's lock."""
        with self._open_mutex:
            if self._chunks is not None and self._docs is not None:
                return True
            if not (self.root / "chunks").is_dir() or not (self.root / "docs").is_dir():
                return False
            chunks = self.load(self.root / "chunks")
            try:
                self._docs = self.load(self.root / "docs")
            except Exception:
                chunks.close()
                raise
            self._chunks = chunks
            logger.info("opened store %s", self.root)
            return True

    def opened(self) -> Shards:
        """The open shards, wrapped to report damaged files; raises :class:`IndexNotReady`."""
        if not self.open():
            raise IndexNotReady(f"{self.absent}: run `kb ingest` first")
        assert self._chunks is not None and self._docs is not None
        return _Guarded(self._chunks, self), _Guarded(self._docs, self)  # type: ignore[return-value]

    def _shard(self, target: sb.Target) -> qe.EdgeShard:
        chunks, docs = self._access()
        return chunks if target == sb.CHUNKS else docs

    def exists(self, target: sb.Target) -> bool:
        """Both shards exist (and are now open)."""
        return self.open()

    def create(self, dim: int) -> None:
        """Create both shards with their payload indexes unless the folder holds them."""
        if self.open():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        chunks = qe.EdgeShard.create(str(self.root / "chunks"), cfg)
        docs = qe.EdgeShard.create(
            str(self.root / "docs"),
            qe.EdgeConfig(vectors={DOC_VECTOR: qe.EdgeVectorParams(size=1, distance=qe.Distance.Dot)}),
        )
        for shard in (chunks, docs):
            for field in KEYWORD_FIELDS:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
            shard.update(qe.UpdateOperation.create_field_index(DATE_FIELD, qe.PayloadSchemaType.Datetime))
        docs.update(qe.UpdateOperation.create_field_index(KIND, qe.PayloadSchemaType.Keyword))
        self._chunks, self._docs = chunks, docs
        logger.info("created store %s (dim %s)", self.root, dim)

    def flush(self) -> None:
        """Flush both shards' segments to disk if they are open."""
        if self._chunks is not None and self._docs is not None:
            self._chunks.flush()
            self._docs.flush()

    def close(self) -> None:
        """Flush and close the shards, releasing the folder for other processes."""
        for shard in (self._chunks, self._docs):
            if shard is not None:
                shard.flush()
                shard.close()
        self._chunks = self._docs = None

    def optimize(self) -> bool:
        """Build indexes (HNSW) and merge segments; True if there was work."""
        chunks, docs = self._access()
        done = chunks.optimize()
        docs.optimize()
        return bool(done)

    # -- calls -----------------------------------------------------------------------------

    def upsert(self, target: sb.Target, points: Sequence[sb.Point]) -> None:
        """Write points (one WAL entry)."""
        native = [qe.Point(p.id, {k: _vector(v) for k, v in p.vectors.items()}, p.payload) for p in points]
        self._shard(target).update(qe.UpdateOperation.upsert_points(native))

    def retrieve(self, target: sb.Target, ids: Sequence[str]) -> list[sb.Payload]:
        """Payloads by point id."""
        recs = self._shard(target).retrieve(list(ids), with_payload=True, with_vector=False)
        return [dict(r.payload or {}) for r in recs]

    def scroll(
        self, target: sb.Target, where: sb.Where | None, fields: list[str] | None, offset: Any, limit: int
    ) -> tuple[list[sb.Payload], Any]:
        """One page of payloads."""
        req = qe.ScrollRequest(offset=offset, limit=limit, filter=edge_filter(where), with_payload=fields or True)
        recs, after = self._shard(target).scroll(req)
        return [dict(r.payload or {}) for r in recs], after

    def count(self, target: sb.Target, where: sb.Where | None) -> int:
        """Exact count."""
        return int(self._shard(target).count(qe.CountRequest(exact=True, filter=edge_filter(where))))

    def delete_ids(self, target: sb.Target, ids: Sequence[str]) -> None:
        """Delete by id (one WAL entry)."""
        self._shard(target).update(qe.UpdateOperation.delete_points(list(ids)))

    def delete_where(self, target: sb.Target, where: sb.Where) -> None:
        """Delete by filter (one WAL entry)."""
        flt = edge_filter(where)
        assert flt is not None
        self._shard(target).update(qe.UpdateOperation.delete_points_by_filter(flt))

    def facet(self, target: sb.Target, key: str, where: sb.Where | None, limit: int) -> dict[str, int]:
        """Exact counts per value."""
        resp = self._shard(target).facet(qe.FacetRequest(key, limit=limit, exact=True, filter=edge_filter(where)))
        return {str(h.value): int(h.count) for h in resp.hits}

    def query(self, searches: Sequence[sb.Search]) -> list[list[sb.Scored]]:
        """One planned batch on the chunks shard."""
        res = self._shard(sb.CHUNKS).query_batch(qe.QueryBatchRequest([_request(s) for s in searches]))
        return [[(str(p.id), float(p.score), dict(p.payload or {})) for p in r] for r in res]


class EdgeStore(QdrantStore):
    """:class:`kb.store_qdrant.QdrantStore` on Qdrant Edge shards under ``path / collection``."""

    def __init__(self, path: Path, collection: str) -> None:
        """Remember where the store lives; shards open on first use."""
        self.root = Path(path) / collection
        self.collection = collection
        self.edge = EdgeShards(self.root, access=lambda: self._shards())
        # UPSERT_BATCH is looked up in this module when a store is made, so tests can shrink it.
        super().__init__(self.edge, batch=UPSERT_BATCH)

    def _shards(self) -> Shards:
        """The open shards: every shard call of this store goes through here."""
        return self.edge.opened()

    def __enter__(self) -> EdgeStore:
        return self

    def optimize(self) -> bool:
        """Build indexes (HNSW) and merge segments; run after a bulk ingest. True if work was done."""
        with self._lock.read():
            return self.edge.optimize()

    @contextmanager
    def offline(self, existing: bool) -> Iterator[None]:
        """Hold writes with the shards closed, reopening them after.

        Args:
            existing: open the shards first, raising :class:`IndexNotReady` when there are
                none (a restore skips this: it must work on a damaged store).
        """
        with self._lock.write():
            if existing and not self.edge.open():
                raise IndexNotReady(f"no index in {self.root} to snapshot")
            self.edge.close()
            try:
                yield
            finally:
                self.edge.open()

    def check_folder(self, folder: Path) -> None:
        """Raise :class:`StoreCorrupted` unless ``folder`` holds shards that open."""
        for name in ("chunks", "docs"):
            self.edge.load(folder / name).close()

    def snapshot(self, dest: Path) -> Path:
        """Write a ``.tar.gz`` of the store taken with the shards closed (writes paused)."""
        return take_snapshot(self, dest)

    def restore(self, src: Path) -> None:
        """Replace the store's files with a snapshot; the old files stay until it opens."""
        restore_snapshot(self, src)
