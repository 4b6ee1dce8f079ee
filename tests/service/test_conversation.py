"""Conversation sessions are bounded in number, turns and time."""

from __future__ import annotations

import time

import pytest

from service.answering.answer import ABSTAIN_TEXT, Answer
from service.answering.conversation import (
    ConversationNotFoundError,
    MemoryConversationStore,
    Turn,
)


def _turn(n: int) -> Turn:
    return Turn(f"q{n}", f"q{n}", Answer(False, 0.0, ABSTAIN_TEXT, [], []), "v1", float(n))


def test_ids_are_unguessable_and_unique() -> None:
    store = MemoryConversationStore(max_conversations=100, ttl_s=60, max_turns=5)
    ids = {store.start().id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) >= 22 for i in ids)  # 16 random bytes, URL-safe base64


def test_oldest_conversation_is_evicted() -> None:
    store = MemoryConversationStore(max_conversations=3, ttl_s=60, max_turns=5)
    first, second = store.start(), store.start()
    store.start()
    store.get(first.id)  # touching keeps it
    store.start()
    assert len(store) == 3
    store.get(first.id)
    with pytest.raises(ConversationNotFoundError):
        store.get(second.id)


def test_turns_are_capped() -> None:
    store = MemoryConversationStore(max_conversations=3, ttl_s=60, max_turns=2)
    conv = store.start()
    for n in range(5):
        store.add_turn(conv.id, _turn(n))
    assert [t.question for t in store.history(conv.id)] == ["q3", "q4"]


def test_idle_conversations_expire_and_can_be_ended() -> None:
    store = MemoryConversationStore(max_conversations=3, ttl_s=0.05, max_turns=2)
    conv = store.start()
    time.sleep(0.1)
    with pytest.raises(ConversationNotFoundError):
        store.get(conv.id)
    other = store.start()
    store.end(other.id)
    with pytest.raises(ConversationNotFoundError):
        store.end(other.id)


def test_memory_stays_flat_under_many_conversations() -> None:
    store = MemoryConversationStore(max_conversations=50, ttl_s=60, max_turns=3)
    for _ in range(5_000):
        conv = store.start()
        for n in range(10):
            store.add_turn(conv.id, _turn(n))
    assert len(store) == 50
    assert all(len(c.turns) == 3 for c in store._items.values())
