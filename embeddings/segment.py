"""Segments: immutable slices of the index, written once and read memory-mapped.

An ingest batch becomes a new segment; a merge turns several segments (minus their
withdrawn articles) into one. A segment holds, for its articles, passages and sentences:
columnar tables (rows point at rows of the same segment), unit vectors for exact scoring,
an approximate dense index when the level is large (IVF over 4-bit product-quantised
codes scanned by SIMD, refined by 6-bit scalar-quantised codes, whose scores choose the
rows the version's search re-scores exactly), and the BM25 postings.
"""

from __future__ import annotations

import enum
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from corpus.article import QUOTABLE_ROLES
from corpus.store import StoredArticle
from embeddings import sq_kernel
from embeddings.columns import (
    PREFETCH_MIN_ROWS,
    RowReader,
    Strings,
    keys_of,
    load_array,
    npy_dtype,
    save_array,
)
from embeddings.errors import IndexIntegrityError
from embeddings.sparse import PACKED_FILES, UNPACKED_FILES, Postings

log = logging.getLogger(__name__)

ROLES = ("body", "heading", "question", "answer")
QUOTABLE_CODES = np.array([r in QUOTABLE_ROLES for r in ROLES], dtype=bool)
# Up to this many rows a level is scanned exactly (a few ms); above, an IVF index whose
# scores choose the rows the search re-scores exactly.
FLAT_MAX_ROWS = 20_000
# A search over every segment asks each for its best RESCORE_FACTOR times the rows asked
# for (at least RESCORE_MIN) by its approximate scores, and re-scores exactly, from the
# vectors, the best as many of those. Probing NPROBE_SHARE of an ANN level's lists (at
# least NPROBE_MIN) keeps recall near 1 (at 1M sentences, measured on 80 questions with
# 8-bit codes: 6 % → 1.0, 4 % → 0.9875).
RESCORE_FACTOR = 2
RESCORE_MIN = 32
NPROBE_SHARE = 0.05
NPROBE_MIN = 64
# An ANN level's lists hold 4-bit product-quantised codes scanned by SIMD lookups ("fast
# scan"); REFINE_FACTOR times the rows asked for are picked by them and scored again by
# the level's 6-bit scalar-quantised codes, whose best are re-scored exactly (across a
# search's segments at once since 2026-11-28: ``SearchIndex.plan_dense``). On a million-sentence
# segment of the 10M benchmark archive (bench/ann_variants.py, 100 questions): 8-bit
# codes alone (before) 3.80 ms a search for 200 rows, recall@50 1.0; fast scan refined
# by 8-bit codes from ×3 0.86 ms, 0.925; ×5 1.01 ms, 0.96; ×10 1.47 ms, 1.0. For the 100
# rows a question's sentence search asks a segment for, ×20: refined by 8-bit codes 1.56
# ms, 1.0; by 6-bit ones 1.58 ms, 0.99 (a quarter less memory: 288 bytes a row, not 384);
# by 4-bit ones 1.44 ms, 0.92.
REFINE_FACTOR = 20
LEVELS = ("sentences", "passages")
# A level's ANN index file: ``.ann`` today; ``.ivf`` (8-bit codes alone) before.
ANN_SUFFIX = "ann"
OLDER_ANN_SUFFIX = "ivf"
# Up to this many rows ``Dense.take`` reads with pread; more are read through the mapping.
TAKE_READ_MAX = 4096
# A level with an ANN index keeps its vectors as float16, which the exact re-scoring of its
# best rows reads (a score moves by 7e-6 at the median, 6e-5 at most, in a probe of 100
# questions on the 1M archive; the 10M benchmark's quotes stayed the same for 150). Half
# the disk and page cache of float32 (9 GB less at 10M sentences), so more of a large
# archive stays in memory.
# A flat level is scanned whole by BLAS on every search and stays float32.
ANN_VECTORS_DTYPE = np.dtype(np.float16)
# Rows a level is converted in at a time (ANN training and upgrades): a bounded buffer.
CONVERT_ROWS = 100_000


class Stage(enum.IntEnum):
    """What a level's search scores are: exact inner products, scores of refining codes
    (6-bit, or an older level's 8-bit), or of the 4-bit codes that pick what to refine."""

    EXACT = 0
    REFINED = 1
    CODES = 2


