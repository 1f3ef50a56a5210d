"""Choose the reader's answer settings on the gold set's tuning part; report them on the held-out part.

Each gold question is retrieved once and read once (the reader remembers its readings); then
every combination of ``sentence_window`` and ``min_sentence_score`` builds the answers again
(refused only by the similarity checks, not by the reader's confidence) and scores fact
recall. The combination with the best tuning fact recall is kept (ties: the fewest sentences
quoted), and compared with the answers made without the reader from the same hits: the path
with the better tuning fact recall should be the default. With it fixed, the refusal threshold
``min_probability`` is the highest-refusing one that refuses at most 3% of the tuning part's
answerable questions (:func:`eval.domain.calibrate`). Only then are the held-out figures
computed, once, for the chosen settings.

    python -m eval.tune_answers            # after `kb eval` has built the gold index in data/eval
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.domain import calibrate
from eval.gold import GoldItem, load_gold
from eval.metrics import contains_fact
from eval.report import table, write
from eval.run import open_kb

logger = logging.getLogger(__name__)

WINDOWS = (1.0, 2.0, 3.0, 4.0, 6.0)
FLOORS = (-3.0, -2.0, -1.0, 0.0, 1.0)


def answers(kb: Any, items: Sequence[GoldItem], hits: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per question with the answerer as configured now: confidence, fact, quotes."""
    rows = []
    for it in items:
        answer = kb.answerer.answer_from_hits(it.question, hits[it.id])
        row: dict[str, Any] = {"id": it.id, "kind": it.kind, "part": it.part, "confidence": answer.confidence}
        if it.answerable and it.facts:
            row["fact_recall"] = float(answer.evidence and contains_fact(answer.answer, it.facts))
        row["quotes"] = len(answer.citations)
        rows.append(row)
    return rows


def recall(rows: Sequence[dict[str, Any]], part: str) -> float:
    """Fact recall of the answerable questions with facts in one part."""
    values = [r["fact_recall"] for r in rows if r["part"] == part and "fact_recall" in r]
    return round(float(np.mean(values)), 4)


def main(argv: Sequence[str] | None = None) -> int:
    """Sweep, choose on the tuning part, report both parts; write eval/results/answer-tuning.*."""
    p = argparse.ArgumentParser(prog="python -m eval.tune_answers", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path("data/eval"))
    p.add_argument("--collection", default="gold")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kb = open_kb(args.data_dir, args.collection)
    try:
        answerer = kb.answerer
        items = load_gold()
        hits = {it.id: answerer.retrieve(it.question) for it in items}
        answerer.min_probability = 0.0
        reader, answerer.reader = answerer.reader, None
        baseline = answers(kb, items, hits)  # without the reader: the most similar sentences, by MMR
        answerer.reader = reader
        sweep: dict[str, dict[str, float]] = {}
        rows_by: dict[tuple[float, float], list[dict[str, Any]]] = {}
        for window, floor in itertools.product(WINDOWS, FLOORS):
            answerer.sentence_window, answerer.min_sentence_score = window, floor
            rows = rows_by[(window, floor)] = answers(kb, items, hits)
            quotes = float(np.mean([r["quotes"] for r in rows if r["part"] == "tuning"]))
            sweep[f"window {window}, floor {floor}"] = {
                "fact_recall": recall(rows, "tuning"),
                "quotes": round(quotes, 2),
            }
            logger.info("window %s floor %s: %s", window, floor, sweep[f"window {window}, floor {floor}"])
        chosen = max(
            rows_by,
            key=lambda k: (
                sweep[f"window {k[0]}, floor {k[1]}"]["fact_recall"],
                -sweep[f"window {k[0]}, floor {k[1]}"]["quotes"],
            ),
        )
        rows = rows_by[chosen]
        threshold = calibrate(rows, 0.0, key="confidence")
    finally:
        kb.close()
    result = {
        "chosen": {
            "sentence_window": chosen[0],
            "min_sentence_score": chosen[1],
            "min_probability": threshold["suggested_threshold"],
        },
        "fact_recall": {
            "reader": {part: recall(rows, part) for part in ("tuning", "heldout")},
            "without reader": {part: recall(baseline, part) for part in ("tuning", "heldout")},
        },
        "reader_wins_on_tuning": recall(rows, "tuning") > recall(baseline, "tuning"),
        "calibration": threshold,
        "sweep_tuning": sweep,
    }
    at = threshold["at_suggested"]
    md = [
        "# Reader answer settings chosen on the gold tuning part",
        "",
        f"Chosen: sentence_window {chosen[0]}, min_sentence_score {chosen[1]}, "
        f"min_probability {threshold['suggested_threshold']}.",
        "",
        *table(
            {f"{part}": at[part] for part in ("tuning", "heldout")},
            ["fact_recall", "false_refusal", "refusal_accuracy"],
            "part",
        ),
        "",
        "## Sentences chosen by the reader against the most similar ones (same hits, same refusal checks)",
        "",
        *table(result["fact_recall"], ["tuning", "heldout"], "fact recall"),  # type: ignore[arg-type]
        "",
        "## Sweep (tuning part; refusals by the similarity checks only)",
        "",
        *table(sweep, ["fact_recall", "quotes"], "setting"),
    ]
    write("answer-tuning", result, md)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
