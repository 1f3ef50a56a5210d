"""The reader against the bi-encoder on XQuAD-R's held-out articles (36-47), which training never read.

Two measures per question -> paragraph language pair, both systems in one run:

- **P@1 within the paragraph:** the answer's paragraph is given; the system picks one of its
  sentences; right when it is the sentence holding the answer. The bi-encoder picks the
  sentence most similar to the question (``query:`` / ``passage:`` embeddings, cosine), the
  reader the sentence with the highest log-odds.
- **Answer after retrieval:** the bi-encoder retrieves the 3 paragraphs most similar to the
  question among the 60 held-out paragraphs of the document language; each system then picks
  one sentence from those three; right when that sentence contains the answer text.

    python -m eval.reader_eval                 # writes eval/results/reader-xquad.json and .md
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.reader_data import DEFAULT_XQUAD, XQuAD
from eval.report import table, write
from kb.model_registry import E5_SMALL
from kb.reader import ADAPTER_DIR, CrossEncoderReader

logger = logging.getLogger(__name__)

PAIRS = (
    "en->en", "de->de", "es->es", "el->el", "ru->ru", "tr->tr",
    "de->en", "tr->en", "el->de", "es->ru", "zh->en",
)  # fmt: skip
TOP_PARAGRAPHS = 3
COLUMNS = ["n", "p@1 bi-encoder", "p@1 reader", "answer bi-encoder", "answer reader"]


def evaluate_pair(
    data: XQuAD, embedder: Any, reader: CrossEncoderReader, pair: str, limit: int | None = None
) -> dict[str, float]:
    """Both measures for both systems on one language pair."""
    q_lang, p_lang = pair.split("->")
    paragraphs = data.split("heldout", p_lang)
    sentence_texts = [[p.text[s:e] for s, e in p.sentences] for p in paragraphs]
    para_vecs = embedder.embed_passages([p.text for p in paragraphs])
    sent_vecs = [embedder.embed_passages(texts) for texts in sentence_texts]
    position = {id(p): i for i, p in enumerate(paragraphs)}
    counts = dict.fromkeys(COLUMNS[1:], 0)
    ids = data.question_ids("heldout")[:limit]
    for qid in ids:
        question = data.questions[q_lang][qid]
        target = position[id(data.answer_paragraph(p_lang, qid))]
        answer_text, answer_sentence = paragraphs[target].answers[qid]
        q = embedder.embed_queries([question])[0]
        counts["p@1 bi-encoder"] += int(np.argmax(sent_vecs[target] @ q)) == answer_sentence
        top = [int(i) for i in np.argsort(-(para_vecs @ q))[:TOP_PARAGRAPHS]]
        read = [target, *[i for i in top if i != target]]
        readings = dict(zip(read, reader.read(question, [paragraphs[i].passage() for i in read]), strict=True))
        counts["p@1 reader"] += int(np.argmax(readings[target].sentence_scores)) == answer_sentence
        bi = max(((i, j) for i in top for j in range(len(sentence_texts[i]))), key=lambda x: sent_vecs[x[0]][x[1]] @ q)
        rd = max(
            ((i, j) for i in top for j in range(len(sentence_texts[i]))),
            key=lambda x: readings[x[0]].sentence_scores[x[1]],
        )
        counts["answer bi-encoder"] += answer_text in sentence_texts[bi[0]][bi[1]]
        counts["answer reader"] += answer_text in sentence_texts[rd[0]][rd[1]]
    return {"n": len(ids), **{k: round(v / len(ids), 4) for k, v in counts.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate every pair and write eval/results/reader-xquad.json and .md."""
    p = argparse.ArgumentParser(prog="python -m eval.reader_eval", description=__doc__.splitlines()[0])
    p.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    p.add_argument("--models-dir", type=Path, default=Path("data/models"))
    p.add_argument("--adapter", type=Path, default=ADAPTER_DIR)
    p.add_argument("--pairs", default=",".join(PAIRS))
    p.add_argument("--limit", type=int, default=None, help="questions per pair (a quick check)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.e5convert import ensure_converted
    from kb.embed import load_embedder

    base = ensure_converted(args.models_dir)
    embedder = load_embedder(E5_SMALL.id, args.models_dir)
    reader = CrossEncoderReader(base, args.adapter)
    data = XQuAD(args.xquad)
    started = time.perf_counter()
    metrics: dict[str, dict[str, float]] = {}
    for pair in args.pairs.split(","):
        metrics[pair] = evaluate_pair(data, embedder, reader, pair, args.limit)
        logger.info("%s %s", pair, metrics[pair])
    names = COLUMNS[1:]
    metrics["mean"] = {
        "n": sum(m["n"] for m in metrics.values()),
        **{k: round(float(np.mean([m[k] for m in metrics.values()])), 4) for k in names},
    }
    gain = metrics["mean"]["p@1 reader"] - metrics["mean"]["p@1 bi-encoder"]
    md = [
        "# Reader against bi-encoder on XQuAD-R held-out articles 36-47 (never trained or tuned on)",
        "",
        *table(metrics, COLUMNS, "question -> paragraph"),
        "",
        f"Mean within-paragraph P@1 gain of the reader: {gain:+.4f}. Answer after retrieval: the bi-encoder's "
        f"top {TOP_PARAGRAPHS} paragraphs of 60, one sentence chosen, right when it contains the answer.",
    ]
    result = {"metrics": metrics, "seconds": round(time.perf_counter() - started), "adapter": str(args.adapter)}
    write("reader-xquad" if args.limit is None else "reader-xquad-quick", result, md)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
