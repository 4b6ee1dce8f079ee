"""Rate limiting per client over a real server: token buckets, 429 with Retry-After,
probes never limited, X-Forwarded-For believed only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import httpx
import pytest

from service.api.ratelimit import TokenBuckets, client_address
from service.ops.engine import Engine
from service.settings import Settings


def test_a_bucket_bursts_then_refills() -> None:
    buckets = TokenBuckets(3, 60.0)  # 3 a minute: one token every 20 s
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", now=0.0) == pytest.approx(20.0)
    assert buckets.take("b", now=0.0) == 0.0  # another client has its own bucket
    assert buckets.take("a", now=10.0) == pytest.approx(10.0)
    assert buckets.take("a", now=20.0) == 0.0


def test_buckets_are_bounded() -> None:
    buckets = TokenBuckets(1, 60.0, max_keys=100)
    for i in range(1000):
        buckets.take(f"client-{i}", now=0.0)
    assert len(buckets._buckets) == 100


def _scope(peer: str, forwarded: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 5555), "headers": headers}


def test_the_client_address() -> None:
    trusted = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32")]
    # No trusted proxies: the peer, whatever it claims.
    assert client_address(_scope("203.0.113.9", "1.2.3.4"), []) == "203.0.113.9"
    # An untrusted peer cannot choose its address.
    assert client_address(_scope("203.0.113.9", "1.2.3.4"), trusted) == "203.0.113.9"
    # A trusted proxy: the nearest hop it did not add itself.
    assert client_address(_scope("127.0.0.1", "198.51.100.7"), trusted) == "198.51.100.7"
    assert (
        client_address(_scope("10.1.1.1", "6.6.6.6, 198.51.100.7, 10.2.2.2"), trusted)
        == "198.51.100.7"
    )
    assert client_address(_scope("127.0.0.1", "not-an-ip"), trusted) == "127.0.0.1"
    assert client_address(_scope("127.0.0.1"), trusted) == "127.0.0.1"


def test_over_http(serve: Callable[..., httpx.Client], seed_engine: Engine) -> None:
    settings = seed_engine.settings.model_copy(
        update={"rate_limit": "3/minute", "trusted_proxies": "127.0.0.1"}
    )
    http = serve(seed_engine, settings)
    me = {"X-Forwarded-For": "198.51.100.1"}
    codes = [http.get("/articles", headers=me).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = http.post("/ask", json={"question": "Who?"}, headers=me)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 20
    # Probes and scrapes are never limited; another client is not held back.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert http.get(path, headers=me).status_code == 200, path
    other = {"X-Forwarded-For": "198.51.100.2"}
    assert http.get("/articles", headers=other).status_code == 200


def test_a_rate_must_be_a_rate() -> None:
    for bad in ("fast", "0/minute", "10/fortnight", "-1/second"):
        with pytest.raises(ValueError, match="rate_limit"):
            Settings(rate_limit=bad)
    assert Settings(rate_limit="60/minute").rate() == (60, 60.0)
    assert Settings().rate() is None
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings(trusted_proxies="proxy.example")
