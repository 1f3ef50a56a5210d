"""Eval metrics: chunk-to-document mapping, ir-measures values computed by hand, gold loading."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from eval.domain import calibrate
from eval.gold import GoldItem, Relevant, language_pair, load_gold
from eval.metrics import aggregate, contains_fact, first_occurrence, per_query
from eval.report import diff
from kb.speakers import name_key as person_key


def test_first_occurrence_keeps_first_rank_of_each_document() -> None:
    chunk_docs = ["d2", "d1", "d2", "d3", "d1"]
    assert first_occurrence(chunk_docs) == ["d2", "d1", "d3"]


def test_per_query_matches_hand_computed_values() -> None:
    qrels = {"q1": {"d1": 1, "d3": 1}, "q2": {"d9": 1}, "q3": {"d5": 1}}
    run = {
        "q1": first_occurrence(["d2", "d1", "d2", "d3"]),  # relevant at ranks 2 and 3
        "q2": ["a", "b", "c", "d", "e", "d9"],  # relevant at rank 6
        # q3 retrieves nothing and must count as zero, not be dropped
    }
    scores = per_query(qrels, run)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert scores["q1"]["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-4)
    assert scores["q1"]["mrr@10"] == pytest.approx(0.5)
    assert scores["q1"]["recall@5"] == pytest.approx(1.0)
    assert scores["q2"]["recall@5"] == pytest.approx(0.0)
    assert scores["q2"]["recall@10"] == pytest.approx(1.0)
    assert scores["q2"]["mrr@10"] == pytest.approx(1 / 6)
    assert scores["q2"]["ndcg@10"] == pytest.approx(1 / math.log2(7), abs=1e-4)
    assert scores["q3"] == {"ndcg@10": 0.0, "recall@5": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


def test_half_recall_when_one_of_two_documents_is_found() -> None:
    scores = per_query({"q": {"a": 1, "b": 1}}, {"q": ["x", "a", "y"]})
    assert scores["q"]["recall@10"] == pytest.approx(0.5)
    assert scores["q"]["mrr@10"] == pytest.approx(0.5)


def test_aggregate_breaks_down_and_micro_averages_citations() -> None:
    rows = [
        {"kind": "factual", "pair": "en->en", "ndcg@10": 1.0, "citations_ok": 2, "citations_total": 2},
        {"kind": "factual", "pair": "de->en", "ndcg@10": 0.0, "citations_ok": 1, "citations_total": 2},
        {"kind": "unanswerable", "pair": "en->none", "refusal_accuracy": 1.0, "citations_ok": 0, "citations_total": 0},
    ]
    result = aggregate(rows, ["ndcg@10", "refusal_accuracy"], by=("kind", "pair"))
    assert result["all"]["ndcg@10"] == pytest.approx(0.5)
    assert result["all"]["refusal_accuracy"] == pytest.approx(1.0)
    assert result["all"]["citation_support"] == pytest.approx(0.75)
    assert result["by_kind"]["factual"]["n"] == 2
    assert "ndcg@10" not in result["by_kind"]["unanswerable"]
    assert result["by_pair"]["de->en"]["citation_support"] == pytest.approx(0.5)


def test_fact_and_name_matching() -> None:
    assert contains_fact("Signed on 11  December\n2020 [1]", ["11 december 2020"])
    assert not contains_fact("Signed in 2021", ["11 december 2020", ""])
    assert person_key("Jana Hrušková-Bednář (fictional)") == person_key("jana hruskova bednar")
    assert person_key("Réka Halmosi") != person_key("Reka Halmos")


def _write(path: Path, items: list[dict[str, object]]) -> None:
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8")


def test_load_gold_reads_every_file_and_rejects_duplicates(tmp_path: Path) -> None:
    base = {"language": "en", "facts": [], "speakers": [], "countries": []}
    _write(
        tmp_path / "a.jsonl",
        [{"id": "a1", "question": "Q?", "kind": "factual", "relevant": [{"doc_id": "d1", "passages": ["p"]}], **base}],
    )
    _write(tmp_path / "b.jsonl", [{"id": "b1", "question": "Nothing?", "kind": "unanswerable", "relevant": [], **base}])
    items = load_gold(tmp_path)
    assert [i.id for i in items] == ["a1", "b1"]
    assert items[0].qrels() == {"d1": 1} and items[0].answerable
    assert not items[1].answerable and items[1].qrels() == {}
    _write(tmp_path / "c.jsonl", [{"id": "a1", "question": "Again?", "kind": "factual", "relevant": [], **base}])
    with pytest.raises(ValueError, match="duplicate id a1"):
        load_gold(tmp_path)


def test_language_pair() -> None:
    item = GoldItem(id="x", question="?", language="de", kind="cross_lingual", relevant=(Relevant("d1"),))
    assert language_pair(item, {"d1": "it"}) == "de->it"
    two = GoldItem(id="y", question="?", language="en", kind="factual", relevant=(Relevant("d1"), Relevant("d2")))
    assert language_pair(two, {"d1": "it", "d2": "sv"}) == "en->mixed"


def test_real_gold_set_loads() -> None:
    items = load_gold()
    assert len(items) >= 180
    assert all(i.qrels() for i in items if i.answerable)


def test_calibration_chooses_on_the_tuning_part_and_reports_the_held_out_part() -> None:
    rows = [
        {"kind": "factual", "best_similarity": 0.86, "fact_recall": 1.0},
        {"kind": "factual", "best_similarity": 0.84, "fact_recall": 1.0},
        {"kind": "unanswerable", "best_similarity": 0.80},
        {"kind": "unanswerable", "best_similarity": 0.83},
        # held out: would pull the threshold up if it were tuned on
        {"kind": "factual", "part": "heldout", "best_similarity": 0.835, "fact_recall": 1.0},
        {"kind": "unanswerable", "part": "heldout", "best_similarity": 0.85},
    ]
    cal = calibrate(rows, current=0.8)
    assert cal["at_current"]["tuning"]["refusal_accuracy"] == pytest.approx(0.0)
    assert 0.83 < cal["suggested_threshold"] <= 0.84
    assert cal["at_suggested"]["tuning"] == {"refusal_accuracy": 1.0, "fact_recall": 1.0, "false_refusal": 0.0}
    assert cal["at_suggested"]["heldout"] == {"refusal_accuracy": 0.0, "fact_recall": 1.0, "false_refusal": 0.0}


def test_calibration_never_refuses_more_than_three_percent_of_answerable_tuning_questions() -> None:
    rows = [{"kind": "factual", "confidence": 0.5 + i / 100, "fact_recall": 1.0} for i in range(40)]
    rows += [{"kind": "unanswerable", "confidence": 0.9}, {"kind": "unanswerable", "confidence": 0.4}]
    cal = calibrate(rows, current=0.0, key="confidence")
    assert cal["at_suggested"]["tuning"]["false_refusal"] <= 0.03
    assert cal["at_suggested"]["tuning"]["refusal_accuracy"] == pytest.approx(0.5)


def test_diff_reports_changed_metrics_only() -> None:
    old = {"metrics": {"all": {"ndcg@10": 0.5, "n": 3}}}
    new = {"metrics": {"all": {"ndcg@10": 0.75, "n": 3}}}
    lines = diff(old, new)
    assert any("all.ndcg@10" in line and "+0.2500" in line for line in lines)
    assert not any("all.n " in line for line in lines)
    assert diff(None, new) == ["No previous run to compare with."]
