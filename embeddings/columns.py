"""Columnar tables saved as ``.npy`` files and read back memory-mapped (never pickled).

A column of strings is one UTF-8 blob and an offsets array: a million sentences are two
arrays, not a million Python objects, and a row is decoded only when it is read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.errors import IndexIntegrityError


@dataclass(frozen=True)
class Strings:
    """An immutable column of optional strings: UTF-8 bytes, offsets and a null mask."""

    blob: np.ndarray  # uint8
    offsets: np.ndarray  # int64, len n + 1
    nulls: np.ndarray  # bool, len n

    @classmethod
    def of(cls, values: Sequence[str | None]) -> Strings:
        """A column holding ``values``."""
        encoded = [(v or "").encode("utf-8") for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(blob, offsets, np.array([v is None for v in values], dtype=bool))

    def __len__(self) -> int:
        return len(self.nulls)

    def __getitem__(self, row: int) -> str | None:
        if self.nulls[row]:
            return None
        lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
        return bytes(self.blob[lo:hi]).decode("utf-8")

    def text(self, row: int) -> str:
        """Row ``row`` as a string ("" for a null)."""
        return self[row] or ""

    def __iter__(self) -> Iterator[str | None]:
        return (self[i] for i in range(len(self)))

    def values(self, rows: np.ndarray) -> list[str | None]:
        """Rows ``rows`` decoded in one pass (faster than one lookup a row)."""
        if len(rows) == 0:
            return []
        raw = bytes(self.blob)
        offsets = np.asarray(self.offsets).tolist()
        nulls = np.asarray(self.nulls)
        return [
            None if nulls[r] else raw[offsets[r] : offsets[r + 1]].decode("utf-8")
            for r in np.asarray(rows).tolist()
        ]

    def take(self, rows: np.ndarray) -> Strings:
        """A new column of ``rows`` in that order."""
        return Strings.of([self[int(i)] for i in rows])

    def save(self, folder: Path, name: str) -> None:
        """Write as ``name.blob.npy``, ``name.offsets.npy`` and ``name.nulls.npy``."""
        save_array(folder, f"{name}.blob", self.blob)
        save_array(folder, f"{name}.offsets", self.offsets)
        save_array(folder, f"{name}.nulls", self.nulls)

    @classmethod
    def load(cls, folder: Path, name: str) -> Strings:
        """Read a column written by ``save`` (memory-mapped)."""
        column = cls(
            load_array(folder, f"{name}.blob"),
            load_array(folder, f"{name}.offsets"),
            load_array(folder, f"{name}.nulls"),
        )
        n = len(column.nulls)
        if len(column.offsets) != n + 1 or (n and int(column.offsets[-1]) != len(column.blob)):
            raise IndexIntegrityError(f"{folder}: string column {name} is inconsistent")
        return column


def save_array(folder: Path, name: str, array: np.ndarray) -> None:
    """Write ``array`` as ``folder/name.npy``."""
    np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def load_array(folder: Path, name: str) -> np.ndarray:
    """Read ``folder/name.npy`` memory-mapped (an empty file is read whole: mmap cannot)."""
    path = folder / f"{name}.npy"
    try:
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError:  # zero-length arrays cannot be mapped
            return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise IndexIntegrityError(f"{path}: unreadable ({exc})") from exc


def key_of(text: str) -> int:
    """A 63-bit hash of ``text`` for sorted-array lookups (collisions are checked by caller)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()) >> 1


def keys_of(values: Sequence[str]) -> np.ndarray:
    """``key_of`` of each value, as int64."""
    return np.fromiter((key_of(v) for v in values), dtype=np.int64, count=len(values))
