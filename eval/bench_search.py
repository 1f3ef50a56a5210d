"""Search benchmark: latency of the real search path, query embedding included, and peak memory.

Each query goes through ``KnowledgeBase.retriever.search`` and ``SearchResponse``, as
``kb search`` and ``GET /search`` do: query embedding with the real model, sparse encoding,
the hybrid RRF query in the store (twice when the question names a country), fusion
corrections, duplicate collapse and the JSON shape. Queries are gold questions
(eval/gold/*.jsonl, many languages), each asked once, after a few warm-up questions.

**Stored vectors are mostly synthetic.** The store holds the real corpus chunks (embedded by
the real model, cached under ``--cache-dir``) topped up to the size with synthetic points:
random unit dense vectors (as eval/bench_store.py), and text, metadata and sparse vectors
borrowed from a random real chunk (words shuffled, 80% of the terms kept, weights jittered),
so posting lists and payloads have realistic sizes. Each (backend, size) runs in its own
process so peak RSS (model included) is that run's alone. qdrant-client's local mode answers a
hybrid query in seconds at 100k, so it gets fewer queries (``--local-queries``).

    KB_MODEL_CACHE_DIR=/tmp/capacities-kb-test-models python -m eval.bench_search \\
        --points 10000 100000 --json eval/results/bench-search.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from eval.bench_ingest import ROOT, bench_settings, load_average, timed_embedder
from eval.bench_store import BATCH, p50_p95, peak_rss_mb, unit_vectors
from eval.gold import load_gold
from eval.run import machine
from ingest.models import Chunk, Span
from kb.models import SearchFilters, SearchResponse, SparseVector
from kb.store import EdgeStore, VectorStore
from kb.store_server import QdrantServerStore

BACKENDS = ("edge", "edge-optimized", "client-local")
WARMUP = 5
KEEP_TERMS = 0.8


def _corpus_key(corpus: Path) -> str:
    from kb.embed import load_embedder
    from kb.settings import Settings

    s = Settings()
    digest = hashlib.sha256(f"{load_embedder(s.embed_model, s.models_dir).model_id}|{s.chunk_tokens}|".encode())
    digest.update(f"{s.chunk_overlap}".encode())
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        digest.update(path.relative_to(corpus).as_posix().encode() + b"\x00" + path.read_bytes())
    return digest.hexdigest()[:16]


def corpus_points(corpus: Path, cache_dir: Path) -> Path:
    """The corpus's chunks with their real dense and sparse vectors, cached by content.

    Built with the real indexer into a throwaway data dir; vectors are kept as they are embedded.
    """
    from kb.indexer import passage_text
    from kb.service import KnowledgeBase

    dest = cache_dir / f"corpus-{_corpus_key(corpus)}"
    if (dest / "dense.npy").is_file():
        return dest
    print(f"embedding {corpus} once (cached in {dest})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-search-corpus-") as tmp:
        settings = bench_settings(Path(tmp))
        embedder = timed_embedder(settings, keep_vectors=True)
        kb = KnowledgeBase(settings, embedder_override=embedder)
        try:
            summary = kb.indexer().ingest([corpus])
            chunks = [c for doc_id in dict.fromkeys(summary.doc_ids) for c in kb.store.get_chunks(doc_id)]
        finally:
            kb.close()
    texts = [passage_text(c) for c in chunks]
    rows = [
        {"chunk": c.model_dump(mode="json"), "sparse": kb.sparse.encode_document(t, c.language).model_dump()}
        for c, t in zip(chunks, texts, strict=True)
    ]
    dest.mkdir(parents=True, exist_ok=True)
    np.save(dest / "dense.npy", np.stack([embedder.vectors[t] for t in texts]))
    (dest / "chunks.json").write_text(json.dumps(rows, ensure_ascii=False))
    return dest


def _load_points(folder: Path) -> tuple[list[Chunk], np.ndarray, list[SparseVector]]:
    rows = json.loads((folder / "chunks.json").read_text())
    chunks = [Chunk.model_validate(r["chunk"]) for r in rows]
    return chunks, np.load(folder / "dense.npy"), [SparseVector.model_validate(r["sparse"]) for r in rows]


def _synthetic(source: Chunk, sparse: SparseVector, i: int, rng: np.random.Generator) -> tuple[Chunk, SparseVector]:
    """A synthetic point shaped like a real chunk: its words shuffled, most of its terms."""
    words = source.text.split()
    rng.shuffle(words)  # numpy shuffles a list in place
    text = " ".join(words)
    chunk = source.model_copy(
        update={
            "chunk_id": f"syn-{i}",
            "doc_id": f"syn-doc-{i // 20}",
            "ordinal": i % 20,
            "text": text,
            "span": Span(start=0, end=len(text)),
            "path": f"synthetic/{i // 20}",
        }
    )
    keep = rng.random(len(sparse.indices)) < KEEP_TERMS
    keep[0] = True
    values = np.asarray(sparse.values)[keep] * rng.uniform(0.8, 1.2, int(keep.sum()))
    indices = np.asarray(sparse.indices)[keep]
    return chunk, SparseVector(indices=indices.tolist(), values=values.round(4).tolist())


def fill(store: VectorStore, points_dir: Path, points: int, rng: np.random.Generator) -> tuple[int, float]:
    """Upsert the real chunks, then synthetic points up to ``points``; (real count, upsert seconds)."""
    chunks, dense, sparse = _load_points(points_dir)
    real = min(points, len(chunks))
    spent = 0.0
    for start in range(0, real, BATCH):
        end = min(real, start + BATCH)
        started = time.perf_counter()
        store.upsert_chunks(chunks[start:end], dense[start:end], sparse[start:end])
        spent += time.perf_counter() - started
    for start in range(real, points, BATCH):
        n = min(BATCH, points - start)
        picks = rng.integers(0, len(chunks), n)
        made = [_synthetic(chunks[j], sparse[j], start + k, rng) for k, j in enumerate(picks)]
        vectors = unit_vectors(rng, n)
        started = time.perf_counter()
        store.upsert_chunks([c for c, _ in made], vectors, [s for _, s in made])
        spent += time.perf_counter() - started
    started = time.perf_counter()
    store.flush()
    return real, spent + time.perf_counter() - started


def questions() -> list[str]:
    """Every distinct gold question in a fixed shuffled order (languages mixed)."""
    found = list(dict.fromkeys(item.question for item in load_gold()))
    random.Random(0).shuffle(found)
    return found


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss / 2**20)


def run_one(backend: str, points: int, n_queries: int, points_dir: Path) -> dict[str, Any]:
    """Fill one store and time ``n_queries`` searches through the real search path.

    Backends: ``edge`` (Qdrant Edge as ``kb ingest`` leaves it: nothing calls its optimizer),
    ``edge-optimized`` (after :meth:`EdgeStore.optimize` built the HNSW index) and
    ``client-local`` (:class:`QdrantServerStore` over qdrant-client's ``:memory:`` mode).
    """
    from kb.service import KnowledgeBase

    asked = questions()
    warmup, measured = asked[:WARMUP], asked[WARMUP : WARMUP + n_queries]
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        settings = bench_settings(Path(tmp))
        embedder = timed_embedder(settings)
        kb = KnowledgeBase(settings, embedder_override=embedder)
        if backend == "client-local":
            from qdrant_client import QdrantClient

            # ":memory:": with path= local mode also writes every upsert to SQLite
            kb._store = QdrantServerStore(QdrantClient(":memory:"), settings.collection)
        kb.open()
        store = kb.store
        real, insert_s = fill(store, points_dir, points, np.random.default_rng(0))
        optimize_s = 0.0
        if backend == "edge-optimized" and isinstance(store, EdgeStore):
            started = time.perf_counter()
            store.optimize()
            optimize_s = time.perf_counter() - started
        rss_filled = _rss_mb()

        store_ms: list[float] = []
        hybrid = store.hybrid_search

        def timed_hybrid(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return hybrid(*args, **kwargs)
            finally:
                store_ms.append((time.perf_counter() - started) * 1000)

        setattr(store, "hybrid_search", timed_hybrid)  # noqa: B010  # time the store's share of each search

        def search(query: str) -> None:
            result = kb.retriever.search(query, SearchFilters(), k=settings.search_k)
            SearchResponse.of(result.hits, result.took_ms).model_dump(mode="json")

        started = time.perf_counter()
        search(warmup[0])  # loads the model
        first_s = time.perf_counter() - started
        for query in warmup[1:]:
            search(query)
        rss_ready = _rss_mb()
        total, embed, in_store, calls = _timed_loop(search, measured, embedder, store_ms)
        count = store.count_chunks()
        kb.close()
    p50, p95 = p50_p95(total)
    embed_p50, embed_p95 = p50_p95(embed)
    store_p50, store_p95 = p50_p95(in_store)
    return {
        "backend": backend,
        "points": points,
        "stored": count,
        "real_chunks": real,
        "insert_s": round(insert_s, 1),
        "optimize_s": round(optimize_s, 1),
        "queries": len(measured),
        "two_store_calls": sum(1 for c in calls if c > 1),
        "first_query_s": round(first_s, 2),
        "search_p50_ms": p50,
        "search_p95_ms": p95,
        "embed_p50_ms": embed_p50,
        "embed_p95_ms": embed_p95,
        "store_p50_ms": store_p50,
        "store_p95_ms": store_p95,
        "rss_filled_mb": round(rss_filled),
        "rss_ready_mb": round(rss_ready),
        "peak_rss_mb": round(peak_rss_mb()),
        "load_after": load_average(),
    }


def _timed_loop(
    search: Callable[[str], None], queries: list[str], embedder: Any, store_ms: list[float]
) -> tuple[list[float], list[float], list[float], list[int]]:
    """Per query: total ms, query-embedding ms, store ms and number of store calls."""
    total: list[float] = []
    embed: list[float] = []
    in_store: list[float] = []
    calls: list[int] = []
    for query in queries:
        store_ms.clear()
        embedder.last_s = 0.0
        started = time.perf_counter()
        search(query)
        total.append((time.perf_counter() - started) * 1000)
        embed.append(embedder.last_s * 1000)
        in_store.append(sum(store_ms))
        calls.append(len(store_ms))
    return total, embed, in_store, calls


COLUMNS = [
    ("backend", "backend"),
    ("points", "points"),
    ("queries", "queries"),
    ("search_p50_ms", "search p50 ms"),
    ("search_p95_ms", "search p95 ms"),
    ("embed_p50_ms", "embed p50"),
    ("embed_p95_ms", "embed p95"),
    ("store_p50_ms", "store p50"),
    ("store_p95_ms", "store p95"),
    ("peak_rss_mb", "peak RSS MB"),
    ("insert_s", "insert s"),
    ("optimize_s", "optimize s"),
]


def main(argv: list[str] | None = None) -> None:
    """Run every (backend, size) in a child process, print a table and optionally write JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, nargs="+", default=[10_000])
    ap.add_argument("--queries", type=int, default=200, help="measured questions for Qdrant Edge")
    ap.add_argument("--local-queries", type=int, default=20, help="measured questions for qdrant-client local mode")
    ap.add_argument("--local-max", type=int, default=100_000, help="largest size tried in local mode")
    ap.add_argument(
        "--backends", nargs="+", choices=BACKENDS, default=["edge", "client-local"], help="edge-optimized: HNSW built"
    )
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "capacities-kb-bench")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--one", nargs=3, metavar=("BACKEND", "POINTS", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    if args.one:
        backend, points, folder = args.one[0], int(args.one[1]), Path(args.one[2])
        n = args.local_queries if backend == "client-local" else args.queries
        print(json.dumps(run_one(backend, points, n, folder)))
        return

    points_dir = corpus_points(args.corpus.resolve(), args.cache_dir)
    report: dict[str, Any] = {"machine": machine(), "load_before": load_average(), "runs": []}
    report["notes"] = (
        "stored vectors are synthetic except the real corpus chunks; query embedding with the real model is "
        "included; edge = Qdrant Edge as kb ingest leaves it, edge-optimized = after EdgeStore.optimize()"
    )
    for points in args.points:
        for backend in args.backends:
            if backend == "client-local" and points > args.local_max:
                continue
            cmd = [sys.executable, "-m", "eval.bench_search", "--one", backend, str(points), str(points_dir)]
            cmd += ["--queries", str(args.queries), "--local-queries", str(args.local_queries)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
            report["runs"].append(json.loads(out.strip().splitlines()[-1]))
            print(f"done {backend} {points} (load {load_average()})", file=sys.stderr)
    report["load_after"] = load_average()

    print(" | ".join(title for _, title in COLUMNS))
    for r in report["runs"]:
        print(" | ".join(str(r[key]) for key, _ in COLUMNS))
    print(f"{report['notes']}; load average before {report['load_before']}, after {report['load_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
