"""Settings from the environment (prefix ``BRIEFING_``); CLI flags override them."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from corpus.defaults import DEFAULT_CORPUS_DIR


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
