"""``GET /speakers``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import KBDep, ReadAccess
from api.errors import ERROR_RESPONSES
from api.params import split_values
from api.schemas import HAS_WORD
from kb.models import MAX_QUERY_CHARS, SearchFilters, SpeakerResult

router = APIRouter(tags=["speakers"], responses=ERROR_RESPONSES)


@router.get("/speakers", response_model=SpeakerResult, summary="People who spoke or wrote about a topic")
def speakers(
    kb: KBDep,
    _: ReadAccess,
    topic: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_CHARS,
            description="What the person should be able to speak about",
            json_schema_extra=HAS_WORD,
        ),
    ],
    country: Annotated[list[str] | None, Query(description="Speaker's country, repeated or comma-separated")] = None,
    language: Annotated[list[str] | None, Query(description="Language of what they said")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SpeakerResult:
    """Rank people with evidence: the webinar, the minute and the quote."""
    filters = SearchFilters(
        country=[c.upper() for c in split_values(country)],
        language=[v.lower() for v in split_values(language)],
    )
    return kb.speakers.find(topic, filters, limit=limit)
