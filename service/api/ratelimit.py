"""Per-client rate limiting: a token bucket for each client address.

Each client may burst up to ``capacity`` requests, refilled at ``capacity / period`` a
second; a request that finds the bucket empty gets 429 ``rate_limited`` with
``Retry-After``. The client is the TCP peer, or the address a trusted proxy names in
``X-Forwarded-For``. Health, readiness and metrics are never limited, so probes and
scrapes keep working under load.

The limiter is ours rather than slowapi's: slowapi decorates routes one by one, counts
fixed or moving windows rather than a bucket, and answers in its own error shape.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.errors import error_response

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Buckets(Protocol):
    """Token buckets by key: in memory (``TokenBuckets``) or shared by replicas
    (``service.ops.shared.RedisTokenBuckets``)."""

    def take(self, key: str, now: float | None = None) -> float: ...


class TokenBuckets:
    """One token bucket per key, the least recently seen dropped beyond ``max_keys``
    (a dropped key starts again with a full bucket, which errs on the side of the client)."""

    def __init__(self, capacity: int, period_s: float, max_keys: int = 100_000) -> None:
        self.capacity = capacity
        self.rate = capacity / period_s  # tokens a second
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token for ``key``; return 0 if taken, else the seconds until one is due."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.capacity), now))
            tokens = min(float(self.capacity), tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy, in which case
    the nearest address in ``X-Forwarded-For`` that is not itself a trusted proxy."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _is_trusted(peer, trusted):
        return str(peer)
    forwarded = [
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    ]
    hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
    for hop in reversed(hops):  # the right-most hops were added by our own proxies
        if not _is_trusted(hop, trusted):
            return hop if _is_ip(hop) else str(peer)
    return hops[0] if hops and _is_ip(hops[0]) else str(peer)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


class RateLimitMiddleware:
    """Answers 429 ``rate_limited`` once a client's bucket is empty."""

    def __init__(self, app: ASGIApp, buckets: Buckets, trusted: Sequence[Network]) -> None:
        self.app = app
        self.buckets = buckets
        self.trusted = list(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in UNLIMITED_PATHS
            or scope["method"] == "OPTIONS"  # CORS preflights carry no request
        ):
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_address(scope, self.trusted))
        if wait > 0:
            retry = max(1, math.ceil(wait))
            response = error_response(
                429,
                "rate_limited",
                f"too many requests from this client; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
