"""Query-string filters shared by /search, /documents and /speakers: repeated or comma-separated values."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from kb.models import COUNTRY_LIST_SCHEMA, SearchFilters

COUNTRY_HELP = "ISO 3166 codes, repeated or comma-separated (EL is accepted for GR); an unknown code is a 422"


def filters_from_query(**values: object) -> SearchFilters:
    """:class:`SearchFilters` from query parameters; a bad value (an unknown country) is a 422 naming it."""
    try:
        return SearchFilters.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from None


def query_filters(
    country: Annotated[
        list[str] | None, Query(description=f"Published in: {COUNTRY_HELP}", json_schema_extra=COUNTRY_LIST_SCHEMA)
    ] = None,
    about: Annotated[
        list[str] | None,
        Query(description=f"Passages about these countries: {COUNTRY_HELP}", json_schema_extra=COUNTRY_LIST_SCHEMA),
    ] = None,
    language: Annotated[list[str] | None, Query(description="ISO 639-1 language codes")] = None,
    doc_type: Annotated[list[str] | None, Query(description="Document types")] = None,
    audience: Annotated[list[str] | None, Query(description="Audiences")] = None,
    topic: Annotated[list[str] | None, Query(description="Topics")] = None,
    doc_id: Annotated[list[str] | None, Query(description="Document ids")] = None,
    date_from: Annotated[dt.date | None, Query(description="Earliest date (YYYY-MM-DD)")] = None,
    date_to: Annotated[dt.date | None, Query(description="Latest date (YYYY-MM-DD)")] = None,
) -> SearchFilters:
    """Build :class:`SearchFilters` from the query string; a bad value (an unknown country) is a 422."""
    return filters_from_query(
        country=country,
        about=about,
        language=language,
        doc_type=doc_type,
        audience=audience,
        topics=topic,
        doc_id=doc_id,
        date_from=date_from,
        date_to=date_to,
    )


FiltersDep = Annotated[SearchFilters, Depends(query_filters)]
