"""Congruence: one sequence of store operations, the same answers on every backend.

In the manner of qdrant-client's tests/congruence_tests: :func:`scenario` writes chunks with
dense and sparse vectors and registry records, runs filtered dense, sparse and hybrid searches
page by page, facets, counts, listings, deletes (``keep_sha256`` too) and repairs after
simulated interrupted writes, and records every answer. The Qdrant Edge store's answers are
the reference; qdrant-client's local mode (``:memory:`` and on disk) must give the same ids in
the same order with the same payloads, and scores within a small tolerance. With
``KB_TEST_QDRANT_URL`` set, a real server must too.

One known difference between the engines: sparse scores use IDF (``Modifier.IDF``), and
Qdrant Edge keeps deleted points in its IDF statistics while local mode counts live points
only. After the first delete, the scenario therefore compares which chunks sparse and hybrid
searches find, not their scores or order; :func:`test_sparse_idf_after_deletes_differs` pins
the difference so that a change in either engine shows up.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel
from qdrant_client import QdrantClient

from kb.errors import KBError
from kb.models import Hit, SearchFilters, SparseVector
from kb.store import EdgeStore, VectorStore
from kb.store_server import QdrantServerStore

from .test_store_contract import DIM, MODEL, chunk, record, vec

SERVER_URL = os.environ.get("KB_TEST_QDRANT_URL")
WORDS = ["climate", "city", "contract", "energy", "finance", "bond", "mobility", "heating", "budget", "citizen"]
DOCS = {  # doc_id -> chunk metadata
    "pl": dict(country="PL", language="pl", audience=["national"], topics=["finance"], date=dt.date(2024, 3, 1)),
    "sk": dict(country="SK", language="sk", doc_type="transcript", topics=["governance"], date=dt.date(2025, 1, 10)),
    "se": dict(country="SE", language="sv", audience=["city"], topics=["finance", "energy"], date=dt.date(2023, 6, 30)),
    "it": dict(country="IT", language="it", doc_type="newsletter", topics=["energy"]),
    "fi": dict(country="FI", language="fi", audience=["national", "city"], date=dt.date(2022, 11, 2)),
    "gr": dict(country="GR", language="el", doc_type="transcript", topics=["mobility", "finance"]),
}
FILTERS = {
    "none": SearchFilters(),
    "country": SearchFilters(country=["PL", "SE"]),
    "doc_type": SearchFilters(doc_type=["transcript"]),
    "audience": SearchFilters(audience=["city"]),
    "topics": SearchFilters(topics=["finance"]),
    "dates": SearchFilters(date_from=dt.date(2023, 1, 1), date_to=dt.date(2024, 12, 31)),
    "mixed": SearchFilters(language=["pl", "sv", "el"], topics=["finance"], date_from=dt.date(2023, 1, 1)),
    "empty": SearchFilters(doc_id=["nothing"]),
}
FACETS = ("country", "language", "doc_type", "audience", "topics")

Observations = list[tuple[str, Any]]


def _weight(chunk_id: str, word: str) -> float:
    """A distinct weight per chunk and word, so that no two sparse scores tie."""
    return 1.0 + zlib.crc32(f"{chunk_id}/{word}".encode()) % 997 / 997


def _sparse(chunk_id: str, words: list[str]) -> SparseVector:
    ids = {zlib.crc32(w.encode()): _weight(chunk_id, w) for w in words}
    return SparseVector(indices=sorted(ids), values=[ids[i] for i in sorted(ids)])


def _query(words: str) -> SparseVector:
    ids = sorted({zlib.crc32(w.encode()) for w in words.split()})
    return SparseVector(indices=ids, values=[1.0] * len(ids))


def _write(store: VectorStore, doc_id: str, sha: str, n: int) -> None:
    """Upsert ``n`` chunks of one document version; text and vectors follow from their ids."""
    chunks, sparse = [], []
    for i in range(n):
        words = [WORDS[(zlib.crc32(f"{doc_id}{sha}{i}{j}".encode())) % len(WORDS)] for j in range(4)]
        c = chunk(doc_id, i, " ".join(words), sha=sha, **DOCS.get(doc_id, {}))
        chunks.append(c)
        sparse.append(_sparse(c.chunk_id, words))
    dense = np.stack([vec(zlib.crc32(c.chunk_id.encode())) for c in chunks])
    store.upsert_chunks(chunks, dense, sparse)


def _errors(op: Callable[[], object]) -> str:
    try:
        op()
    except KBError as err:
        return type(err).__name__
    return "ok"


def _found(hits: list[Hit]) -> list[str]:
    return sorted(h.chunk.chunk_id for h in hits)


def _searches(store: VectorStore, see: Callable[[str, Any], None], sparse_ranked: bool = True) -> None:
    """Searches page by page; with ``sparse_ranked`` False, only which chunks sparse and hybrid find."""
    queries = [(vec(1000 + i), _query(q)) for i, q in enumerate(["climate finance", "city bond heating", "budget"])]
    for qi, (dense, sparse) in enumerate(queries):
        for name, flt in FILTERS.items():
            for offset in (0, 4, 8):
                key = f"q{qi}/{name}/{offset}"
                see(f"dense {key}", store.dense_search(dense, flt, limit=4, offset=offset))
                if sparse_ranked:
                    see(f"sparse {key}", store.sparse_search(sparse, flt, limit=4, offset=offset))
                    see(f"hybrid {key}", store.hybrid_search(dense, sparse, flt, limit=4, offset=offset))
            if sparse_ranked:
                see(f"hybrid narrow q{qi}/{name}", store.hybrid_search(dense, sparse, flt, 6, 0, 5, 3))
            else:
                see(f"sparse found q{qi}/{name}", _found(store.sparse_search(sparse, flt, limit=100)))
                see(f"hybrid found q{qi}/{name}", _found(store.hybrid_search(dense, sparse, flt, limit=100)))
    see("hybrid without sparse", store.hybrid_search(vec(7), SparseVector(indices=[], values=[]), FILTERS["none"], 5))


def _registry(store: VectorStore, see: Callable[[str, Any], None]) -> None:
    see("count chunks", store.count_chunks())
    see("chunk ids", sorted(store.chunk_ids()))
    for doc_id in [*DOCS, "missing"]:
        see(f"chunks {doc_id}", store.get_chunks(doc_id))
        see(f"document {doc_id}", store.get_document(doc_id))
        see(f"path {doc_id}", store.find_by_path(f"docs/{doc_id}.pdf"))
    see("chunk", store.get_chunk("se:v1:3"))
    see("no chunk", store.get_chunk("se:v9:3"))
    for name, flt in FILTERS.items():
        see(f"count {name}", store.count_documents(flt))
        see(f"list {name}", [store.list_documents(flt, limit=2, offset=o) for o in (0, 2, 4, 6)])
        for field in FACETS:
            see(f"facet {field}/{name}", store.facets(field, flt))


def scenario(store: VectorStore) -> Observations:
    """Run the sequence on a new store and return what each step answered."""
    seen: Observations = []
    phase = "load"

    def see(name: str, value: Any) -> None:
        seen.append((f"{phase}: {name}", value))

    see("search before ingest", _errors(lambda: store.dense_search(vec(1), FILTERS["none"], 3)))
    see("has collection before", store.has_collection())
    store.ensure_collection(MODEL, DIM)
    store.ensure_collection(MODEL, DIM)
    see("has collection", store.has_collection())
    see("other model", _errors(lambda: store.ensure_collection("other", DIM)))
    for n, doc_id in enumerate(DOCS):
        _write(store, doc_id, "v1", 6 + n)
        meta = {k: v for k, v in DOCS[doc_id].items() if k != "audience"}
        store.put_document(record(doc_id, "v1", 6 + n, **meta))
    _registry(store, see)
    _searches(store, see)

    phase = "repair"
    # an update of "pl" interrupted after its new chunks, before its record: repair drops them
    _write(store, "pl", "v2", 4)
    _write(store, "stray", "v1", 3)
    see("repair before record", store.repair())
    see("ids after repair", sorted(store.chunk_ids()))
    # the update again, interrupted after its record, before the old chunks' deletion
    _write(store, "pl", "v2", 4)
    store.put_document(record("pl", "v2", 4, country="PL", language="pl"))
    see("repair after record", store.repair())
    see("repair again", store.repair())
    see("chunks pl", store.get_chunks("pl"))

    phase = "delete"
    # an update completed the way ingest does it, then deletes
    _write(store, "se", "v2", 5)
    store.put_document(record("se", "v2", 5, country="SE", language="sv", topics=["finance", "energy"]))
    see("delete old se", store.delete_chunks("se", keep_sha256="v2"))
    see("delete old se again", store.delete_chunks("se", keep_sha256="v2"))
    see("delete it", store.delete_chunks("it"))
    store.delete_document("it")
    see("delete missing", store.delete_chunks("missing"))
    _registry(store, see)
    _searches(store, see, sparse_ranked=False)  # see test_sparse_idf_after_deletes_differs
    see("repair at rest", store.repair())
    store.flush()
    return seen


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def differences(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where ``actual`` differs from ``expected``: floats within 1e-4 relative, the rest exactly."""
    if isinstance(expected, float) and isinstance(actual, float):
        same = math.isclose(expected, actual, rel_tol=1e-4, abs_tol=1e-6)
        return [] if same else [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            return [f"{where}: keys {sorted(expected)} != {sorted(actual)}"]
        return [d for k in expected for d in differences(expected[k], actual[k], f"{where}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items != {len(actual)}"]
        return [
            d for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for d in differences(e, a, f"{where}[{i}]")
        ]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


def compare(expected: Observations, actual: Observations) -> list[str]:
    """Every difference between two scenario runs, step by step."""
    assert [name for name, _ in actual] == [name for name, _ in expected]
    return [
        d for (name, e), (_, a) in zip(expected, actual, strict=True) for d in differences(_plain(e), _plain(a), name)
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Observations:
    """The Qdrant Edge store's answers."""
    store = EdgeStore(tmp_path_factory.mktemp("edge"), "congruence")
    try:
        return scenario(store)
    finally:
        store.close()


@pytest.fixture(params=["memory", "path", pytest.param("server", marks=pytest.mark.integration)])
def other(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A qdrant-client store: local mode in memory or on disk, or the server at KB_TEST_QDRANT_URL."""
    name = f"congruence_{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        client = QdrantClient(":memory:")
    elif request.param == "path":
        client = QdrantClient(path=str(tmp_path / "local"))
    elif SERVER_URL:
        client = QdrantClient(url=SERVER_URL, api_key=os.environ.get("KB_TEST_QDRANT_API_KEY"))
    else:
        pytest.skip("set KB_TEST_QDRANT_URL to compare with a Qdrant server")
    yield QdrantServerStore(client, name)
    for collection in (name, name + "__docs"):
        if client.collection_exists(collection):
            client.delete_collection(collection)
    client.close()


def test_backends_agree_point_for_point(reference: Observations, other: VectorStore) -> None:
    assert reference[-1][0] == "delete: repair at rest"  # the scenario ran to its end
    diffs = compare(reference, scenario(other))
    assert not diffs, f"{len(diffs)} differences, first ones:\n" + "\n".join(diffs[:20])


def test_reference_is_not_trivial(reference: Observations) -> None:
    seen = dict(reference)
    assert len(seen) == len(reference)  # every step has its own name
    assert seen["load: search before ingest"] == "IndexNotReady" and seen["load: other model"] == "ModelMismatch"
    assert seen["repair: repair before record"] == 7 and seen["repair: repair after record"] == 6
    assert seen["repair: repair again"] == 0 and seen["delete: repair at rest"] == 0
    assert seen["delete: delete old se"] == 8 and seen["delete: delete old se again"] == 0
    hybrid = seen["load: hybrid q0/none/0"]
    assert len(hybrid) == 4 and all(h.stages.dense_rank or h.stages.sparse_rank for h in hybrid)
    assert any(h.stages.dense_rank and h.stages.sparse_rank for h in hybrid)
    assert seen["load: hybrid q0/empty/0"] == [] and seen["load: facet country/none"]["PL"] == 1
    assert seen["delete: count none"] == 5 and seen["delete: facet country/none"].get("IT") is None
    pages = [h.chunk.chunk_id for o in (0, 4, 8) for h in seen[f"load: dense q1/topics/{o}"]]
    assert len(pages) == len(set(pages)) == 12


@pytest.mark.parametrize("backend", ["edge", "memory"])
def test_sparse_idf_after_deletes_differs(tmp_path: Path, backend: str) -> None:
    store = EdgeStore(tmp_path, "idf") if backend == "edge" else QdrantServerStore(QdrantClient(":memory:"), "idf")
    store.ensure_collection(MODEL, DIM)
    chunks = [chunk("a", i, "rare common") for i in range(3)] + [chunk("b", 0, "common")]
    sparse = [_query("rare common")] * 3 + [_query("common")]
    store.upsert_chunks(chunks, np.stack([vec(i) for i in range(4)]), sparse)
    before = store.sparse_search(_query("common"), FILTERS["none"], limit=10)[0].score
    assert store.delete_chunks("a") == 3
    after = store.sparse_search(_query("common"), FILTERS["none"], limit=10)
    assert [h.chunk.chunk_id for h in after] == ["b:v1:0"]
    if backend == "edge":  # "common" still counts 4 points: its IDF, and the score, stay
        assert after[0].score == pytest.approx(before)
    else:  # local mode recounts: "common" is in every live point now, so its IDF changes
        assert after[0].score != pytest.approx(before)
    store.close()
