"""Store benchmark: insert rate, hybrid query latency and peak memory per backend.

Synthetic data: 384-dim unit vectors and 30-term sparse vectors over a Zipf vocabulary.
Each (backend, size) runs in its own process so peak RSS is that run's alone.

    python -m eval.bench_store --points 10000 100000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ingest.models import Chunk, Span
from kb.models import SearchFilters, SparseVector
from kb.store import EdgeStore, VectorStore
from kb.store_server import QdrantServerStore

DIM = 384
COUNTRIES = ["PL", "SK", "CZ", "DE", "FR", "ES", "IT", "AT"]
LANGS = ["pl", "sk", "cs", "de", "fr", "es", "it", "en"]
VOCAB = 50_000
BATCH = 1000


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random unit vectors of ``DIM`` dimensions (float32)."""
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True), dtype=np.float32)


def _sparse(rng: np.random.Generator, terms: int) -> SparseVector:
    ids = np.unique(np.minimum(rng.zipf(1.3, terms), VOCAB)).tolist()
    return SparseVector(indices=ids, values=rng.uniform(0.3, 2.0, len(ids)).round(3).tolist())


def _chunks(start: int, n: int) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"c{i}",
            doc_id=f"d{i // 20}",
            ordinal=i % 20,
            text=f"synthetic chunk {i}",
            span=Span(start=0, end=18),
            title=f"Document {i // 20}",
            path=f"docs/d{i // 20}.pdf",
            format="pdf",
            country=COUNTRIES[i % len(COUNTRIES)],
            language=LANGS[(i // 20) % len(LANGS)],
            topics=["finance"] if i % 3 == 0 else ["energy"],
            content_sha256="v1",
        )
        for i in range(start, start + n)
    ]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def p50_p95(values: list[float]) -> tuple[float, float]:
    """Median and 95th percentile (``statistics.quantiles``, exclusive method), rounded."""
    q = statistics.quantiles(values, n=20) if len(values) > 1 else [values[0]] * 19
    return round(statistics.median(values), 2), round(q[18], 2)


def run_one(backend: str, points: int, queries: int) -> dict[str, Any]:
    """Fill one store with ``points`` points and time ``queries`` hybrid queries."""
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    store: VectorStore
    if backend == "edge":
        store = EdgeStore(tmp, "bench")
    else:
        from qdrant_client import QdrantClient

        # ":memory:": with path= local mode also writes every upsert to SQLite (about 50 points/s)
        store = QdrantServerStore(QdrantClient(":memory:"), "bench")
    store.ensure_collection("bench", DIM)

    t0 = time.perf_counter()
    for start in range(0, points, BATCH):
        n = min(BATCH, points - start)
        store.upsert_chunks(_chunks(start, n), unit_vectors(rng, n), [_sparse(rng, 30) for _ in range(n)])
    store.flush()
    insert_s = time.perf_counter() - t0
    optimize_s = 0.0
    if isinstance(store, EdgeStore):
        t1 = time.perf_counter()
        store.optimize()
        optimize_s = time.perf_counter() - t1

    qs = [(unit_vectors(rng, 1)[0], _sparse(rng, 6)) for _ in range(queries)]
    store.hybrid_search(qs[0][0], qs[0][1], SearchFilters(), limit=10)  # warm-up
    lat: list[float] = []
    for dense, sparse in qs:
        t = time.perf_counter()
        store.hybrid_search(dense, sparse, SearchFilters(), limit=10)
        lat.append((time.perf_counter() - t) * 1000)
    flt = SearchFilters(country=["PL"], topics=["finance"])
    flat: list[float] = []
    for dense, sparse in qs[: max(1, queries // 2)]:
        t = time.perf_counter()
        store.hybrid_search(dense, sparse, flt, limit=10)
        flat.append((time.perf_counter() - t) * 1000)
    count = store.count_chunks()
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    p50, p95 = p50_p95(lat)
    return {
        "backend": backend,
        "points": points,
        "stored": count,
        "insert_per_s": round(points / insert_s),
        "insert_s": round(insert_s, 2),
        "optimize_s": round(optimize_s, 2),
        "queries": queries,
        "hybrid_p50_ms": p50,
        "hybrid_p95_ms": p95,
        "filtered_p50_ms": round(statistics.median(flat), 2),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main(argv: list[str] | None = None) -> None:
    """Run every (backend, size) in a child process, print a table and JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, nargs="+", default=[10_000])
    ap.add_argument("--queries", type=int, default=200, help="hybrid queries for Qdrant Edge")
    ap.add_argument("--local-queries", type=int, default=20, help="queries for qdrant-client local mode")
    ap.add_argument("--local-max", type=int, default=10_000, help="largest size tried in local mode")
    ap.add_argument("--backends", nargs="+", default=["edge", "client-local"])
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "POINTS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:
        backend, points = args.one[0], int(args.one[1])
        n = args.queries if backend == "edge" else args.local_queries
        print(json.dumps(run_one(backend, points, n)))
        return

    results = []
    for points in args.points:
        for backend in args.backends:
            if backend == "client-local" and points > args.local_max:
                continue
            cmd = [sys.executable, "-m", "eval.bench_store", "--one", backend, str(points)]
            cmd += ["--queries", str(args.queries), "--local-queries", str(args.local_queries)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(f"done {backend} {points}", file=sys.stderr)

    cols = ["backend", "points", "insert_per_s", "optimize_s", "hybrid_p50_ms", "hybrid_p95_ms",
            "filtered_p50_ms", "peak_rss_mb", "queries"]  # fmt: skip
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(str(r[c]) for c in cols))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
