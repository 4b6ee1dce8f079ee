"""Columnar tables saved as ``.npy`` files and read back memory-mapped (never pickled).

A column of strings is one UTF-8 blob and an offsets array: a million sentences are two
arrays, not a million Python objects, and a row is decoded only when it is read.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.errors import IndexIntegrityError

# Rows a segment level must exceed for its scattered reads to be advised first (see
# ``FileReader.prefetch``): a smaller segment's files stay in the page cache, where the
# advice would only cost a system call a row (a few microseconds each).
PREFETCH_MIN_ROWS = 100_000
# Rows this close are read (and advised) as one span, the rows between them read too: a
# system call costs more than a few rows of bytes (texts of about 150 bytes; vectors of
# 1.5 KB). A question's candidates come in runs: a passage's sentences are neighbours.
NEAR_ROWS = 8
NEAR_VECTOR_ROWS = 2


@dataclass(frozen=True)
class Strings:
    """An immutable column of optional strings: UTF-8 bytes, offsets and a null mask."""

    blob: np.ndarray  # uint8
    offsets: np.ndarray  # int64, len n + 1
    nulls: np.ndarray  # bool, len n
    reader: FileReader | None = field(default=None, compare=False, repr=False)

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
        if self.reader is not None:
            return self.reader.read(lo, hi - lo).decode("utf-8")
        return bytes(self.blob[lo:hi]).decode("utf-8")

    def text(self, row: int) -> str:
        """Row ``row`` as a string ("" for a null)."""
        return self[row] or ""

    def prefetch(self, rows: Iterable[int]) -> None:
        """Start reading ``rows`` of a saved column large enough for its file to miss the
        page cache (see ``FileReader.prefetch``), neighbouring rows as one span."""
        if self.reader is not None and len(self) > PREFETCH_MIN_ROWS:
            spans = self._spans(np.fromiter(rows, dtype=np.int64))
            self.reader.prefetch((lo, hi - lo) for lo, hi in spans)

    def read(self, rows: np.ndarray) -> list[str]:
        """Rows ``rows`` ("" for a null), in that order: a saved column's rows read with
        one ``pread`` for each run of neighbouring rows (a passage's sentences are
        neighbours), not one a row."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.reader is None or rows.size == 0:
            return [self.text(r) for r in rows.tolist()]
        distinct, firsts, lasts = _runs(rows, NEAR_ROWS)
        offsets = self.offsets
        lo = np.asarray(offsets[firsts], dtype=np.int64)
        hi = np.asarray(offsets[lasts + 1], dtype=np.int64)
        data = b"".join(
            self.reader.read(a, b - a) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
        )
        # each distinct row's bytes within ``data``: its offset less its run's, plus where
        # the run begins in ``data``
        run = np.searchsorted(firsts, distinct, side="right") - 1
        shift = np.concatenate([[0], np.cumsum(hi - lo)[:-1]]) - lo
        starts = (np.asarray(offsets[distinct], dtype=np.int64) + shift[run]).tolist()
        ends = (np.asarray(offsets[distinct + 1], dtype=np.int64) + shift[run]).tolist()
        nulls = np.asarray(self.nulls[distinct]).tolist()
        found = {
            r: "" if null else data[a:b].decode("utf-8")
            for r, a, b, null in zip(distinct.tolist(), starts, ends, nulls, strict=True)
        }
        return [found[r] for r in rows.tolist()]

    def _spans(self, rows: np.ndarray) -> list[tuple[int, int]]:
        """Byte spans covering ``rows``: rows at most ``NEAR_ROWS`` apart in one span."""
        _, firsts, lasts = _runs(rows, NEAR_ROWS)
        offsets = self.offsets
        lo = np.asarray(offsets[firsts], dtype=np.int64).tolist()
        hi = np.asarray(offsets[lasts + 1], dtype=np.int64).tolist()
        return list(zip(lo, hi, strict=True))

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

    def save(self, folder: Path, name: str) -> None:
        """Write as ``name.blob.npy``, ``name.offsets.npy`` and ``name.nulls.npy``."""
        save_array(folder, f"{name}.blob", self.blob)
        save_array(folder, f"{name}.offsets", self.offsets)
        save_array(folder, f"{name}.nulls", self.nulls)

    @classmethod
    def load(cls, folder: Path, name: str) -> Strings:
        """Read a column written by ``save`` (memory-mapped)."""
        blob = load_array(folder, f"{name}.blob")
        column = cls(
            blob,
            load_array(folder, f"{name}.offsets"),
            load_array(folder, f"{name}.nulls"),
            FileReader.of_npy(folder / f"{name}.blob.npy") if len(blob) else None,
        )
        n = len(column.nulls)
        if len(column.offsets) != n + 1 or (n and int(column.offsets[-1]) != len(column.blob)):
            raise IndexIntegrityError(f"{folder}: string column {name} is inconsistent")
        return column


