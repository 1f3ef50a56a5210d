"""The trained reader on passages it never saw: it picks the answering sentence, across languages,
and says when a passage does not answer."""

from __future__ import annotations

import pytest

from kb.reader import CrossEncoderReader, ReaderPassage, encode
from kb.service import KnowledgeBase
from kb.settings import Settings

pytestmark = pytest.mark.slow

SENTENCES = (
    "Lumenvik joined the Mission in 2022 after a vote of its city council.",
    "The city's climate office is hosted by the regional energy agency and financed by two ministries.",
    "Its harbour district will be the first to switch to district heating, in 2027.",
    "Residents can follow the progress on a public dashboard that is updated every month.",
)
TEXT = " ".join(SENTENCES)


def _passage(text: str = TEXT, sentences: tuple[str, ...] = SENTENCES) -> ReaderPassage:
    spans, start = [], 0
    for s in sentences:
        start = text.index(s, start)
        spans.append((start, start + len(s)))
        start += len(s)
    return ReaderPassage(text, tuple(spans), "Lumenvik: a pilot city")


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> CrossEncoderReader:
    """The reader as the knowledge base builds it, over a freshly converted base model."""
    kb = KnowledgeBase(Settings(data_dir=tmp_path_factory.mktemp("reader-kb"), reader=True))
    assert isinstance(kb.reader, CrossEncoderReader)
    return kb.reader


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who finances the climate office of Lumenvik?", 1),
        ("Wer finanziert das Klimabüro von Lumenvik?", 1),
        ("Quand le quartier du port passera-t-il au chauffage urbain ?", 2),
        ("Kiedy Lumenvik przystąpił do Misji?", 0),
    ],
)
def test_the_reader_picks_the_answering_sentence_in_any_language(
    reader: CrossEncoderReader, question: str, expected: int
) -> None:
    (reading,) = reader.read(question, [_passage()])
    assert max(range(len(SENTENCES)), key=lambda i: reading.sentence_scores[i]) == expected, reading


def test_a_passage_without_the_answer_is_less_likely_to_answer(reader: CrossEncoderReader) -> None:
    question = "Who finances the climate office of Lumenvik?"
    kept = tuple(s for i, s in enumerate(SENTENCES) if i != 1)
    with_answer, without = reader.read(question, [_passage(), _passage(" ".join(kept), kept)])
    assert without.answer_probability < with_answer.answer_probability - 0.2, (with_answer, without)


def test_every_sentence_gets_tokens_and_the_context_line_none(reader: CrossEncoderReader) -> None:
    tokenizer = reader._load()[0]
    batch = encode(tokenizer, "Who finances the office?", [_passage()])
    index = batch["sentence_index"][0].tolist()
    assert sorted(set(index)) == [-1, 0, 1, 2, 3]
    assert index[: index.index(0)].count(-1) == index.index(0), "question and context tokens belong to no sentence"


def test_readings_are_cached_per_question_and_passage(reader: CrossEncoderReader) -> None:
    first = reader.read("When does the harbour switch to district heating?", [_passage()])
    assert reader.read("When does the harbour switch to district heating?", [_passage()]) == first
