"""The project's own document model, shared by every layer.

A file becomes a :class:`SourceDoc`: its full text plus ordered :class:`Element` s that carry
provenance (page, heading path, speaker, cue times). The chunker turns a document into
:class:`Chunk` s, each with a :class:`Span` such that ``doc.text[span.start:span.end] == chunk.text``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DocType = Literal[
    "guideline",
    "good_practice",
    "ccc_material",
    "transcript",
    "session_notes",
    "self_assessment",
    "newsletter",
    "other",
]
DOC_TYPES: tuple[str, ...] = DocType.__args__  # type: ignore[attr-defined]

ElementKind = Literal["title", "text", "list_item", "table", "cue"]

# EU institutions write EL for Greece and UK for the United Kingdom (Interinstitutional Style
# Guide); ISO 3166 says GR and GB. Both are accepted everywhere and stored as ISO.
COUNTRY_ALIASES = {"EL": "GR", "UK": "GB"}


def canonical_country(code: str) -> str:
    """The stored form of a country code: stripped, uppercase, ISO 3166 for an EU-style alias."""
    upper = code.strip().upper()
    return COUNTRY_ALIASES.get(upper, upper)


class Span(BaseModel):
    """A half-open character range ``[start, end)`` into ``SourceDoc.text``."""

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before start {self.start}")
        return self


class Person(BaseModel):
    """A speaker, author or presenter named in a document's metadata."""

    model_config = ConfigDict(frozen=True)

    name: str
    organisation: str | None = None
    country: str | None = None
    role: str | None = None
    fictional: bool = False


class DocMeta(BaseModel):
    """Metadata of one document, from a sidecar, a manifest, a header or detection."""

    id: str | None = None
    title: str | None = None
    country: str | None = None
    language: str | None = None
    doc_type: DocType = "other"
    audience: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    date: dt.date | None = None
    source: str | None = None
    sources: list[str] = Field(default_factory=list)
    licence: str | None = None
    authors: list[Person] = Field(default_factory=list)
    speakers: list[Person] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("country")
    @classmethod
    def _canonical_country(cls, v: str | None) -> str | None:
        return canonical_country(v) if v else None

    @field_validator("language")
    @classmethod
    def _lower_language(cls, v: str | None) -> str | None:
        return v.lower() if v else None


class Element(BaseModel):
    """One ordered piece of a document with its provenance."""

    model_config = ConfigDict(frozen=True)

    kind: ElementKind
    text: str
    span: Span
    section: tuple[str, ...] = ()
    page: int | None = None
    level: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    speaker: str | None = None


class SourceDoc(BaseModel):
    """A parsed file: full text, ordered elements and metadata."""

    doc_id: str
    path: str
    format: str
    title: str
    text: str
    elements: list[Element]
    meta: DocMeta
    content_sha256: str
    pages: int | None = None


class Turn(BaseModel):
    """One transcript cue inside a chunk: who spoke, when, and where in the document text."""

    model_config = ConfigDict(frozen=True)

    speaker: str | None
    start_s: float
    end_s: float
    span: Span


class Chunk(BaseModel):
    """A retrievable piece of a document with exact provenance.

    Every chunk satisfies ``doc.text[span.start:span.end] == text``.
    """

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    span: Span
    title: str
    path: str
    format: str
    section: list[str] = Field(default_factory=list)
    page_start: int | None = None
    page_end: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    speakers: list[str] = Field(default_factory=list)
    turns: list[Turn] = Field(default_factory=list)
    language: str | None = None
    country: str | None = None  # the publisher's (the document's metadata)
    about: list[str] = Field(default_factory=list)  # the countries the passage is about
    doc_type: DocType = "other"
    audience: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    date: dt.date | None = None
    source: str | None = None
    licence: str | None = None
    content_sha256: str = ""

    @property
    def heading(self) -> str:
        """Title and section path, ``"Title / Section / Subsection"``: the context models read with the text."""
        return " / ".join(part for part in (self.title, *self.section) if part)
