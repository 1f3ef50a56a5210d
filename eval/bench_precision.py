"""bf16 against float32: model throughput, vector agreement, and retrieval quality, in one run.

    python -m eval.bench_precision                                   # the gold set over corpus/
    python -m eval.bench_precision --beir ../shared/benchmarks/beir/scifact

For one dataset it measures, in this order and in one process:

1. **Model alone**: passages per second of the embedding model in float32 and in bf16 autocast
   on the same texts (the dataset's first ``--passages`` chunks as the indexer embeds them),
   ``--rounds`` interleaved rounds, and the lowest cosine between the two precisions' vectors.
2. **Quality**: the dataset ingested twice into fresh stores, once per precision (ingest time
   reported, model load excluded), then every query searched against each index with queries
   embedded in each precision: nDCG@10 and Recall@10 for the four combinations. The
   off-diagonal pairs show that stored vectors do not depend on the precision.

Results go to ``eval/results/precision-<name>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.run import machine, open_kb
from kb.precision import Precision, cpu_has_bf16

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "results"
PRECISIONS: tuple[Precision, Precision] = ("float32", "bfloat16")


def _kb(data_dir: Path, models: Path, precision: Precision) -> Any:
    return open_kb(data_dir, "precision", model_cache_dir=models, embed_precision=precision)


def sample_passages(source: Path, embedder: Any, count: int) -> list[str]:
    """The first ``count`` chunks of ``source`` (folder or JSONL), as the indexer embeds them."""
    from ingest.chunking import chunk_document
    from ingest.registry import iter_files, load_path
    from kb.indexer import passage_text

    passages: list[str] = []
    for path in iter_files([source]):
        if not isinstance(path, Path):
            continue
        for doc in load_path(path, max_bytes=2**31, max_unzipped_bytes=2**31).docs:
            passages += [passage_text(c) for c in chunk_document(doc, 320, 40, embedder.count_tokens)]
            if len(passages) >= count:
                return passages[:count]
    return passages


def model_alone(kbs: dict[Precision, Any], passages: list[str], rounds: int) -> dict[str, Any]:
    """Passages per second per precision, interleaved rounds on the same texts, and their agreement."""
    seconds: dict[Precision, list[float]] = {p: [] for p in kbs}
    vectors: dict[Precision, np.ndarray] = {}
    for kb in kbs.values():
        kb.embedder.embed_passages(passages[:8])  # warm up
    for _ in range(rounds):
        for p, kb in kbs.items():
            started = time.perf_counter()
            vectors[p] = kb.embedder.embed_passages(passages)
            seconds[p].append(time.perf_counter() - started)
    rate = {p: len(passages) / statistics.median(s) for p, s in seconds.items()}
    cosine = np.sum(vectors["float32"] * vectors["bfloat16"], axis=1)
    return {
        "passages": len(passages),
        "rounds": rounds,
        "seconds": {p: [round(s, 2) for s in v] for p, v in seconds.items()},
        "passages_per_s": {p: round(r, 2) for p, r in rate.items()},
        "ratio_bf16_to_float32": round(rate["bfloat16"] / rate["float32"], 3),
        "min_cosine": round(float(cosine.min()), 6),
        "mean_cosine": round(float(cosine.mean()), 6),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; write the results files."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, help="a BEIR dataset folder (default: the gold set over corpus/)")
    parser.add_argument("--passages", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", type=Path, default=ROOT / "data" / "models")
    parser.add_argument("--skip-quality", action="store_true", help="only the model-alone throughput")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from eval.beir import evaluate
    from eval.peers import DEPTH, dataset

    name = args.beir.name if args.beir else "gold"
    source = args.beir / "corpus.jsonl" if args.beir else ROOT / "corpus"
    _, queries, qrels = dataset(args.beir, source)
    result: dict[str, Any] = {"dataset": name, "machine": machine(), "cpu_has_bf16": cpu_has_bf16()}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {p: Path(tmp) / p for p in PRECISIONS}
        kbs = {p: _kb(dirs[p], args.models, p) for p in PRECISIONS}
        passages = sample_passages(source, kbs["float32"].embedder, args.passages)
        result["model_alone"] = model_alone(kbs, passages, args.rounds)
        logger.info("model alone: %s", result["model_alone"])
        if not args.skip_quality:
            ingest: dict[str, Any] = {}
            for p, kb in kbs.items():
                started = time.perf_counter()
                summary = kb.indexer().ingest([source])
                ingest[p] = {"seconds": round(time.perf_counter() - started, 1), "chunks": summary.chunks}
                kb.close()
                logger.info("ingested in %s: %s", p, ingest[p])
            result["ingest"] = ingest
            quality: dict[str, Any] = {}
            for index in PRECISIONS:
                for query in PRECISIONS:
                    kb = _kb(dirs[index], args.models, query)

                    def search(text: str, kb: Any = kb) -> list[str]:
                        return [h.chunk.doc_id for h in kb.retriever.search(text, k=DEPTH).hits]

                    scores = evaluate(search, queries, qrels)
                    kb.close()
                    quality[f"index {index}, queries {query}"] = scores["metrics"]
                    logger.info("index %s, queries %s: %s", index, query, scores["metrics"])
            result["quality"] = quality
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"precision-{name}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (RESULTS / f"precision-{name}.md").write_text(report(result), encoding="utf-8")
    print(report(result))
    return 0


def report(result: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    m = result["model_alone"]
    lines = [
        f"# bf16 against float32 on {result['dataset']}",
        "",
        f"Model alone, {m['passages']} passages, {m['rounds']} interleaved rounds (medians):",
        "",
        "| precision | passages/s |",
        "|---|---|",
        *(f"| {p} | {r} |" for p, r in m["passages_per_s"].items()),
        "",
        f"bf16 / float32: **{m['ratio_bf16_to_float32']}x**; cosine between the two vectors: lowest "
        f"{m['min_cosine']}, mean {m['mean_cosine']}.",
    ]
    if "quality" in result:
        lines += ["", "| index built in | queries embedded in | nDCG@10 | Recall@10 |", "|---|---|---|---|"]
        for key, metrics in result["quality"].items():
            index, query = (part.split(" ")[1] for part in key.split(", "))
            lines.append(f"| {index} | {query} | {metrics['ndcg@10']:.4f} | {metrics['recall@10']:.4f} |")
        ingest = ", ".join(f"{p} {v['seconds']} s" for p, v in result["ingest"].items())
        lines += ["", f"Ingest (model loaded, the whole dataset): {ingest}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
