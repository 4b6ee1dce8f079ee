"""Conversations: bounded, expiring sessions of question/answer turns.

Memory stays flat however many readers chat: at most ``max_conversations`` live at once
(the least recently used is evicted first), each keeps its newest ``max_turns`` turns, and a
conversation idle for ``ttl_s`` seconds is gone. ``ConversationStore`` is what answering
needs of a store; ``MemoryConversationStore`` keeps them in this process (the default), and
``service.ops.shared.RedisConversationStore`` in Redis, so API replicas share them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from embeddings.index import ArticleRef
from service.answering.answer import Answer, Citation, Quote
from service.answering.briefing import BriefingRequest


class ConversationNotFoundError(KeyError):
    """The conversation id is unknown or has expired."""


class ConversationsUnavailableError(RuntimeError):
    """The shared conversation store cannot be reached (a conversation cannot be read)."""


@dataclass(frozen=True)
class Turn:
    """One question and what was answered."""

    question: str
    resolved_question: str
    answer: Answer
    index_version: str
    asked_at: float  # Unix time
    briefing: BriefingRequest | None = None  # what was briefed on, for a briefing turn


@dataclass
class Conversation:
    """The turns of one conversation (oldest first), capped at ``max_turns``."""

    id: str
    touched: float  # monotonic; idle conversations expire from this
    started_at: float = field(default_factory=time.time)  # Unix time, for display
    turns: list[Turn] = field(default_factory=list)


class ConversationStore(Protocol):
    """Where conversations live. ``get``, ``history``, ``add_turn`` and ``end`` raise
    ``ConversationNotFoundError`` for an unknown or expired id, and a shared store
    ``ConversationsUnavailableError`` when it cannot be reached (``start`` then still
    returns a new id, not kept, so a first question is answered all the same)."""

    max_conversations: int
    ttl_s: float
    max_turns: int

    def __len__(self) -> int: ...

    def start(self) -> Conversation: ...

    def history(self, conversation_id: str) -> list[Turn]: ...

    def get(self, conversation_id: str) -> Conversation: ...

    def add_turn(self, conversation_id: str, turn: Turn) -> None: ...

    def end(self, conversation_id: str) -> None: ...


def new_conversation_id() -> str:
    """An unguessable conversation id (128 bits of randomness)."""
    return secrets.token_urlsafe(16)


class MemoryConversationStore:
    """At most ``max_conversations`` live conversations in this process; idle ones expire
    after ``ttl_s``."""

    def __init__(self, max_conversations: int, ttl_s: float, max_turns: int) -> None:
        self.max_conversations = max_conversations
        self.ttl_s = ttl_s
        self.max_turns = max_turns
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(time.monotonic())
            return len(self._items)

    def start(self) -> Conversation:
        """A new conversation with an unguessable id (128 bits of randomness)."""
        now = time.monotonic()
        conv = Conversation(new_conversation_id(), now)
        with self._lock:
            self._expire(now)
            self._items[conv.id] = conv
            while len(self._items) > self.max_conversations:
                self._items.popitem(last=False)
        return conv

    def history(self, conversation_id: str) -> list[Turn]:
        """A copy of the conversation's turns, oldest first."""
        conv = self.get(conversation_id)
        with self._lock:
            return list(conv.turns)

    def get(self, conversation_id: str) -> Conversation:
        """The live conversation, or ``ConversationNotFoundError``."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            conv = self._items.get(conversation_id)
            if conv is None:
                raise ConversationNotFoundError(conversation_id)
            conv.touched = now
            self._items.move_to_end(conversation_id)
            return conv

    def add_turn(self, conversation_id: str, turn: Turn) -> None:
        """Append a turn, keeping only the newest ``max_turns``."""
        conv = self.get(conversation_id)
        with self._lock:
            conv.turns.append(turn)
            del conv.turns[: -self.max_turns]

    def end(self, conversation_id: str) -> None:
        """Forget a conversation; ``ConversationNotFoundError`` if unknown."""
        with self._lock:
            if self._items.pop(conversation_id, None) is None:
                raise ConversationNotFoundError(conversation_id)

    def _expire(self, now: float) -> None:
        while self._items:
            oldest = next(iter(self._items.values()))
            if now - oldest.touched <= self.ttl_s:
                break
            self._items.popitem(last=False)


def turn_to_dict(turn: Turn) -> dict[str, Any]:
    """A turn as plain JSON-ready data (for a shared store)."""
    return asdict(turn)


def turn_from_dict(data: dict[str, Any]) -> Turn:
    """The turn ``turn_to_dict`` described."""
    a = data["answer"]
    answer = Answer(
        a["answered"],
        a["confidence"],
        a["answer"],
        [Quote(**q) for q in a["quotes"]],
        [Citation(c["n"], ArticleRef(**c["article"])) for c in a["citations"]],
        a["mode"],
    )
    briefing = BriefingRequest(**data["briefing"]) if data.get("briefing") else None
    return Turn(
        data["question"],
        data["resolved_question"],
        answer,
        data["index_version"],
        data["asked_at"],
        briefing,
    )
