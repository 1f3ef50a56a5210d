"""Types produced by the knowledge-base layer: filters, hits, citations and answers.

Chunks and documents are reused from :mod:`ingest.models`; nothing here redefines them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Self
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from ingest.metadata import COUNTRY_CODES, check_country
from ingest.models import Chunk, DocMeta, Span
from kb.errors import BadQuery

# The longest query, question or topic, in characters: the API schema, the CLI and kb all
# enforce this one limit through validate_query or the schema's max_length.
MAX_QUERY_CHARS = 2000
_WORD = re.compile(r"\w+", re.UNICODE)


def validate_query(query: str) -> str:
    """Strip a query and reject empty or over-long ones with :class:`BadQuery`."""
    query = (query or "").strip()
    if not query:
        raise BadQuery("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise BadQuery(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if not _WORD.search(query):
        raise BadQuery("the query has no words")
    return query


# The JSON schema of a list of country codes: what SearchFilters and the API accept.
COUNTRY_LIST_SCHEMA: dict[str, object] = {"items": {"type": "string", "enum": list(COUNTRY_CODES)}}


def _values(value: object) -> list[str]:
    """Repeated or comma-separated values, stripped, blanks dropped, in order without repeats."""
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else [value]
    parts = (p.strip() for item in items for p in str(item).split(","))
    return list(dict.fromkeys(p for p in parts if p))


def country_codes(value: object) -> list[str]:
    """Canonical country codes (EL gives GR) from repeated or comma-separated values.

    Raises:
        ValueError: An unknown code, named in the message.
    """
    return list(dict.fromkeys(check_country(code) for code in _values(value)))


class SearchFilters(BaseModel):
    """Filters every search, answer and comparison accepts. Empty fields do not filter.

    Values normalise themselves wherever the filters come from (CLI, query string, JSON body):
    repeated or comma-separated, stripped, countries canonical (``EL`` is ``GR``) and checked,
    languages lowercase.
    """

    model_config = ConfigDict(frozen=True)

    country: list[str] = Field(
        default_factory=list,
        description="Published in: ISO 3166 codes (EL is accepted for GR, EU for EU-level material); "
        "an unknown code is a 422.",
        json_schema_extra=COUNTRY_LIST_SCHEMA,  # type: ignore[arg-type]
    )
    about: list[str] = Field(
        default_factory=list,
        description="About: passages about these countries (named in the passage or its headings, or "
        "published there), whoever published them.",
        json_schema_extra=COUNTRY_LIST_SCHEMA,  # type: ignore[arg-type]
    )
    language: list[str] = Field(default_factory=list)
    doc_type: list[str] = Field(default_factory=list)
    audience: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    doc_id: list[str] = Field(default_factory=list)
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @field_validator("country", "about", mode="before")
    @classmethod
    def _countries(cls, value: object) -> list[str]:
        return country_codes(value)

    @field_validator("language", mode="before")
    @classmethod
    def _languages(cls, value: object) -> list[str]:
        return [v.lower() for v in _values(value)]

    @field_validator("doc_type", "audience", "topics", "doc_id", mode="before")
    @classmethod
    def _split(cls, value: object) -> list[str]:
        return _values(value)

    def is_empty(self) -> bool:
        """True when no field filters anything."""
        return (
            not any((self.country, self.about, self.language, self.doc_type, self.audience, self.topics, self.doc_id))
            and self.date_from is None
            and self.date_to is None
        )


class StageScores(BaseModel):
    """Scores a hit got at each retrieval stage (``None`` where it was not retrieved)."""

    dense: float | None = None
    sparse: float | None = None
    dense_rank: int | None = None
    sparse_rank: int | None = None
    fused: float | None = None
    rerank: float | None = None


class Hit(BaseModel):
    """One retrieved chunk with its final score and per-stage scores."""

    chunk: Chunk
    score: float
    stages: StageScores = Field(default_factory=StageScores)
    duplicates: list[str] = Field(default_factory=list)


class SparseVector(BaseModel):
    """A sparse vector as sorted token ids and weights."""

    model_config = ConfigDict(frozen=True)

    indices: list[int]
    values: list[float]


class DocRecord(BaseModel):
    """What the store keeps about one indexed document: where it came from, how it was indexed,
    and its metadata (:class:`ingest.models.DocMeta`, as parsing gave it).

    ``path``, the file's absolute path, stays server-side: it is stored, but left out of the
    JSON the API and the CLI print. ``source_path`` is what users see: the path relative to
    the folder the file was ingested from.
    """

    doc_id: str
    path: str = Field(default="", exclude=True)
    source_path: str | None = None
    format: str
    title: str
    content_sha256: str
    fingerprint: str = ""
    chunk_count: int
    pages: int | None = None
    meta: DocMeta = Field(default_factory=DocMeta)
    indexed_at: dt.datetime | None = None


class Located(BaseModel):
    """Something quoted from a chunk of a document, with the address of the page that shows it in place.

    Hits, citations and speaker clips are all built from a chunk through :meth:`from_chunk`,
    so the fields they share are copied from :class:`Chunk` in one place.
    """

    doc_id: str
    chunk_id: str
    title: str
    path: str  # relative to the folder the file was ingested from
    span: Span

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        """The source viewer opened at the span: ``/documents/{doc_id}/view?at=START-END``."""
        return f"/documents/{quote(self.doc_id, safe='')}/view?at={self.span.start}-{self.span.end}"

    @classmethod
    def chunk_fields(cls, chunk: Chunk) -> dict[str, Any]:
        """The fields this type takes from a chunk as they are."""
        return {"doc_id": chunk.doc_id, "chunk_id": chunk.chunk_id, "title": chunk.title, "path": chunk.path}

    @classmethod
    def from_chunk(cls, chunk: Chunk, **fields: Any) -> Self:
        """Build from ``chunk``; ``fields`` give the rest and override what the chunk says."""
        return cls.model_validate({**cls.chunk_fields(chunk), **fields})


class Sourced(Located):
    """A located passage with where it is in its source and what kind of source that is."""

    page: int | None = None
    section: list[str] = Field(default_factory=list)
    start_s: float | None = None
    end_s: float | None = None
    speakers: list[str] = Field(default_factory=list)
    language: str | None = None
    country: str | None = None  # published in
    about: list[str] = Field(default_factory=list)  # the countries the passage is about
    doc_type: str | None = None

    @classmethod
    def chunk_fields(cls, chunk: Chunk) -> dict[str, Any]:
        """The located fields, with the chunk's page, section, times, speakers and metadata."""
        return {
            **super().chunk_fields(chunk),
            "page": chunk.page_start,
            "section": list(chunk.section),
            "start_s": chunk.start_s,
            "end_s": chunk.end_s,
            "speakers": list(chunk.speakers),
            "language": chunk.language,
            "country": chunk.country,
            "about": list(chunk.about),
            "doc_type": chunk.doc_type,
        }


