"""Vector cache keyed by (model, SHA-256 of the text): unchanged text is never embedded twice."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.encoder import Encoder

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """Cache key of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class VectorCache:
    """Stores float32 vectors as raw bytes in SQLite (no pickle)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors ("
            "model TEXT NOT NULL, key TEXT NOT NULL, vector BLOB NOT NULL, "
            "PRIMARY KEY (model, key))"
        )

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def get_many(self, model_id: str, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Cached vectors for those ``keys`` that have one."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = list(keys[i : i + 500])
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                    [model_id, *chunk],
                ):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (dim,):
                        found[key] = vec
        return found

    def put_many(self, model_id: str, items: Sequence[tuple[str, np.ndarray]]) -> None:
        """Store vectors (replacing any under the same key)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(model_id, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items],
            )
            self._db.execute("COMMIT")


def encode_cached(
    encoder: Encoder, cache: VectorCache, texts: Sequence[str], *, progress: bool = False
) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` (cached ones reused); returns them and how many were embedded."""
    keys = [text_key(t) for t in texts]
    found = cache.get_many(encoder.model_id, list(dict.fromkeys(keys)), encoder.dim)
    missing = list(dict.fromkeys(k for k in keys if k not in found))
    if missing:
        wanted = set(missing)
        first_text = {k: t for k, t in zip(keys, texts, strict=True) if k in wanted}
        vectors = encoder.encode([first_text[k] for k in missing], progress=progress)
        new = list(zip(missing, vectors, strict=True))
        cache.put_many(encoder.model_id, new)
        found.update(new)
    log.info("vectors: %d reused, %d embedded", len(keys) - len(missing), len(missing))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for i, k in enumerate(keys):
        out[i] = found[k]
    return out, len(missing)
