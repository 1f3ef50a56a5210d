"""What every loader returns, and the builder that keeps element spans exact.

Loaders never search the text for offsets: they append element texts to a
:class:`TextBuilder`, which records each span as it goes, so
``text[el.span.start:el.span.end] == el.text`` holds by construction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ingest.models import Element, ElementKind, Span

logger = logging.getLogger(__name__)


@dataclass
class Parsed:
    """One document as a loader sees it, before metadata merging.

    Attributes:
        text: The full text, built from the element texts.
        elements: Ordered, non-overlapping elements whose spans index ``text``.
        pages: Number of pages (PDF) or slides (PPTX), when meaningful.
        meta: Metadata found in the file itself (header, core properties, subject line).
        doc_id: An identifier carried by the content itself (JSONL lines only).
        content: The bytes this document came from, when a file holds several documents.
    """

    text: str
    elements: list[Element]
    pages: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    doc_id: str | None = None
    content: bytes | None = None


class TextBuilder:
    """Concatenates element texts into one string and records each span."""

    def __init__(self) -> None:
        """Start an empty document."""
        self._parts: list[str] = []
        self._length = 0
        self.elements: list[Element] = []

    def add(
        self,
        kind: ElementKind,
        text: str,
        *,
        sep: str = "\n\n",
        prefix: str = "",
        section: tuple[str, ...] = (),
        page: int | None = None,
        level: int | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
        speaker: str | None = None,
    ) -> Element | None:
        """Append one element; empty or blank text is skipped.

        Args:
            kind: The element kind.
            text: The element text; surrounding whitespace is stripped.
            sep: Separator written before the element unless it is the first one.
            prefix: Text written before the element but outside its span (e.g. ``"Name: "``).
            section: Heading path the element sits in.
            page: Page or slide number.
            level: Heading level of a title.
            start_s: Cue start in seconds.
            end_s: Cue end in seconds.
            speaker: Speaker of a cue.

        Returns:
            The element, or None when the text was blank.
        """
        text = text.strip()
        if not text:
            return None
        if self._parts:
            self._write(sep)
        self._write(prefix)
        start = self._length
        self._write(text)
        element = Element(
            kind=kind,
            text=text,
            span=Span(start=start, end=self._length),
            section=section,
            page=page,
            level=level,
            start_s=start_s,
            end_s=end_s,
            speaker=speaker,
        )
        self.elements.append(element)
        return element

    def _write(self, s: str) -> None:
        if s:
            self._parts.append(s)
            self._length += len(s)

    @property
    def text(self) -> str:
        """The text written so far."""
        return "".join(self._parts)

    def build(self, **kwargs: Any) -> Parsed:
        """Return the finished document; keyword arguments go to :class:`Parsed`."""
        return Parsed(text=self.text, elements=list(self.elements), **kwargs)


class SectionStack:
    """Tracks the heading path while walking a document's titles in order."""

    def __init__(self) -> None:
        """Start outside any heading."""
        self._stack: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> tuple[str, ...]:
        """Record a heading of ``level`` (1 = top) and return the path that now applies."""
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title.strip()))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        """The current heading path, outermost first."""
        return tuple(t for _, t in self._stack)
