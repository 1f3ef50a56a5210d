"""Quality guard: the fast gold-set evaluation with the real model must not regress.

Ingests corpus/ with multilingual-e5-small into a session temporary folder and runs the
fast evaluation (retrieval, refusal, fact recall and citation support). The floors sit a
little below the figures of the full run in eval/results/gold.json (239 questions, answer
sentences chosen by the reader): nDCG@10 0.7883, Recall@10 0.8738, Recall@100 0.9537,
MRR@10 0.8268, fact recall 0.7826, refusal of unanswerable questions 0.6923, false refusals
0.0141 and citation support 1.0. The margin leaves room for small
changes of chunk boundaries and for questions added to the gold set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eval.domain import DomainEval, corpus_texts
from eval.gold import load_gold
from kb.service import KnowledgeBase

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"

FLOORS = {"ndcg@10": 0.75, "recall@10": 0.84, "recall@100": 0.93, "mrr@10": 0.78}
ANSWER_FLOORS = {"fact_recall": 0.72, "refusal_accuracy": 0.6}
MAX_FALSE_REFUSAL = 0.04


@pytest.fixture(scope="session")
def fast_eval(corpus_kb: KnowledgeBase) -> dict[str, Any]:
    return DomainEval(corpus_kb, corpus_texts([CORPUS]), fast=True).run(load_gold())


def test_retrieval_floors(fast_eval: dict[str, Any]) -> None:
    overall = fast_eval["metrics"]["all"]
    low = {k: (overall[k], floor) for k, floor in FLOORS.items() if overall[k] < floor}
    assert not low, f"retrieval below its floor (value, floor): {low}"


def test_answer_floors(fast_eval: dict[str, Any]) -> None:
    overall = fast_eval["metrics"]["all"]
    low = {k: (overall[k], floor) for k, floor in ANSWER_FLOORS.items() if overall[k] < floor}
    assert not low, f"answers below their floor (value, floor): {low}"
    assert overall["false_refusal"] <= MAX_FALSE_REFUSAL, overall["false_refusal"]


def test_every_extractive_citation_is_verbatim_at_its_span(fast_eval: dict[str, Any]) -> None:
    overall = fast_eval["metrics"]["all"]
    assert overall["citations"] > 0 and overall["citation_support"] == 1.0, overall
