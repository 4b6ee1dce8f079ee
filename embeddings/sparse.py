"""BM25 from an inverted index (Snowball English stemming), one per segment and level.

Each segment keeps, per term, the rows that hold it and how often (postings), plus each
row's length, and per term and block of ``BLOCK_ROWS`` consecutive rows what bounds the
term's weight there (its highest frequency and the shortest row holding it: block-max
metadata, which lets a top-k search skip blocks that cannot reach the k-th best score,
``embeddings.bm25_search``); nothing is precomputed that depends on the rest of the
archive. A query
scores only the postings of its terms, with statistics summed over the version's segments
(Lucene's BM25, the variant bm25s uses by default): idf = ln(1 + (N − df + 0.5) /
(df + 0.5)), and each term's weight tf / (tf + k1 · (1 − b + b · dl / avgdl)), with
k1 = 1.5 and b = 0.75. As in Lucene, rows of withdrawn articles count in N and df until
their segment is merged away.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse as sp
import Stemmer

from embeddings.columns import PREFETCH_MIN_ROWS, SliceReader, load_array, save_array
from embeddings.errors import IndexIntegrityError
from embeddings.stopwords import STOPWORDS_EN

# bm25s sets its own logger to DEBUG on import; its per-build messages are noise to us.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_STEMMER = Stemmer.Stemmer("english")
_STOPWORDS = sorted(STOPWORDS_EN)
_STOP = frozenset(STOPWORDS_EN)
_split = re.compile(r"(?u)\b\w\w+\b").findall  # bm25s's (and scikit-learn's) pattern
_stems: dict[str, str] = {}
_stem_lock = threading.Lock()
MAX_REMEMBERED_STEMS = 1_000_000
K1 = 1.5
B = 0.75
# Rows per block of the block-max metadata: smaller blocks bound tighter (fewer postings
# to score) but hold fewer postings each (more entries to read); on the 10M benchmark's
# segments blocks of 256 rows left most postings to score, 32 a small share.
BLOCK_ROWS = 32
# Term runs kept per postings list (see ``Postings.runs``).
RECENT_RUNS = 4
U16_MAX = np.iinfo(np.uint16).max
# Term frequencies are kept in a byte, saturated at TF_MAX: a row holding a term more often
# scores as if it held it TF_MAX times, a weight tf / (tf + k1 · norm) within 1 % of any
# higher count's for a row up to twice the average length, within 5 % up to ten times. A
# posting is packed into two bytes
# (``pack``): its frequency, and its row's place in its block (the block entry names the
# block); a block entry into eight (``pack_entries``). A question at 10M sentences read
# 28 MB of postings and entries when a posting was 8 bytes (row and frequency in int32)
# and an entry 10 in four files (bench/scale.py's questions; one-off probe).
TF_MAX = np.iinfo(np.uint8).max


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens: the same analysis for documents and queries.

    This is bm25s's ``tokenize`` (scikit-learn's token pattern, stop words dropped before
    Snowball stemming), token for token — ``tests/embeddings/test_sparse.py`` holds them
    equal — without its per-text set building and progress bar, which cost more than the
    work for a question; stems are remembered per word.
    """
    out = []
    for text in texts:
        words = [w for w in _split(text.lower()) if w not in _STOP]
        # Looked up into a local dict: another thread may clear the shared one meanwhile.
        stems: dict[str, str] = {}
        unknown = []
        for w in dict.fromkeys(words):
            stem = _stems.get(w)
            if stem is None:
                unknown.append(w)
            else:
                stems[w] = stem
        if unknown:
            with _stem_lock:  # a PyStemmer object is not safe to share between threads
                stems.update(zip(unknown, _STEMMER.stemWords(unknown), strict=True))
            if len(_stems) > MAX_REMEMBERED_STEMS:
                _stems.clear()
            _stems.update((w, stems[w]) for w in unknown)
        out.append([stems[w] for w in words])
    return out


