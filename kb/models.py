"""Types produced by the knowledge-base layer: filters, hits, citations and answers.

Chunks and documents are reused from :mod:`ingest.models`; nothing here redefines them.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field

from ingest.models import Chunk, Person, Span
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


class SearchFilters(BaseModel):
    """Filters every search, answer and comparison accepts. Empty fields do not filter."""

    model_config = ConfigDict(frozen=True)

    country: list[str] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    doc_type: list[str] = Field(default_factory=list)
    audience: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    doc_id: list[str] = Field(default_factory=list)
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def is_empty(self) -> bool:
        """True when no field filters anything."""
        return (
            not any((self.country, self.language, self.doc_type, self.audience, self.topics, self.doc_id))
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
    """What the store keeps about one indexed document."""

    doc_id: str
    path: str
    source_path: str | None = None
    format: str
    title: str
    content_sha256: str
    fingerprint: str = ""
    chunk_count: int
    pages: int | None = None
    country: str | None = None
    language: str | None = None
    doc_type: str = "other"
    audience: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    date: dt.date | None = None
    source: str | None = None
    sources: list[str] = Field(default_factory=list)
    licence: str | None = None
    speakers: list[Person] = Field(default_factory=list)
    authors: list[Person] = Field(default_factory=list)
    indexed_at: dt.datetime | None = None


class Citation(BaseModel):
    """A numbered source of an answer sentence, with a verbatim quote and its span."""

    n: int
    chunk_id: str
    doc_id: str
    title: str
    path: str
    page: int | None = None
    section: list[str] = Field(default_factory=list)
    start_s: float | None = None
    end_s: float | None = None
    speakers: list[str] = Field(default_factory=list)
    quote: str
    span: Span
    language: str | None = None
    country: str | None = None
    doc_type: str | None = None


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


class SpeakerEvidence(BaseModel):
    """Something a person said or wrote that made them rank for a topic."""

    doc_id: str
    title: str
    chunk_id: str
    start_s: float | None = None
    end_s: float | None = None
    quote: str
    span: Span
    path: str | None = None


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
