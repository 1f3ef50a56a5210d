"""The same contract tests for every VectorStore backend, on deterministic vectors."""

from __future__ import annotations

import datetime as dt
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from ingest.models import Chunk, DocMeta, Span
from kb.errors import IndexNotReady, ModelMismatch
from kb.models import DocRecord, SearchFilters, SparseVector
from kb.store import EdgeStore, VectorStore
from kb.store_server import QdrantServerStore

DIM = 8
MODEL = "test-model"
NO_FILTER = SearchFilters()

Factory = Callable[[], VectorStore]


def vec(seed: int) -> np.ndarray:
    """A deterministic unit vector."""
    v = np.random.RandomState(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def bow(text: str) -> SparseVector:
    """A hashed bag of words, weight 1 per distinct word."""
    ids = sorted({zlib.crc32(w.encode()) for w in text.lower().split()})
    return SparseVector(indices=ids, values=[1.0] * len(ids))


def chunk(doc_id: str, ordinal: int, text: str, sha: str = "v1", **meta: object) -> Chunk:
    """A chunk whose id depends on its document version, as ingest makes them."""
    return Chunk(
        chunk_id=f"{doc_id}:{sha}:{ordinal}",
        doc_id=doc_id,
        ordinal=ordinal,
        text=text,
        span=Span(start=ordinal * 100, end=ordinal * 100 + len(text)),
        title=f"Title {doc_id}",
        path=f"docs/{doc_id}.pdf",
        format="pdf",
        content_sha256=sha,
        **meta,  # type: ignore[arg-type]
    )


def record(doc_id: str, sha: str = "v1", chunks: int = 1, **meta: object) -> DocRecord:
    """A registry record matching :func:`chunk`."""
    return DocRecord(
        doc_id=doc_id,
        path=f"docs/{doc_id}.pdf",
        format="pdf",
        title=f"Title {doc_id}",
        content_sha256=sha,
        chunk_count=chunks,
        meta=DocMeta(id=doc_id, title=f"Title {doc_id}", **meta),  # type: ignore[arg-type]
    )


def put(store: VectorStore, chunks: list[Chunk], seeds: list[int] | None = None) -> None:
    """Upsert chunks with vectors seeded by ``seeds`` (default: a hash of the chunk id)."""
    seeds = seeds or [zlib.crc32(c.chunk_id.encode()) for c in chunks]
    dense = np.stack([vec(s) for s in seeds])
    store.upsert_chunks(chunks, dense, [bow(c.text) for c in chunks])


@pytest.fixture(params=["edge", "client-local"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Makes stores on one backing location; a new store closes the previous one."""
    opened: list[VectorStore] = []
    client = QdrantClient(":memory:") if request.param == "client-local" else None

    def make() -> VectorStore:
        for s in opened:
            if isinstance(s, EdgeStore):
                s.close()
        store: VectorStore = (
            EdgeStore(tmp_path / "qdrant", "test") if client is None else QdrantServerStore(client, "test")
        )
        opened.append(store)
        return store

    yield make
    for s in opened:
        if isinstance(s, EdgeStore):
            s.close()


@pytest.fixture
def store(factory: Factory) -> VectorStore:
    """A store with its collection created."""
    s = factory()
    s.ensure_collection(MODEL, DIM)
    return s


# -- collection --------------------------------------------------------------------------------


def test_create_once_and_reopen(factory: Factory) -> None:
    s = factory()
    assert not s.has_collection()
    s.ensure_collection(MODEL, DIM)
    s.ensure_collection(MODEL, DIM)
    assert s.has_collection()
    put(s, [chunk("a", 0, "alpha")])
    s.flush()
    again = factory()
    assert again.has_collection()
    again.ensure_collection(MODEL, DIM)
    assert again.count_chunks() == 1


@pytest.mark.parametrize(("model", "dim"), [("other-model", DIM), (MODEL, DIM * 2)])
def test_model_mismatch_names_reindex(factory: Factory, model: str, dim: int) -> None:
    factory().ensure_collection(MODEL, DIM)
    with pytest.raises(ModelMismatch, match="KB_COLLECTION"):
        factory().ensure_collection(model, dim)


def test_search_before_ingest_is_not_ready(factory: Factory) -> None:
    s = factory()
    with pytest.raises(IndexNotReady):
        s.hybrid_search(vec(1), bow("x"), NO_FILTER, limit=5)
    with pytest.raises(IndexNotReady):
        s.count_chunks()


# -- chunks ------------------------------------------------------------------------------------


def test_upsert_is_idempotent_and_round_trips(store: VectorStore) -> None:
    chunks = [chunk("a", i, f"text number {i}", topics=["energy"], date=dt.date(2024, 5, 1)) for i in (2, 0, 1)]
    put(store, chunks)
    put(store, chunks)
    assert store.count_chunks() == 3
    assert store.chunk_ids() == {c.chunk_id for c in chunks}
    assert [c.ordinal for c in store.get_chunks("a")] == [0, 1, 2]
    assert store.get_chunk(chunks[0].chunk_id) == chunks[0]
    assert store.get_chunk("missing") is None
    assert store.get_chunks("missing") == []


def test_upsert_rejects_misaligned_vectors(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="dense"):
        store.upsert_chunks([chunk("a", 0, "x")], np.zeros((2, DIM), np.float32), [bow("x")])


FILTER_CASES = [
    (SearchFilters(country=["PL"]), {"pl"}),
    (SearchFilters(language=["sk"]), {"sk"}),
    (SearchFilters(doc_type=["transcript"]), {"sk"}),
    (SearchFilters(audience=["national"]), {"pl", "sk"}),
    (SearchFilters(topics=["finance", "nothing"]), {"pl", "en"}),
    (SearchFilters(doc_id=["en", "sk"]), {"en", "sk"}),
    (SearchFilters(date_from=dt.date(2024, 1, 1)), {"pl", "sk"}),
    (SearchFilters(date_from=dt.date(2023, 1, 1), date_to=dt.date(2024, 3, 1)), {"en", "pl"}),
    (SearchFilters(country=["PL", "SK"], topics=["finance"]), {"pl"}),
]


def _filtered_corpus(store: VectorStore) -> None:
    put(
        store,
        [
            chunk(
                "pl",
                0,
                "umowa klimatyczna",
                country="PL",
                language="pl",
                audience=["national", "city"],
                topics=["finance", "ccc"],
                date=dt.date(2024, 3, 1),
            ),
            chunk(
                "sk",
                0,
                "klimaticka zmluva",
                country="SK",
                language="sk",
                doc_type="transcript",
                audience=["national"],
                topics=["governance"],
                date=dt.date(2025, 1, 10),
            ),
            chunk(
                "en",
                0,
                "climate city contract",
                language="en",
                audience=["city"],
                topics=["finance"],
                date=dt.date(2023, 6, 30),
            ),
        ],
    )


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES)
def test_filters_on_every_field(store: VectorStore, filters: SearchFilters, expected: set[str]) -> None:
    _filtered_corpus(store)
    dense = {h.chunk.doc_id for h in store.dense_search(vec(0), filters, limit=10)}
    hybrid = {h.chunk.doc_id for h in store.hybrid_search(vec(0), bow("climate umowa"), filters, limit=10)}
    assert dense == expected
    assert hybrid <= expected


def test_paging_by_offset(store: VectorStore) -> None:
    # distinct sparse weights: equal scores may come back in any order, which no paging survives
    chunks = [chunk("a", i, f"common word{i}") for i in range(25)]
    common = bow("common").indices[0]
    sparse = [SparseVector(indices=[common], values=[1.0 + i / 10]) for i in range(25)]
    store.upsert_chunks(chunks, np.stack([vec(i) for i in range(25)]), sparse)
    q, sp = vec(7), bow("common")
    full = store.hybrid_search(q, sp, NO_FILTER, limit=25)
    pages = [h for off in (0, 10, 20) for h in store.hybrid_search(q, sp, NO_FILTER, limit=10, offset=off)]
    assert [h.chunk.chunk_id for h in pages] == [h.chunk.chunk_id for h in full]
    dense_pages = store.dense_search(q, NO_FILTER, limit=5, offset=5)
    assert [h.chunk.chunk_id for h in dense_pages] == [
        h.chunk.chunk_id for h in store.dense_search(q, NO_FILTER, limit=10)[5:]
    ]
    assert [h.stages.dense_rank for h in dense_pages] == [6, 7, 8, 9, 10]


def test_hybrid_fuses_dense_only_and_sparse_only_matches(store: VectorStore) -> None:
    query_vec = vec(100)
    near = np.stack([query_vec * 0.99 + vec(1) * 0.01, vec(2)])
    chunks = [chunk("dense", 0, "nothing lexical here"), chunk("sparse", 0, "elena funding facility")]
    store.upsert_chunks(chunks, near / np.linalg.norm(near, axis=1, keepdims=True), [bow(c.text) for c in chunks])
    put(store, [chunk(f"noise{i}", 0, f"filler text {i}") for i in range(10)], seeds=list(range(200, 210)))

    hits = store.hybrid_search(query_vec, bow("elena"), NO_FILTER, limit=5, prefetch_dense=3, prefetch_sparse=3)
    by_doc = {h.chunk.doc_id: h for h in hits}
    assert {"dense", "sparse"} <= set(by_doc)
    d, s = by_doc["dense"].stages, by_doc["sparse"].stages
    assert d.dense_rank == 1 and d.dense is not None and d.dense > 0.9 and d.sparse is None
    assert s.sparse_rank == 1 and s.sparse is not None and s.sparse > 0
    for h in hits:
        assert h.stages.fused == h.score
        assert h.stages.dense_rank is not None or h.stages.sparse_rank is not None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    sparse_only = store.sparse_search(bow("elena"), NO_FILTER, limit=5)
    assert [h.chunk.doc_id for h in sparse_only] == ["sparse"]
    assert store.sparse_search(SparseVector(indices=[], values=[]), NO_FILTER, limit=5) == []
    empty_sparse = store.hybrid_search(query_vec, SparseVector(indices=[], values=[]), NO_FILTER, limit=1)
    assert empty_sparse[0].chunk.doc_id == "dense"


def test_delete_by_document_and_keep_version(store: VectorStore) -> None:
    put(
        store,
        [
            chunk("a", 0, "x", sha="v1"),
            chunk("a", 1, "y", sha="v1"),
            chunk("a", 0, "x2", sha="v2"),
            chunk("b", 0, "z"),
        ],
    )
    assert store.delete_chunks("a", keep_sha256="v2") == 2
    assert {c.content_sha256 for c in store.get_chunks("a")} == {"v2"}
    assert store.delete_chunks("a") == 1
    assert store.delete_chunks("a") == 0
    assert store.chunk_ids() == {"b:v1:0"}


# -- registry ----------------------------------------------------------------------------------


def test_registry_crud_listing_and_facets(store: VectorStore) -> None:
    recs = [
        record("d1", country="PL", language="pl", doc_type="guideline", topics=["finance"]),
        record("d2", country="PL", language="en", doc_type="transcript", topics=["finance", "energy"]),
        record("d3", country="SK", language="sk", doc_type="guideline", date=dt.date(2024, 1, 1)),
    ]
    for r in recs:
        store.put_document(r)
    assert store.get_document("d2") == recs[1]
    assert store.get_document("nope") is None
    assert store.find_by_path("docs/d3.pdf") == [recs[2]]
    assert store.find_by_path("docs/none.pdf") == []

    assert store.count_documents(NO_FILTER) == 3
    assert [r.doc_id for r in store.list_documents(NO_FILTER, limit=2, offset=1)] == ["d2", "d3"]
    pl = SearchFilters(country=["PL"])
    assert [r.doc_id for r in store.list_documents(pl, limit=10, offset=0)] == ["d1", "d2"]
    assert store.count_documents(pl) == 2

    assert store.facets("country", NO_FILTER) == {"PL": 2, "SK": 1}
    assert store.facets("doc_type", pl) == {"guideline": 1, "transcript": 1}
    assert store.facets("topics", NO_FILTER) == {"finance": 2, "energy": 1}
    with pytest.raises(ValueError, match="facet"):
        store.facets("title", NO_FILTER)

    store.put_document(recs[0].model_copy(update={"title": "Renamed"}))
    doc = store.get_document("d1")
    assert doc is not None and doc.title == "Renamed"
    store.delete_document("d1")
    assert store.get_document("d1") is None
    assert store.count_documents(NO_FILTER) == 2


def test_repair_after_interrupted_update(store: VectorStore) -> None:
    old = [chunk("a", i, f"old {i}", sha="v1") for i in range(3)]
    put(store, old)
    store.put_document(record("a", "v1", 3))
    put(store, [chunk("b", 0, "never registered")])

    # killed after writing the new version's chunks, before its registry record
    new = [chunk("a", i, f"new {i}", sha="v2") for i in range(2)]
    put(store, new)
    assert store.repair() == 3  # two v2 chunks and the unregistered document
    assert store.chunk_ids() == {c.chunk_id for c in old}

    # killed after the registry record, before deleting the old version
    put(store, new)
    store.put_document(record("a", "v2", 2))
    assert store.repair() == 3
    assert store.chunk_ids() == {c.chunk_id for c in new}
    assert store.repair() == 0


def test_repair_with_empty_registry_removes_every_chunk(store: VectorStore) -> None:
    put(store, [chunk("a", 0, "x"), chunk("b", 0, "y")])
    assert store.repair() == 2
    assert store.count_chunks() == 0


def test_search_while_another_thread_upserts(store: VectorStore) -> None:
    put(store, [chunk("seed", 0, "seed text")])
    errors: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        try:
            while not stop.is_set():
                hits = store.hybrid_search(vec(3), bow("text"), NO_FILTER, limit=5)
                assert hits
        except BaseException as err:  # collected and reported below
            errors.append(err)

    readers = [threading.Thread(target=search) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for batch in range(10):
            put(store, [chunk(f"d{batch}", i, f"text {batch} {i}") for i in range(20)])
            store.put_document(record(f"d{batch}", chunks=20))
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=30)
    assert not errors, errors
    assert store.count_chunks() == 201
    assert store.count_documents(NO_FILTER) == 10
