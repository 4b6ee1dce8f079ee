"""The searches behind a question: which sentences become candidates, with their BM25.

A question runs four searches over an index version — dense and BM25, over sentences and
over passages. The candidate pool is the union of the best sentences of both sentence
searches and every sentence of the best passages of both passage searches; each candidate
carries its own and its passage's BM25 score and the best BM25 score of each level (the
retriever normalises by it).

``IndexSearcher`` runs them over a loaded version — all its segments, or a shard's share
given the archive's BM25 statistics. ``merge`` combines shards' results into exactly what
one search over every segment finds: each shard's best rows include every globally best row
it holds (equal scores are ordered by row everywhere), and each shard also scores the pool
it would build alone, which holds every global candidate of its segments.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from embeddings.index import Ranked, SearchIndex, TermStats
from embeddings.segment import LEVELS, best_first, no_rows


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some articles. Dates are inclusive ISO dates."""

    source: str | None = None
    published_after: str | None = None
    published_before: str | None = None
    article_ids: tuple[str, ...] | None = None

    def active(self) -> bool:
        """Whether any filter is set."""
        return any(
            v is not None
            for v in (self.source, self.published_after, self.published_before, self.article_ids)
        )


@dataclass(frozen=True)
class Query:
    """A question as the searches take it: stemmed terms (no repeats) and its vector."""

    terms: tuple[str, ...]
    vector: np.ndarray
    filters: Filters
    sentence_pool: int
    passage_pool: int


@dataclass(frozen=True)
class Hits:
    """What the searches found: each search's best rows, and the candidate pool."""

    dense_sentences: Ranked
    dense_passages: Ranked
    bm25_sentences: Ranked  # the best positive BM25 scores only
    bm25_passages: Ranked
    sentence_max: float  # best BM25 score of any allowed sentence (0 when none)
    passage_max: float
    pool: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ascending rows
    # Raw BM25 of each candidate, and of its passage.
    pool_sentence_bm25: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    pool_passage_bm25: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


EMPTY_HITS = Hits(no_rows(), no_rows(), no_rows(), no_rows(), 0.0, 0.0)


class SearchUnavailableError(RuntimeError):
    """The searches could not run (an index shard did not answer); retry shortly."""


class Searcher(Protocol):
    """Anything that runs a question's searches over one version: the index itself, or
    shards of it (``service.ops.shards``). Raises ``SearchUnavailableError`` when the
    searches cannot run."""

    def search(self, query: Query) -> Hits: ...


def article_masks(index: SearchIndex, filters: Filters) -> list[np.ndarray] | None:
    """Per segment, the articles a search may return; None when no filter is set."""
    if not filters.active():
        return None
    return index.article_masks(
        source=filters.source,
        published_after=filters.published_after,
        published_before=filters.published_before,
        article_ids=filters.article_ids,
    )


class IndexSearcher:
    """Runs the searches over a loaded version: every segment, or only ``segments``."""

    def __init__(self, index: SearchIndex, segments: Collection[int] | None = None) -> None:
        self.index = index
        self.segments = None if segments is None else sorted(segments)

    def search(self, query: Query, stats: dict[str, TermStats] | None = None) -> Hits:
        """The searches of ``query``; ``stats`` are the archive's when this is a shard."""
        idx, segs = self.index, self.segments
        masks = article_masks(idx, query.filters)
        if masks is not None and not any(m.any() for m in masks):
            return EMPTY_HITS
        terms = list(query.terms)
        # Once for the top-k searches and the candidates' scores (a shard is given them).
        stats = stats or archive_stats(idx, terms)
        pools = dict(zip(LEVELS, (query.sentence_pool, query.passage_pool), strict=True))
        # All four searches at once: a large archive's share their segments' work between
        # this thread and a worker (``SearchIndex.run``).
        dense_s, dense_p, bm25_s, bm25_p = idx.run(
            [
                *(
                    idx.plan_dense(level, query.vector, k, masks, segments=segs)
                    for level, k in pools.items()
                ),
                *(
                    idx.plan_bm25(level, terms, k, masks, stats=stats[level], segments=segs)
                    for level, k in pools.items()
                ),
            ]
        )
        hits = Hits(dense_s, dense_p, bm25_s, bm25_p, _best_score(bm25_s), _best_score(bm25_p))
        pool = pool_of(idx, hits, masks)
        passages = idx.column("sentences", "passage", pool)
        return replace(
            hits,
            pool=pool,
            pool_sentence_bm25=idx.bm25_of("sentences", terms, pool, stats=stats["sentences"]),
            pool_passage_bm25=idx.bm25_of("passages", terms, passages, stats=stats["passages"]),
        )


