"""SearchIndex: sentences and passages of the corpus, searchable densely and by BM25.

Sentences are what quotes are cut from; passages (paragraphs, with the article title and,
for interview answers, the interviewer's question prepended) give each sentence its context.
Each level has a FAISS inner-product index over unit vectors and a BM25 index, position i
in every structure describing the same segment.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from embeddings.errors import IndexIntegrityError
from embeddings.sparse import SparseIndex

log = logging.getLogger(__name__)

# 2: BM25 kept as term counts (extendable), not bm25s's precomputed scores.
FORMAT_VERSION = 2


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


@dataclass
class Level:
    """One searchable level (sentences or passages): vectors, FAISS and BM25 in step."""

    vectors: np.ndarray
    dense: faiss.Index
    sparse: SparseIndex

    @classmethod
    def build(cls, vectors: np.ndarray, texts: list[str]) -> Level:
        """Index unit ``vectors`` and their ``texts``."""
        dense = faiss.IndexFlatIP(vectors.shape[1])
        dense.add(vectors)
        return cls(vectors, dense, SparseIndex.build(texts))

    def extend(self, keep: np.ndarray, vectors: np.ndarray, texts: list[str]) -> Level:
        """A new level of this one's rows ``keep`` followed by ``vectors``/``texts``.

        This level is left untouched (it may be serving queries); only the new texts are
        tokenised and no kept vector is recomputed.
        """
        merged = np.ascontiguousarray(
            np.concatenate([self.vectors[keep], vectors.reshape(-1, self.vectors.shape[1])]),
            dtype=np.float32,
        )
        dense = faiss.IndexFlatIP(merged.shape[1])
        dense.add(merged)
        return Level(merged, dense, self.sparse.extend(keep, texts))

    def dense_search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by inner product (restricted to ``allowed`` row ids if given)."""
        k = min(k, self.dense.ntotal)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters()
            params.sel = faiss.IDSelectorBatch(allowed.astype(np.int64))
        scores, ids = self.dense.search(query.reshape(1, -1), k, params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]


@dataclass
class SearchIndex:
    """A loaded, verified index version."""

    version: str
    manifest: dict[str, Any]
    articles: list[ArticleRef]
    passages: list[IndexedPassage]
    sentences: list[IndexedSentence]
    sentence_level: Level
    passage_level: Level
    _by_id: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {a.id: i for i, a in enumerate(self.articles)}

    def article_row(self, article_id: str) -> int | None:
        """Row of an article id, or None."""
        return self._by_id.get(article_id)

    @property
    def model_id(self) -> str:
        """The encoder the vectors were made with."""
        return str(self.manifest["model_id"])

    def save(self, folder: Path) -> None:
        """Write every file except the manifest into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "articles.json", [asdict(a) for a in self.articles])
        _write_json(folder / "passages.json", _columns(self.passages, IndexedPassage))
        _write_json(folder / "sentences.json", _columns(self.sentences, IndexedSentence))
        faiss.write_index(self.sentence_level.dense, str(folder / "sentences.faiss"))
        faiss.write_index(self.passage_level.dense, str(folder / "passages.faiss"))
        self.sentence_level.sparse.save(folder / "bm25-sentences")
        self.passage_level.sparse.save(folder / "bm25-passages")

    @classmethod
    def load(cls, folder: Path, manifest: dict[str, Any]) -> SearchIndex:
        """Read an index whose files the caller has verified against ``manifest``."""
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexIntegrityError(
                f"{folder}: unsupported index format {manifest.get('format')}"
            )
        articles = [ArticleRef(**a) for a in _read_json(folder / "articles.json")]
        passages = _rows(_read_json(folder / "passages.json"), IndexedPassage)
        sentences = _rows(_read_json(folder / "sentences.json"), IndexedSentence)
        levels = []
        for name, rows in (("sentences", sentences), ("passages", passages)):
            dense = faiss.read_index(str(folder / f"{name}.faiss"))
            sparse = SparseIndex.load(folder / f"bm25-{name}")
            counts = {
                "stored": len(rows),
                "manifest": manifest["counts"][name],
                "faiss": dense.ntotal,
                "bm25": sparse.doc_count,
            }
            if len(set(counts.values())) != 1:
                raise IndexIntegrityError(f"{folder}: {name} counts disagree: {counts}")
            vectors = dense.reconstruct_n(0, dense.ntotal) if dense.ntotal else np.zeros((0, 1))
            levels.append(Level(np.ascontiguousarray(vectors, dtype=np.float32), dense, sparse))
        if len(articles) != manifest["counts"]["articles"]:
            raise IndexIntegrityError(f"{folder}: article count differs from the manifest")
        _check_references(folder, articles, passages, sentences)
        sentence_level, passage_level = levels
        return cls(
            str(manifest["version"]),
            manifest,
            articles,
            passages,
            sentences,
            sentence_level,
            passage_level,
        )


def _check_references(
    folder: Path,
    articles: list[ArticleRef],
    passages: list[IndexedPassage],
    sentences: list[IndexedSentence],
) -> None:
    n_articles, n_passages = len(articles), len(passages)
    if any(not 0 <= p.article < n_articles for p in passages) or any(
        not 0 <= s.passage < n_passages or s.article != passages[s.passage].article
        for s in sentences
    ):
        raise IndexIntegrityError(f"{folder}: segment rows point outside the index")


def _columns(rows: list[Any], kind: type) -> dict[str, list[Any]]:
    names = [f.name for f in fields(kind)]
    return {n: [getattr(r, n) for r in rows] for n in names}


def _rows(columns: dict[str, list[Any]], kind: type) -> list[Any]:
    names = [f.name for f in fields(kind)]
    if set(columns) != set(names) or len({len(columns[n]) for n in names}) > 1:
        raise IndexIntegrityError(f"malformed {kind.__name__} table")
    return [kind(*values) for values in zip(*(columns[n] for n in names), strict=True)]


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexIntegrityError(f"{path}: unreadable ({exc})") from exc
