"""``GET`` and ``DELETE /conversations/{id}``: a conversation's turns, and ending it."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.answering.asking import AskResult
from service.answering.conversation import (
    ConversationNotFoundError,
    ConversationsUnavailableError,
)
from service.api.deps import EngineDep
from service.api.errors import ERRORS, conversations_unavailable, no_conversation
from service.api.responses import to_response, utc
from service.api.schemas import ConversationOut, TurnOut

router = APIRouter(prefix="/conversations", tags=["answers"])


@router.get("/{conversation_id}", responses=ERRORS)
def get_conversation(conversation_id: str, engine: EngineDep) -> ConversationOut:
    """A conversation's kept turns, oldest first."""
    try:
        conv = engine.conversations.get(conversation_id)
        turns = engine.conversations.history(conversation_id)
    except ConversationNotFoundError:
        raise no_conversation(conversation_id) from None
    except ConversationsUnavailableError:
        raise conversations_unavailable() from None
    return ConversationOut(
        conversation_id=conv.id,
        started_at=utc(conv.started_at),
        turns=[
            TurnOut(
                **to_response(
                    AskResult(t.answer, t.index_version),
                    t.question,
                    conv.id,
                    resolved_question=t.resolved_question,
                ).model_dump(),
                asked_at=utc(t.asked_at),
            )
            for t in turns
        ],
    )


@router.delete("/{conversation_id}", status_code=204, responses=ERRORS)
def end_conversation(conversation_id: str, engine: EngineDep) -> Response:
    """End a conversation and forget its turns."""
    try:
        engine.conversations.end(conversation_id)
    except ConversationNotFoundError:
        raise no_conversation(conversation_id) from None
    except ConversationsUnavailableError:
        raise conversations_unavailable() from None
    return Response(status_code=204)
