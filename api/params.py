"""Query-string filters shared by /search and /documents: repeated or comma-separated values."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Query

from kb.models import SearchFilters

ListParam = Annotated[list[str] | None, Query(max_length=100)]


def split_values(values: list[str] | None) -> list[str]:
    """Flatten repeated and comma-separated values (at most 100)."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()][:100]


def query_filters(
    country: Annotated[list[str] | None, Query(description="ISO country codes, repeated or comma-separated")] = None,
    language: Annotated[list[str] | None, Query(description="ISO 639-1 language codes")] = None,
    doc_type: Annotated[list[str] | None, Query(description="Document types")] = None,
    audience: Annotated[list[str] | None, Query(description="Audiences")] = None,
    topic: Annotated[list[str] | None, Query(description="Topics")] = None,
    doc_id: Annotated[list[str] | None, Query(description="Document ids")] = None,
    date_from: Annotated[dt.date | None, Query(description="Earliest date (YYYY-MM-DD)")] = None,
    date_to: Annotated[dt.date | None, Query(description="Latest date (YYYY-MM-DD)")] = None,
) -> SearchFilters:
    """Build :class:`SearchFilters` from the query string."""
    return SearchFilters(
        country=[c.upper() for c in split_values(country)],
        language=[v.lower() for v in split_values(language)],
        doc_type=split_values(doc_type),
        audience=split_values(audience),
        topics=split_values(topic),
        doc_id=split_values(doc_id),
        date_from=date_from,
        date_to=date_to,
    )


FiltersDep = Annotated[SearchFilters, Depends(query_filters)]
