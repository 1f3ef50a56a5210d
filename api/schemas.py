"""Request bodies and the few response shapes that kb does not already define.

Answers, comparisons, speakers, documents and chunks are returned as the kb and ingest
models themselves, so the API and ``kb ... --json`` print the same JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kb.models import COUNTRY_LIST_SCHEMA, MAX_QUERY_CHARS, IngestSummary, SearchFilters, country_codes

# Documented, not validated here: a query without a word is answered 400 ``bad_query`` by kb.
HAS_WORD: dict[str, object] = {"pattern": r"\w"}


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
        examples=[["SE", "GR"]],
        description="ISO 3166 codes (EL is accepted for GR); an unknown code is a 422.",
        json_schema_extra=COUNTRY_LIST_SCHEMA,  # type: ignore[arg-type]
    )
    filters: SearchFilters = Field(default_factory=SearchFilters)

    @field_validator("countries")
    @classmethod
    def _codes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else country_codes(value)


class Health(BaseModel):
    """``GET /health``."""

    status: str = "ok"
    version: str
    model: str
    store: str
    documents: int
    chunks: int


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
