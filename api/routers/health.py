"""``GET /health``."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import KBDep
from api.errors import ERROR_RESPONSES
from api.schemas import Health

router = APIRouter(tags=["health"], responses={503: ERROR_RESPONSES[503]})


@router.get("/health", response_model=Health, summary="Model, store and index counts")
def health(kb: KBDep) -> Health:
    """Report the embedding model, the store kind, document and chunk counts and the version.

    Open without a key so probes can use it; it reveals counts only.
    """
    info = kb.health()
    return Health.model_validate(info)
