"""The store contract (:class:`VectorStore`) and the Chunk <-> point mapping, both backend-free.

Two Qdrant collections make one store: ``<collection>`` holds the chunks (named vectors
``dense`` and ``sparse``), ``<collection>__docs`` the document registry (one point per
document, a 1-dim dummy vector) plus one metadata point recording the embedding model.
Keeping the registry in Qdrant lets both backends offer the same contract.

Points are made from chunks and records here (:func:`chunk_points`, :func:`doc_point`,
:func:`meta_point`) and read back into chunks, records and hits here; the backend adapters
(:mod:`kb.store_backend`) only translate these plain points into their client's types.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ingest.models import Chunk, DocMeta
from kb.errors import ModelMismatch
from kb.models import DocRecord, Hit, SearchFilters, SparseVector, StageScores
from kb.store_backend import Point

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://capacities-kb/points")
DENSE = "dense"
SPARSE = "sparse"
DOCS_SUFFIX = "__docs"
DOC_VECTOR = "d"
KIND = "_kind"
META_ID = str(uuid.uuid5(NAMESPACE, "meta:collection"))
# RRF constant of the original paper (Cormack et al. 2009); Qdrant's default of 2 lets the
# top ranks of one list dominate the fusion.
RRF_K = 60
UPSERT_BATCH = 256

# Keyword fields that filters, facets, listing and repair match on; ``date`` is indexed as
# datetime so ranges work (payload dates are ISO ``YYYY-MM-DD`` strings).
KEYWORD_FIELDS: tuple[str, ...] = (
    "country",
    "about",
    "language",
    "doc_type",
    "audience",
    "topics",
    "doc_id",
    "path",
    "content_sha256",
)
DATE_FIELD = "date"
MATCH_FIELDS: tuple[str, ...] = ("country", "about", "language", "doc_type", "audience", "topics", "doc_id")
FACET_FIELDS: frozenset[str] = frozenset({"country", "language", "doc_type", "audience", "topics"})


def chunk_point_id(chunk_id: str) -> str:
    """Qdrant point id of a chunk: Qdrant accepts only unsigned ints and UUIDs."""
    return str(uuid.uuid5(NAMESPACE, chunk_id))


def doc_point_id(doc_id: str) -> str:
    """Point id of a document's registry record."""
    return str(uuid.uuid5(NAMESPACE, "doc:" + doc_id))


def chunk_payload(chunk: Chunk) -> dict[str, Any]:
    """Payload stored with a chunk's point."""
    return chunk.model_dump(mode="json")


def chunk_from_payload(payload: dict[str, Any]) -> Chunk:
    """Inverse of :func:`chunk_payload`."""
    return Chunk.model_validate(payload)


def chunk_points(chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]) -> list[Point]:
    """Points of chunks: id from the chunk id, ``dense`` row and ``sparse`` vector, the chunk as payload."""
    return [
        Point(
            chunk_point_id(c.chunk_id),
            {DENSE: dense[i].astype(np.float32).tolist(), SPARSE: sparse[i]},
            chunk_payload(c),
        )
        for i, c in enumerate(chunks)
    ]


def doc_point(record: DocRecord) -> Point:
    """The registry point of a document."""
    return Point(doc_point_id(record.doc_id), {DOC_VECTOR: [1.0]}, doc_payload(record))


def meta_point(model_id: str, dim: int) -> Point:
    """The registry's metadata point: which embedding model built the collection."""
    return Point(META_ID, {DOC_VECTOR: [1.0]}, {KIND: "meta", "model_id": model_id, "dim": dim})


# The metadata fields a registry point keeps at the top of its payload, beside the chunks'
# same fields, so that one filter (country, language, type...) selects both.
_META_FIELDS = tuple(name for name in DocMeta.model_fields if name not in ("id", "title"))


def doc_payload(record: DocRecord) -> dict[str, Any]:
    """Payload stored with a document's registry point: the record, its metadata flattened."""
    payload = record.model_dump(mode="json", exclude={"meta"})
    payload.update(record.meta.model_dump(mode="json", include=set(_META_FIELDS)))
    payload["path"] = record.path  # left out of the record's JSON everywhere else
    payload[KIND] = "doc"
    return payload


def record_from_payload(payload: dict[str, Any]) -> DocRecord:
    """Inverse of :func:`doc_payload`."""
    data = {k: v for k, v in payload.items() if k != KIND and k not in _META_FIELDS}
    meta = {k: payload[k] for k in _META_FIELDS if k in payload}
    return DocRecord.model_validate({**data, "meta": {**meta, "id": payload["doc_id"], "title": payload["title"]}})


def check_model(meta: dict[str, Any], model_id: str, dim: int, where: str) -> None:
    """Raise :class:`ModelMismatch` when a collection was built with another model or dim."""
    if meta.get("model_id") != model_id or meta.get("dim") != dim:
        raise ModelMismatch(
            f"collection {where} was indexed with model {meta.get('model_id')!r} "
            f"(dim {meta.get('dim')}), not {model_id!r} (dim {dim}); "
            "set KB_EMBED_MODEL back to that model, or index with this one into another collection "
            "(a new KB_COLLECTION, then `kb ingest`)"
        )


def check_upsert(chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]) -> None:
    """Validate that vectors line up with chunks before anything is written."""
    if dense.ndim != 2 or dense.shape[0] != len(chunks) or len(sparse) != len(chunks):
        raise ValueError(
            f"{len(chunks)} chunks need {len(chunks)} dense rows and sparse vectors, "
            f"got dense {dense.shape} and {len(sparse)} sparse"
        )


