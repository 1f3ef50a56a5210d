"""Which sentences of a hit can answer, and how a sentence that introduces a list is quoted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pytest

from ingest.models import Span
from kb.answer import Answerer
from kb.embed import HashEmbedder
from kb.retrieve import Retriever
from kb.sentences import Candidate, citation_for, dedupe_spans, sentence_candidates
from kb.sparse import SparseEncoder
from tests.unit.kb.hits import make_hit

AD_HOC_GROUPS = (
    "Grupy ad hoc\n\n"
    "Groups are small and close when their task is done. So far such groups took on three tasks:\n\n"
    "1. Job descriptions for climate-neutrality coordinators. Cities needed people to join up departments.\n\n"
    "2. Local ambassadors. The role promotes the Mission among residents.\n\n"
    "3. A survey of the expertise cities lack most.\n\n"
    "Ad hoc groups with a clear task deliver faster than standing committees."
)


def _candidates(text: str) -> list[Candidate]:
    return sentence_candidates(0, make_hit("c1", text))


def test_numbered_headings_are_not_answer_sentences() -> None:
    text = "1. Why reporting is a national issue\n\nHelena opened by recalling how cities submit their work."
    assert [c.text for c in _candidates(text)] == ["Helena opened by recalling how cities submit their work."]


def test_a_long_line_without_a_full_stop_is_still_prose() -> None:
    line = "The national platform meets the five Mission cities every month and agrees one shared work plan " * 2
    assert [c.text for c in _candidates(line.strip())] == [line.strip()]


def test_a_sentence_introducing_a_list_is_quoted_with_the_list() -> None:
    by_text = {c.text: c for c in _candidates(AD_HOC_GROUPS)}
    for opener in ("Groups are small and close when their task is done.", "So far such groups took on three tasks:"):
        quoted = by_text[opener].with_list()
        assert quoted.text == AD_HOC_GROUPS[quoted.start : quoted.end]
        assert quoted.text.startswith(opener)
        assert quoted.text.endswith("A survey of the expertise cities lack most.")
    # Items are candidates of their own, and do not extend.
    item = by_text["The role promotes the Mission among residents."]
    assert item.with_list() is item


def test_plain_lines_ending_in_semicolons_are_a_list() -> None:
    text = (
        "A small municipality can keep monitoring light:\n"
        "a short annual report of a few pages for the council;\n"
        "an inventory every two years based on national defaults;\n"
        "one person responsible for the data.\n"
        "The national level publishes the defaults."
    )
    quoted = next(c for c in _candidates(text) if c.text.startswith("A small")).with_list()
    assert quoted.text.endswith("one person responsible for the data.")
    assert "national level publishes" not in quoted.text


def test_a_long_list_is_cut_at_an_item_boundary() -> None:
    items = "\n".join(
        f"- Item {i} explains one more step of the national support programme in detail." for i in range(20)
    )
    text = f"The programme has these steps:\n{items}"
    quoted = _candidates(text)[0].with_list()
    assert 0 < len(quoted.text) <= 700
    assert quoted.text.endswith("in detail.")
    assert text[quoted.start : quoted.end] == quoted.text


def test_a_colon_line_without_a_list_is_not_extended() -> None:
    text = "The combined ranking of the working groups was as follows:\n\nNobody expected the data question to win."
    first = _candidates(text)[0]
    assert first.with_list() is first


def test_sentences_inside_a_quoted_list_are_not_cited_twice() -> None:
    by_text = {c.text: c for c in _candidates(AD_HOC_GROUPS)}
    opener = by_text["So far such groups took on three tasks:"].with_list()
    item = by_text["A survey of the expertise cities lack most."]
    kept = dedupe_spans([item, opener])
    assert kept == [opener]
    assert citation_for(1, opener).quote == opener.text


def test_a_first_item_too_long_to_quote_whole_is_cut_after_its_first_sentence() -> None:
    detail = " It goes on to describe every partner and meeting of the working group in turn." * 10
    text = f"The working group had one single task:\n1. Job descriptions for coordinators.{detail}"
    quoted = _candidates(text)[0].with_list()
    assert quoted.text == "The working group had one single task:\n1. Job descriptions for coordinators."


class _ScriptedEmbedder(HashEmbedder):
    """Gives each passage a chosen cosine similarity to every query."""

    def __init__(self, similarity: dict[str, float]) -> None:
        super().__init__(dim=2)
        self.similarity = similarity

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        s = np.array([self.similarity[t] for t in texts], dtype=np.float32)
        return np.stack([s, np.sqrt(1 - s**2)], axis=1)


@pytest.mark.parametrize(("figure_score", "answered"), [(0.87, True), (0.85, False)])
def test_a_figure_far_below_the_best_sentence_does_not_answer(figure_score: float, answered: bool) -> None:
    best = "The Alliance welcomed new cities from several countries during the year."
    figure = "Its secretariat grew to twelve staff members across two offices."
    embedder = _ScriptedEmbedder({best: 0.90, figure: figure_score})
    answerer = Answerer(retriever=cast(Retriever, None), embedder=embedder, sparse=SparseEncoder())
    answer = answerer.answer_from_hits(
        "How many cities joined the Alliance in 2024?", [make_hit("c1", f"{best} {figure}")]
    )
    assert answer.evidence is answered
    assert answer.refusal == (None if answered else "no passage gives the number the question asks for")


def test_two_chunks_cutting_one_list_differently_give_one_quote() -> None:
    cut = AD_HOC_GROUPS.index("3. A survey")
    second = AD_HOC_GROUPS.index("So far such groups")
    first_hit = make_hit("c1", AD_HOC_GROUPS[:cut].rstrip())
    later = make_hit("c2", AD_HOC_GROUPS[second:])
    chunk = later.chunk.model_copy(
        update={"doc_id": first_hit.chunk.doc_id, "span": Span(start=second, end=len(AD_HOC_GROUPS))}
    )
    later = later.model_copy(update={"chunk": chunk})
    short = next(c for c in sentence_candidates(0, first_hit) if c.text.startswith("Groups are small")).with_list()
    full = next(c for c in sentence_candidates(1, later) if c.text.startswith("So far")).with_list()
    assert short.start < full.start < short.end < full.end, "the two quotes overlap without one holding the other"
    (kept,) = dedupe_spans([short, full])
    assert AD_HOC_GROUPS[kept.start : kept.end] == kept.text
    assert kept is max((short, full), key=lambda c: c.end - c.start)


def test_a_compare_row_keeps_only_the_sentences_about_its_country() -> None:
    from kb.answer import about_only

    text = (
        "Sweden set up a national platform in 2017. It is hosted by a technical university. "
        "Germany chose another route. Its building ministry coordinates the cities."
    )
    hit = make_hit("c1", text)
    hit = hit.model_copy(update={"chunk": hit.chunk.model_copy(update={"about": ["SE", "DE"]})})
    candidates = sentence_candidates(0, hit)
    assert [c.text for c in about_only(candidates, ["SE"])] == [
        "Sweden set up a national platform in 2017.",
        "It is hosted by a technical university.",
    ]
    assert [c.text for c in about_only(candidates, ["DE"])] == [
        "Germany chose another route.",
        "Its building ministry coordinates the cities.",
    ]
    assert about_only(candidates, ["PL"]) == []