def archive_stats(index: SearchIndex, terms: Sequence[str]) -> dict[str, TermStats]:
    """BM25 statistics of ``terms`` over every segment of ``index``, per level: what shards
    searching a share of the segments must score with."""
    return {level: index.term_stats(level, terms) for level in LEVELS}


def merge(index: SearchIndex, query: Query, parts: Sequence[Hits]) -> Hits:
    """One search's hits from the hits of shards that each searched some segments of
    ``index`` (with the archive's BM25 statistics)."""
    masks = article_masks(index, query.filters)
    if masks is not None and not any(m.any() for m in masks):
        return EMPTY_HITS

    def best(pick: str, k: int) -> Ranked:
        rows = [getattr(h, pick)[0] for h in parts]
        scores = [getattr(h, pick)[1] for h in parts]
        if not rows:
            return no_rows()
        return best_first(np.concatenate(rows), np.concatenate(scores), k)

    hits = Hits(
        best("dense_sentences", query.sentence_pool),
        best("dense_passages", query.passage_pool),
        best("bm25_sentences", query.sentence_pool),
        best("bm25_passages", query.passage_pool),
        max((h.sentence_max for h in parts), default=0.0),
        max((h.passage_max for h in parts), default=0.0),
    )
    pool = pool_of(index, hits, masks)
    # Shards hold disjoint segments, so their pools are disjoint: one sorted table of all.
    rows = np.concatenate([h.pool for h in parts]) if parts else np.zeros(0, np.int64)
    order = np.argsort(rows, kind="stable")
    rows = rows[order]

    def raw(pick: str) -> np.ndarray:
        values = [getattr(h, pick) for h in parts]
        table = np.concatenate(values)[order] if values else np.zeros(0, np.float32)
        return _lookup(rows, table, pool)

    return replace(
        hits,
        pool=pool,
        pool_sentence_bm25=raw("pool_sentence_bm25"),
        pool_passage_bm25=raw("pool_passage_bm25"),
    )


def pool_of(index: SearchIndex, hits: Hits, masks: Sequence[np.ndarray] | None) -> np.ndarray:
    """Candidate sentences: the best of both sentence searches and every sentence of the
    best passages of both passage searches, that may be quoted; ascending."""
    pool = set(hits.dense_sentences[0].tolist()) | set(hits.bm25_sentences[0].tolist())
    passages = set(hits.dense_passages[0].tolist()) | set(hits.bm25_passages[0].tolist())
    for p in passages:
        pool.update(index.passage_sentences(p))
    ids = np.array(sorted(pool), dtype=np.int64)
    return ids[index.sentence_allowed(ids, masks)] if ids.size else ids


def _best_score(ranked: Ranked) -> float:
    """The best score of a best-first result (0 when empty)."""
    return float(ranked[1][0]) if ranked[1].size else 0.0


def _lookup(rows: np.ndarray, scores: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Score of each ``wanted`` row in a sparse (ascending ``rows``, ``scores``) result."""
    if rows.size == 0:
        return np.zeros(len(wanted), dtype=np.float32)
    at = np.clip(np.searchsorted(rows, wanted), 0, rows.size - 1)
    return np.where(rows[at] == wanted, scores[at], 0.0).astype(np.float32)