def stage_hits(
    fused: list[tuple[str, float, dict[str, Any]]],
    dense: list[tuple[str, float]],
    sparse: list[tuple[str, float]],
    offset: int = 0,
) -> list[Hit]:
    """Build hits from a fused list and the two stage lists (ids, scores) it came from.

    RRF gives equal scores to symmetric rank pairs and Qdrant may return those in any order,
    so the store fetches ``offset + limit`` fused points and pages here, ties broken by id.
    """
    fused = sorted(fused, key=lambda p: (-p[1], p[0]))[offset:]
    dense_at = {pid: (rank, score) for rank, (pid, score) in enumerate(dense, start=1)}
    sparse_at = {pid: (rank, score) for rank, (pid, score) in enumerate(sparse, start=1)}
    hits = []
    for pid, score, payload in fused:
        d_rank, d_score = dense_at.get(pid, (None, None))
        s_rank, s_score = sparse_at.get(pid, (None, None))
        stages = StageScores(dense=d_score, dense_rank=d_rank, sparse=s_score, sparse_rank=s_rank, fused=score)
        hits.append(Hit(chunk=chunk_from_payload(payload), score=score, stages=stages))
    return hits


def single_stage_hits(points: list[tuple[str, float, dict[str, Any]]], stage: str, offset: int) -> list[Hit]:
    """Hits of a dense-only or sparse-only search, ranks counted from ``offset``."""
    hits = []
    for rank, (_pid, score, payload) in enumerate(points, start=offset + 1):
        stages = (
            StageScores(dense=score, dense_rank=rank) if stage == DENSE else StageScores(sparse=score, sparse_rank=rank)
        )
        hits.append(Hit(chunk=chunk_from_payload(payload), score=score, stages=stages))
    return hits


def all_documents(store: VectorStore, page_size: int = 500) -> Iterator[DocRecord]:
    """Every document record of ``store``, read a page at a time."""
    offset = 0
    while page := store.list_documents(SearchFilters(), limit=page_size, offset=offset):
        offset += len(page)
        yield from page


def sort_records(records: list[DocRecord]) -> list[DocRecord]:
    """Stable listing order: by path, then id."""
    return sorted(records, key=lambda r: (r.path, r.doc_id))


class RWLock:
    """Many readers or one writer; the store's searches and upserts are readers of its files,
    snapshot, restore and close are writers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the shared side."""
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the exclusive side."""
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@runtime_checkable
class VectorStore(Protocol):
    """Chunks with dense and sparse vectors, plus the document registry.

    Ingest writes a changed document's new chunks first, then its registry record, then
    deletes the old version's chunks; :meth:`repair` removes whatever an interrupted run
    left, so a document is always either its old or its new version, never a mix.
    """

    def ensure_collection(self, model_id: str, dim: int) -> None:
        """Create the collections on first use, else check they match the model.

        Raises:
            ModelMismatch: the collection was built with another model or dimension.
        """
        ...

    def has_collection(self) -> bool:
        """True when the collections exist and carry their model record."""
        ...

    def upsert_chunks(self, chunks: Sequence[Chunk], dense: np.ndarray, sparse: Sequence[SparseVector]) -> None:
        """Write chunks with their vectors; the same chunk ids overwrite."""
        ...

    def delete_chunks(self, doc_id: str, keep_sha256: str | None = None) -> int:
        """Delete a document's chunks, or only those of versions other than ``keep_sha256``."""
        ...

    def get_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks by ordinal."""
        ...

    def get_chunk(self, chunk_id: str) -> Chunk | None:
        """One chunk by id."""
        ...

    def count_chunks(self) -> int:
        """Number of chunks stored."""
        ...

    def chunk_ids(self) -> set[str]:
        """Every stored chunk id."""
        ...

    def put_document(self, record: DocRecord) -> None:
        """Insert or replace a document's registry record."""
        ...

    def get_document(self, doc_id: str) -> DocRecord | None:
        """A document's registry record."""
        ...

    def find_by_path(self, path: str) -> list[DocRecord]:
        """Records whose ``path`` equals ``path``."""
        ...

    def list_documents(self, filters: SearchFilters, limit: int, offset: int) -> list[DocRecord]:
        """Records matching ``filters``, by path."""
        ...

    def count_documents(self, filters: SearchFilters) -> int:
        """Number of records matching ``filters``."""
        ...

    def delete_document(self, doc_id: str) -> None:
        """Remove a document's registry record (its chunks stay until deleted)."""
        ...

    def facets(self, field: str, filters: SearchFilters) -> dict[str, int]:
        """Document counts per value of ``field`` (country, language, doc_type, ...)."""
        ...

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
        """Dense and sparse prefetch fused by RRF in Qdrant, with per-stage scores."""
        ...

    def dense_search(self, dense: np.ndarray, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Dense nearest neighbours alone."""
        ...

    def sparse_search(self, sparse: SparseVector, filters: SearchFilters, limit: int, offset: int = 0) -> list[Hit]:
        """Sparse (BM25 with IDF) matches alone."""
        ...

    def repair(self) -> int:
        """Delete chunks that do not match the registry; return how many."""
        ...

    def flush(self) -> None:
        """Make written data durable."""
        ...

    def close(self) -> None:
        """Flush and release the store."""
        ...
