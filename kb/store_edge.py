"""The default store: Qdrant Edge, Qdrant's engine running inside this process.

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
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from ingest.models import Chunk
from kb.errors import IndexNotReady, StoreCorrupted, StoreUnavailable
from kb.models import DocRecord, Hit, SearchFilters, SparseVector
from kb.store_base import (
    DATE_FIELD,
    DENSE,
    FACET_FIELDS,
    KEYWORD_FIELDS,
    KIND,
    MATCH_FIELDS,
    META_ID,
    RRF_K,
    SPARSE,
    UPSERT_BATCH,
    RWLock,
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

_SCROLL_PAGE = 1000
_DOC_VECTOR = "d"
# Qdrant reports failures of its own files (I/O, decoding) with this prefix; bad requests differ.
_STORAGE_ERROR = "Service runtime error"


def edge_filter(filters: SearchFilters, extra: Sequence[Any] = ()) -> qe.Filter | None:
    """Translate :class:`SearchFilters` into a Qdrant Edge filter (``None`` when empty)."""
    must: list[Any] = list(extra)
    for field in MATCH_FIELDS:
        values: list[str] = getattr(filters, field)
        if values:
            must.append(qe.FieldCondition(field, match=qe.MatchAny(list(values))))
    if filters.date_from or filters.date_to:
        rng = qe.RangeDateTime(
            gte=filters.date_from.isoformat() if filters.date_from else None,
            lte=filters.date_to.isoformat() if filters.date_to else None,
        )
        must.append(qe.FieldCondition(DATE_FIELD, range=rng))
    return qe.Filter(must=must) if must else None


def _is_doc() -> qe.FieldCondition:
    return qe.FieldCondition(KIND, match=qe.MatchValue("doc"))


class _Guarded:
    """A shard whose storage failures (damaged files found while reading or writing) raise
    :class:`StoreCorrupted` naming the folder and the way to recover; other errors pass."""

    def __init__(self, shard: qe.EdgeShard, store: EdgeStore) -> None:
        self._shard = shard
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._shard, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as err:
                if str(err).startswith(_STORAGE_ERROR):
                    logger.info("storage error in %s: %s", self._store.root, err)
                    raise self._store._corrupted("is damaged", err) from err
                raise

        return call


class EdgeStore:
    """:class:`kb.store_base.VectorStore` on Qdrant Edge shards under ``path / collection``."""

    def __init__(self, path: Path, collection: str) -> None:
        """Remember where the store lives; shards open on first use."""
        self.root = Path(path) / collection
        self.collection = collection
        self._lock = RWLock()
        self._open_mutex = threading.Lock()
        self._chunks: qe.EdgeShard | None = None
        self._docs: qe.EdgeShard | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def _load(self, folder: Path) -> qe.EdgeShard:
        try:
            return qe.EdgeShard.load(str(folder))
        except Exception as err:
            if "WouldBlock" in str(err):
                raise StoreUnavailable(
                    f"the store in {self.root} is in use by another process; stop it first "
                    "or point both at a Qdrant server with KB_QDRANT_URL"
                ) from err
            raise self._corrupted("cannot be opened", err) from err

    def _corrupted(self, what: str, err: Exception) -> StoreCorrupted:
        return StoreCorrupted(
            f"the store in {self.root} {what} ({err}). Recover with "
            f"`kb restore SNAPSHOT`, or delete {self.root} and run `kb ingest` again"
        )

    def _open(self) -> bool:
        """Open existing shards; False when there are none yet. Caller holds a lock."""
        with self._open_mutex:
            if self._chunks is not None and self._docs is not None:
                return True
            if not (self.root / "chunks").is_dir() or not (self.root / "docs").is_dir():
                return False
            chunks = self._load(self.root / "chunks")
            try:
                self._docs = self._load(self.root / "docs")
            except Exception:
                chunks.close()
                raise
            self._chunks = chunks
            logger.info("opened store %s", self.root)
            return True

    def _shards(self) -> tuple[qe.EdgeShard, qe.EdgeShard]:
        if not self._open():
            raise IndexNotReady(f"no index in {self.root} yet: run `kb ingest` first")
        assert self._chunks is not None and self._docs is not None
        return _Guarded(self._chunks, self), _Guarded(self._docs, self)  # type: ignore[return-value]

    def _meta(self, docs: qe.EdgeShard) -> dict[str, Any] | None:
        recs = docs.retrieve([META_ID], with_payload=True, with_vector=False)
        return dict(recs[0].payload or {}) if recs else None

    def ensure_collection(self, model_id: str, dim: int) -> None:
        """Create the shards on first use, else check the model. See the protocol."""
        with self._lock.write():
            if not self._open():
                self._create(dim)
            docs = self._shards()[1]
            meta = self._meta(docs)
            if meta is None:
                point = qe.Point(META_ID, {_DOC_VECTOR: [1.0]}, {KIND: "meta", "model_id": model_id, "dim": dim})
                docs.update(qe.UpdateOperation.upsert_points([point]))
                docs.flush()
                return
            check_model(meta, model_id, dim, str(self.root))

    def _create(self, dim: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        chunks = qe.EdgeShard.create(str(self.root / "chunks"), cfg)
        docs = qe.EdgeShard.create(
            str(self.root / "docs"),
            qe.EdgeConfig(vectors={_DOC_VECTOR: qe.EdgeVectorParams(size=1, distance=qe.Distance.Dot)}),
        )
        for shard in (chunks, docs):
            for field in KEYWORD_FIELDS:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
            shard.update(qe.UpdateOperation.create_field_index(DATE_FIELD, qe.PayloadSchemaType.Datetime))
        docs.update(qe.UpdateOperation.create_field_index(KIND, qe.PayloadSchemaType.Keyword))
        self._chunks, self._docs = chunks, docs
        logger.info("created store %s (dim %s)", self.root, dim)

    def has_collection(self) -> bool:
        """True when the shards exist and carry their model record."""
        with self._lock.read():
            if not self._open():
                return False
            return self._meta(self._shards()[1]) is not None

    def flush(self) -> None:
        """Flush both shards' segments to disk."""
        with self._lock.read():
            if self._chunks is not None and self._docs is not None:
                self._chunks.flush()
                self._docs.flush()

    def optimize(self) -> bool:
        """Build indexes (HNSW) and merge segments; run after a bulk ingest. True if work was done."""
        with self._lock.read():
            chunks, docs = self._shards()
            done = chunks.optimize()
            docs.optimize()
        return bool(done)

    def close(self) -> None:
        """Flush and close the shards, releasing the folder for other processes."""
        with self._lock.write():
            self._close()

    def _close(self) -> None:
        for shard in (self._chunks, self._docs):
            if shard is not None:
                shard.flush()
                shard.close()
        self._chunks = self._docs = None

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- chunks ----------------------------------------------------------------------------

    def upsert_chunks(self, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]) -> None:
        """Write chunks with their vectors; the same chunk ids overwrite."""
        check_upsert(chunks, dense, sparse)
        with self._lock.read():
            shard = self._shards()[0]
            for start in range(0, len(chunks), UPSERT_BATCH):
                points = [
                    qe.Point(
                        chunk_point_id(c.chunk_id),
                        {
                            DENSE: dense[i].astype(np.float32).tolist(),
                            SPARSE: qe.SparseVector(list(sparse[i].indices), list(sparse[i].values)),
                        },
                        chunk_payload(c),
                    )
                    for i, c in enumerate(chunks[start : start + UPSERT_BATCH], start=start)
                ]
                shard.update(qe.UpdateOperation.upsert_points(points))

    def _delete_where(self, shard: qe.EdgeShard, flt: qe.Filter) -> int:
        n = shard.count(qe.CountRequest(exact=True, filter=flt))
        if n:
            shard.update(qe.UpdateOperation.delete_points_by_filter(flt))
        return n

    def delete_chunks(self, doc_id: str, keep_sha256: str | None = None) -> int:
        """Delete a document's chunks, or those of other versions than ``keep_sha256``."""
        must: list[Any] = [qe.FieldCondition("doc_id", match=qe.MatchValue(doc_id))]
        must_not: list[Any] = (
            [qe.FieldCondition("content_sha256", match=qe.MatchValue(keep_sha256))] if keep_sha256 else []
        )
        with self._lock.read():
            return self._delete_where(self._shards()[0], qe.Filter(must=must, must_not=must_not))

    def _scroll(
        self, shard: qe.EdgeShard, flt: qe.Filter | None, payload: bool | list[str] = True
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset: Any = None
        while True:
            recs, offset = shard.scroll(
                qe.ScrollRequest(offset=offset, limit=_SCROLL_PAGE, filter=flt, with_payload=payload)
            )
            out.extend(dict(r.payload or {}) for r in recs)
            if offset is None:
                return out

    def get_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks by ordinal."""
        flt = qe.Filter(must=[qe.FieldCondition("doc_id", match=qe.MatchValue(doc_id))])
        with self._lock.read():
            payloads = self._scroll(self._shards()[0], flt)
        return sorted((Chunk.model_validate(p) for p in payloads), key=lambda c: c.ordinal)

    def get_chunk(self, chunk_id: str) -> Chunk | None:
        """One chunk by id."""
        with self._lock.read():
            recs = self._shards()[0].retrieve([chunk_point_id(chunk_id)], with_payload=True, with_vector=False)
        return Chunk.model_validate(recs[0].payload) if recs else None

    def count_chunks(self) -> int:
        """Number of chunks stored."""
        with self._lock.read():
            return int(self._shards()[0].count(qe.CountRequest(exact=True)))

    def chunk_ids(self) -> set[str]:
        """Every stored chunk id."""
        with self._lock.read():
            return {p["chunk_id"] for p in self._scroll(self._shards()[0], None, ["chunk_id"])}

    # -- registry --------------------------------------------------------------------------

    def put_document(self, record: DocRecord) -> None:
        """Insert or replace a document's registry record."""
        point = qe.Point(doc_point_id(record.doc_id), {_DOC_VECTOR: [1.0]}, doc_payload(record))
        with self._lock.read():
            self._shards()[1].update(qe.UpdateOperation.upsert_points([point]))

    def get_document(self, doc_id: str) -> DocRecord | None:
        """A document's registry record."""
        with self._lock.read():
            recs = self._shards()[1].retrieve([doc_point_id(doc_id)], with_payload=True, with_vector=False)
        return record_from_payload(dict(recs[0].payload or {})) if recs else None

    def _records(self, flt: qe.Filter | None) -> list[DocRecord]:
        with self._lock.read():
            payloads = self._scroll(self._shards()[1], flt)
        return sort_records([record_from_payload(p) for p in payloads])

    def find_by_path(self, path: str) -> list[DocRecord]:
        """Records whose ``path`` equals ``path``."""
        return self._records(qe.Filter(must=[_is_doc(), qe.FieldCondition("path", match=qe.MatchValue(path))]))

    def list_documents(self, filters: SearchFilters, limit: int, offset: int) -> list[DocRecord]:
        """Records matching ``filters`` by path; the registry is small, so it is sorted here."""
        return self._records(edge_filter(filters, [_is_doc()]))[offset : offset + limit]

    def count_documents(self, filters: SearchFilters) -> int:
        """Number of records matching ``filters``."""
        with self._lock.read():
            return int(self._shards()[1].count(qe.CountRequest(exact=True, filter=edge_filter(filters, [_is_doc()]))))

    def delete_document(self, doc_id: str) -> None:
        """Remove a document's registry record."""
        with self._lock.read():
            self._shards()[1].update(qe.UpdateOperation.delete_points([doc_point_id(doc_id)]))

    def facets(self, field: str, filters: SearchFilters) -> dict[str, int]:
        """Document counts per value of ``field``."""
        if field not in FACET_FIELDS:
            raise ValueError(f"cannot facet on {field!r}; use one of {sorted(FACET_FIELDS)}")
        req = qe.FacetRequest(field, limit=10_000, exact=True, filter=edge_filter(filters, [_is_doc()]))
        with self._lock.read():
            resp = self._shards()[1].facet(req)
        return {str(h.value): int(h.count) for h in resp.hits}

    # -- search ----------------------------------------------------------------------------

    @staticmethod
    def _points(res: list[qe.ScoredPoint]) -> list[tuple[str, float, dict[str, Any]]]:
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
        flt = edge_filter(filters)
        dq = qe.Query.Nearest(dense.astype(np.float32).tolist(), using=DENSE)
        stages = [(dq, prefetch_dense)]
        if sparse.indices:
            sq = qe.Query.Nearest(qe.SparseVector(list(sparse.indices), list(sparse.values)), using=SPARSE)
            stages.append((sq, prefetch_sparse))
        fused = qe.QueryRequest(
            limit=offset + limit,
            query=qe.Fusion.Rrf(k=RRF_K),  # type: ignore[arg-type]  # the stub omits Fusion's variants
            prefetches=[qe.Prefetch(limit=n, query=q, filter=flt) for q, n in stages],
            filter=flt,
            with_payload=True,
        )
        singles = [qe.QueryRequest(limit=n, query=q, filter=flt, with_payload=False) for q, n in stages]
        with self._lock.read():
            res = self._shards()[0].query_batch(qe.QueryBatchRequest([fused, *singles]))
        ids = [[(str(p.id), float(p.score)) for p in r] for r in res[1:]]
        return stage_hits(self._points(res[0]), ids[0], ids[1] if len(ids) > 1 else [], offset)

    def dense_search(self, dense: np.ndarray, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Dense nearest neighbours alone."""
        q = qe.Query.Nearest(dense.astype(np.float32).tolist(), using=DENSE)
        return self._single(q, DENSE, filters, limit, offset)

    def sparse_search(self, sparse: SparseVector, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Sparse matches alone."""
        if not sparse.indices:
            return []
        q = qe.Query.Nearest(qe.SparseVector(list(sparse.indices), list(sparse.values)), using=SPARSE)
        return self._single(q, SPARSE, filters, limit, offset)

    def _single(self, q: qe.Query, stage: str, filters: SearchFilters, limit: int, offset: int) -> list[Hit]:
        req = qe.QueryRequest(limit=limit, offset=offset, query=q, filter=edge_filter(filters), with_payload=True)
        with self._lock.read():
            res = self._shards()[0].query(req)
        return single_stage_hits(self._points(res), stage, offset)

    # -- recovery --------------------------------------------------------------------------

    def repair(self) -> int:
        """Delete chunks whose (doc_id, content_sha256) is not in the registry."""
        records = self._records(qe.Filter(must=[_is_doc()]))
        should: list[Any] = [
            qe.Filter(
                must=[qe.FieldCondition("doc_id", match=qe.MatchValue(r.doc_id))],
                must_not=[qe.FieldCondition("content_sha256", match=qe.MatchValue(r.content_sha256))],
            )
            for r in records
        ]
        known = [r.doc_id for r in records]
        should.append(
            qe.Filter(must_not=[qe.FieldCondition("doc_id", match=qe.MatchAny(known))]) if known else qe.Filter(must=[])
        )
        with self._lock.read():
            n = self._delete_where(self._shards()[0], qe.Filter(should=should))
        if n:
            logger.warning("repair removed %s orphan chunks from %s", n, self.root)
        return n

    def snapshot(self, dest: Path) -> Path:
        """Write a ``.tar.gz`` of the store taken with the shards closed (writes paused)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        with self._lock.write():
            if not self._open():
                raise IndexNotReady(f"no index in {self.root} to snapshot")
            self._close()
            try:
                with tarfile.open(tmp, "w:gz") as tar:
                    tar.add(self.root, arcname=self.collection)
            finally:
                self._open()
        tmp.replace(dest)
        logger.info("snapshot of %s written to %s", self.root, dest)
        return dest

    def restore(self, src: Path) -> None:
        """Replace the store's files with a snapshot; the old files stay until it opens."""
        with self._lock.write():
            self._close()
            self.root.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=self.root.parent))
            try:
                try:
                    with tarfile.open(src, "r:gz") as tar:
                        tar.extractall(staging, filter="data")
                except (tarfile.TarError, OSError) as err:
                    raise StoreCorrupted(f"snapshot {src} cannot be read ({err}); the store is unchanged") from err
                new_root = staging / self.collection
                for name in ("chunks", "docs"):
                    self._load(new_root / name).close()
                old = self.root.with_name(self.root.name + ".old")
                shutil.rmtree(old, ignore_errors=True)
                if self.root.exists():
                    self.root.rename(old)
                new_root.rename(self.root)
                shutil.rmtree(old, ignore_errors=True)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
                if (self.root / "chunks").is_dir():
                    self._open()
        logger.info("restored %s from %s", self.root, src)
