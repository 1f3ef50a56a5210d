"""A question worked out once per request: its text, filters, language and the countries it names.

Search, answers and comparisons all need the question's language and the countries it names.
A :class:`Query` carries them, so that one request detects the language and looks for
country names once, however many searches (one per country in a comparison) it runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ingest.countries import countries_in
from kb.models import SearchFilters, validate_query

_WORD = re.compile(r"\w+", re.UNICODE)
# Answers are written in the question's language only from this many words on; a shorter
# question's detected language is too unreliable to answer in.
ANSWER_LANGUAGE_WORDS = 3


@dataclass(frozen=True)
class Query:
    """One request's question.

    Attributes:
        text: The question, stripped and checked (:func:`kb.models.validate_query`).
        filters: The request's metadata filters.
        language: Its detected language (what sparse analysis and cross-lingual fusion use),
            or ``None`` when unsure.
        countries: The countries it names, in order of mention.
        words: How many words it has.
    """

    text: str
    filters: SearchFilters
    language: str | None
    countries: tuple[str, ...]
    words: int

    @property
    def answer_language(self) -> str | None:
        """The language an answer is written in: the detected one, for questions long enough to tell."""
        return self.language if self.words >= ANSWER_LANGUAGE_WORDS else None

    def scoped(self, **filters: Any) -> Query:
        """The same question with some filters replaced (a comparison's row: ``country=[code]``)."""
        return replace(self, filters=self.filters.model_copy(update=filters))


def make_query(text: str, filters: SearchFilters | None, detect: Callable[[str], str | None]) -> Query:
    """Work a question out once.

    Args:
        text: The question as asked.
        filters: Its filters (none: no filter).
        detect: The language detector (:meth:`kb.sparse.SparseEncoder.detect_language`).

    Raises:
        BadQuery: The question is empty, too long or has no words.
    """
    text = validate_query(text)
    return Query(
        text=text,
        filters=filters or SearchFilters(),
        language=detect(text),
        countries=tuple(countries_in(text)),
        words=len(_WORD.findall(text)),
    )
