"""``POST /brief``: a digest of distinct, dated, verbatim quotes about a topic."""

from __future__ import annotations

from fastapi import APIRouter

from service.answering.briefing import BriefingRequest
from service.api.deps import ReadyEngineDep
from service.api.errors import ERRORS
from service.api.responses import to_brief_response
from service.api.routes.ask import to_filters
from service.api.schemas import BriefRequest, BriefResponse

router = APIRouter(tags=["answers"])


@router.post("/brief", responses=ERRORS)
def brief(body: BriefRequest, engine: ReadyEngineDep) -> BriefResponse:
    """Brief on a topic: up to ``max_points`` quotes that each say something the others do
    not, preferring recent reporting, oldest article first. An empty ``points`` list with a
    ``message`` when the archive holds nothing relevant."""
    request = BriefingRequest(
        body.topic,
        max_points=body.max_points,
        since=body.since.isoformat() if body.since else None,
        until=body.until.isoformat() if body.until else None,
    )
    return to_brief_response(engine.brief(request, to_filters(body.filters)))