class Citation(Sourced):
    """A numbered source of an answer sentence, with a verbatim quote and its span."""

    n: int
    quote: str


class SearchHit(Sourced):
    """One search hit as the CLI and the API show it: the chunk's text and its scores."""

    text: str
    score: float
    page_end: int | None = None
    stages: StageScores
    duplicates: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        """The hit of a search, flattened for output."""
        c = hit.chunk
        return cls.from_chunk(
            c, span=c.span, text=c.text, score=hit.score, page_end=c.page_end, stages=hit.stages,
            duplicates=list(hit.duplicates),
        )  # fmt: skip


class SearchResponse(BaseModel):
    """``{"hits": [...], "took_ms": ...}``: the JSON of ``GET /search`` and ``kb search --json``."""

    hits: list[SearchHit]
    took_ms: float

    @classmethod
    def of(cls, hits: list[Hit], took_ms: float) -> SearchResponse:
        """The response for a search's hits."""
        return cls(hits=[SearchHit.of(h) for h in hits], took_ms=took_ms)


class SentenceCheck(BaseModel):
    """How well one generated sentence is supported by the passages it cites."""

    sentence: str
    cited: list[int] = Field(default_factory=list)
    support: float
    supported: bool


class GenerationReport(BaseModel):
    """What the citation checks found in a generated answer."""

    model: str
    dropped_citations: list[int] = Field(default_factory=list)
    sentences: list[SentenceCheck] = Field(default_factory=list)
    removed_sentences: int = 0


class Answer(BaseModel):
    """A cited answer; the JSON shape of ``kb ask --json`` and ``POST /ask``."""

    question: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    evidence: bool
    refusal: str | None = None  # why there is no evidence, in English, when there is none
    confidence: float | None = None  # the reader's probability that the best passage answers
    language: str | None = None
    mode: str = "extractive"
    took_ms: float = 0.0
    generation: GenerationReport | None = None
    warnings: list[str] = Field(default_factory=list)


class CompareRow(BaseModel):
    """One country's answer in a comparison."""

    country: str
    answer: str
    evidence: bool
    citations: list[Citation] = Field(default_factory=list)


class Comparison(BaseModel):
    """Side-by-side answers per country; the JSON shape of ``kb compare --json``."""

    question: str
    rows: list[CompareRow]
    took_ms: float = 0.0


class SpeakerEvidence(Located):
    """Something a person said or wrote that made them rank for a topic."""

    start_s: float | None = None
    end_s: float | None = None
    quote: str


class Speaker(BaseModel):
    """A person ranked as an expert on a topic."""

    name: str
    organisation: str | None = None
    country: str | None = None
    role: str | None = None
    score: float
    talks: list[str] = Field(default_factory=list)
    evidence: list[SpeakerEvidence] = Field(default_factory=list)


class SpeakerResult(BaseModel):
    """Ranked speakers for a topic; the JSON shape of ``kb speakers --json``."""

    topic: str
    speakers: list[Speaker]
    took_ms: float = 0.0


class FailedFile(BaseModel):
    """A file (or a line of a bulk file) that could not be ingested."""

    path: str
    error: str


class IngestSummary(BaseModel):
    """What an ingest run did; the JSON shape of ``kb ingest --json``."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[FailedFile] = Field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    doc_ids: list[str] = Field(default_factory=list)
