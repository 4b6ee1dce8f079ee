"""Settings from the environment (prefix ``BRIEFING_``); CLI flags override them."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Backend

_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
_PERIOD_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def is_ray_address(text: str) -> bool:
    """Whether ``text`` names a Ray cluster: a head's ``host:port``, or ``local``."""
    host, _, port = text.rpartition(":")
    return text == "local" or bool(host and port.isdigit())


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``BRIEFING_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="BRIEFING_", extra="ignore")

    data_dir: Path = Path("data")
    corpus_dir: Path = DEFAULT_CORPUS_DIR
    host: str = "127.0.0.1"
    port: int = 8000
    model_path: Path | None = None
    encoder: Backend = "openvino-int8"
    model_cache_dir: Path | None = None
    # The reader (a small cross-encoder) re-orders this many of the best candidates when
    # retrieval's best two different sentences are closer than rerank_margin in fused
    # score (inf: every question); the folder of another reader made by
    # bench/train_reader.py may replace the shipped one (README, "The reader").
    rerank: bool = True
    rerank_depth: Annotated[int, Field(ge=1, le=50)] = 4
    rerank_margin: Annotated[float, Field(ge=0)] = 0.05
    reranker_path: Path | None = None
    log_level: str = "info"
    max_conversations: int = 10_000
    conversation_ttl_s: float = 3600.0
    max_turns: int = 20
    # Redis (redis://host:port/db, rediss://…, unix:///path) where API replicas share
    # conversations and rate-limit counters; unset, both stay in this process's memory.
    redis_url: str | None = None
    # Index shards searched by actors on a Ray cluster (0: searched in this process), and
    # the cluster's address (host:port, or "local" to start one in this process).
    shards: Annotated[int, Field(ge=0, le=64)] = 0
    ray_address: str | None = None
    # Seconds a question waits for the shards before failing with 503 search_unavailable.
    shard_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    # Origins (scheme://host[:port]) whose pages may call the API from a browser, comma
    # separated; empty means only the service's own origin (the demo page at /).
    cors_origins: str = ""
    # Bearer token of the admin routes (POST/DELETE /articles); they are off when unset.
    admin_token: str | None = None
    # How often a running server checks for an index version published by another process.
    reload_interval_s: float = 1.0
    # Request bodies larger than this are refused with 413 before they are read past it;
    # admin batches (POST /articles) have their own, larger limit.
    max_body_bytes: Annotated[int, Field(ge=1024)] = 65_536
    max_admin_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    # The longest article text accepted (characters), from any way in.
    max_article_chars: Annotated[int, Field(ge=1000)] = 1_000_000
    # Requests per client, as a token bucket: "60/minute" (also /second, /hour); off when
    # unset. Health, readiness and metrics are never limited.
    rate_limit: str | None = None
    # Peers (IPs or CIDR networks, comma separated) whose X-Forwarded-For is believed.
    trusted_proxies: str = ""
    # "text" for people, "json" for log collectors (one object a line, with request ids).
    log_format: Literal["text", "json"] = "text"

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",")):
            if origin and origin != "*" and not _ORIGIN.match(origin.rstrip("/")):
                raise ValueError(
                    f"cors_origins: {origin!r} is not an origin like https://news.example"
                )
        return value

    @field_validator("admin_token")
    @classmethod
    def _token_is_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("admin_token must be at least 16 characters")
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_a_url(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            if not value.strip().startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(
                    f"redis_url: {value!r} is not a Redis URL like redis://127.0.0.1:6379/0"
                )
            return value.strip()
        return None

    @field_validator("ray_address")
    @classmethod
    def _ray_address_is_an_address(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and not is_ray_address(value):
            raise ValueError(f"ray_address: {value!r} is not a Ray head's host:port (or 'local')")
        return value or None

    @model_validator(mode="after")
    def _shards_need_ray(self) -> Settings:
        if self.shards and not self.ray_address:
            raise ValueError(
                "shards need a Ray cluster: give its address too (--ray host:port or local; env "
                "BRIEFING_RAY_ADDRESS)"
            )
        return self

    @field_validator("rate_limit")
    @classmethod
    def _rate_is_a_rate(cls, value: str | None) -> str | None:
        m = _RATE.match(value or "")
        if value is not None and value.strip() and (m is None or int(m.group(1)) < 1):
            raise ValueError(f"rate_limit: {value!r} is not a rate like 60/minute")
        return value.strip() if value and value.strip() else None

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        for item in (p.strip() for p in value.split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(
                        f"trusted_proxies: {item!r} is not an IP address or network"
                    ) from None
        return value

    def rate(self) -> tuple[int, float] | None:
        """The rate limit as (requests, period in seconds), or None when off."""
        m = _RATE.match(self.rate_limit or "")
        return (int(m.group(1)), _PERIOD_S[m.group(2)]) if m else None

    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The trusted proxies as networks."""
        return [
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.trusted_proxies.split(",")
            if p.strip()
        ]

    def allowed_origins(self) -> list[str]:
        """The CORS allow-list: the configured origins, else the service's own."""
        configured = [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]
        return configured or [f"http://{self.host}:{self.port}"]
