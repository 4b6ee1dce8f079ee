"""SearchIndex: one published version, a list of immutable segments plus tombstones.

Rows are numbered across the version: segment k's rows follow those of segments 0..k−1,
for articles, passages and sentences alike. A withdrawn or replaced article stays in its
segment, marked dead (a tombstone); its rows are never returned and disappear when the
segment is merged. Tables are read from the segments' memory-mapped columns when a row is
asked for: no Python object per sentence is held.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar, cast

import numpy as np

from embeddings.bm25_search import Floor, held_by, scores_of, top_k
from embeddings.segment import (
    LEVELS,
    REFINE_FACTOR,
    RESCORE_FACTOR,
    RESCORE_MIN,
    ROLES,
    Segment,
    Stage,
    best_first,
    best_order,
    no_rows,
)
from embeddings.sparse import idf

# 3: segments + tombstones (2 was one folder per version with every table rewritten).
FORMAT_VERSION = 3
# Searches over more sentences than this share their per-segment work between the asking
# thread and a worker (``SearchIndex.run``).
OVERLAP_MIN_ROWS = 100_000
# Besides the best REFINE_FACTOR · w rows across a dense search's segments by their 4-bit
# codes, each segment's own best REFINE_EACH · w are refined (``SearchIndex.plan_dense``):
# segments' codes are trained apart, so one whose scores run low keeps its best. At 10M
# sentences (ten ANN segments; 200 questions, as bench/scale.py asks them; one-off probe)
# recall@50 read 0.9765 with 2, 0.9839 with 4, 0.985 with 8 (or with 2 and a budget of
# 60 · w across segments), 0.99 refining every segment's whole shortlist, as before.
REFINE_EACH = 4

R = TypeVar("R")
Ranked = tuple[np.ndarray, np.ndarray]  # rows and scores, best first
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    """The threads that help run searches: one a core, shared by every index."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=len(os.sched_getaffinity(0)), thread_name_prefix="segment-search"
            )
        return _pool


def _drain(plans: Sequence[SearchPlan[Any]]) -> list[Ranked]:
    """The result of each of ``plans``: their parts, then each plan's finish as soon as its
    last part is done (before any part left), taken by this thread and one worker, each
    the next as it comes free."""
    queue = deque((n, i) for n, plan in enumerate(plans) for i in range(len(plan.parts)))
    queue.extendleft((n, -1) for n, plan in enumerate(plans) if not plan.parts)
    left = [len(plan.parts) for plan in plans]
    found: list[list[Any]] = [[None] * len(plan.parts) for plan in plans]
    out: list[Any] = [None] * len(plans)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                n, i = queue.popleft()
            if i < 0:  # every part of plan n is done
                out[n] = plans[n].result(found[n])
                continue
            found[n][i] = plans[n].parts[i]()
            with lock:
                left[n] -= 1
                if not left[n]:
                    queue.appendleft((n, -1))

    helper = _workers().submit(work)
    try:
        work()
    finally:
        # A helper still queued (the workers busy with other questions) finds nothing
        # left: it is not waited for.
        if not helper.cancel():
            helper.result()
    return out


@dataclass(frozen=True)
class SearchPlan(Generic[R]):
    """One search split by segment: a part for each searched segment (None where it has
    nothing to search) and how the parts' results make the search's."""

    segments: tuple[int, ...]
    parts: tuple[Callable[[], R | None], ...]
    finish: Callable[[list[R]], Ranked]

    @classmethod
    def of(
        cls,
        segments: Sequence[int],
        one: Callable[[int], R | None],
        finish: Callable[[list[R]], Ranked],
    ) -> SearchPlan[R]:
        """The plan of running ``one`` for each of ``segments``, then ``finish``."""
        return cls(tuple(segments), tuple(partial(one, s) for s in segments), finish)

    def result(self, found: Sequence[R | None]) -> Ranked:
        """The search's result from its parts' (None where a part had nothing to search)."""
        return self.finish([f for f in found if f is not None])


