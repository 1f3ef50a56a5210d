"""JSON shapes shared by the CLI's ``--json`` output and the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from kb.models import Hit, Located, StageScores
from kb.retrieve import SearchResult


class SearchHit(Located):
    """One hit as the CLI and the API show it."""

    chunk_id: str
    title: str
    path: str  # relative to the folder the file was ingested from
    text: str
    score: float
    country: str | None
    language: str | None
    doc_type: str
    section: list[str]
    page: int | None
    page_end: int | None
    start_s: float | None
    end_s: float | None
    speakers: list[str]
    stages: StageScores
    duplicates: list[str] = Field(default_factory=list)


class SearchResponse(BaseModel):
    """``{"hits": [...], "took_ms": ...}``"""

    hits: list[SearchHit]
    took_ms: float


def search_hit(hit: Hit) -> SearchHit:
    """Flatten a hit for output."""
    c = hit.chunk
    return SearchHit(
        chunk_id=c.chunk_id,
        doc_id=c.doc_id,
        title=c.title,
        path=c.path,
        text=c.text,
        score=hit.score,
        country=c.country,
        language=c.language,
        doc_type=c.doc_type,
        section=list(c.section),
        page=c.page_start,
        page_end=c.page_end,
        start_s=c.start_s,
        end_s=c.end_s,
        speakers=list(c.speakers),
        span=c.span,
        stages=hit.stages,
        duplicates=list(hit.duplicates),
    )


def search_response(result: SearchResult) -> dict[str, Any]:
    """The JSON-ready search response."""
    return SearchResponse(hits=[search_hit(h) for h in result.hits], took_ms=result.took_ms).model_dump(mode="json")
