"""Hits built by hand for tests of what happens after retrieval."""

from __future__ import annotations

from ingest.models import Chunk, Span
from kb.models import Hit


def make_hit(
    chunk_id: str, text: str, score: float = 1.0, *, language: str | None = "en", country: str | None = None
) -> Hit:
    """A hit on a one-chunk document whose text is ``text`` (doc id ``d-<chunk_id>``)."""
    chunk = Chunk(
        chunk_id=chunk_id,
        doc_id=f"d-{chunk_id}",
        ordinal=0,
        text=text,
        span=Span(start=0, end=len(text)),
        title="T",
        path="p",
        format="md",
        language=language,
        country=country,
    )
    return Hit(chunk=chunk, score=score)
