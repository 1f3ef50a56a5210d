"""``POST /ask`` and ``POST /compare``."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AskRate, KBDep, ReadAccess
from api.errors import ERROR_RESPONSES
from api.schemas import AskRequest, CompareRequest
from kb.models import Answer, Comparison

router = APIRouter(tags=["answers"], responses=ERROR_RESPONSES)


@router.post("/ask", response_model=Answer, summary="A cited answer")
def ask(body: AskRequest, kb: KBDep, _: ReadAccess, __: AskRate) -> Answer:
    """Answer with sentences quoted from the knowledge base, each with a numbered citation."""
    return kb.ask(body.question, body.filters, extractive=body.extractive)


@router.post("/compare", response_model=Comparison, summary="Answers side by side per country")
def compare(body: CompareRequest, kb: KBDep, _: ReadAccess, __: AskRate) -> Comparison:
    """Answer the same question once per country (the given ones, else those the question names, else
    all with material); countries without evidence get an explicit row."""
    return kb.compare(body.question, body.countries or [], body.filters)
