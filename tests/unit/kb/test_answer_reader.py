"""How answers use the reader's judgement: what leads, what is left out, when it refuses.

A scripted reader stands in for the trained one (tests/slow/test_reader.py runs the real one),
so these tests pin the answer logic itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np

from kb.answer import Answerer, reader_passage
from kb.embed import HashEmbedder
from kb.reader import ReaderPassage, Reading
from kb.retrieve import Retriever
from kb.sentences import sentence_candidates
from kb.sparse import SparseEncoder
from tests.unit.kb.hits import make_hit

BACKGROUND = "The national platform was set up after a long consultation of the cities."
ANSWER = "Viable Cities is hosted by the KTH Royal Institute of Technology in Stockholm."
OFF_TOPIC = "The weather during the study visit was unusually warm for the season."


class ScriptedReader:
    """Gives each sentence a chosen log-odds (by its text; -6 otherwise); a passage's
    probability of answering is the logistic of its best sentence's."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.calls = 0

    def read(self, question: str, passages: Sequence[ReaderPassage]) -> list[Reading]:
        self.calls += 1
        out = []
        for p in passages:
            scores = tuple(self.scores.get(p.text[s:e], -6.0) for s, e in p.sentences)
            out.append(Reading(scores, 1 / (1 + math.exp(-max(scores, default=-6.0)))))
        return out


class SameMeaningEmbedder(HashEmbedder):
    """Hash vectors, except that texts listed together get one vector (they say the same)."""

    def __init__(self, groups: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.canonical = {text: group[0] for group in groups for text in group}

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return super().embed_passages([self.canonical.get(t, t) for t in texts])


def _answerer(reader: ScriptedReader, embedder: HashEmbedder | None = None, **kw: float) -> Answerer:
    """An answerer whose similarity checks let every sentence through, so the reader decides."""
    settings: dict[str, float] = {"min_score": -1.0, "relative_window": 2.0, "evidence_window": 2.0, **kw}
    return Answerer(
        retriever=cast(Retriever, None),
        embedder=embedder or HashEmbedder(),
        sparse=SparseEncoder(),
        reader=reader,
        **settings,  # type: ignore[arg-type]
    )


def test_the_answer_leads_with_the_sentence_the_reader_rates_best() -> None:
    reader = ScriptedReader({BACKGROUND: 0.5, ANSWER: 4.0})
    answer = _answerer(reader).answer_from_hits(
        "Which institution hosts Viable Cities?", [make_hit("c1", f"{BACKGROUND} {ANSWER}")]
    )
    assert answer.evidence and answer.citations[0].quote == ANSWER
    assert answer.answer.startswith(ANSWER)
    assert answer.confidence is not None and answer.confidence > 0.9


def test_sentences_far_below_the_best_are_left_out() -> None:
    reader = ScriptedReader({ANSWER: 4.0, BACKGROUND: 1.5, OFF_TOPIC: 0.5})
    answer = _answerer(reader, sentence_window=3.0, min_sentence_score=-1.0).answer_from_hits(
        "Which institution hosts Viable Cities?", [make_hit("c1", f"{OFF_TOPIC} {BACKGROUND} {ANSWER}")]
    )
    assert [c.quote for c in answer.citations] == [ANSWER, BACKGROUND]


def test_below_the_probability_threshold_the_answer_is_a_refusal_with_its_reason() -> None:
    reader = ScriptedReader({OFF_TOPIC: -1.0})
    answer = _answerer(reader, min_probability=0.5).answer_from_hits(
        "Which football club won the national cup?", [make_hit("c1", f"{OFF_TOPIC} {BACKGROUND}")]
    )
    assert not answer.evidence and answer.citations == []
    assert answer.confidence is not None and answer.confidence < 0.5
    assert answer.refusal == f"no passage answers the question (reader confidence {answer.confidence:.2f} < 0.5)"


def test_of_a_fact_stated_in_two_languages_the_question_language_is_quoted() -> None:
    german = "Viable Cities wird vom KTH Royal Institute of Technology in Stockholm getragen."
    reader = ScriptedReader({ANSWER: 4.0, german: 3.0, BACKGROUND: 1.0})
    embedder = SameMeaningEmbedder([[ANSWER, german]])
    hits = [make_hit("en", f"{BACKGROUND} {ANSWER}"), make_hit("de", german, language="de")]
    answer = _answerer(reader, embedder).answer_from_hits("Welche Einrichtung trägt das Programm Viable Cities?", hits)
    assert answer.language == "de"
    assert [c.quote for c in answer.citations] == [german, BACKGROUND]


def test_the_same_sentence_from_overlapping_chunks_is_quoted_once() -> None:
    reader = ScriptedReader({ANSWER: 4.0})
    hits = [make_hit("c1", f"{BACKGROUND} {ANSWER}"), make_hit("c2", ANSWER)]
    answer = _answerer(reader).answer_from_hits("Which institution hosts Viable Cities?", hits)
    assert [c.quote for c in answer.citations] == [ANSWER]


def test_hits_are_ordered_by_the_readers_probability() -> None:
    reader = ScriptedReader({ANSWER: 4.0, BACKGROUND: 0.0})
    hits = [make_hit("a", OFF_TOPIC), make_hit("b", BACKGROUND), make_hit("c", ANSWER)]
    ordered = _answerer(reader).by_answer_probability("Which institution hosts Viable Cities?", hits)
    assert [h.chunk.chunk_id for h in ordered] == ["c", "b", "a"]


def test_the_reader_sees_title_section_and_sentence_spans_of_the_chunk() -> None:
    hit = make_hit("c1", f"{BACKGROUND}\n\n{ANSWER}")
    hit = hit.model_copy(update={"chunk": hit.chunk.model_copy(update={"section": ["Sweden", "Hosting"]})})
    passage = reader_passage(hit, sentence_candidates(0, hit))
    assert passage.context == "T / Sweden / Hosting"
    assert [passage.text[s:e] for s, e in passage.sentences] == [BACKGROUND, ANSWER]
