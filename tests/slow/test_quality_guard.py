"""Quality guard: the fast gold-set evaluation with the real model must not regress.

Ingests corpus/ with multilingual-e5-small into a session temporary folder and runs the
fast evaluation (retrieval, refusal and citation support); retrieval is asserted. The floors sit a little below the
measured figures, never above them: retrieval was measured at nDCG@10 0.6857, Recall@10 0.9115,
Recall@100 0.9672 and MRR@10 0.6257 (eval/results/peers-gold.json, the ``kb`` peer, 178
answerable questions); the margin leaves room for questions added to the gold set since.
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

FLOORS = {"ndcg@10": 0.64, "recall@10": 0.87, "recall@100": 0.93, "mrr@10": 0.58}


@pytest.fixture(scope="session")
def fast_eval(corpus_kb: KnowledgeBase) -> dict[str, Any]:
    return DomainEval(corpus_kb, corpus_texts([CORPUS]), fast=True).run(load_gold())


def test_retrieval_floors(fast_eval: dict[str, Any]) -> None:
    overall = fast_eval["metrics"]["all"]
    low = {k: (overall[k], floor) for k, floor in FLOORS.items() if overall[k] < floor}
    assert not low, f"retrieval below its floor (value, floor): {low}"
