"""Exact top-k BM25 over one postings list, skipping blocks that cannot make the top k.

Scoring every posting of a question's terms costs as much as the archive holds of them.
``top_k`` instead sums, per block of ``BLOCK_ROWS`` rows, each term's upper bound there
(``Blocks``), then scores exactly the rows of the blocks with the highest sums first, in
rounds, until the k-th best score found beats the bound of every block not yet scored
(docid-range block-max, as in Dimopoulos, Nepomnyachiy and Suel, "Optimizing top-k
document retrieval strategies for block-max indexes", WSDM 2013). The result is exactly
the k best of scoring every row (same scores to the bit, equal scores in row order): a
block is skipped only when its bound is below the k-th best score, with a margin for
rounding. The loop is compiled (``embeddings.bm25_kernel``) and holds no GIL, so a large
archive's BM25 runs beside its dense search (``SearchIndex.run``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from embeddings.bm25_kernel import find_postings, top_k_blocks
from embeddings.segment import best_first, no_rows
from embeddings.sparse import Postings, TermRuns, block_shift, term_weights

# Blocks scored in the first round; each further round takes GROWTH times as many.
FIRST_BLOCKS = 256
GROWTH = 8
# A block is skipped when its bound times (1 + MARGIN) is below the k-th best score: the
# bounds are computed in float64, the scores in float32 summed in float64.
MARGIN = 1e-5
_EVERY_ROW = np.zeros(0, dtype=bool)


def _held(postings: Postings, weights: Sequence[tuple[str, float]]) -> list[tuple[int, float]]:
    """(column, idf) of the terms ``postings`` holds, in the question's order."""
    return [(c, w) for c, w in ((postings.column(t), w) for t, w in weights) if c is not None]


def top_k(
    postings: Postings,
    weights: Sequence[tuple[str, float]],
    avg_length: float,
    k: int,
    allowed: np.ndarray | None = None,
    floor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows with a positive score (among ``allowed``, a row mask), best
    first, equal scores in row order; ``weights`` are (term, idf) pairs. Rows scoring
    below ``floor`` (a score k rows of other segments reach, ``Floor``) may be left out:
    every row of the k best across those segments and this one is returned."""
    held = _held(postings, weights)
    if not held or k <= 0:
        return no_rows()
    runs = postings.runs([c for c, _ in held])
    rows, scores = top_k_blocks(
        runs.packed,
        runs.start,
        postings.lengths,
        runs.entries,
        runs.ent_ptr,
        np.array([w for _, w in held], dtype=np.float32),
        float(avg_length),
        int(k),
        block_shift(postings.blocks.rows),
        _EVERY_ROW if allowed is None else np.ascontiguousarray(allowed, dtype=bool),
        MARGIN,
        FIRST_BLOCKS,
        GROWTH,
        float(floor),
    )
    return best_first(rows, scores, k)


class Floor:
    """The k-th best score among the rows a search's segments have returned so far.

    k rows reach it, so a segment searched later can skip every block that cannot reach
    it and still return every row of the search's k best. Its segments share it whichever
    thread searches them (Lucene's searches share the same between a search's slices:
    ``MaxScoreAccumulator``). BM25 scores are comparable across segments because their
    statistics are the archive's (``SearchIndex.term_stats``). Each segment counts once,
    its latest scores, however often it is searched.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self._found: dict[int, np.ndarray] = {}
        self._value = 0.0
        self._lock = threading.Lock()

    @property
    def value(self) -> float:
        """The floor: 0 until k rows have been offered."""
        return self._value

    def offer(self, segment: int, scores: np.ndarray) -> None:
        """Take into account the scores ``segment``'s search returned."""
        with self._lock:
            self._found[segment] = np.asarray(scores, np.float32)
            every = np.concatenate(list(self._found.values()))
            if self.k > 0 and len(every) >= self.k:
                self._value = float(np.partition(every, len(every) - self.k)[len(every) - self.k])


def scores_of(
    postings: Postings,
    weights: Sequence[tuple[str, float]],
    avg_length: float,
    rows: np.ndarray,
) -> np.ndarray:
    """BM25 of each of ``rows`` (0 where no term is held), equal to ``top_k``'s scores."""
    rows = np.asarray(rows, dtype=np.int64)
    total = np.zeros(len(rows))
    held = _held(postings, weights)
    if not held or rows.size == 0:
        return total.astype(np.float32)
    runs = postings.runs([c for c, _ in held])
    lengths = postings.lengths[rows]
    shift = block_shift(runs.block_rows)
    for t, (_, weight) in enumerate(held):
        at = _look_up(runs, t, rows)
        found = at >= 0
        if found.any():
            tfs = runs.packed[at[found]] >> shift
            # float32 idf times float32 weights: the bits the compiled search computes
            total[found] += np.float32(weight) * term_weights(tfs, lengths[found], avg_length)
    return total.astype(np.float32)


def held_by(postings: Postings, terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """Whether each of ``rows`` holds each of ``terms`` (analysed terms): a (rows, terms)
    mask read from the postings, as a search reads them."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.zeros((len(rows), len(terms)), dtype=bool)
    held = [(j, c) for j, c in enumerate(map(postings.column, terms)) if c is not None]
    if not held or rows.size == 0:
        return out
    runs = postings.runs([c for _, c in held])
    for t, (j, _) in enumerate(held):
        out[:, j] = _look_up(runs, t, rows) >= 0
    return out


def _look_up(runs: TermRuns, t: int, rows: np.ndarray) -> np.ndarray:
    """Where each of ``rows`` (int64, in any order) is among ``runs.packed`` as a posting of
    term ``t``, or -1 where the term is not in that row."""
    return find_postings(
        runs.entries,
        runs.packed,
        runs.start,
        int(runs.ent_ptr[t]),
        int(runs.ent_ptr[t + 1]),
        rows,
        block_shift(runs.block_rows),
    )


def warm() -> None:
    """Compile the search loop for saved postings (their row lengths memory-mapped, so
    read-only) now, or load its machine code cached by an earlier start, so no question
    waits for it."""
    postings = Postings.build(["warm the compiled search up"])
    postings.lengths.flags.writeable = False
    top_k(postings, [("warm", 1.0)], 1.0, 1)  # a row mask has the type of "every row"
