"""``GET /speakers``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import KBDep, ReadAccess
from api.errors import ERROR_RESPONSES
from api.params import COUNTRY_HELP, filters_from_query
from api.schemas import HAS_WORD
from kb.models import COUNTRY_LIST_SCHEMA, MAX_QUERY_CHARS, SpeakerResult

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
    country: Annotated[
        list[str] | None, Query(description=f"Speaker's country: {COUNTRY_HELP}", json_schema_extra=COUNTRY_LIST_SCHEMA)
    ] = None,
    language: Annotated[list[str] | None, Query(description="Language of what they said")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SpeakerResult:
    """Rank people with evidence: the webinar, the minute and the quote."""
    return kb.speakers.find(topic, filters_from_query(country=country, language=language), limit=limit)
