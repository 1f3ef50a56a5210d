"""BEIR-format datasets (corpus.jsonl, queries.jsonl, qrels/test.tsv), read in place."""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eval.metrics import RETRIEVAL_MEASURES, first_occurrence, mean_over, per_query, percentile

logger = logging.getLogger(__name__)

DEPTH = 100


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id <TAB> corpus-id <TAB> score`` with a header line; grades > 0 only."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        for n, row in enumerate(reader):
            if n == 0 and row and not row[-1].strip().lstrip("-").isdigit():
                continue  # header
            if len(row) < 3:
                continue
            grade = int(row[2])
            if grade > 0:
                qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load_queries(path: Path, wanted: set[str] | None = None) -> dict[str, str]:
    """Query id -> text, restricted to ``wanted`` ids when given."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            qid = str(record["_id"])
            if wanted is None or qid in wanted:
                out[qid] = record["text"]
    return out


def evaluate(
    search: Callable[[str], list[str]],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    measures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every query through ``search`` (text -> ranked doc ids) and score the run.

    Returns:
        Overall metrics, the query count and latency p50/p95 in milliseconds.
    """
    run: dict[str, list[str]] = {}
    latencies: list[float] = []
    for qid, text in queries.items():
        started = time.perf_counter()
        run[qid] = first_occurrence(search(text))
        latencies.append((time.perf_counter() - started) * 1000)
    measures = measures or RETRIEVAL_MEASURES
    scores = per_query({q: qrels[q] for q in queries}, run, measures)
    return {
        "queries": len(queries),
        "metrics": mean_over(list(scores.values()), measures),
        "latency_ms": {"p50": round(percentile(latencies, 50), 1), "p95": round(percentile(latencies, 95), 1)},
    }


def run_beir(kb: Any, folder: Path, limit: int | None = None) -> dict[str, Any]:
    """Ingest ``folder/corpus.jsonl`` into ``kb`` (incrementally) and evaluate the test queries."""
    qrels = load_qrels(folder / "qrels" / "test.tsv")
    queries = load_queries(folder / "queries.jsonl", set(qrels))
    if limit:
        queries = dict(list(queries.items())[:limit])
    started = time.perf_counter()
    summary = kb.indexer().ingest([folder / "corpus.jsonl"])
    ingest_s = time.perf_counter() - started
    logger.info("ingested %s: %s docs added, %s chunks in %.1f s", folder.name, summary.added, summary.chunks, ingest_s)

    def search(text: str) -> list[str]:
        return [h.chunk.doc_id for h in kb.retriever.search(text, k=DEPTH).hits]

    result = evaluate(search, queries, qrels)
    result.update(
        {
            "dataset": folder.name,
            "documents": kb.store.count_documents(_no_filters()),
            "chunks": kb.store.count_chunks(),
            "ingest": {"seconds": round(ingest_s, 1), "added": summary.added, "unchanged": summary.unchanged},
        }
    )
    return result


def _no_filters() -> Any:
    from kb.models import SearchFilters

    return SearchFilters()