@dataclass(frozen=True)
class ArticleRef:
    """What an index knows of an article: enough to cite and filter it."""

    id: str
    title: str
    source: str | None
    url: str | None
    published: str | None
    content_hash: str


@dataclass(frozen=True)
class IndexedPassage:
    """A paragraph of an article; ``question`` is the passage row of its interview question."""

    article: int
    paragraph: int
    start: int
    end: int
    role: str
    question: int | None


@dataclass(frozen=True)
class IndexedSentence:
    """A sentence with its text, as it was when the index was built."""

    article: int
    passage: int
    start: int
    end: int
    role: str
    text: str


@dataclass(frozen=True)
class TermStats:
    """What BM25 needs to know of the whole archive for some terms: rows counted, their
    total length in tokens, and how many rows hold each term."""

    rows: int
    total_length: int
    df: tuple[int, ...]

    @property
    def avg_length(self) -> float:
        """Mean row length (at least 1)."""
        return max(1.0, self.total_length / max(1, self.rows))


T = TypeVar("T")


class Rows(Sequence[T], Generic[T]):
    """A read-only view of one table across segments; rows are built when read."""

    def __init__(self, index: SearchIndex, level: str) -> None:
        self._index = index
        self._level = level

    def __len__(self) -> int:
        return int(self._index.bases[self._level][-1])

    def __getitem__(self, row: int) -> T:  # type: ignore[override]
        if not 0 <= row < len(self):
            raise IndexError(row)
        return cast(T, self._index.row(self._level, int(row)))

    def __iter__(self) -> Iterator[T]:
        return (self[i] for i in range(len(self)))


