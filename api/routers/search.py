"""``GET /search`` and ``GET /chunks/{chunk_id}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import KBDep, ReadAccess
from api.errors import ERROR_RESPONSES
from api.params import FiltersDep
from api.schemas import HAS_WORD
from ingest.models import Chunk
from kb.models import MAX_QUERY_CHARS, SearchResponse

router = APIRouter(tags=["search"], responses=ERROR_RESPONSES)


@router.get("/search", response_model=SearchResponse, summary="Hybrid search")
def search(
    kb: KBDep,
    _: ReadAccess,
    filters: FiltersDep,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_CHARS, description="Free text in any supported language", json_schema_extra=HAS_WORD
        ),
    ],
    k: Annotated[int | None, Query(ge=1, le=200, description="Hits per page")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000, description="Hits to skip")] = 0,
) -> SearchResponse:
    """Search chunks (dense and sparse, fused); the same JSON as ``kb search --json``."""
    result = kb.retriever.search(q, filters, k=k or kb.settings.search_k, offset=offset)
    return SearchResponse.of(result.hits, result.took_ms)


@router.get("/chunks/{chunk_id}", response_model=Chunk, summary="One chunk with its text and span")
def get_chunk(
    kb: KBDep,
    _: ReadAccess,
    chunk_id: Annotated[str, Path(max_length=200)],
) -> Chunk:
    """Return a chunk, to show a cited quote in its context."""
    return kb.documents.chunk(chunk_id)
