"""Settings from the environment (prefix ``BRIEFING_``); CLI flags override them."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from corpus.defaults import DEFAULT_CORPUS_DIR

_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``BRIEFING_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="BRIEFING_", extra="ignore")

    data_dir: Path = Path("data")
    corpus_dir: Path = DEFAULT_CORPUS_DIR
    host: str = "127.0.0.1"
    port: int = 8000
    model_path: Path | None = None
    rerank: bool = False
    rerank_depth: int = 12
    reranker_path: Path | None = None
    log_level: str = "info"
    max_conversations: int = 10_000
    conversation_ttl_s: float = 3600.0
    max_turns: int = 20
    # Origins (scheme://host[:port]) whose pages may call the API from a browser, comma
    # separated; empty means only the service's own origin (the demo page at /).
    cors_origins: str = ""
    # Bearer token of the admin routes (POST/DELETE /articles); they are off when unset.
    admin_token: str | None = None
    # How often a running server checks for an index version published by another process.
    reload_interval_s: float = 1.0

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

    def allowed_origins(self) -> list[str]:
        """The CORS allow-list: the configured origins, else the service's own."""
        configured = [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]
        return configured or [f"http://{self.host}:{self.port}"]
