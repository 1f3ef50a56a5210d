"""XQuAD-R as reader data: question groups over paragraphs, parallel in 11 languages.

XQuAD has 48 articles of 5 paragraphs, every paragraph and question translated into the same
11 languages, with sentence boundaries (XQuAD-R). The split is fixed by article, in file order:

- ``train``: articles 0-31, the only ones training reads;
- ``dev``: articles 32-35, watched during training (the number of steps is chosen on it);
- ``heldout``: articles 36-47, never read by training or tuning; reported once.

A group is one question (in one language) with one paragraph (in the same or another language)
and a target: the index of the sentence holding the answer, or ``None`` when the paragraph
cannot answer (its answer sentence removed, or another paragraph of the same article).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.reader import ReaderPassage

LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
SPLITS = {"train": range(0, 32), "dev": range(32, 36), "heldout": range(36, 48)}
DEFAULT_XQUAD = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "xquad-r"


@dataclass(frozen=True)
class Paragraph:
    """One paragraph in one language: its text, sentence spans and its questions' answer sentences."""

    article: int
    index: int
    title: str
    text: str
    sentences: tuple[tuple[int, int], ...]
    answers: dict[str, tuple[str, int]]  # question id -> (answer text, answer sentence index)

    def passage(self, title: bool = True) -> ReaderPassage:
        """The paragraph as the reader reads it (optionally with its article title as context)."""
        return ReaderPassage(self.text, self.sentences, self.title if title else "")

    def without(self, drop: int) -> ReaderPassage:
        """The paragraph with sentence ``drop`` removed, the others kept verbatim and re-spanned."""
        parts = [self.text[s:e] for i, (s, e) in enumerate(self.sentences) if i != drop]
        spans, pos = [], 0
        for part in parts:
            spans.append((pos, pos + len(part)))
            pos += len(part) + 1
        return ReaderPassage(" ".join(parts), tuple(spans), self.title)


@dataclass(frozen=True)
class Group:
    """A question, a passage and the answering sentence (``None``: no sentence answers)."""

    question: str
    passage: ReaderPassage
    target: int | None
    question_id: str = ""
    pair: str = ""


class XQuAD:
    """Every language of XQuAD-R, loaded once, with questions by id.

    Args:
        folder: The folder with ``<lang>.json`` files.
        languages: The languages to load.
    """

    def __init__(self, folder: Path = DEFAULT_XQUAD, languages: tuple[str, ...] = LANGUAGES) -> None:
        self.languages = languages
        self.paragraphs: dict[str, list[Paragraph]] = {}
        self.questions: dict[str, dict[str, str]] = {}  # lang -> question id -> question
        for lang in languages:
            data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
            self.paragraphs[lang], self.questions[lang] = _parse(data)
        self._by_question = {lang: {q: p for p in ps for q in p.answers} for lang, ps in self.paragraphs.items()}

    def split(self, name: str, lang: str = "en") -> list[Paragraph]:
        """The paragraphs of one split in one language, in file order."""
        articles = SPLITS[name]
        return [p for p in self.paragraphs[lang] if p.article in articles]

    def question_ids(self, name: str) -> list[str]:
        """Ids of the questions of a split, answerable in every loaded language."""
        ids = [q for p in self.split(name, self.languages[0]) for q in p.answers]
        return [q for q in ids if all(q in self._by_question[lang] for lang in self.languages)]

    def answer_paragraph(self, lang: str, question_id: str) -> Paragraph:
        """The paragraph (in ``lang``) a question belongs to."""
        return self._by_question[lang][question_id]

    def groups(
        self, name: str, seed: int, same_language: float = 0.4, drop: float = 0.2, other: float = 0.2
    ) -> list[Group]:
        """One group per question of a split, with a random language pair and kind.

        Args:
            name: The split.
            seed: Seeds the choices, so an epoch is reproducible.
            same_language: Share of groups whose paragraph is in the question's language.
            drop: Share whose paragraph loses its answer sentence (target ``None``).
            other: Share that get another paragraph of the same article (target ``None``).
        """
        rng = random.Random(seed)
        out = []
        for qid in self.question_ids(name):
            q_lang = rng.choice(self.languages)
            p_lang = q_lang if rng.random() < same_language else rng.choice([x for x in self.languages if x != q_lang])
            paragraph = self.answer_paragraph(p_lang, qid)
            question = self.questions[q_lang][qid]
            pair = f"{q_lang}->{p_lang}"
            roll = rng.random()
            if roll < drop and len(paragraph.sentences) > 1:
                out.append(Group(question, paragraph.without(paragraph.answers[qid][1]), None, qid, pair))
            elif roll < drop + other:
                siblings = [p for p in self.paragraphs[p_lang] if p.article == paragraph.article and p is not paragraph]
                out.append(Group(question, rng.choice(siblings).passage(rng.random() < 0.5), None, qid, pair))
            else:
                out.append(Group(question, paragraph.passage(rng.random() < 0.5), paragraph.answers[qid][1], qid, pair))
        return out


def _parse(data: dict[str, Any]) -> tuple[list[Paragraph], dict[str, str]]:
    paragraphs: list[Paragraph] = []
    questions: dict[str, str] = {}
    for a, article in enumerate(data["data"]):
        title = str(article.get("title", "")).replace("_", " ")
        for i, p in enumerate(article["paragraphs"]):
            spans = tuple((int(s), int(e)) for s, e in p["sentence_breaks"])
            answers: dict[str, tuple[str, int]] = {}
            for qa in p["qas"]:
                questions[qa["id"]] = qa["question"]
                answer = qa["answers"][0]
                start = int(answer["answer_start"])
                sentence = next((k for k, (s, e) in enumerate(spans) if s <= start < e), None)
                if sentence is not None:
                    answers[qa["id"]] = (answer["text"], sentence)
            paragraphs.append(Paragraph(a, i, title, p["context"], spans, answers))
    return paragraphs, questions
