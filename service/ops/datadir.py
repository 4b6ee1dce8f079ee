"""The data directory: where the store, the vector cache and index versions live."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def open_sqlite(path: Path, schema: str) -> sqlite3.Connection:
    """A durable SQLite file of the service's own (WAL, ``synchronous=FULL``, autocommit),
    shareable between threads that serialise their use of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db


class WriterBusyError(Exception):
    """Another process holds the writer lock."""


@dataclass(frozen=True)
class DataDir:
    """Paths inside one data directory."""

    root: Path

    @property
    def store_path(self) -> Path:
        """SQLite file of articles and segments (the source of truth)."""
        return self.root / "articles.sqlite3"

    @property
    def cache_path(self) -> Path:
        """SQLite file of cached vectors."""
        return self.root / "vectors.sqlite3"

    @property
    def index_root(self) -> Path:
        """Folder of index versions."""
        return self.root / "index"

    @contextmanager
    def writer_lock(self, wait: bool = True) -> Iterator[None]:
        """Hold the one-writer-at-a-time lock (across processes) for ingest and rebuilds."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError as exc:
                raise WriterBusyError(
                    f"another process is writing to {self.root}; try again when it finishes"
                ) from exc
            yield
        finally:
            os.close(fd)
