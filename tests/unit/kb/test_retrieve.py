"""Near-duplicate chunks collapse into the best-ranked one."""

from __future__ import annotations

from kb.models import Hit
from kb.retrieve import collapse_duplicates
from tests.unit.kb.hits import make_hit

BASE = " ".join(f"word{i}" for i in range(200))


def _hit(n: int, text: str) -> Hit:
    return make_hit(f"c{n}", text, 1.0 / (n + 1))


def test_near_identical_chunks_collapse_into_the_first() -> None:
    hits = [
        _hit(0, BASE),
        _hit(1, "An unrelated passage about district heating in small towns and their budgets."),
        _hit(2, BASE + " word200"),  # one more word: Jaccard of 3-word shingles 198/199
        _hit(
            3, BASE.replace("word100 ", "other ").replace("word50 ", "other ")
        ),  # six shingles differ: 192/204, below 0.97
    ]
    kept = collapse_duplicates(hits, 0.97)
    assert [h.chunk.chunk_id for h in kept] == ["c0", "c1", "c3"]
    assert kept[0].duplicates == ["c2"] and kept[1].duplicates == [] and kept[2].duplicates == []


def test_short_and_empty_texts_compare_safely() -> None:
    hits = [_hit(0, ""), _hit(1, "a b"), _hit(2, ""), _hit(3, "a b")]
    kept = collapse_duplicates(hits, 0.97)
    assert [h.chunk.chunk_id for h in kept] == ["c0", "c1"]
    assert kept[0].duplicates == ["c2"] and kept[1].duplicates == ["c3"]


def test_a_lower_threshold_collapses_more() -> None:
    hits = [_hit(0, BASE), _hit(1, BASE.replace("word100 ", "other ").replace("word50 ", "other "))]
    assert len(collapse_duplicates(hits, 0.97)) == 2
    assert len(collapse_duplicates(hits, 0.9)) == 1
