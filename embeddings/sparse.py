"""BM25 over segment texts (bm25s, Snowball English stemming), saved without pickle."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from embeddings.stopwords import STOPWORDS_EN

# bm25s sets its own logger to DEBUG on import; its per-build messages are noise to us.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_STEMMER = Stemmer.Stemmer("english")
_STOPWORDS = sorted(STOPWORDS_EN)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens: the same analysis for documents and queries."""
    out = bm25s.tokenize(
        list(texts), stopwords=_STOPWORDS, stemmer=_STEMMER, return_ids=False, show_progress=False
    )
    return [list(tokens) for tokens in out]


class SparseIndex:
    """A BM25 index whose document ids are positions in the texts it was built from."""

    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> SparseIndex:
        """Index ``texts`` (at least one)."""
        retriever = bm25s.BM25()
        retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        """Write the index as JSON and .npy files into ``folder``."""
        self._retriever.save(str(folder), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> SparseIndex:
        """Read an index written by ``save``."""
        retriever = bm25s.BM25.load(str(folder), allow_pickle=False)
        return cls(retriever, size)

    @property
    def doc_count(self) -> int:
        """Documents in the index, as BM25 itself counts them."""
        return int(self._retriever.scores["num_docs"])

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the (already tokenized) query."""
        known = [t for t in query_tokens if t in self._retriever.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)
