"""Exact top-k BM25 over one postings list, skipping blocks that cannot make the top k.

Scoring every posting of a question's terms costs as much as the archive holds of them: at
10M sentences a question's common words hold millions of rows. ``top_k`` instead sums, per
block of ``BLOCK_ROWS`` rows, each term's upper bound there (``Blocks``), then scores
exactly the rows of the blocks with the highest sums first, in rounds, until the k-th best
score found beats the bound of every block not yet scored (docid-range block-max, as in
Dimopoulos, Nepomnyachiy and Suel, "Optimizing top-k document retrieval strategies for
block-max indexes", WSDM 2013). The result is exactly the k best of scoring every row
(same scores to the bit, equal scores in row order): a block is skipped only when its bound
is below the k-th best score, with a margin for rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embeddings.segment import best_first
from embeddings.sparse import Postings, term_weights

# Blocks scored in the first round; each further round takes GROWTH times as many.
FIRST_BLOCKS = 64
GROWTH = 4
# A block is skipped when its bound times (1 + MARGIN) is below the k-th best score: the
# bounds are computed in float64, the scores in float32 summed in float64.
MARGIN = 1e-5


@dataclass(frozen=True)
class _Term:
    weight: float  # idf
    block: np.ndarray  # blocks holding the term
    start: np.ndarray  # where each block's postings start in the postings arrays
    count: np.ndarray  # how many there are


def posting_scores(
    weight: float, tfs: np.ndarray, lengths: np.ndarray, avg_length: float
) -> np.ndarray:
    """A term's BM25 score in each posting (float32), the same wherever it is computed."""
    return weight * term_weights(tfs, lengths, avg_length)


def top_k(
    postings: Postings,
    weights: Sequence[tuple[str, float]],
    avg_length: float,
    k: int,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows with a positive score (among ``allowed``, a row mask), best
    first, equal scores in row order; ``weights`` are (term, idf) pairs."""
    blocks = postings.blocks
    size = blocks.rows
    n_blocks = -(-postings.size // size)
    bound = np.zeros(n_blocks)
    terms = []
    for term, weight in weights:
        col = postings.column(term)
        if col is None:
            continue
        lo, hi = int(blocks.indptr[col]), int(blocks.indptr[col + 1])
        block = np.asarray(blocks.block[lo:hi])
        count = np.asarray(blocks.count[lo:hi]).astype(np.int64)
        start = np.empty_like(count)
        start[0:1] = postings.indptr[col]
        np.cumsum(count[:-1], out=start[1:])
        start[1:] += postings.indptr[col]
        bound[block] += blocks.bounds(lo, hi, weight, avg_length)  # blocks unique per term
        terms.append(_Term(weight, block, start, count))
    if not terms or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    if allowed is not None:
        padded = np.zeros(n_blocks * size, dtype=bool)
        padded[: len(allowed)] = allowed
        bound[~padded.reshape(n_blocks, size).any(axis=1)] = 0.0
    candidates = np.flatnonzero(bound > 0)
    scored = np.zeros(n_blocks, dtype=bool)
    best_rows, best_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
    kth = 0.0
    take = FIRST_BLOCKS
    while True:
        if take >= len(candidates):
            batch, rest = candidates, 0.0  # every block left; nothing beyond
        else:
            batch = candidates[np.argpartition(-bound[candidates], take - 1)[:take]]
            rest = float(bound[batch].min())  # no block outside ``batch`` bounds more
        batch = batch[~scored[batch]]
        if kth > 0:
            batch = batch[bound[batch] * (1 + MARGIN) >= kth]
        scored[batch] = True
        rows, scores = _score_blocks(postings, terms, np.sort(batch), n_blocks, avg_length)
        if allowed is not None:
            keep = allowed[rows]
            rows, scores = rows[keep], scores[keep]
        best_rows, best_scores = best_first(
            np.concatenate([best_rows, rows]), np.concatenate([best_scores, scores]), k
        )
        if len(best_scores) == k:
            kth = float(best_scores[-1])
        if take >= len(candidates) or (kth > 0 and rest * (1 + MARGIN) < kth):
            return best_rows, best_scores
        take *= GROWTH


def _score_blocks(
    postings: Postings, terms: Sequence[_Term], batch: np.ndarray, n_blocks: int, avg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of every row of ``batch`` (ascending block numbers) holding a term:
    (rows ascending, scores), each row's terms summed in float64 in the query's order."""
    size = postings.blocks.rows
    if batch.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    slot = np.full(n_blocks, -1, dtype=np.int64)
    slot[batch] = np.arange(len(batch))
    total = np.zeros(len(batch) * size)
    for term in terms:
        hit = slot[term.block] >= 0
        if not hit.any():
            continue
        at = _ranges(term.start[hit], term.count[hit])
        rows = np.asarray(postings.rows[at]).astype(np.int64)
        scores = posting_scores(
            term.weight, np.asarray(postings.tfs[at]), postings.lengths[rows], avg
        )
        total[slot[rows // size] * size + rows % size] += scores  # rows unique per term
    found = np.flatnonzero(total)
    rows = batch[found // size] * size + found % size
    return rows, total[found].astype(np.float32)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] .. starts[i] + counts[i] - 1`` for every i, in order."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1])) + np.repeat(starts - (ends - counts), counts)


def scores_of(
    postings: Postings,
    weights: Sequence[tuple[str, float]],
    avg_length: float,
    rows: np.ndarray,
) -> np.ndarray:
    """BM25 of each of ``rows`` (0 where no term is held), equal to ``top_k``'s scores."""
    rows = np.asarray(rows, dtype=np.int64)
    total = np.zeros(len(rows))
    for term, weight in weights:
        hit = postings.lookup(term)
        if hit is None or rows.size == 0:
            continue
        held, tfs = hit
        at = np.searchsorted(held, rows)
        found = at < len(held)
        found[found] = np.asarray(held)[at[found]] == rows[found]
        if found.any():
            total[found] += posting_scores(
                weight, np.asarray(tfs)[at[found]], postings.lengths[rows[found]], avg_length
            )
    return total.astype(np.float32)
