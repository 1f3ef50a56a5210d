"""``kb eval``: the domain gold set, a BEIR dataset or XQuAD-R; writes eval/results/<name>.json and .md.

Examples::

    kb eval                                   # gold set over corpus/, data in data/eval
    kb eval --fast                            # retrieval, refusal and citation support only
    kb eval --beir ../shared/benchmarks/beir/scifact
    kb eval --xquad ../shared/benchmarks/xquad-r --per-language 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.report import table, write

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
RETRIEVAL_COLUMNS = ["n", "ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10"]
ANSWER_COLUMNS = ["n", "fact_recall", "false_refusal", "refusal_accuracy", "citation_support", "citations"]
OTHER_COLUMNS = [
    "n", "speaker_p@1", "speaker_p@1_noroles", "speaker_p@3", "speaker_mrr", "country_evidence", "foreign_rows",
]  # fmt: skip


def parser() -> argparse.ArgumentParser:
    """Command-line options of ``kb eval`` (also ``python -m eval.run``)."""
    p = argparse.ArgumentParser(prog="kb eval", description=__doc__.splitlines()[0])
    p.add_argument("--beir", type=Path, help="BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/test.tsv)")
    p.add_argument("--xquad", type=Path, help="XQuAD-R folder (one <lang>.json per language)")
    p.add_argument("--per-language", type=int, default=200, help="XQuAD-R questions per language")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="corpus for the gold set")
    p.add_argument("--gold", type=Path, default=None, help="gold folder (default eval/gold)")
    p.add_argument("--data-dir", type=Path, default=Path("data/eval"), help="separate data dir for eval indexes")
    p.add_argument("--collection", default=None, help="collection name (default per dataset)")
    p.add_argument("--name", default=None, help="results name (eval/results/<name>.json)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N queries")
    p.add_argument("--fast", action="store_true", help="gold set: retrieval, refusal and citation support only")
    p.add_argument("--results-dir", type=Path, default=None, help="where results go (default eval/results)")
    return p


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def open_kb(data_dir: Path, collection: str, **settings: Any) -> Any:
    """A knowledge base on its own data dir and collection, opened; ``settings`` override the rest."""
    from kb.service import KnowledgeBase
    from kb.settings import Settings

    kb = KnowledgeBase(Settings(data_dir=data_dir, collection=collection, **settings))
    return kb.open()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_gold(args: argparse.Namespace) -> tuple[str, dict[str, Any], list[str]]:
    """Ingest corpus/ and evaluate the gold set."""
    from eval.domain import DomainEval, corpus_texts, gold_items

    kb = open_kb(args.data_dir, args.collection or "gold")
    try:
        started = time.perf_counter()
        summary = kb.indexer().ingest([args.corpus])
        ingest_s = time.perf_counter() - started
        if summary.failed:
            logger.warning("%d corpus files failed to ingest", len(summary.failed))
        items = gold_items(args.gold)
        if args.limit:
            items = items[: args.limit]
        result = DomainEval(kb, corpus_texts([args.corpus]), fast=args.fast).run(items)
        result["ingest"] = {"seconds": round(ingest_s, 1), "added": summary.added, "chunks": kb.store.count_chunks()}
        result["model"] = kb.embedder.model_id
    finally:
        kb.close()
    name = args.name or ("gold-fast" if args.fast else "gold")
    m = result["metrics"]
    md = [f"# Gold set ({result['questions']} questions, model {result['model']})", ""]
    md += ["## Retrieval (document level)", "", *table({"all": m["all"], **m["by_kind"]}, RETRIEVAL_COLUMNS, "kind")]
    md += ["", *table(m["by_pair"], RETRIEVAL_COLUMNS, "language pair")]
    md += ["", "## Answers", "", *table({"all": m["all"], **m["by_kind"]}, ANSWER_COLUMNS, "kind")]
    md += ["", *table(m["by_part"], ANSWER_COLUMNS, "gold part (eval/gold/split.json)")]
    md += ["", *table(m["by_pair"], ANSWER_COLUMNS, "language pair")]
    if not args.fast:
        md += ["", "## Speakers and comparisons", "", *table({"all": m["all"], **m["by_kind"]}, OTHER_COLUMNS, "kind")]
    cal = result.get("calibration") or {}
    if cal:
        md += ["", f"## Refusal threshold on {cal['key']}, chosen on the tuning part", ""]
        md += table({"answerable": cal["answerable"], "unanswerable": cal["unanswerable"]}, list(cal["answerable"]))
        md += [
            "",
            *table(
                {f"current {cal['current_threshold']}, {p}": v for p, v in cal["at_current"].items()},
                ANSWER_COLUMNS[1:4],
            ),
        ]
        md += [
            *table(
                {f"suggested {cal['suggested_threshold']}, {p}": v for p, v in cal["at_suggested"].items()},
                ANSWER_COLUMNS[1:4],
            )[2:]
        ]
    return name, result, md


def run_beir_cmd(args: argparse.Namespace) -> tuple[str, dict[str, Any], list[str]]:
    """Ingest a BEIR corpus and evaluate its test queries."""
    from eval.beir import run_beir

    dataset = args.beir.name
    kb = open_kb(args.data_dir, args.collection or f"beir-{dataset}")
    try:
        result = run_beir(kb, args.beir, limit=args.limit)
        result["model"] = kb.embedder.model_id
    finally:
        kb.close()
    name = args.name or f"beir-{dataset}"
    md = [f"# BEIR {dataset} ({result['queries']} test queries, {result['documents']} documents)", ""]
    md += table({"hybrid (kb)": {"n": result["queries"], **result["metrics"]}}, RETRIEVAL_COLUMNS, "system")
    md += ["", f"Query latency p50 {result['latency_ms']['p50']} ms, p95 {result['latency_ms']['p95']} ms."]
    return name, result, md


def run_xquad_cmd(args: argparse.Namespace) -> tuple[str, dict[str, Any], list[str]]:
    """XQuAD-R paragraph retrieval, monolingual and pooled."""
    from eval.xquad import MEASURES, run_xquad

    kb = open_kb(args.data_dir, args.collection or "xquad")
    try:
        result = run_xquad(kb, args.xquad, args.data_dir / "xquad", per_language=args.per_language)
        result["model"] = kb.embedder.model_id
    finally:
        kb.close()
    name = args.name or "xquad-r"
    md = [f"# XQuAD-R paragraph retrieval (first {args.per_language} questions per language)", ""]
    md += table(result["metrics"], list(MEASURES), "questions -> paragraphs")
    return name, result, md


def main(argv: Sequence[str] | None = None) -> int:
    """Run one evaluation and write its results; returns the exit code."""
    args = parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    if args.beir:
        name, result, md = run_beir_cmd(args)
    elif args.xquad:
        name, result, md = run_xquad_cmd(args)
    else:
        name, result, md = run_gold(args)
    result["run"] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine(),
        "command": "kb eval " + " ".join(argv if argv is not None else []),
    }
    kwargs = {"folder": args.results_dir} if args.results_dir else {}
    write(name, result, md, **kwargs)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