class SearchIndex:
    """A loaded, verified index version."""

    def __init__(
        self,
        version: str,
        manifest: dict[str, Any],
        segments: Sequence[Segment],
        dead: Sequence[np.ndarray],
    ) -> None:
        self.version = version
        self.manifest = manifest
        self.segments = list(segments)
        self.dead = [np.asarray(d, dtype=bool) for d in dead]
        self.bases = {
            level: np.concatenate([[0], np.cumsum([s.counts[level] for s in self.segments])])
            for level in ("articles", "passages", "sentences")
        }
        self.alive = [~d for d in self.dead]
        # Row masks of what may be returned: live rows (and, for sentences, quotable ones);
        # None where every row may be. Live rows are counted from the same masks.
        self._ok: dict[str, list[np.ndarray | None]] = {"sentences": [], "passages": []}
        self.live_counts = {"articles": 0, "passages": 0, "sentences": 0}
        for seg, alive in zip(self.segments, self.alive, strict=True):
            quotable = seg.quotable
            if alive.all():  # most segments: nothing to gather per row
                self._ok["sentences"].append(quotable)
                self._ok["passages"].append(None)
                for level, n in seg.counts.items():
                    self.live_counts[level] += n
                continue
            s_live = alive[seg.sentences["article"]]
            p_live = alive[seg.passages["article"]]
            s_ok = s_live if quotable is None else quotable & s_live
            self._ok["sentences"].append(None if s_ok.all() else s_ok)
            self._ok["passages"].append(None if p_live.all() else p_live)
            self.live_counts["articles"] += int(alive.sum())
            self.live_counts["passages"] += int(p_live.sum())
            self.live_counts["sentences"] += int(s_live.sum())
        self.articles: Rows[ArticleRef] = Rows(self, "articles")
        self.passages: Rows[IndexedPassage] = Rows(self, "passages")
        self.sentences: Rows[IndexedSentence] = Rows(self, "sentences")
        self._total_length = {
            level: [s.postings(level).total_length for s in self.segments] for level in LEVELS
        }

    @property
    def model_id(self) -> str:
        """The encoder the vectors were made with."""
        return str(self.manifest["model_id"])

    def rows(self, level: str) -> range:
        """All row numbers of a table (live or not)."""
        return range(int(self.bases[level][-1]))

    # --- rows -------------------------------------------------------------------------

    @staticmethod
    def _groups(seg: np.ndarray) -> list[int]:
        """Distinct segments among ``seg`` (usually one: no sort needed)."""
        if seg.size == 0:
            return []
        first = int(seg[0])
        return [first] if (seg == first).all() else [int(k) for k in np.unique(seg)]

    def locate(self, level: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment, row within it) of each row number."""
        rows = np.asarray(rows, dtype=np.int64)
        seg = np.searchsorted(self.bases[level], rows, side="right") - 1
        return seg, rows - self.bases[level][seg]

    def column(self, level: str, name: str, rows: np.ndarray) -> np.ndarray:
        """Values of a passage or sentence column for ``rows``, as version row numbers where
        the column points at rows (article, passage, question, lead, first)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.int64)
        seg, local = self.locate(level, rows)
        points_at = {
            "article": "articles",
            "passage": "passages",
            "question": "passages",
            "lead": "passages",
            "first": "sentences",
        }.get(name)
        for k in self._groups(seg):
            pick = seg == k
            values = np.asarray(self.segments[k].table(level)[name][local[pick]], dtype=np.int64)
            if points_at is not None:
                base = self.bases[points_at][k]
                values = np.where(values >= 0, values + base, -1)
            out[pick] = values
        return out

    def vectors(self, level: str, rows: np.ndarray) -> np.ndarray:
        """Unit vectors of ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        seg, local = self.locate(level, rows)
        dim = int(self.manifest.get("dim") or self.segments[0].sentence_dense.vectors.shape[1])
        out = np.zeros((len(rows), dim), dtype=np.float32)
        groups = [(k, seg == k) for k in self._groups(seg)]
        for k, pick in groups:  # every segment's reads start before the first is waited for
            self.segments[k].dense(level).prefetch(local[pick])
        for k, pick in groups:
            out[pick] = self.segments[k].dense(level).take(local[pick])
        return out

    def text(self, sentence: int) -> str:
        """Text of a sentence."""
        return self.texts([sentence])[0]

    def texts(self, sentences: Sequence[int] | np.ndarray) -> list[str]:
        """Texts of sentences, in that order."""
        seg, local = self.locate("sentences", np.asarray(sentences, dtype=np.int64))
        groups = [(k, seg == k) for k in self._groups(seg)]
        for k, pick in groups:  # all reads started before the first is waited for
            self.segments[k].texts.prefetch(local[pick].tolist())
        out = [""] * len(local)
        for k, pick in groups:
            where = np.flatnonzero(pick).tolist()
            for i, text in zip(where, self.segments[k].texts.read(local[pick]), strict=True):
                out[i] = text
        return out

    def row(self, level: str, row: int) -> ArticleRef | IndexedPassage | IndexedSentence:
        """One row of a table as a small record."""
        seg_arr, local_arr = self.locate(level, np.array([row]))
        k, i = int(seg_arr[0]), int(local_arr[0])
        seg = self.segments[k]
        if level == "articles":
            return ArticleRef(*seg.articles.row_tuple(i))
        a_base, p_base = int(self.bases["articles"][k]), int(self.bases["passages"][k])
        if level == "passages":
            p = seg.passages
            question = int(p["question"][i])
            return IndexedPassage(
                int(p["article"][i]) + a_base,
                int(p["paragraph"][i]),
                int(p["start"][i]),
                int(p["end"][i]),
                ROLES[int(p["role"][i])],
                None if question < 0 else question + p_base,
            )
        s = seg.sentences
        return IndexedSentence(
            int(s["article"][i]) + a_base,
            int(s["passage"][i]) + p_base,
            int(s["start"][i]),
            int(s["end"][i]),
            ROLES[int(s["role"][i])],
            seg.texts.text(i),
        )

    def passage_sentences(self, passage: int) -> range:
        """Sentence rows of a passage."""
        seg, local = self.locate("passages", np.array([passage]))
        k, i = int(seg[0]), int(local[0])
        table = self.segments[k].passages
        first = int(self.bases["sentences"][k]) + int(table["first"][i])
        return range(first, first + int(table["count"][i]))

    # --- articles ---------------------------------------------------------------------

    def article_row(self, article_id: str) -> int | None:
        """Row of the live article with this id, or None."""
        for k in range(len(self.segments) - 1, -1, -1):
            for r in self.segments[k].articles.rows_of(article_id):
                if self.alive[k][r]:
                    return int(self.bases["articles"][k]) + r
        return None

    def live_articles(self) -> Iterator[ArticleRef]:
        """Every live article."""
        for seg, alive in zip(self.segments, self.alive, strict=True):
            for r in np.flatnonzero(alive):
                yield ArticleRef(*seg.articles.row_tuple(int(r)))

    def live_fingerprints(self, only: Collection[str] | None = None) -> dict[str, str]:
        """Content hash of every live article (or of the live ones among ``only``), by id."""
        out: dict[str, str] = {}
        if only is not None:
            for aid in only:
                row = self.article_row(aid)
                if row is not None:
                    out[aid] = self.articles[row].content_hash
            return out
        for seg, alive in zip(self.segments, self.alive, strict=True):
            rows = np.flatnonzero(alive)
            ids, hashes = seg.articles.ids.values(rows), seg.articles.hashes.values(rows)
            out.update((str(i), str(h)) for i, h in zip(ids, hashes, strict=True))
        return out

    def article_masks(
        self,
        *,
        source: str | None = None,
        published_after: str | None = None,
        published_before: str | None = None,
        article_ids: Sequence[str] | None = None,
    ) -> list[np.ndarray]:
        """Per segment, the live articles that pass the filters (vectorised per column)."""
        masks = [a.copy() for a in self.alive]
        if article_ids is not None:
            wanted = [np.zeros_like(m) for m in masks]
            for aid in set(article_ids):
                for k, seg in enumerate(self.segments):
                    for r in seg.articles.rows_of(aid):
                        wanted[k][r] = True
            masks = [m & w for m, w in zip(masks, wanted, strict=True)]
        for k, seg in enumerate(self.segments):
            table = seg.articles
            if source is not None:
                codes, names = table.source_codes
                folded = source.casefold()
                code = names.index(folded) if folded in names else -2
                masks[k] &= codes == code
            if published_after or published_before:
                dates = np.asarray(table.published)
                masks[k] &= dates != ""
                if published_after:
                    masks[k] &= dates >= published_after
                if published_before:
                    masks[k] &= dates <= published_before
        return masks

    # --- search -----------------------------------------------------------------------

    def _allowed(
        self, level: str, k: int, article_masks: Sequence[np.ndarray] | None
    ) -> np.ndarray | None:
        ok = self._ok[level][k]
        if article_masks is None:
            return ok
        rows = article_masks[k][self.segments[k].table(level)["article"]]
        return rows if ok is None else rows & ok

    def sentence_allowed(
        self, rows: np.ndarray, article_masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Which sentence ``rows`` a search may return (quotable, live, passing filters)."""
        seg, local = self.locate("sentences", rows)
        out = np.ones(len(rows), dtype=bool)
        for k in self._groups(seg):
            allowed = self._allowed("sentences", k, article_masks)
            if allowed is not None:
                pick = seg == k
                out[pick] = allowed[local[pick]]
        return out

    def run(self, plans: Sequence[SearchPlan[Any]]) -> list[Ranked]:
        """The result of each of ``plans``, in order.

        Their per-segment parts run on this thread alone when the segments they search hold
        at most ``OVERLAP_MIN_ROWS`` sentences (a small archive's searches take less than a
        hand-over); otherwise this thread and one worker take the parts in turn, each the
        next as it comes free: a question's dense searches (FAISS) and BM25 searches
        (compiled, no GIL held) overlap, whichever of them is long for this question, and a
        plan's finish runs as soon as its parts are done (the dense searches' refinement
        and exact re-scoring, which read vectors, beside the BM25 parts left). A
        pool over one search's segments at a time, one search after another, did worse on
        this 2-core machine (README, "Archive scale"): the searches are bound by memory, so
        two threads scoring segments of one search gained little, and each search waited
        for its slowest segment.
        """
        searched = {s for plan in plans for s in plan.segments}
        rows = sum(self.segments[s].counts["sentences"] for s in searched)
        if rows > OVERLAP_MIN_ROWS and sum(len(plan.parts) for plan in plans) > 1:
            return _drain(plans)
        return [plan.result([p() for p in plan.parts]) for plan in plans]

    def _searched(self, segments: Collection[int] | None) -> list[int]:
        """Segment positions a search covers: all, or a shard's."""
        if segments is None:
            return list(range(len(self.segments)))
        return sorted(k for k in segments if 0 <= k < len(self.segments))

    def dense(
        self,
        level: str,
        query: np.ndarray,
        k: int,
        article_masks: Sequence[np.ndarray] | None = None,
        *,
        segments: Collection[int] | None = None,
    ) -> Ranked:
        """Best ``k`` rows by inner product with ``query`` (exact scores), best first; equal
        scores in row order (``plan_dense``, run)."""
        return self.run([self.plan_dense(level, query, k, article_masks, segments=segments)])[0]

    def plan_dense(
        self,
        level: str,
        query: np.ndarray,
        k: int,
        article_masks: Sequence[np.ndarray] | None = None,
        *,
        segments: Collection[int] | None = None,
    ) -> SearchPlan[tuple[int, np.ndarray, np.ndarray, Stage]]:
        """``dense`` split by segment.

        Each segment gives its best w = max(``RESCORE_MIN``, ``RESCORE_FACTOR`` · k) rows:
        exactly scored where its level is flat; where it has an ANN index, ``REFINE_FACTOR``
        · w rows by its 4-bit codes. Across the searched segments, the best
        ``REFINE_FACTOR`` · w of those by their codes' scores, and each segment's own best
        ``REFINE_EACH`` · w, are scored by their 6-bit codes (``Dense.refined``); the best w
        of everything are re-scored exactly from the stored vectors (float16 beside an ANN
        index: ``ANN_VECTORS_DTYPE``) and the best k returned. Flat levels are exact, so
        over them the same rows come back however segments are grouped; searching segments
        in groups (as shards do) refines at least the rows one search over them all refines.
        """
        wide = max(RESCORE_MIN, RESCORE_FACTOR * k)

        def one(s: int) -> tuple[int, np.ndarray, np.ndarray, Stage] | None:
            allowed = self._allowed(level, s, article_masks)
            if allowed is not None and not allowed.any():
                return None
            return s, *self.segments[s].dense(level).search(query, wide, allowed)

        def finish(found: list[tuple[int, np.ndarray, np.ndarray, Stage]]) -> Ranked:
            coarse = [f for f in found if f[3] is Stage.CODES]
            done = [f for f in found if f[3] is not Stage.CODES]
            if coarse:  # the best by the 4-bit codes across segments, and each one's own
                scores = np.concatenate([f[2] for f in coarse])
                keep = np.zeros(len(scores), dtype=bool)
                keep[np.argsort(-scores, kind="stable")[: REFINE_FACTOR * wide]] = True
                at = 0
                for s, rows, _, _ in coarse:  # each segment's rows come best first
                    keep[at : at + min(len(rows), REFINE_EACH * wide)] = True
                    mine = keep[at : at + len(rows)]
                    dense = self.segments[s].dense(level)
                    done.append((s, rows[mine], dense.refined(query, rows[mine]), Stage.REFINED))
                    at += len(rows)
            if not done:
                return no_rows()
            rows = np.concatenate([f[1] + self.bases[level][f[0]] for f in done])
            scores = np.concatenate([f[2] for f in done])
            approximate = np.concatenate(
                [np.full(len(f[1]), f[3] is not Stage.EXACT) for f in done]
            )
            if approximate.any():
                # The best by the codes' scores (exact ones where a level is flat),
                # re-scored exactly: only these rows' vectors are read.
                keep = best_order(rows, scores, wide)
                rows, scores, approximate = rows[keep], scores[keep], approximate[keep]
                scores[approximate] = self.vectors(level, rows[approximate]) @ query
            return best_first(rows, scores, k)

        return SearchPlan.of(self._searched(segments), one, finish)

    def term_stats(self, level: str, terms: Sequence[str]) -> TermStats:
        """BM25 statistics of ``terms`` over every segment."""
        return TermStats(
            int(self.bases[level][-1]),
            sum(self._total_length[level]),
            tuple(sum(seg.postings(level).df(t) for seg in self.segments) for t in terms),
        )

    def bm25(
        self,
        level: str,
        terms: Sequence[str],
        k: int,
        article_masks: Sequence[np.ndarray] | None = None,
        *,
        stats: TermStats | None = None,
        segments: Collection[int] | None = None,
    ) -> Ranked:
        """The ``k`` allowed rows of best positive BM25, best first, equal scores in row
        order (``plan_bm25``, run)."""
        plan = self.plan_bm25(level, terms, k, article_masks, stats=stats, segments=segments)
        return self.run([plan])[0]

    def plan_bm25(
        self,
        level: str,
        terms: Sequence[str],
        k: int,
        article_masks: Sequence[np.ndarray] | None = None,
        *,
        stats: TermStats | None = None,
        segments: Collection[int] | None = None,
    ) -> SearchPlan[Ranked]:
        """``bm25`` split by segment: exactly the rows of scoring every row, without scoring
        most of them (each segment's best by block-max, ``embeddings.bm25_search``).

        ``stats`` are those of ``terms`` (deduplicated, in order) over the whole archive;
        by default this index's. A shard searching only its ``segments`` is given the
        archive's, so its scores are those an unsharded search computes.
        """
        weights, avg = self._bm25_weights(level, terms, stats)
        floor = Floor(k)  # segments searched later skip what cannot beat the earlier ones

        def one(s: int) -> Ranked | None:
            allowed = self._allowed(level, s, article_masks)
            if allowed is not None and not allowed.any():
                return None
            postings = self.segments[s].postings(level)
            rows, scores = top_k(postings, weights, avg, k, allowed, floor.value)
            floor.offer(s, scores)
            return rows + self.bases[level][s], scores

        def finish(found: list[Ranked]) -> Ranked:
            if not found:
                return no_rows()
            rows = np.concatenate([f[0] for f in found])
            return best_first(rows, np.concatenate([f[1] for f in found]), k)

        return SearchPlan.of(self._searched(segments) if weights else [], one, finish)

    def bm25_of(
        self,
        level: str,
        terms: Sequence[str],
        rows: np.ndarray,
        *,
        stats: TermStats | None = None,
    ) -> np.ndarray:
        """BM25 of each of ``rows`` (0 where it holds no term), as ``bm25`` scores it."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float32)
        weights, avg = self._bm25_weights(level, terms, stats)
        if not weights or rows.size == 0:
            return out
        seg, local = self.locate(level, rows)
        for s in self._groups(seg):
            pick = seg == s
            out[pick] = scores_of(self.segments[s].postings(level), weights, avg, local[pick])
        return out

    def holds(self, level: str, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """Whether each of ``rows`` holds each of ``terms`` (analysed, as ``tokenize`` gives
        them) in the text it is BM25-indexed by: a (rows, terms) mask from the postings."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), len(terms)), dtype=bool)
        if not terms or rows.size == 0:
            return out
        seg, local = self.locate(level, rows)
        for s in self._groups(seg):
            pick = seg == s
            out[pick] = held_by(self.segments[s].postings(level), terms, local[pick])
        return out

    def _bm25_weights(
        self, level: str, terms: Sequence[str], stats: TermStats | None
    ) -> tuple[list[tuple[str, float]], float]:
        """Each distinct term with its idf over the archive, and the average row length."""
        terms = list(dict.fromkeys(terms))
        if not terms or not self.segments:
            return [], 1.0
        stats = stats or self.term_stats(level, terms)
        weights = [(t, idf(stats.rows, df)) for t, df in zip(terms, stats.df, strict=True)]
        return weights, stats.avg_length
