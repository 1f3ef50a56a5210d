"""Ingest benchmark: the whole pipeline against the embedding model alone, and an unchanged re-ingest.

Ingests a folder into a fresh data dir as ``kb ingest corpus/`` does (parse, chunk, embed,
sparse vectors, store writes), each run in a fresh process. It reports:

- pipeline chunks/s against the model's own chunks/s on exactly the texts the indexer
  embedded (``embed_passages``, same batch size and precision), measured afterwards in the
  same process, over ``--rounds`` first ingests (medians; a shared machine makes single runs
  noisy). The pipeline's time includes loading the model, which happens while the first
  files are parsed, as in ``kb ingest``;
- the wall time of re-ingesting the unchanged folder in a fresh process (interpreter start,
  imports and any model loading included) against the first ingest's wall time;
- with ``--profile``, one more first ingest under cProfile: seconds per stage.

    KB_MODEL_CACHE_DIR=/tmp/capacities-kb-test-models python -m eval.bench_ingest \\
        --json eval/results/bench-ingest.json
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.run import machine
from kb.embed import Embedder, EmbedderWrapper, load_embedder

ROOT = Path(__file__).resolve().parent.parent

# Stages of a first ingest as (file suffix, function) in the profile; cumulative seconds.
STAGES = {
    "model load": ("kb/embed.py", "_load"),
    "parse (load_path)": ("ingest/registry.py", "load_path"),
    "chunk (incl. token counts)": ("ingest/chunking.py", "chunk_document"),
    "embed (embed_passages)": ("kb/embed.py", "embed_passages"),
    "sparse (encode_document)": ("kb/sparse.py", "encode_document"),
    "store upsert_chunks": ("kb/store_qdrant.py", "upsert_chunks"),
    "store put_document": ("kb/store_qdrant.py", "put_document"),
    "store delete_chunks": ("kb/store_qdrant.py", "delete_chunks"),
    "store get_document": ("kb/store_qdrant.py", "get_document"),
    "store create + check": ("kb/store_qdrant.py", "ensure_collection"),
    "store flush + close": ("kb/store_edge.py", "close"),
    "file fingerprints": ("kb/indexer.py", "file_fingerprint"),
}


class TimedEmbedder(EmbedderWrapper):
    """An :class:`Embedder` passing every call to a real one, timing it and keeping passage texts.

    Args:
        inner: The real embedder.
        keep_vectors: Also keep each passage's vector, by text.
    """

    def __init__(self, inner: Embedder, keep_vectors: bool = False) -> None:
        super().__init__(inner)
        self.keep_vectors = keep_vectors
        self.passage_calls: list[list[str]] = []
        self.vectors: dict[str, np.ndarray] = {}
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.last_s = 0.0

    def count_tokens(self, text: str) -> int:
        """Token count from the real model (timed)."""
        started = time.perf_counter()
        n = self.inner.count_tokens(text)
        self.seconds["count_tokens"] += time.perf_counter() - started
        return n

    def load(self) -> None:
        """Load the real model (timed: inside an ingest it overlaps parsing)."""
        started = time.perf_counter()
        self.inner.load()
        self.seconds["load"] += time.perf_counter() - started

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors from the real model (timed, texts kept)."""
        self.passage_calls.append(list(texts))
        started = time.perf_counter()
        vectors = self.inner.embed_passages(texts)
        self.last_s = time.perf_counter() - started
        self.seconds["embed_passages"] += self.last_s
        if self.keep_vectors:
            self.vectors.update(zip(texts, vectors, strict=True))
        return vectors

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors from the real model (timed)."""
        started = time.perf_counter()
        vectors = self.inner.embed_queries(texts)
        self.last_s = time.perf_counter() - started
        self.seconds["embed_queries"] += self.last_s
        return vectors


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def bench_settings(data_dir: Path) -> Any:
    """Settings for a run in ``data_dir`` that share the configured cache of converted models."""
    from kb.settings import Settings

    return Settings(data_dir=data_dir, model_cache_dir=Settings().models_dir.resolve())


def timed_embedder(settings: Any, keep_vectors: bool = False) -> TimedEmbedder:
    """The embedder the settings name (as ``KnowledgeBase`` builds it), wrapped for timing."""
    s = settings
    inner = load_embedder(
        s.embed_model, s.models_dir, threads=s.embed_threads, batch_size=s.embed_batch_size, precision=s.embed_precision
    )
    return TimedEmbedder(inner, keep_vectors=keep_vectors)


def ingest_once(data_dir: Path, paths: list[Path], *, baseline: bool) -> dict[str, Any]:
    """One ``kb ingest`` into ``data_dir`` with a timed embedder, then optionally the model alone.

    Args:
        data_dir: The data dir (fresh for a first ingest).
        paths: Files and folders to ingest.
        baseline: Afterwards embed the same texts with the model alone, all in one call and
            again in the indexer's own calls.
    """
    from kb.service import KnowledgeBase

    settings = bench_settings(data_dir)
    embedder = timed_embedder(settings)
    kb = KnowledgeBase(settings, embedder_override=embedder)
    loads = {"before_ingest": load_average()}
    started = time.perf_counter()
    try:
        summary = kb.indexer().ingest(paths)
    finally:
        kb.close()
    ingest_s = time.perf_counter() - started
    out: dict[str, Any] = {
        "done_at": time.time(),
        "added": summary.added,
        "unchanged": summary.unchanged,
        "failed": len(summary.failed),
        "chunks": summary.chunks,
        "model_load_in_ingest_s": round(embedder.seconds["load"], 2),
        "ingest_s": round(ingest_s, 2),
        "embed_in_pipeline_s": round(embedder.seconds["embed_passages"], 2),
        "count_tokens_s": round(embedder.seconds["count_tokens"], 2),
        "embed_calls": len(embedder.passage_calls),
        "torch_imported": "torch" in sys.modules,
        "load": loads,
    }
    loads["after_ingest"] = load_average()
    texts = [t for call in embedder.passage_calls for t in call]
    out["embedded_texts"] = len(texts)
    if baseline and texts:
        inner = embedder.inner
        started = time.perf_counter()
        inner.embed_passages(texts)
        out["model_alone_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        for call in embedder.passage_calls:
            inner.embed_passages(call)
        out["model_alone_same_calls_s"] = round(time.perf_counter() - started, 2)
        out["mean_chars"] = round(statistics.fmean(len(t) for t in texts))
        loads["after_model_alone"] = load_average()
    return out


def profile_once(data_dir: Path, paths: list[Path]) -> dict[str, Any]:
    """A first ingest under cProfile: cumulative seconds per stage (Python code is inflated)."""
    profiler = cProfile.Profile()
    profiler.enable()
    result = ingest_once(data_dir, paths, baseline=False)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # the stub omits the raw table
    stages: dict[str, float] = {}
    for name, (suffix, func) in STAGES.items():
        total = sum(v[3] for (file, _, fn), v in stats.items() if fn == func and file.endswith(suffix))
        stages[name] = round(total, 2)
    return {"ingest_s": result["ingest_s"], "chunks": result["chunks"], "stages_s": stages}


def _child(mode: str, data_dir: Path, paths: list[Path]) -> dict[str, Any]:
    """Run one ingest in a fresh interpreter; add its wall time from spawn to finished ingest."""
    cmd = [sys.executable, "-m", "eval.bench_ingest", "--child", mode, str(data_dir), *map(str, paths)]
    spawned = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if "done_at" in result:
        result["process_wall_s"] = round(result.pop("done_at") - spawned, 2)
    return result


def _cli_reingest(data_dir: Path, paths: list[Path]) -> float:
    """Wall time of the literal ``kb ingest PATHS --json`` over an already indexed data dir."""
    models = bench_settings(data_dir).models_dir
    env = {**os.environ, "KB_DATA_DIR": str(data_dir), "KB_MODEL_CACHE_DIR": str(models)}
    cmd = [sys.executable, "-m", "cli", "ingest", *map(str, paths), "--json"]
    started = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return round(time.perf_counter() - started, 2)


def _round(first: dict[str, Any]) -> dict[str, Any]:
    """Throughputs and ratios of one first ingest and the model alone in the same process."""
    n = first["chunks"]
    pipeline_s = first["ingest_s"]  # the model loads inside the ingest
    return {
        "pipeline_chunks_per_s": round(n / pipeline_s, 2),
        "model_alone_chunks_per_s": round(n / first["model_alone_s"], 2),
        "model_alone_same_calls_chunks_per_s": round(n / first["model_alone_same_calls_s"], 2),
        "pipeline_vs_model": round(first["model_alone_s"] / pipeline_s, 3),
        # the same, as if the model had been loaded before the ingest started
        "pipeline_without_model_load_vs_model": round(
            first["model_alone_s"] / (pipeline_s - first["model_load_in_ingest_s"]), 3
        ),
        "embed_in_pipeline_vs_same_calls": round(first["model_alone_same_calls_s"] / first["embed_in_pipeline_s"], 3),
    }


def run(paths: list[Path], rounds: int, repeats: int, profile: bool) -> dict[str, Any]:
    """First ingests, re-ingests and optionally a profiled ingest, each in a fresh process."""
    report: dict[str, Any] = {"machine": machine(), "load_before": load_average()}
    report["paths"] = [os.path.relpath(p, ROOT) for p in paths]  # no machine paths in committed results
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        firsts = []
        for i in range(rounds):
            firsts.append(_child("first", Path(tmp) / f"data-{i}", paths))
            print(f"first ingest {i + 1}: {firsts[-1]['process_wall_s']} s", file=sys.stderr)
        data_dir = Path(tmp) / "data-0"
        again = [_child("again", data_dir, paths) for _ in range(repeats)]
        cli = [_cli_reingest(data_dir, paths) for _ in range(repeats)]
        if profile:
            report["profile"] = _child("profile", Path(tmp) / "profiled", paths)
    report["load_after"] = load_average()

    report["first"] = firsts
    report["rounds"] = [_round(f) for f in firsts]
    report["reingest"] = again
    report["reingest_cli_wall_s"] = cli
    first_s = statistics.median(f["process_wall_s"] for f in firsts)
    reingest_s = statistics.median(r["process_wall_s"] for r in again)
    figures: dict[str, Any] = {"chunks": firsts[0]["chunks"]}
    for key in report["rounds"][0]:
        figures[key] = statistics.median(r[key] for r in report["rounds"])
    figures |= {
        "first_ingest_wall_s": first_s,
        "reingest_wall_s": reingest_s,
        "reingest_vs_first": round(reingest_s / first_s, 4),
        "reingest_cli_wall_s": statistics.median(cli),
        "reingest_loads_model": any(r["torch_imported"] for r in again),
    }
    report["figures"] = figures
    return report


def _print(report: dict[str, Any]) -> None:
    f = report["figures"]
    print("round | pipeline chunks/s (model load included) | model alone | pipeline/model")
    for i, r in enumerate(report["rounds"], start=1):
        print(f"{i} | {r['pipeline_chunks_per_s']} | {r['model_alone_chunks_per_s']} | {r['pipeline_vs_model']:.1%}")
    rows = [
        ("chunks embedded", f"{f['chunks']}"),
        ("pipeline (ingest, model load included)", f"{f['pipeline_chunks_per_s']} chunks/s"),
        ("model alone, one call", f"{f['model_alone_chunks_per_s']} chunks/s"),
        ("model alone, the indexer's calls", f"{f['model_alone_same_calls_chunks_per_s']} chunks/s"),
        ("pipeline / model alone", f"{f['pipeline_vs_model']:.1%}"),
        ("the same, without the model load", f"{f['pipeline_without_model_load_vs_model']:.1%}"),
        ("first ingest, process wall", f"{f['first_ingest_wall_s']} s"),
        ("unchanged re-ingest, process wall", f"{f['reingest_wall_s']} s"),
        ("re-ingest / first ingest", f"{f['reingest_vs_first']:.2%}"),
        ("re-ingest via `kb ingest` CLI", f"{f['reingest_cli_wall_s']} s"),
        ("re-ingest loads the model", "yes" if f["reingest_loads_model"] else "no"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nmedians:")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if "profile" in report:
        print(f"\nprofiled first ingest ({report['profile']['ingest_s']} s under cProfile):")
        for stage, seconds in report["profile"]["stages_s"].items():
            print(f"  {stage:<{width - 2}}  {seconds} s")
    print(f"\nload average before {report['load_before']}, after {report['load_after']}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print a table and optionally write JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", type=Path, default=[ROOT / "corpus"], help="what to ingest (default corpus/)")
    ap.add_argument("--rounds", type=int, default=3, help="first ingests, each with the model alone (medians)")
    ap.add_argument("--repeats", type=int, default=3, help="unchanged re-ingests (median reported)")
    ap.add_argument("--profile", action="store_true", help="one more first ingest under cProfile")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child", metavar="MODE", choices=["first", "again", "profile"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    if args.child:
        data_dir, paths = args.paths[0], args.paths[1:]
        if args.child == "profile":
            result = profile_once(data_dir, paths)
        else:
            # the model loads inside the timed ingest, overlapped with parsing, as in `kb ingest`
            result = ingest_once(data_dir, paths, baseline=args.child == "first")
        print(json.dumps(result))
        return

    report = run([p.resolve() for p in args.paths], args.rounds, args.repeats, args.profile)
    _print(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
