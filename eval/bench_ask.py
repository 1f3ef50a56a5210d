"""``ask`` latency with the reader against without it, in one run on one index.

Opens the gold index (``kb eval`` builds it in data/eval), loads both paths' models first,
then asks every gold question once with each path, alternating, so that both see the same
machine load. Retrieval is included; the reader's and the embedder's caches are emptied
before each answer, so every reading and every vector is computed.

    python -m eval.bench_ask                   # writes eval/results/bench-ask.json and .md
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from eval.gold import load_gold
from eval.metrics import percentile
from eval.report import table, write
from eval.run import machine, open_kb

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Time both answer paths over the gold questions and write the results."""
    p = argparse.ArgumentParser(prog="python -m eval.bench_ask", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path("data/eval"))
    p.add_argument("--collection", default="gold")
    p.add_argument("--limit", type=int, default=None)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.reader import CrossEncoderReader

    kb = open_kb(args.data_dir, args.collection)
    try:
        with_reader = kb.answerer
        assert isinstance(with_reader.reader, CrossEncoderReader), "the reader is off (KB_READER)"
        reader = with_reader.reader
        without = replace(with_reader, reader=None)  # every other setting as configured
        questions = [it.question for it in load_gold()][: args.limit]
        with_reader.ask(questions[0])  # loads the models
        without.ask(questions[0])
        times: dict[str, list[float]] = {"with the reader": [], "without (similarity)": []}
        for question in questions:
            for name, answerer in (("with the reader", with_reader), ("without (similarity)", without)):
                reader.clear_cache()
                kb.sentence_embedder.clear_cache()
                started = time.perf_counter()
                answerer.ask(question)
                times[name].append((time.perf_counter() - started) * 1000)
    finally:
        kb.close()
    figures = {
        name: {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1)}
        for name, ms in times.items()
    }
    ratio = figures["with the reader"]["p95_ms"] / figures["without (similarity)"]["p95_ms"]
    md = [
        f"# `ask` latency, {len(questions)} gold questions, retrieval included, {os.cpu_count()} cores",
        "",
        *table(figures, ["n", "p50_ms", "p95_ms"], "path"),
        "",
        f"p95 ratio with / without the reader: {ratio:.2f}.",
    ]
    write("bench-ask", {"metrics": figures, "machine": machine()}, md)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
