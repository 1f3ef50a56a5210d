"""Countries named in questions, across languages and inflections, and the retrieval boost."""

from __future__ import annotations

import pytest

from ingest.countries import countries_in
from ingest.models import Chunk, Span
from kb.models import Hit
from kb.retrieve import fuse_rankings


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Jak Szwecja zorganizowała krajowe wsparcie?", ["SE"]),
        ("Co zrobiono w Szwecji?", ["SE"]),
        ("Comment la Suède finance-t-elle ses villes ?", ["SE"]),
        ("Miten Suomessa valtio sitoutuu sopimuksiin?", ["FI"]),
        ("Mi történt Magyarországon?", ["HU"]),
        ("Wie unterstützt Österreich die Pionierstädte?", ["AT"]),
        ("Πώς οργανώθηκε η Ελλάδα;", ["GR"]),
        ("How did Sweden, Spain and Italy organise national support?", ["SE", "ES", "IT"]),
        ("What do Dutch ministries plan?", ["NL"]),
        ("Paesi Bassi e Polonia", ["NL", "PL"]),
        ("Which countries have no formal platform yet?", []),
        ("green bonds in Gothenburg", []),
    ],
)
def test_countries_in_many_languages(question: str, expected: list[str]) -> None:
    assert countries_in(question) == expected


def _hit(cid: str, score: float) -> Hit:
    chunk = Chunk(
        chunk_id=cid, doc_id="d", ordinal=0, text="t", span=Span(start=0, end=1), title="T", path="p", format="md"
    )
    return Hit(chunk=chunk, score=score)


def test_fusion_rewards_hits_in_both_rankings() -> None:
    general = [_hit("a", 0.9), _hit("b", 0.8), _hit("c", 0.7)]
    boosted = [_hit("c", 0.5), _hit("d", 0.4)]
    fused = fuse_rankings([general, boosted])
    assert [h.chunk.chunk_id for h in fused] == ["c", "a", "b", "d"]
    assert fused[0].score == pytest.approx(1 / 63 + 1 / 61)


def _staged(cid: str, language: str, dense_rank: int | None, sparse_rank: int | None) -> Hit:
    from kb.models import StageScores

    chunk = Chunk(
        chunk_id=cid,
        doc_id=cid,
        ordinal=0,
        text="t",
        span=Span(start=0, end=1),
        title="T",
        path="p",
        format="md",
        language=language,
    )
    return Hit(chunk=chunk, score=0.0, stages=StageScores(dense_rank=dense_rank, sparse_rank=sparse_rank))


def test_cross_lingual_fusion_imputes_sparse_only_for_other_languages() -> None:
    from kb.retrieve import cross_lingual_fusion

    hits = [
        _staged("same-both", "en", 10, 1),
        _staged("other-dense", "it", 2, None),
        _staged("same-dense", "en", 3, None),
    ]
    out = cross_lingual_fusion(hits, "en")
    assert [h.chunk.chunk_id for h in out] == ["other-dense", "same-both", "same-dense"]
    assert out[0].score == pytest.approx(2 / 62)
    assert out[1].score == pytest.approx(1 / 70 + 1 / 61)
    assert out[2].score == pytest.approx(1 / 63)
    assert cross_lingual_fusion(hits, None) == hits  # language unknown: Qdrant's fusion stands


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Jakie mechanizmy łączy fińska platforma krajowa?", ["FI"]),
        ("Kiedy włoskie miasta podpisały porozumienie?", ["IT"]),
        ("Wie arbeiten die tschechischen Ministerien zusammen?", ["CZ"]),
        ("finance and financing of cities", []),
    ],
)
def test_country_adjectives_in_other_languages(question: str, expected: list[str]) -> None:
    assert countries_in(question) == expected


def test_country_labels_name_the_country_with_its_code() -> None:
    from ingest.countries import country_label

    assert country_label("GR") == "Greece (GR)"
    assert country_label("CZ") == "Czechia (CZ)"
    assert country_label("EU") == "European Union (EU)"
    assert country_label(None) == ""


def test_a_passage_is_about_the_countries_it_or_its_headings_name_else_its_publishers() -> None:
    from ingest.chunking import about

    assert about("The platform is hosted by a university.", ["Programme model: Sweden"], "EU") == ["SE"]
    assert about("Platforma działa w Hiszpanii i we Francji.", [], "PL") == ["ES", "FR"]
    assert about("The platform is hosted by a university.", ["Governance"], "SE") == ["SE"]
    assert about("The platform is hosted by a university.", ["Governance"], "EU") == []
    assert about("Η Αθήνα έλαβε τη Σήμανση.", ["Ελλάδα"], None) == ["GR"]
