"""State that API replicas share through Redis: conversations and rate-limit buckets.

With ``BRIEFING_REDIS_URL`` set, every replica keeps conversations and rate-limit counters
in that Redis, so a follow-up may land on any replica and a client's budget is one budget
however many replicas serve it. Without it, both stay in process memory, as before.

Keys (all under ``briefing:``): ``conv:<id>`` (when the conversation started) and
``turns:<id>`` (a list of JSON turns, capped at ``max_turns``), both expiring ``ttl_s``
after the conversation was last used; ``conversations``, a sorted set of ids by last use,
which bounds their number (the least recently used are evicted beyond
``max_conversations``); ``bucket:<client>``, a token bucket kept by a Lua script on the
Redis clock, so the replicas' clocks need not agree.

Redis going away does not take the service down: a new question is answered (its
conversation is not kept, so a follow-up to it is a clean 404), a follow-up is refused with
503 until Redis is back, and rate limiting lets requests through (logged).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from service.answering.conversation import (
    Conversation,
    ConversationNotFoundError,
    ConversationsUnavailableError,
    Turn,
    new_conversation_id,
    turn_from_dict,
    turn_to_dict,
)

log = logging.getLogger(__name__)

PREFIX = "briefing:"
# A request must not hang on an unreachable Redis: short timeouts, one retry.
TIMEOUT_S = 0.5

_ADD_TURN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], 'XX', ARGV[4], ARGV[5])
return 1
"""

_TAKE = """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = capacity, now end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return tostring(wait)
"""