def bm25s_tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The same analysis through bm25s itself (the reference ``tokenize`` is held to)."""
    if not texts:
        return []
    out = bm25s.tokenize(
        list(texts), stopwords=_STOPWORDS, stemmer=_STEMMER, return_ids=False, show_progress=False
    )
    return [list(tokens) for tokens in out]


@dataclass(frozen=True)
class Postings:
    """The inverted index of one segment level: term → (rows, term frequencies).

    A term's postings are in row order, their blocks in ``blocks``; each posting is packed
    (``pack``): its frequency and its row's place in its block. ``of_rows`` makes one from
    rows and frequencies; ``rows`` and ``tfs`` unpack them all (for merges and checks).
    """

    terms: list[str]
    indptr: np.ndarray  # int64, len(terms) + 1
    packed: np.ndarray  # uint16 (uint32 for blocks over 256 rows), term-major
    lengths: np.ndarray  # int32, tokens per row
    blocks: Blocks = field(repr=False, compare=False)
    # Of a saved segment: ``packed`` read with pread (see ``runs``).
    readers: dict[str, SliceReader] | None = field(default=None, repr=False, compare=False)
    _term: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    # The last few ``runs`` read: a question's top-k search and its candidates' scores read
    # the same terms' runs one after the other.
    _recent: dict[tuple[int, ...], TermRuns] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _recent_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._term.update((t, i) for i, t in enumerate(self.terms))

    @classmethod
    def of_rows(
        cls,
        terms: list[str],
        indptr: np.ndarray,
        rows: np.ndarray,
        tfs: np.ndarray,
        lengths: np.ndarray,
        block_rows: int = BLOCK_ROWS,
        blocks: Blocks | None = None,
    ) -> Postings:
        """Postings of term-major ``rows`` (ascending within a term) and their frequencies
        (saturated at TF_MAX), with ``blocks`` (computed when not given) of ``block_rows``."""
        tfs = np.minimum(tfs, TF_MAX).astype(np.uint8)
        if blocks is None:
            blocks = Blocks.of(indptr, rows, tfs, lengths, block_rows)
        return cls(terms, indptr, pack(rows, tfs, blocks.rows), lengths, blocks)

    @property
    def rows(self) -> np.ndarray:
        """Every posting's row (int64, term-major), unpacked."""
        b = self.blocks
        return np.repeat(b.block * b.rows, b.count) + (np.asarray(self.packed) & (b.rows - 1))

    @property
    def tfs(self) -> np.ndarray:
        """Every posting's frequency (term-major), unpacked."""
        return (np.asarray(self.packed) >> block_shift(self.blocks.rows)).astype(np.uint8)

    @classmethod
    def build(cls, texts: Sequence[str]) -> Postings:
        """Index ``texts`` (row i is ``texts[i]``)."""
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[int] = []
        for r, tokens in enumerate(tokenize(texts)):
            counts: dict[int, int] = {}
            for t in tokens:
                col = vocab.setdefault(t, len(vocab))
                counts[col] = counts.get(col, 0) + 1
            rows.extend([r] * len(counts))
            cols.extend(counts)
            vals.extend(counts.values())
        matrix = sp.csr_matrix(
            (np.array(vals, dtype=np.int32), (np.array(rows, dtype=np.int64), np.array(cols))),
            shape=(len(texts), len(vocab)),
            dtype=np.int32,
        )
        return cls._of(matrix, list(vocab))

    @classmethod
    def _of(cls, matrix: sp.csr_matrix, vocab: list[str]) -> Postings:
        """Postings of a rows × terms count matrix, terms sorted."""
        order = np.argsort(np.array(vocab, dtype=object)) if vocab else np.zeros(0, np.int64)
        by_term = matrix.tocsc()[:, order].tocsc() if vocab else sp.csc_matrix(matrix.shape)
        by_term.sort_indices()
        lengths = np.asarray(matrix.sum(axis=1)).ravel().astype(np.int32)
        return cls.of_rows(
            [vocab[i] for i in order],
            by_term.indptr.astype(np.int64),
            by_term.indices.astype(np.int32),
            by_term.data,
            lengths,
        )

    @classmethod
    def concat(cls, parts: Sequence[tuple[Postings, np.ndarray]]) -> Postings:
        """One index of each part's ``rows`` (in order), parts one after another.

        Nothing is re-tokenised: each part's counts are re-keyed to the union vocabulary.
        """
        vocab: dict[str, int] = {}
        for postings, _ in parts:
            for t in postings.terms:
                vocab.setdefault(t, len(vocab))
        blocks = []
        for postings, rows in parts:
            cols = np.array([vocab[t] for t in postings.terms], dtype=np.int64)
            part = (
                sp.csc_matrix(
                    (postings.tfs, postings.rows, postings.indptr),
                    shape=(postings.size, len(postings.terms)),
                )
                .tocsr()[rows]
                .tocoo()
            )
            blocks.append(
                sp.csr_matrix(
                    (part.data, (part.row, cols[part.col])),
                    shape=(len(rows), len(vocab)),
                    dtype=np.int32,
                )
            )
        return cls._of(sp.vstack(blocks, format="csr", dtype=np.int32), list(vocab))

    @cached_property
    def total_length(self) -> int:
        """Tokens over every row (summed once)."""
        return int(self.lengths.sum())

    @property
    def size(self) -> int:
        """Rows in the index."""
        return len(self.lengths)

    def column(self, term: str) -> int | None:
        """The term's position in ``terms``, or None."""
        return self._term.get(term)

    def runs(self, cols: Sequence[int]) -> TermRuns:
        """The postings and block entries of the terms at ``cols``, each term's one run.

        A saved segment's are read with ``pread`` (two reads a term: its packed postings and
        its block entries), not through its mapping: touching a mapped file maps the page
        cache's large folios around each touch, and a server answering varied questions
        would soon hold every segment's postings in its RSS.
        """
        key = tuple(int(c) for c in cols)
        with self._recent_lock:
            found = self._recent.get(key)
        if found is not None:
            return found
        at = np.asarray(cols, dtype=np.int64)
        lo, hi = np.asarray(self.indptr)[at], np.asarray(self.indptr)[at + 1]
        blocks = self.blocks
        e_lo, e_hi = np.asarray(blocks.indptr)[at], np.asarray(blocks.indptr)[at + 1]
        if self.size > PREFETCH_MIN_ROWS:  # every run's reads started before the first
            _prefetch(self.readers, lo, hi)
            _prefetch(blocks.readers, e_lo, e_hi)
        runs = TermRuns(
            blocks.rows,
            _read(self.packed, self.readers, "packed", lo, hi),
            _read(blocks.entries, blocks.readers, "entries", e_lo, e_hi),
            _offsets(hi - lo),
            _offsets(e_hi - e_lo),
        )
        with self._recent_lock:
            while len(self._recent) >= RECENT_RUNS:
                del self._recent[next(iter(self._recent))]
            self._recent[key] = runs
        return runs

    def df(self, term: str) -> int:
        """Rows holding ``term``."""
        col = self._term.get(term)
        return 0 if col is None else int(self.indptr[col + 1] - self.indptr[col])

    def save(self, folder: Path, name: str) -> None:
        """Write the arrays as ``.npy`` and the terms as JSON."""
        save_array(folder, f"{name}.indptr", self.indptr)
        save_array(folder, f"{name}.packed", self.packed)
        save_array(folder, f"{name}.lengths", self.lengths)
        (folder / f"{name}.terms.json").write_text(json.dumps(self.terms), encoding="utf-8")
        self.save_blocks(folder, name)

    def save_blocks(self, folder: Path, name: str) -> None:
        """Write only the block-max metadata (``name`` as given to ``save``)."""
        self.blocks.save(folder, f"{name}.blocks")

    @classmethod
    def load(cls, folder: Path, name: str) -> Postings:
        """Read what ``save`` wrote (arrays memory-mapped). Block-max metadata missing (a
        segment written before it existed) or of another block size is computed in memory;
        ``has_saved_blocks`` tells which segments an upgrade should write again."""
        try:
            terms = json.loads((folder / f"{name}.terms.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexIntegrityError(f"{folder}: unreadable BM25 terms ({exc})") from exc
        indptr = load_array(folder, f"{name}.indptr")
        older = not (folder / f"{name}.packed.npy").exists()
        # Before 2026-11-28 a segment kept rows and frequencies apart (int32 each).
        main = load_array(folder, f"{name}.rows" if older else f"{name}.packed")
        if len(indptr) != len(terms) + 1 or int(indptr[-1]) != len(main):
            raise IndexIntegrityError(f"{folder}: BM25 postings {name} are inconsistent")
        lengths = load_array(folder, f"{name}.lengths")
        blocks = Blocks.load(folder, f"{name}.blocks", len(terms))
        if older:  # packed in memory until an upgrade writes them (``save_packed``)
            tfs = load_array(folder, f"{name}.tfs")
            return cls.of_rows(terms, indptr, main, tfs, lengths, blocks=blocks)
        if blocks is None:
            raise IndexIntegrityError(f"{folder}: packed postings {name} without their blocks")
        readers = {"packed": SliceReader(folder / f"{name}.packed.npy")}
        return cls(terms, indptr, main, lengths, blocks, readers)

    @staticmethod
    def has_saved_blocks(folder: Path, name: str) -> bool:
        """Whether ``folder`` holds block-max metadata of this block size for ``name``."""
        return Blocks.saved_rows(folder, f"{name}.blocks") == BLOCK_ROWS

    @staticmethod
    def has_packed(folder: Path, name: str) -> bool:
        """Whether ``folder``'s postings ``name`` and their block entries are packed
        (segments written before 2026-11-28 kept rows and frequencies in int32 files, and
        each entry's four fields in a file each); ``save_packed`` writes them so."""
        return all((folder / f"{name}.{a}.npy").exists() for a in PACKED_FILES)

    def save_packed(self, folder: Path, name: str, *, entries: bool = True) -> None:
        """Write only the files ``has_packed`` checks (``PACKED_FILES``); without
        ``entries``, the packed postings alone (``save_blocks`` wrote the entries)."""
        save_array(folder, f"{name}.packed", self.packed)
        if entries:
            save_array(folder, f"{name}.blocks.entries", self.blocks.entries)


def idf(n_rows: int, df: int) -> float:
    """Lucene's BM25 idf."""
    return float(np.log(1 + (n_rows - df + 0.5) / (df + 0.5)))


def term_weights(tfs: np.ndarray, lengths: np.ndarray, avg_length: float) -> np.ndarray:
    """tf / (tf + k1 · (1 − b + b · dl / avgdl)) for each posting."""
    tf = tfs.astype(np.float32)
    return tf / (tf + K1 * (1 - B + B * lengths.astype(np.float32) / avg_length))


@dataclass(frozen=True)
class Blocks:
    """Block-max metadata of a postings list: for each term, the blocks of ``rows`` rows
    that hold it (ascending), how many of its postings each holds, and the highest
    frequency and the shortest row length among them: the term's BM25 weight in the block
    is at most the weight of that frequency in a row of that length, whatever the average
    length (``embeddings.bm25_kernel`` computes the bound)."""

    rows: int  # rows per block
    indptr: np.ndarray  # int64, len(terms) + 1: each term's entries below
    # uint64, one an entry (``pack_entries``): its block, how many of the term's postings
    # it holds (≤ rows), their highest frequency (≤ TF_MAX) and the shortest row's length
    # (saturated: a smaller length only loosens the bound).
    entries: np.ndarray
    # Of a saved segment: ``entries`` read with pread (see ``Postings.runs``).
    readers: dict[str, SliceReader] | None = field(default=None, repr=False, compare=False)

    # Postings handled at a time while building (bounds the temporary arrays).
    CHUNK = 8_000_000

    @classmethod
    def of(
        cls,
        indptr: np.ndarray,
        rows: np.ndarray,
        tfs: np.ndarray,
        lengths: np.ndarray,
        block_rows: int = BLOCK_ROWS,
    ) -> Blocks:
        """The metadata of a term-major postings list (rows ascending within a term)."""
        indptr = np.asarray(indptr, dtype=np.int64)
        n_terms = len(indptr) - 1
        parts: list[np.ndarray] = []
        entries = [0]  # where each term's entries end, numbered across chunks
        t = offset = 0
        while t < n_terms:  # whole terms, about CHUNK postings at a time
            end = int(np.searchsorted(indptr, indptr[t] + cls.CHUNK, "right")) - 1
            end = min(max(end, t + 1), n_terms)
            lo, hi = int(indptr[t]), int(indptr[end])
            chunk_rows = np.asarray(rows[lo:hi])
            blk = chunk_rows // block_rows
            change = np.ones(hi - lo, dtype=bool)
            change[1:] = blk[1:] != blk[:-1]
            term_starts = indptr[t:end] - lo
            change[term_starts[term_starts < hi - lo]] = True
            first = np.flatnonzero(change)
            if first.size:
                tf = np.maximum.reduceat(np.asarray(tfs[lo:hi]), first)
                length = np.minimum.reduceat(np.asarray(lengths)[chunk_rows], first)
            else:
                tf = length = np.zeros(0, np.int64)
            parts.append(pack_entries(blk[first], np.diff(np.append(first, hi - lo)), tf, length))
            ends = np.searchsorted(first, indptr[t + 1 : end + 1] - lo, "left")
            entries.extend((ends + offset).tolist())
            offset += len(first)
            t = end
        packed = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        return cls(block_rows, np.array(entries, dtype=np.int64), packed)

    @property
    def block(self) -> np.ndarray:
        """Each entry's block (int64), unpacked."""
        return _field(self.entries, 0, ENTRY_BLOCK_MASK)

    @property
    def count(self) -> np.ndarray:
        """Each entry's count of postings (int64), unpacked."""
        return _field(self.entries, ENTRY_COUNT_SHIFT, ENTRY_COUNT_MASK)

    @property
    def max_tf(self) -> np.ndarray:
        """Each entry's highest frequency (int64), unpacked."""
        return _field(self.entries, ENTRY_MAX_TF_SHIFT, ENTRY_MAX_TF_MASK)

    @property
    def min_length(self) -> np.ndarray:
        """Each entry's shortest row length (int64, saturated), unpacked."""
        return _field(self.entries, ENTRY_MIN_LENGTH_SHIFT)

    def save(self, folder: Path, name: str) -> None:
        """Write the arrays, then ``name.json`` naming the block size (written last)."""
        save_array(folder, f"{name}.indptr", self.indptr)
        save_array(folder, f"{name}.entries", self.entries)
        (folder / f"{name}.json").write_text(json.dumps({"rows": self.rows}), encoding="utf-8")

    @staticmethod
    def saved_rows(folder: Path, name: str) -> int | None:
        """The block size of the metadata saved as ``name``, or None when there is none."""
        try:
            meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise IndexIntegrityError(f"{folder}: unreadable {name}.json ({exc})") from exc
        return int(meta["rows"]) if isinstance(meta, dict) and "rows" in meta else None

    @classmethod
    def load(cls, folder: Path, name: str, n_terms: int) -> Blocks | None:
        """Read what ``save`` wrote (memory-mapped); None when absent or of another size.
        Metadata an older version wrote (four arrays: block, count, highest frequency,
        shortest length) is packed in memory until an upgrade writes it packed."""
        rows = cls.saved_rows(folder, name)
        if rows != BLOCK_ROWS:
            return None
        indptr = load_array(folder, f"{name}.indptr")
        if (folder / f"{name}.entries.npy").exists():
            entries = load_array(folder, f"{name}.entries")
            readers = {"entries": SliceReader(folder / f"{name}.entries.npy")}
        else:
            older = [load_array(folder, f"{name}.{a}") for a in OLDER_BLOCK_ARRAYS]
            if any(len(a) != len(older[0]) for a in older):
                raise IndexIntegrityError(f"{folder}: block-max metadata {name} is inconsistent")
            entries, readers = pack_entries(*older), None
        if len(indptr) != n_terms + 1 or int(indptr[-1]) != len(entries):
            raise IndexIntegrityError(f"{folder}: block-max metadata {name} is inconsistent")
        return cls(rows, indptr, entries, readers)


# A block entry's fields in its uint64 (``pack_entries``; the kernel reads them by these
# too): the block in bits 0–23, the count in 24–39, the highest frequency in 40–47, the
# shortest length in 48–63.
ENTRY_BLOCK_MASK = (1 << 24) - 1
ENTRY_COUNT_SHIFT, ENTRY_COUNT_MASK = 24, (1 << 16) - 1
ENTRY_MAX_TF_SHIFT, ENTRY_MAX_TF_MASK = 40, (1 << 8) - 1
ENTRY_MIN_LENGTH_SHIFT = 48


def pack_entries(
    block: np.ndarray, count: np.ndarray, max_tf: np.ndarray, min_length: np.ndarray
) -> np.ndarray:
    """Block entries as uint64: the block, the count, the highest frequency (at most
    TF_MAX) and the shortest length (saturated), in the bits named above."""
    block = np.asarray(block, dtype=np.int64)
    if block.size and int(block.max()) > ENTRY_BLOCK_MASK:
        raise ValueError(f"block {int(block.max())}: a segment of more blocks than 2^24")
    out = block.astype(np.uint64)
    out |= np.asarray(count, dtype=np.uint64) << np.uint64(ENTRY_COUNT_SHIFT)
    out |= np.minimum(np.asarray(max_tf), TF_MAX).astype(np.uint64) << np.uint64(ENTRY_MAX_TF_SHIFT)
    out |= np.minimum(np.asarray(min_length), U16_MAX).astype(np.uint64) << np.uint64(
        ENTRY_MIN_LENGTH_SHIFT
    )
    return out


def _field(entries: np.ndarray, shift: int, mask: int | None = None) -> np.ndarray:
    """One field of packed block entries, as int64."""
    x = np.asarray(entries) >> np.uint64(shift)
    return (x if mask is None else x & np.uint64(mask)).astype(np.int64)


# Block-max metadata as an older version wrote it (uint64 ``entries`` since 2026-11-28).
OLDER_BLOCK_ARRAYS = ("block", "count", "max_tf", "min_length")
# What ``Postings.save_packed`` writes (since 2026-11-28), and the files it replaces.
PACKED_FILES = ("packed", "blocks.entries")
UNPACKED_FILES = ("rows", "tfs", *(f"blocks.{a}" for a in OLDER_BLOCK_ARRAYS))


def block_shift(block_rows: int) -> int:
    """log2 of ``block_rows``, a power of two (a packed posting's frequency is shifted by
    it)."""
    if block_rows < 1 or block_rows & (block_rows - 1):
        raise ValueError(f"blocks of {block_rows} rows: not a power of two")
    return block_rows.bit_length() - 1


def pack(rows: np.ndarray, tfs: np.ndarray, block_rows: int) -> np.ndarray:
    """Each posting as ``tf << block_shift(block_rows) | row % block_rows``: uint16 for
    blocks of up to 256 rows (frequencies are at most TF_MAX), uint32 above."""
    shift = block_shift(block_rows)
    kind = np.dtype(np.uint16 if block_rows <= 256 else np.uint32)
    places = np.asarray(rows) & (block_rows - 1)
    packed: np.ndarray = np.left_shift(np.asarray(tfs).astype(kind), shift, dtype=kind)
    packed |= places.astype(kind)
    return packed


@dataclass(frozen=True)
class TermRuns:
    """Some terms' postings and block entries, each term's one run, runs concatenated."""

    block_rows: int
    packed: np.ndarray  # see ``pack``
    entries: np.ndarray  # see ``pack_entries``
    post_ptr: np.ndarray  # int64, terms + 1: term t's are packed[post_ptr[t]:post_ptr[t+1]]
    ent_ptr: np.ndarray  # int64, terms + 1: its block entries

    @cached_property
    def start(self) -> np.ndarray:
        """Each block entry's first posting in ``packed`` (the runs' counts summed)."""
        from embeddings.bm25_kernel import entry_starts  # the kernel imports this module

        return entry_starts(self.entries)


def _offsets(sizes: np.ndarray) -> np.ndarray:
    """Where consecutive runs of ``sizes`` start, and where the last one ends."""
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def _prefetch(readers: dict[str, SliceReader] | None, lo: np.ndarray, hi: np.ndarray) -> None:
    """Start reading runs ``lo[i]:hi[i]`` of every array ``readers`` read."""
    for reader in (readers or {}).values():
        reader.prefetch(zip(lo.tolist(), hi.tolist(), strict=True))


def _read(
    array: np.ndarray,
    readers: dict[str, SliceReader] | None,
    name: str,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """``array[lo[i]:hi[i]]`` for each i, concatenated (read with pread when possible)."""
    if readers is not None:
        parts = [readers[name].read(int(a), int(b)) for a, b in zip(lo, hi, strict=True)]
    else:
        parts = [np.asarray(array[int(a) : int(b)]) for a, b in zip(lo, hi, strict=True)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=array.dtype)
