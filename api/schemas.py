"""Request bodies and the few response shapes that kb does not already define.

Answers, comparisons, speakers, documents and chunks are returned as the kb and ingest
models themselves, so the API and ``kb ... --json`` print the same JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kb.indexer import IngestSummary
from kb.models import MAX_QUERY_CHARS, DocRecord, SearchFilters

# Documented, not validated here: a query without a word is answered 400 ``bad_query`` by kb.
HAS_WORD: dict[str, object] = {"pattern": r"\w"}


def normalise_filters(filters: SearchFilters) -> SearchFilters:
    """Uppercase countries and lowercase languages, as the CLI does."""
    return filters.model_copy(
        update={
            "country": [c.strip().upper() for c in filters.country if c.strip()],
            "language": [v.strip().lower() for v in filters.language if v.strip()],
        }
    )


class AskRequest(BaseModel):
    """``POST /ask``: a question and optional filters."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        max_length=MAX_QUERY_CHARS,  # one limit for the API schema, the CLI and kb
        examples=["How do national platforms support cities?"],
        json_schema_extra=HAS_WORD,  # type: ignore[arg-type]
    )
    filters: SearchFilters = Field(default_factory=SearchFilters)
    extractive: bool = Field(default=False, description="Quote sentences only, even when an LLM is configured.")


class CompareRequest(BaseModel):
    """``POST /compare``: a question, the countries (default: named in the question, else all) and filters."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        max_length=MAX_QUERY_CHARS,  # one limit for the API schema, the CLI and kb
        examples=["How is the national platform funded?"],
        json_schema_extra=HAS_WORD,  # type: ignore[arg-type]
    )
    countries: list[str] | None = Field(
        default=None,
        max_length=60,
        examples=[["SE", "ES"]],
        # what ``_codes`` accepts: two letters, blanks ignored
        json_schema_extra={"items": {"type": "string", "pattern": r"^\s*([A-Za-z]{2})?\s*$"}},
    )
    filters: SearchFilters = Field(default_factory=SearchFilters)

    @field_validator("countries")
    @classmethod
    def _codes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        codes = [c.strip().upper() for c in value if c.strip()]
        for code in codes:
            if not (len(code) == 2 and code.isalpha()):
                raise ValueError(f"{code!r} is not a two-letter country code")
        return list(dict.fromkeys(codes))


class Health(BaseModel):
    """``GET /health``."""

    status: str = "ok"
    version: str
    model: str
    store: str
    documents: int
    chunks: int


class DocumentList(BaseModel):
    """``GET /documents``: one page of documents, the total and facet counts."""

    documents: list[DocRecord]
    total: int
    limit: int
    offset: int
    facets: dict[str, dict[str, int]]


class Deleted(BaseModel):
    """``DELETE /documents/{id}``."""

    doc_id: str
    deleted: bool
    file_removed: bool


class UploadResult(IngestSummary):
    """``POST /documents``: the ingest summary and the name the file was stored under."""

    stored_as: str
    format: str
    bytes: int
