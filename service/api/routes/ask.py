"""``POST /ask``: a question (or a follow-up in a conversation) answered with quotes."""

from __future__ import annotations

from fastapi import APIRouter

from service.answering.conversation import (
    ConversationNotFoundError,
    ConversationsUnavailableError,
)
from service.answering.search import Filters
from service.api.deps import MetricsDep, ReadyEngineDep
from service.api.errors import ERRORS, conversations_unavailable, no_conversation
from service.api.responses import to_response
from service.api.schemas import AskFilters, AskRequest, AskResponse

router = APIRouter(tags=["answers"])


@router.post("/ask", responses=ERRORS)
def ask(body: AskRequest, engine: ReadyEngineDep, metrics: MetricsDep) -> AskResponse:
    """Answer a question with verbatim, cited quotes (or abstain)."""
    try:
        exchange = engine.converse(
            body.question,
            conversation_id=body.conversation_id,
            top_k=body.top_k,
            filters=to_filters(body.filters),
        )
    except ConversationNotFoundError:
        raise no_conversation(body.conversation_id or "") from None
    except ConversationsUnavailableError:
        raise conversations_unavailable() from None
    metrics.asks.labels("answered" if exchange.result.answer.answered else "abstained").inc()
    return to_response(
        exchange.result,
        body.question,
        exchange.conversation_id,
        resolved_question=exchange.resolution.resolved,
    )


def to_filters(f: AskFilters | None) -> Filters | None:
    """Request filters as retrieval filters."""
    if f is None:
        return None
    return Filters(
        source=f.source,
        published_after=f.published_after.isoformat() if f.published_after else None,
        published_before=f.published_before.isoformat() if f.published_before else None,
        article_ids=tuple(f.article_ids) if f.article_ids is not None else None,
    )