@functools.cache
def client(url: str) -> redis.Redis:
    """One connection pool per URL for the process (conversations and rate limits share it)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


class _Outages:
    """Logs that Redis is unreachable at most once a minute, and when it is back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._said = 0.0

    def failed(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self._since = self._since or now
            if now - self._said < 60:
                return
            self._said = now
        log.warning("redis unreachable (%s: %s); %s", type(exc).__name__, exc, what)

    def ok(self) -> None:
        if self._since is None:
            return
        with self._lock:
            since, self._since, self._said = self._since, None, 0.0
        if since is not None:
            log.info("redis reachable again after %.1fs", time.monotonic() - since)


_outages = _Outages()


class RedisConversationStore:
    """Conversations in Redis, with the memory store's bounds (see the module docstring)."""

    def __init__(
        self, db: redis.Redis, max_conversations: int, ttl_s: float, max_turns: int
    ) -> None:
        self.db = db
        self.max_conversations = max_conversations
        self.ttl_s = ttl_s
        self.max_turns = max_turns
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._ids = PREFIX + "conversations"
        self._add_turn = db.register_script(_ADD_TURN)

    @staticmethod
    def _meta(conversation_id: str) -> str:
        return f"{PREFIX}conv:{conversation_id}"

    @staticmethod
    def _turns(conversation_id: str) -> str:
        return f"{PREFIX}turns:{conversation_id}"

    def _call(self, what: str, fn: Any) -> Any:
        try:
            result = fn()
        except RedisError as exc:
            _outages.failed(what, exc)
            raise ConversationsUnavailableError(
                "the conversation store (Redis) cannot be reached; retry shortly"
            ) from exc
        _outages.ok()
        return result

    def __len__(self) -> int:
        def count() -> int:
            pipe = self.db.pipeline()
            pipe.zremrangebyscore(self._ids, "-inf", time.time() - self.ttl_s)
            pipe.zcard(self._ids)
            return int(pipe.execute()[-1])

        return int(self._call("conversations are not counted", count))

    def start(self) -> Conversation:
        """A new conversation; if Redis cannot be reached, one that is not kept."""
        now = time.time()
        conv = Conversation(new_conversation_id(), time.monotonic(), now)

        def keep() -> None:
            pipe = self.db.pipeline()
            pipe.set(self._meta(conv.id), json.dumps({"started_at": now}), px=self._ttl_ms)
            pipe.zadd(self._ids, {conv.id: now})
            pipe.zremrangebyscore(self._ids, "-inf", now - self.ttl_s)
            pipe.zcard(self._ids)
            over = int(pipe.execute()[-1]) - self.max_conversations
            if over > 0:  # evict the least recently used
                popped: list[tuple[bytes, float]] = self.db.zpopmin(self._ids, over)  # type: ignore[assignment]
                gone = [member.decode() for member, _ in popped]
                self.db.delete(*(k for g in gone for k in (self._meta(g), self._turns(g))))

        with contextlib.suppress(ConversationsUnavailableError):
            self._call("a new conversation is answered but not kept", keep)
        return conv

    def _touch(self, conversation_id: str, *, turns: bool) -> tuple[Conversation, list[Turn]]:
        meta, listed = self._meta(conversation_id), self._turns(conversation_id)

        def read() -> list[Any]:
            pipe = self.db.pipeline()
            pipe.get(meta)
            pipe.lrange(listed, 0, -1) if turns else pipe.exists(listed)
            pipe.pexpire(meta, self._ttl_ms)
            pipe.pexpire(listed, self._ttl_ms)
            pipe.zadd(self._ids, {conversation_id: time.time()}, xx=True)
            return list(pipe.execute())

        raw, listing, *_ = self._call("a follow-up is refused", read)
        if raw is None:
            raise ConversationNotFoundError(conversation_id)
        started = float(json.loads(raw)["started_at"])
        history = [turn_from_dict(json.loads(t)) for t in listing] if turns else []
        return Conversation(conversation_id, time.monotonic(), started), history

    def get(self, conversation_id: str) -> Conversation:
        """The live conversation (its expiry restarted), or ``ConversationNotFoundError``."""
        return self._touch(conversation_id, turns=False)[0]

    def history(self, conversation_id: str) -> list[Turn]:
        """The conversation's turns, oldest first."""
        return self._touch(conversation_id, turns=True)[1]

    def add_turn(self, conversation_id: str, turn: Turn) -> None:
        """Append a turn, keeping only the newest ``max_turns``."""
        keys = [self._meta(conversation_id), self._turns(conversation_id), self._ids]
        args: list[str | int | float] = [
            json.dumps(turn_to_dict(turn)),
            self.max_turns,
            self._ttl_ms,
            time.time(),
            conversation_id,
        ]
        if not self._call("a turn is not kept", lambda: self._add_turn(keys, args)):
            raise ConversationNotFoundError(conversation_id)

    def end(self, conversation_id: str) -> None:
        """Forget a conversation; ``ConversationNotFoundError`` if unknown."""

        def delete() -> int:
            pipe = self.db.pipeline()
            pipe.delete(self._meta(conversation_id), self._turns(conversation_id))
            pipe.zrem(self._ids, conversation_id)
            return int(pipe.execute()[0])

        if not self._call("a conversation is not ended", delete):
            raise ConversationNotFoundError(conversation_id)


class RedisTokenBuckets:
    """``service.api.ratelimit.TokenBuckets`` in Redis: one budget per client across
    replicas. Fails open: while Redis is unreachable, requests are not limited."""

    def __init__(self, db: redis.Redis, capacity: int, period_s: float) -> None:
        self.capacity = capacity
        self.rate = capacity / period_s
        # An untouched bucket is full again after period_s: then it need not be kept.
        self._ttl_ms = int(period_s * 1000) + 1000
        self._take = db.register_script(_TAKE)

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token for ``key``; 0 if taken, else the seconds until one is due."""
        try:
            wait = float(
                self._take([f"{PREFIX}bucket:{key}"], [self.capacity, self.rate, self._ttl_ms])
            )
        except RedisError as exc:
            _outages.failed("requests are not rate limited meanwhile", exc)
            return 0.0
        _outages.ok()
        return wait