def new_segment_name() -> str:
    """A sortable, unique segment name."""
    return "seg-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def passage_text(title: str, question: str | None, paragraph: str) -> str:
    """The text a passage is embedded and BM25-indexed as: its context, then its words."""
    parts = [title, question, paragraph] if question else [title, paragraph]
    return "\n".join(parts)


@dataclass(frozen=True)
class Dense:
    """Unit vectors of one level, with an ANN index (``build``) when there are many."""

    # (n, dim): float32 in a flat level, ANN_VECTORS_DTYPE beside an ANN index;
    # memory-mapped once saved
    vectors: np.ndarray
    ann: faiss.Index | None
    reader: RowReader | None = None  # reads rows of a large saved level without mapping
    # A large level opened only to read rows (by a shard coordinator): its ANN index is on
    # disk, not in memory, and the level must not be searched.
    ann_on_disk: bool = False

    @cached_property
    def nprobe(self) -> int:
        """Inverted lists an approximate search probes."""
        assert self.ann is not None
        return max(NPROBE_MIN, int(faiss.extract_index_ivf(self.ann).nlist * NPROBE_SHARE))

    def prefetch(self, rows: np.ndarray) -> None:
        """Start reading the vectors of ``rows`` that ``take`` will read with pread, when
        the level is large enough for its file to miss the page cache."""
        if self._reads(rows) and self.size > PREFETCH_MIN_ROWS:
            assert self.reader is not None
            self.reader.prefetch(rows)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of ``rows``, in that order (a few read without mapping, many mapped)."""
        if not self._reads(rows):
            return np.asarray(self.vectors[rows])
        assert self.reader is not None
        return self.reader.read(rows)

    def _reads(self, rows: np.ndarray) -> bool:
        """Whether ``take`` reads ``rows`` with pread rather than through the mapping."""
        return self.reader is not None and len(rows) <= TAKE_READ_MAX

    @classmethod
    def build(cls, vectors: np.ndarray, centroids: np.ndarray | None = None) -> Dense:
        """Index ``vectors`` (an ANN index only above ``FLAT_MAX_ROWS`` rows, its vectors
        then kept as ``ANN_VECTORS_DTYPE``, which the index is built from too); ``centroids``
        are the IVF's lists when they are known (an older index of the same vectors)."""
        n, dim = vectors.shape
        if n <= FLAT_MAX_ROWS:
            return cls(np.ascontiguousarray(vectors, dtype=np.float32), None)
        vectors = np.ascontiguousarray(vectors, dtype=ANN_VECTORS_DTYPE)
        nlist = max(64, int(2 * math.sqrt(n))) if centroids is None else len(centroids)
        codes = f"PQ{dim // 4}x4fs,Refine(SQ6)" if dim % 4 == 0 else "SQ8"
        ann = faiss.index_factory(dim, f"IVF{nlist},{codes}", faiss.METRIC_INNER_PRODUCT)
        if centroids is not None:  # the lists are given: training skips the k-means
            faiss.extract_index_ivf(ann).quantizer.add(np.ascontiguousarray(centroids))
        rng = np.random.default_rng(0)
        sample = vectors[np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))]
        ann.train(sample.astype(np.float32))
        for lo in range(0, n, CONVERT_ROWS):
            ann.add(vectors[lo : lo + CONVERT_ROWS].astype(np.float32))
        return cls(vectors, ann)

    def rebuilt(self, older: faiss.Index) -> Dense:
        """This level with its ANN index built again as ``build`` builds it today, on the
        lists of ``older`` (its index as an older version wrote it)."""
        quantizer = faiss.extract_index_ivf(older).quantizer
        return Dense.build(self.vectors, quantizer.reconstruct_n(0, quantizer.ntotal))

    @property
    def size(self) -> int:
        """Rows."""
        return int(self.vectors.shape[0])

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, Stage]:
        """Rows for the best ``k`` (among ``allowed``, a row mask), best first by scores of
        the kind ``Stage`` names.

        A flat level (or a filter leaving few rows) scores its rows exactly: the best
        ``k``. An ANN level returns ``REFINE_FACTOR * k`` rows by the scores of its 4-bit
        codes (``build``), which the caller refines (``refined``) and re-scores exactly
        across every segment at once, so a large archive refines a few thousand rows a
        question and reads a few vectors from disk, however many segments it has. A level
        of an older version (8-bit codes alone) returns ``k`` rows by those codes.
        """
        if k <= 0 or self.size == 0:
            return *no_rows(), Stage.EXACT
        if self.ann_on_disk:
            raise RuntimeError("this level was opened without its ANN index; it is not searched")
        if self.ann is None or (allowed is not None and allowed.sum() <= FLAT_MAX_ROWS):
            rows = np.arange(self.size) if allowed is None else np.flatnonzero(allowed)
            if rows.size == 0:
                return *no_rows(), Stage.EXACT
            if self.vectors.dtype == ANN_VECTORS_DTYPE:  # the few rows a filter leaves
                return *self._narrow_scan(query, rows, k), Stage.EXACT
            scores = self.vectors[rows] @ query if allowed is not None else self.vectors @ query
            return *best_first(rows, scores, k), Stage.EXACT
        ivf = faiss.SearchParametersIVF()
        ivf.nprobe = self.nprobe
        if allowed is not None:
            bits = np.packbits(allowed, bitorder="little")
            ivf.sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        if self._refinement is None:  # an older level: 8-bit codes alone
            approx, ids = self.ann.search(query.reshape(1, -1), k, params=ivf)
            stage = Stage.REFINED
        else:  # ``ivf`` (and ``bits``) live until the search ends
            base = self._refinement[0]
            approx, ids = base.search(query.reshape(1, -1), REFINE_FACTOR * k, params=ivf)
            stage = Stage.CODES
        found = ids[0] >= 0
        return ids[0][found], approx[0][found], stage

    def _narrow_scan(
        self, query: np.ndarray, rows: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` of ``rows`` by their float16 vectors, scored by FAISS's float16
        kernel (about 3 ms for 20,000 rows, where converting them to float32 for BLAS
        took 12: numpy converts float16 one value at a time)."""
        flat = faiss.IndexScalarQuantizer(
            self.vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        flat.add_sa_codes(np.ascontiguousarray(self.vectors[rows]).view(np.uint8))
        scores, found = flat.search(query.reshape(1, -1).astype(np.float32), min(k, len(rows)))
        keep = found[0] >= 0
        return best_first(rows[found[0][keep]], scores[0][keep], k)

    def refined(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scores of ``rows`` by the level's refining codes, as FAISS's refinement computes
        them: 6-bit codes read by a compiled loop (``sq_kernel``), others decoded by FAISS
        and multiplied by the query."""
        assert self._refinement is not None
        _, quantizer, codes = self._refinement
        if self._six_bit is not None:
            return sq_kernel.scores(codes, rows, query, self._six_bit)
        return np.asarray(quantizer.sa_decode(codes[np.asarray(rows, dtype=np.int64)])) @ query

    @cached_property
    def _six_bit(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The trained ranges of 6-bit refining codes (None: another kind, or no refinement)."""
        return None if self._refinement is None else sq_kernel.six_bit_ranges(self._refinement[1])

    @cached_property
    def _refinement(self) -> tuple[Any, Any, np.ndarray] | None:
        """The shortlisting index, the refining codes' index and those codes (a view, not a
        copy) of a level whose ANN index refines its shortlist; None for other levels."""
        ann: Any = self.ann
        if not isinstance(ann, faiss.IndexRefine):
            return None
        quantizer: Any = faiss.downcast_index(ann.refine_index)
        size = quantizer.ntotal * quantizer.code_size
        codes = np.asarray(faiss.rev_swig_ptr(quantizer.codes.data(), size))
        return (
            faiss.downcast_index(ann.base_index),
            quantizer,
            codes.reshape(-1, quantizer.code_size),
        )

    def save(self, folder: Path, name: str) -> None:
        """Write the vectors (``.npy``) and the ANN index (FAISS's own format, ``.ann``)."""
        save_array(folder, f"{name}.vectors", self.vectors)
        self.save_ann(folder, name)

    def save_ann(self, folder: Path, name: str) -> None:
        """Write only the ANN index, if the level has one."""
        if self.ann is not None:
            faiss.write_index(self.ann, str(folder / f"{name}.{ANN_SUFFIX}"))

    @staticmethod
    def ann_file(folder: Path, name: str) -> Path:
        """The level's ANN index file: ``.ann``, or ``.ivf`` from an older version (neither
        may exist: a flat level)."""
        path = folder / f"{name}.{ANN_SUFFIX}"
        return path if path.exists() else folder / f"{name}.{OLDER_ANN_SUFFIX}"

    def save_narrowed(self, folder: Path, name: str) -> None:
        """Write only the vectors, as ``ANN_VECTORS_DTYPE`` (a level with an ANN index whose
        vectors an older version kept as float32), a bounded part at a time."""
        out = np.lib.format.open_memmap(
            folder / f"{name}.vectors.npy",
            mode="w+",
            dtype=ANN_VECTORS_DTYPE,
            shape=self.vectors.shape,
        )
        for lo in range(0, self.size, CONVERT_ROWS):
            out[lo : lo + CONVERT_ROWS] = self.vectors[lo : lo + CONVERT_ROWS]
        out.flush()
        del out

    @staticmethod
    def has_wide_vectors(folder: Path, name: str) -> bool:
        """Whether the level in ``folder`` has an ANN index beside float32 vectors (as
        versions before float16 vectors wrote it), which an upgrade narrows."""
        return Dense.ann_file(folder, name).exists() and (
            npy_dtype(folder / f"{name}.vectors.npy") != ANN_VECTORS_DTYPE
        )

    @staticmethod
    def has_older_ann(folder: Path, name: str) -> bool:
        """Whether the level in ``folder`` has an ANN index of an older kind (IVF over 8-bit
        codes alone, ``.ivf``), which an upgrade builds again."""
        return (folder / f"{name}.{OLDER_ANN_SUFFIX}").exists()

    @classmethod
    def load(cls, folder: Path, name: str, *, ann: bool = True) -> Dense:
        """Read what ``save`` wrote (or an older version: an ``.ivf`` index); the vectors
        are memory-mapped. Without ``ann`` a large level's ANN index stays on disk (the
        level can be read, not searched)."""
        vectors = load_array(folder, f"{name}.vectors", random_access=True)
        path = Dense.ann_file(folder, name)
        reader = None
        if path.exists():
            reader = RowReader(folder / f"{name}.vectors.npy")
            if not ann:
                return cls(vectors, None, reader, ann_on_disk=True)
            try:
                index = faiss.read_index(str(path))
            except RuntimeError as exc:
                raise IndexIntegrityError(f"{path}: unreadable ({exc})") from exc
            if index.ntotal != vectors.shape[0]:
                raise IndexIntegrityError(f"{path}: holds {index.ntotal} rows, not {len(vectors)}")
            return cls(vectors, index, reader)
        return cls(vectors, None, reader)


def no_rows() -> tuple[np.ndarray, np.ndarray]:
    """An empty search result: no rows, no scores."""
    return np.zeros(0, np.int64), np.zeros(0, np.float32)


def best_first(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (row, score) pairs, best first, equal scores in row order.

    Deterministic whatever order the pairs come in, so merging the best of each segment (or
    shard) picks exactly the rows one search over everything picks.
    """
    rows = np.asarray(rows, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    order = best_order(rows, scores, k)
    return rows[order], scores[order]


def best_order(rows: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best (row, score) pairs, best first, equal scores in row order."""
    rows = np.asarray(rows, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    positions = np.arange(len(rows))
    if rows.size > k > 0:
        # Everything strictly better than the k-th score, then the ties at it by row.
        kth = np.partition(-scores, k - 1)[k - 1]
        positions = np.flatnonzero(-scores <= kth)
    order = np.lexsort((rows[positions], -scores[positions]))[: max(k, 0)]
    return positions[order]


@dataclass(frozen=True)
class ArticleTable:
    """Articles of a segment: what is needed to cite and filter them."""

    ids: Strings
    titles: Strings
    sources: Strings
    urls: Strings
    published: np.ndarray  # unicode; "" when unknown (ISO dates compare as strings)
    hashes: Strings
    keys: np.ndarray  # int64 hash of each id, for lookups
    key_order: np.ndarray  # rows sorted by key

    @classmethod
    def of(
        cls, rows: Sequence[tuple[str, str, str | None, str | None, str | None, str]]
    ) -> ArticleTable:
        """A table of (id, title, source, url, published, content hash) rows."""
        ids = [r[0] for r in rows]
        keys = keys_of(ids)
        return cls(
            Strings.of(ids),
            Strings.of([r[1] for r in rows]),
            Strings.of([r[2] for r in rows]),
            Strings.of([r[3] for r in rows]),
            np.array([r[4] or "" for r in rows], dtype=np.str_)
            if rows
            else np.zeros(0, dtype="<U10"),
            Strings.of([r[5] for r in rows]),
            keys,
            np.argsort(keys, kind="stable"),
        )

    def __len__(self) -> int:
        return len(self.keys)

    @cached_property
    def source_codes(self) -> tuple[np.ndarray, list[str]]:
        """Each row's source as a code into the list of case-folded source names (-1: none)."""
        names: dict[str, int] = {}
        codes = np.fromiter(
            (-1 if s is None else names.setdefault(s.casefold(), len(names)) for s in self.sources),
            dtype=np.int32,
            count=len(self),
        )
        return codes, list(names)

    @cached_property
    def sorted_keys(self) -> np.ndarray:
        """The id hashes in ascending order."""
        return np.asarray(self.keys)[np.asarray(self.key_order)]

    def rows_of(self, article_id: str) -> list[int]:
        """Rows whose id is ``article_id`` (several when a segment was built over tombstones)."""
        key = keys_of([article_id])[0]
        sorted_keys = self.sorted_keys
        lo = int(np.searchsorted(sorted_keys, key, "left"))
        hi = int(np.searchsorted(sorted_keys, key, "right"))
        rows = [int(r) for r in self.key_order[lo:hi]]
        return [r for r in rows if self.ids[r] == article_id]

    def row_tuple(self, row: int) -> tuple[str, str, str | None, str | None, str | None, str]:
        """(id, title, source, url, published, content hash) of ``row``."""
        published = str(self.published[row]) or None
        return (
            self.ids.text(row),
            self.titles.text(row),
            self.sources[row],
            self.urls[row],
            published,
            self.hashes.text(row),
        )

    def save(self, folder: Path) -> None:
        """Write every column."""
        for name in ("ids", "titles", "sources", "urls", "hashes"):
            getattr(self, name).save(folder, f"articles.{name}")
        save_array(folder, "articles.published", self.published)
        save_array(folder, "articles.keys", self.keys)
        save_array(folder, "articles.key_order", self.key_order)

    @classmethod
    def load(cls, folder: Path) -> ArticleTable:
        """Read the columns ``save`` wrote."""
        strings = {
            n: Strings.load(folder, f"articles.{n}")
            for n in ("ids", "titles", "sources", "urls", "hashes")
        }
        return cls(
            published=load_array(folder, "articles.published"),
            keys=load_array(folder, "articles.keys"),
            key_order=load_array(folder, "articles.key_order"),
            **strings,
        )


# Columns of the passage and sentence tables (all int32, one value per row).
PASSAGE_COLUMNS = ("article", "paragraph", "start", "end", "role", "question", "first", "count")
SENTENCE_COLUMNS = ("article", "passage", "start", "end", "role", "lead")


@dataclass(frozen=True, eq=False)
class Segment:
    """One immutable segment: tables, vectors and postings of its articles."""

    name: str
    articles: ArticleTable
    passages: dict[str, np.ndarray]
    sentences: dict[str, np.ndarray]
    texts: Strings  # sentence texts
    sentence_dense: Dense
    passage_dense: Dense
    sentence_postings: Postings
    passage_postings: Postings

    @property
    def counts(self) -> dict[str, int]:
        """Rows of each table."""
        return {
            "articles": len(self.articles),
            "passages": len(self.passages["article"]),
            "sentences": len(self.texts),
        }

    def __repr__(self) -> str:
        return f"Segment({self.name!r}, {self.counts})"

    def table(self, level: str) -> dict[str, np.ndarray]:
        """The passage or sentence columns."""
        return self.sentences if level == "sentences" else self.passages

    def dense(self, level: str) -> Dense:
        """Vectors of the sentence or passage level."""
        return self.sentence_dense if level == "sentences" else self.passage_dense

    def postings(self, level: str) -> Postings:
        """BM25 postings of the sentence or passage level."""
        return self.sentence_postings if level == "sentences" else self.passage_postings

    @cached_property
    def quotable(self) -> np.ndarray | None:
        """Mask of sentences that may be quoted; None when all may (computed once: a
        segment serves every version that names it)."""
        mask = QUOTABLE_CODES[self.sentences["role"]]
        return None if mask.all() else mask

    def save(self, folder: Path) -> None:
        """Write the segment's files into ``folder`` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.articles.save(folder)
        for name, array in self.passages.items():
            save_array(folder, f"passages.{name}", array)
        for name, array in self.sentences.items():
            save_array(folder, f"sentences.{name}", array)
        self.texts.save(folder, "sentences.text")
        self.sentence_dense.save(folder, "sentences")
        self.passage_dense.save(folder, "passages")
        self.sentence_postings.save(folder, "sentences.bm25")
        self.passage_postings.save(folder, "passages.bm25")

    def save_upgrade(self, source: Path, folder: Path) -> list[str]:
        """Write into ``folder`` what an upgrade of this segment (saved in ``source``)
        writes again (``rewritten_by_upgrade``): its postings' block-max metadata when
        ``source`` lacks it (loading computed it in memory), their packed postings when
        ``source`` keeps them unpacked (loading packed them), the ANN index of each level
        whose index is of an older kind (built again on the same lists, from the same
        vectors; the index loaded with the segment gives the lists, or the file when it was
        not loaded), and the vectors of each ANN level kept as float32 (as float16).
        Returns what was upgraded, for the log."""
        done = []
        blocks_saved = not Segment.has_saved_blocks(source)  # their entries written packed
        if blocks_saved:
            for level in LEVELS:
                self.postings(level).save_blocks(folder, f"{level}.bm25")
            done.append("block-max metadata")
        if not Segment.has_packed(source):
            for level in LEVELS:
                self.postings(level).save_packed(folder, f"{level}.bm25", entries=not blocks_saved)
            done.append("packed postings")
        for level in LEVELS:
            if Dense.has_older_ann(source, level):
                dense = self.dense(level)
                older = dense.ann
                if older is None:  # opened without its ANN index (a shard coordinator's)
                    older = faiss.read_index(str(source / f"{level}.{OLDER_ANN_SUFFIX}"))
                dense.rebuilt(older).save_ann(folder, level)
                done.append(f"{level}' ANN index")
            if Dense.has_wide_vectors(source, level):
                self.dense(level).save_narrowed(folder, level)
                done.append(f"{level}' vectors as float16")
        return done

    @staticmethod
    def rewritten_by_upgrade(source: Path, file: str) -> bool:
        """Whether ``save_upgrade`` writes (or replaces) this file, or leaves it out, for
        the segment saved in ``source``: an older ANN index; an ANN level's float32 vectors;
        block-max files unless ``source`` holds them at this block size; unless ``source``'s
        postings are packed, their unpacked files (left out) and what packing writes. Files
        not rewritten are kept, hard-linked, so no file is written through a hard link."""
        if file.endswith(f".{OLDER_ANN_SUFFIX}"):
            return True
        if any(file == f"{lv}.vectors.npy" and Dense.has_wide_vectors(source, lv) for lv in LEVELS):
            return True
        if ".blocks." in file and not Segment.has_saved_blocks(source):
            return True
        return file in {
            f"{lv}.bm25.{a}.npy" for lv in LEVELS for a in PACKED_FILES + UNPACKED_FILES
        } and not Segment.has_packed(source)

    @staticmethod
    def has_saved_blocks(folder: Path) -> bool:
        """Whether the segment in ``folder`` holds block-max metadata of this block size."""
        return all(Postings.has_saved_blocks(folder, f"{lv}.bm25") for lv in LEVELS)

    @staticmethod
    def has_packed(folder: Path) -> bool:
        """Whether the segment in ``folder`` keeps its postings packed."""
        return all(Postings.has_packed(folder, f"{lv}.bm25") for lv in LEVELS)

    @staticmethod
    def outdated(folder: Path) -> bool:
        """Whether an older version wrote the segment in ``folder`` (``save_upgrade``)."""
        return (
            not Segment.has_saved_blocks(folder)
            or not Segment.has_packed(folder)
            or any(Dense.has_older_ann(folder, lv) for lv in LEVELS)
            or any(Dense.has_wide_vectors(folder, lv) for lv in LEVELS)
        )

    @property
    def searchable(self) -> bool:
        """Whether its dense levels were loaded to be searched (not only read)."""
        return not (self.sentence_dense.ann_on_disk or self.passage_dense.ann_on_disk)

    @classmethod
    def load(cls, folder: Path, counts: dict[str, int], *, ann: bool = True) -> Segment:
        """Read a segment (memory-mapped) and check its tables agree with ``counts``.

        Without ``ann``, large levels keep their ANN index on disk: the segment's rows can be
        read (by a coordinator whose shards search it) but not searched.
        """
        segment = cls(
            folder.name,
            ArticleTable.load(folder),
            {n: load_array(folder, f"passages.{n}") for n in PASSAGE_COLUMNS},
            {n: load_array(folder, f"sentences.{n}") for n in SENTENCE_COLUMNS},
            Strings.load(folder, "sentences.text"),
            Dense.load(folder, "sentences", ann=ann),
            Dense.load(folder, "passages", ann=ann),
            Postings.load(folder, "sentences.bm25"),
            Postings.load(folder, "passages.bm25"),
        )
        segment.check(counts)
        return segment

    def check(self, counts: dict[str, int]) -> None:
        """Raise ``IndexIntegrityError`` unless every table has the expected rows and every
        row points inside the segment."""
        n_a, n_p, n_s = counts["articles"], counts["passages"], counts["sentences"]
        sizes = {
            "articles": {len(self.articles), len(self.articles.published)},
            "passages": {len(a) for a in self.passages.values()}
            | {self.passage_dense.size, self.passage_postings.size},
            "sentences": {len(a) for a in self.sentences.values()}
            | {len(self.texts), self.sentence_dense.size, self.sentence_postings.size},
        }
        if sizes != {"articles": {n_a}, "passages": {n_p}, "sentences": {n_s}}:
            raise IndexIntegrityError(f"segment {self.name}: row counts disagree: {sizes}")
        p, s = self.passages, self.sentences
        bad = (
            (n_p and not (p["article"].min() >= 0 and p["article"].max() < n_a))
            or (n_s and not (s["passage"].min() >= 0 and s["passage"].max() < n_p))
            or (n_s and not np.array_equal(p["article"][s["passage"]], s["article"]))
        )
        if bad:
            raise IndexIntegrityError(f"segment {self.name}: rows point outside the segment")


class SegmentBuilder:
    """Tables of a new segment being assembled, with the texts still to embed."""

    def __init__(self) -> None:
        self.articles: list[tuple[str, str, str | None, str | None, str | None, str]] = []
        self.passages: dict[str, list[int]] = {n: [] for n in PASSAGE_COLUMNS}
        self.sentences: dict[str, list[int]] = {n: [] for n in SENTENCE_COLUMNS}
        self.sentence_texts: list[str] = []
        self.passage_texts: list[str] = []

    def append(self, item: StoredArticle) -> None:
        """Add one article's rows; its texts join those to embed."""
        a = item.article
        row = len(self.articles)
        self.articles.append((a.id, a.title, a.source, a.url, a.published, item.content_hash))
        first_passage = len(self.passages["article"])
        first_sentence = len(self.sentence_texts)
        p_cols, s_cols = self.passages, self.sentences
        paragraphs = item.segmentation.paragraphs
        for p in paragraphs:
            q_row = first_passage + p.question if p.question is not None else -1
            for name, value in (
                ("article", row),
                ("paragraph", p.index),
                ("start", p.start),
                ("end", p.end),
                ("role", ROLES.index(p.role)),
                ("question", q_row),
                ("first", first_sentence),
                ("count", 0),
            ):
                p_cols[name].append(value)
            question = None
            if p.question is not None:
                q = paragraphs[p.question]
                question = a.text[q.start : q.end]
            self.passage_texts.append(passage_text(a.title, question, a.text[p.start : p.end]))
        for s in item.segmentation.sentences:
            passage = first_passage + s.paragraph
            if p_cols["count"][passage] == 0:  # sentences are in text order: contiguous
                p_cols["first"][passage] = len(self.sentence_texts)
            p_cols["count"][passage] += 1
            lead = -1
            q_row = p_cols["question"][passage]
            if (
                s.role == "answer"
                and q_row >= 0
                and passage == q_row + 1
                and p_cols["count"][passage] == 1
            ):
                lead = q_row  # an interview answer's opening sentence: its direct answer
            for name, value in (
                ("article", row),
                ("passage", passage),
                ("start", s.start),
                ("end", s.end),
                ("role", ROLES.index(s.role)),
                ("lead", lead),
            ):
                s_cols[name].append(value)
            self.sentence_texts.append(a.text[s.start : s.end])

    def __len__(self) -> int:
        return len(self.sentence_texts)

    def build(
        self, name: str, sentence_vectors: np.ndarray, passage_vectors: np.ndarray
    ) -> Segment:
        """The segment, given the vectors of ``sentence_texts`` and ``passage_texts``."""
        return Segment(
            name,
            ArticleTable.of(self.articles),
            {n: np.array(v, dtype=np.int32) for n, v in self.passages.items()},
            {n: np.array(v, dtype=np.int32) for n, v in self.sentences.items()},
            Strings.of(self.sentence_texts),
            Dense.build(sentence_vectors),
            Dense.build(passage_vectors),
            Postings.build(self.sentence_texts),
            Postings.build(self.passage_texts),
        )


def merge(name: str, parts: Sequence[tuple[Segment, np.ndarray]]) -> Segment:
    """One segment of the live articles of ``parts`` (segment, mask of live article rows).

    Vectors are copied and postings re-keyed; no text is embedded or tokenised again.
    """
    articles: list[tuple[str, str, str | None, str | None, str | None, str]] = []
    p_out: dict[str, list[np.ndarray]] = {n: [] for n in PASSAGE_COLUMNS}
    s_out: dict[str, list[np.ndarray]] = {n: [] for n in SENTENCE_COLUMNS}
    texts: list[str | None] = []
    s_vecs, p_vecs, s_post, p_post = [], [], [], []
    a_base = p_base = s_base = 0
    for seg, alive in parts:
        a_keep = np.flatnonzero(alive)
        a_map = np.full(len(seg.articles), -1, np.int64)
        a_map[a_keep] = np.arange(len(a_keep)) + a_base
        articles.extend(seg.articles.row_tuple(int(r)) for r in a_keep)
        p_keep = np.flatnonzero(alive[seg.passages["article"]])
        p_map = np.full(len(seg.passages["article"]), -1, np.int64)
        p_map[p_keep] = np.arange(len(p_keep)) + p_base
        s_keep = np.flatnonzero(alive[seg.sentences["article"]])
        s_map = np.full(len(seg.texts), -1, np.int64)
        s_map[s_keep] = np.arange(len(s_keep)) + s_base
        p = {n: np.asarray(seg.passages[n][p_keep]) for n in PASSAGE_COLUMNS}
        p["article"] = a_map[p["article"]]
        p["question"] = np.where(p["question"] >= 0, p_map[p["question"]], -1)
        p["first"] = np.where(p["count"] > 0, s_map[p["first"]], s_base)
        s = {n: np.asarray(seg.sentences[n][s_keep]) for n in SENTENCE_COLUMNS}
        s["article"] = a_map[s["article"]]
        s["passage"] = p_map[s["passage"]]
        s["lead"] = np.where(s["lead"] >= 0, p_map[s["lead"]], -1)
        for n in PASSAGE_COLUMNS:
            p_out[n].append(p[n])
        for n in SENTENCE_COLUMNS:
            s_out[n].append(s[n])
        texts.extend(seg.texts[int(i)] for i in s_keep)
        s_vecs.append(seg.sentence_dense.take(s_keep))
        p_vecs.append(seg.passage_dense.take(p_keep))
        s_post.append((seg.sentence_postings, s_keep))
        p_post.append((seg.passage_postings, p_keep))
        a_base, p_base, s_base = a_base + len(a_keep), p_base + len(p_keep), s_base + len(s_keep)
    return Segment(
        name,
        ArticleTable.of(articles),
        {n: np.concatenate(v).astype(np.int32) for n, v in p_out.items()},
        {n: np.concatenate(v).astype(np.int32) for n, v in s_out.items()},
        Strings.of(texts),
        Dense.build(np.concatenate(s_vecs)),
        Dense.build(np.concatenate(p_vecs)),
        Postings.concat(s_post),
        Postings.concat(p_post),
    )
