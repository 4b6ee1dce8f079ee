"""BM25 over segment texts (Snowball English stemming), extendable and saved without pickle.

The index keeps each document's term counts (a sparse documents × terms matrix), not
precomputed scores, so a new version can drop and add documents without re-reading the
others: only new texts are tokenised. Scores follow Lucene's BM25 (the variant bm25s uses
by default): idf = ln(1 + (N − df + 0.5) / (df + 0.5)), and each term's weight
tf / (tf + k1 · (1 − b + b · dl / avgdl)), with k1 = 1.5 and b = 0.75.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import scipy.sparse as sp
import Stemmer

from embeddings.errors import IndexIntegrityError
from embeddings.stopwords import STOPWORDS_EN

# bm25s sets its own logger to DEBUG on import; its per-build messages are noise to us.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_STEMMER = Stemmer.Stemmer("english")
_STOPWORDS = sorted(STOPWORDS_EN)
K1 = 1.5
B = 0.75


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens: the same analysis for documents and queries."""
    if not texts:
        return []
    out = bm25s.tokenize(
        list(texts), stopwords=_STOPWORDS, stemmer=_STEMMER, return_ids=False, show_progress=False
    )
    return [list(tokens) for tokens in out]


class SparseIndex:
    """BM25 over documents whose ids are row positions."""

    def __init__(self, counts: sp.csr_matrix, vocab: list[str]) -> None:
        self.counts = counts  # documents × terms, term frequencies
        self.vocab = vocab
        self._term = {t: i for i, t in enumerate(vocab)}
        self.size = counts.shape[0]
        lengths = np.asarray(counts.sum(axis=1)).ravel().astype(np.float32)
        avg = float(lengths.mean()) if self.size and lengths.mean() > 0 else 1.0
        self._norm = (K1 * (1 - B + B * lengths / avg)).astype(np.float32)
        self._by_term = counts.tocsc()
        df = np.diff(self._by_term.indptr).astype(np.float64)
        self._idf = np.log(1 + (self.size - df + 0.5) / (df + 0.5)).astype(np.float32)

    @classmethod
    def build(cls, texts: Sequence[str]) -> SparseIndex:
        """Index ``texts``."""
        return cls.empty().extend(np.zeros(0, dtype=np.int64), texts)

    @classmethod
    def empty(cls) -> SparseIndex:
        """An index of no documents."""
        return cls(sp.csr_matrix((0, 0), dtype=np.int32), [])

    def extend(self, keep: np.ndarray, texts: Sequence[str]) -> SparseIndex:
        """A new index of this one's rows ``keep`` (in that order) followed by ``texts``.

        Only ``texts`` are tokenised; this index is not changed.
        """
        vocab = list(self.vocab)
        term = dict(self._term)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[int] = []
        for r, tokens in enumerate(tokenize(texts)):
            counts: dict[int, int] = {}
            for t in tokens:
                col = term.get(t)
                if col is None:
                    col = term[t] = len(vocab)
                    vocab.append(t)
                counts[col] = counts.get(col, 0) + 1
            rows.extend([r] * len(counts))
            cols.extend(counts)
            vals.extend(counts.values())
        width = len(vocab)
        if keep.size == self.size and np.array_equal(keep, np.arange(self.size)):
            kept = self.counts  # only additions: the rows stay as they are
        elif keep.size:
            kept = self.counts[keep]
        else:
            kept = sp.csr_matrix((0, width), dtype=np.int32)
        kept = sp.csr_matrix(
            (kept.data, kept.indices, kept.indptr), shape=(kept.shape[0], width), dtype=np.int32
        )
        new = sp.csr_matrix(
            (np.array(vals, dtype=np.int32), (np.array(rows), np.array(cols))),
            shape=(len(texts), width),
            dtype=np.int32,
        )
        return SparseIndex(sp.vstack([kept, new], format="csr", dtype=np.int32), vocab)

    def save(self, folder: Path) -> None:
        """Write the term counts as .npy arrays and the vocabulary as JSON into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "indptr.npy", self.counts.indptr.astype(np.int64))
        np.save(folder / "indices.npy", self.counts.indices.astype(np.int32))
        np.save(folder / "counts.npy", self.counts.data.astype(np.int32))
        (folder / "vocab.json").write_text(json.dumps(self.vocab), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> SparseIndex:
        """Read an index written by ``save`` (numpy arrays only, never pickles)."""
        try:
            indptr = np.load(folder / "indptr.npy", allow_pickle=False)
            indices = np.load(folder / "indices.npy", allow_pickle=False)
            data = np.load(folder / "counts.npy", allow_pickle=False)
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            counts = sp.csr_matrix(
                (data, indices, indptr), shape=(len(indptr) - 1, len(vocab)), dtype=np.int32
            )
        except (OSError, ValueError) as exc:
            raise IndexIntegrityError(f"{folder}: unreadable BM25 index ({exc})") from exc
        return cls(counts, vocab)

    @property
    def doc_count(self) -> int:
        """Documents in the index."""
        return self.size

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the (already tokenized) query."""
        out = np.zeros(self.size, dtype=np.float32)
        for t in query_tokens:
            col = self._term.get(t)
            if col is None:
                continue
            lo, hi = self._by_term.indptr[col], self._by_term.indptr[col + 1]
            docs = self._by_term.indices[lo:hi]
            tf = self._by_term.data[lo:hi].astype(np.float32)
            out[docs] += self._idf[col] * tf / (tf + self._norm[docs])
        return out
