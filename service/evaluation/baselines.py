"""Baselines on the same index and model: BM25 alone, dense alone, reciprocal rank fusion.

Each ranks single quotable sentences; none abstains.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from embeddings.index import SearchIndex
from embeddings.sparse import tokenize

Baseline = Literal["bm25", "dense", "rrf"]
BASELINES: tuple[Baseline, ...] = ("bm25", "dense", "rrf")
RRF_K = 60
_POOL = 100


class BaselineRanker:
    """Ranks the quotable sentences of one index by a single baseline method."""

    def __init__(self, index: SearchIndex) -> None:
        self.index = index

    def rank(self, mode: Baseline, question: str, vector: np.ndarray, k: int) -> list[int]:
        """The ``k`` best sentence rows for ``question`` by ``mode``."""
        if mode == "bm25":
            return self._bm25(question, k)
        if mode == "dense":
            return self._dense(vector, k)
        scores: dict[int, float] = {}
        for ranking in (self._bm25(question, _POOL), self._dense(vector, _POOL)):
            for rank, row in enumerate(ranking):
                scores[row] = scores.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
        return sorted(scores, key=lambda row: -scores[row])[:k]

    def _bm25(self, question: str, k: int) -> list[int]:
        rows, _ = self.index.bm25("sentences", tokenize([question])[0], k)
        return [int(r) for r in rows]

    def _dense(self, vector: np.ndarray, k: int) -> list[int]:
        ids, _ = self.index.dense("sentences", vector, k)
        return [int(i) for i in ids]