def save_array(folder: Path, name: str, array: np.ndarray) -> None:
    """Write ``array`` as ``folder/name.npy``."""
    np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def _header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """Shape, Fortran order, dtype and data offset of a ``.npy`` file (no pickled dtypes)."""
    with path.open("rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if dtype.hasobject:
            raise ValueError("object arrays are refused (they would be unpickled)")
        return shape, fortran, dtype, f.tell()


def npy_dtype(path: Path) -> np.dtype[Any]:
    """The dtype of the ``.npy`` file at ``path``, from its header alone."""
    return _header(path)[2]


def load_array(folder: Path, name: str, *, random_access: bool = True) -> np.ndarray:
    """Read ``folder/name.npy`` memory-mapped, as a plain read-only array.

    ``random_access`` tells the kernel not to read ahead around each access (rows are read
    here and there, and read-ahead would fill memory with rows nobody asked for).
    """
    path = folder / f"{name}.npy"
    try:
        shape, fortran, dtype, offset = _header(path)
        count = int(np.prod(shape))
        if count == 0:
            return np.zeros(shape, dtype=dtype)
        with path.open("rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if random_access:
            mapped.madvise(mmap.MADV_RANDOM)
        array = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset)
        return array.reshape(shape, order="F" if fortran else "C")
    except (OSError, ValueError) as exc:
        raise IndexIntegrityError(f"{path}: unreadable ({exc})") from exc


class FileReader:
    """Reads byte ranges of a file with ``pread``. Nothing is mapped into the process, so
    reading a few rows per query never grows its memory: with large page-cache folios, one
    touch of a mapped file can map hundreds of kilobytes around it."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._offset = offset

    @classmethod
    def of_npy(cls, path: Path) -> FileReader:
        """A reader of the data of a ``.npy`` file (offsets count from its first element)."""
        return cls(path, _header(path)[3])

    def read(self, start: int, size: int) -> bytes:
        """``size`` bytes from ``start`` (counted from the data offset)."""
        return os.pread(self._fd, size, self._offset + start)

    def prefetch(self, spans: Iterable[tuple[int, int]]) -> None:
        """Ask the kernel to start reading each (start, size) span now, all at once: the
        ``read`` calls that follow then wait for the slowest, not for each in turn (400
        rows scattered over an archive not in the page cache: 20 ms one after the other,
        3.5 ms advised first — a one-off probe on this machine kind)."""
        for start, size in spans:
            if size > 0:  # a length of 0 would advise the whole rest of the file
                os.posix_fadvise(self._fd, self._offset + start, size, os.POSIX_FADV_WILLNEED)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


class SliceReader:
    """Reads runs of a 1-D ``.npy`` file with ``pread`` (see ``FileReader``)."""

    def __init__(self, path: Path) -> None:
        shape, _, dtype, offset = _header(path)
        if len(shape) != 1:
            raise IndexIntegrityError(f"{path}: not a 1-D array")
        self.dtype = dtype
        self._file = FileReader(path, offset)

    def prefetch(self, spans: Iterable[tuple[int, int]]) -> None:
        """Start reading each run ``lo:hi`` (see ``FileReader.prefetch``)."""
        size = self.dtype.itemsize
        self._file.prefetch((lo * size, (hi - lo) * size) for lo, hi in spans)

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Elements ``lo`` to ``hi`` (exclusive), read in one call."""
        size = self.dtype.itemsize
        return np.frombuffer(self._file.read(lo * size, (hi - lo) * size), dtype=self.dtype)


class RowReader:
    """Reads rows of a 2-D ``.npy`` file with ``pread`` (see ``FileReader``)."""

    def __init__(self, path: Path) -> None:
        shape, fortran, dtype, offset = _header(path)
        if len(shape) != 2 or fortran:
            raise IndexIntegrityError(f"{path}: not a C-ordered 2-D array")
        self.shape, self.dtype = shape, dtype
        self._row_bytes = shape[1] * dtype.itemsize
        self._file = FileReader(path, offset)

    def read_range(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo`` to ``hi`` (exclusive), read in one call."""
        data = self._file.read(lo * self._row_bytes, (hi - lo) * self._row_bytes)
        return np.frombuffer(data, dtype=self.dtype).reshape(hi - lo, self.shape[1])

    def prefetch(self, rows: np.ndarray) -> None:
        """Start reading ``rows`` (see ``FileReader.prefetch``), neighbours as one span."""
        size = self._row_bytes
        _, firsts, lasts = _runs(np.asarray(rows, dtype=np.int64), NEAR_VECTOR_ROWS)
        spans = zip(firsts.tolist(), lasts.tolist(), strict=True)
        self._file.prefetch((first * size, (last + 1 - first) * size) for first, last in spans)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (in that order), one ``pread`` for each run of neighbours."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return np.empty((0, self.shape[1]), dtype=self.dtype)
        _, firsts, lasts = _runs(rows, NEAR_VECTOR_ROWS)
        spans = zip(firsts.tolist(), lasts.tolist(), strict=True)
        read = np.concatenate([self.read_range(first, last + 1) for first, last in spans])
        # where each row landed: its run's place in ``read`` plus its distance into the run
        run = np.searchsorted(firsts, rows, side="right") - 1
        begins = np.concatenate([[0], np.cumsum(lasts - firsts + 1)[:-1]])
        return read[begins[run] + rows - firsts[run]]


def _runs(rows: np.ndarray, near: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct ``rows`` ascending, and the first and last row of each run of them
    whose neighbours are at most ``near`` rows apart (one read of first..last covers it)."""
    distinct = np.unique(rows)
    if distinct.size == 0:
        return distinct, distinct, distinct
    starts = np.ones(len(distinct), dtype=bool)
    starts[1:] = np.diff(distinct) > near
    ends = np.ones(len(distinct), dtype=bool)
    ends[:-1] = starts[1:]
    return distinct, distinct[starts], distinct[ends]


def key_of(text: str) -> int:
    """A 63-bit hash of ``text`` for sorted-array lookups (collisions are checked by caller)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()) >> 1


def keys_of(values: Sequence[str]) -> np.ndarray:
    """``key_of`` of each value, as int64."""
    return np.fromiter((key_of(v) for v in values), dtype=np.int64, count=len(values))
