"""Build a SearchIndex from stored articles, embedding only text the cache has not seen."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from corpus.store import StoredArticle
from embeddings.cache import VectorCache, encode_cached
from embeddings.encoder import Encoder
from embeddings.errors import NoIndexError
from embeddings.index import (
    FORMAT_VERSION,
    ArticleRef,
    IndexedPassage,
    IndexedSentence,
    Level,
    SearchIndex,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildStats:
    """What a build did: counts and timings."""

    articles: int
    sentences: int
    passages: int
    embedded: int
    seconds: float


def passage_text(title: str, question: str | None, paragraph: str) -> str:
    """The text a passage is embedded and BM25-indexed as: its context, then its words."""
    parts = [title, question, paragraph] if question else [title, paragraph]
    return "\n".join(parts)


class _Tables:
    """Segment tables being assembled, with the texts still to embed."""

    def __init__(self) -> None:
        self.articles: list[ArticleRef] = []
        self.passages: list[IndexedPassage] = []
        self.sentences: list[IndexedSentence] = []
        self.new_passage_texts: list[str] = []
        self.new_sentence_texts: list[str] = []

    def append(self, item: StoredArticle) -> None:
        """Add one article's rows; its texts join those to embed."""
        a = item.article
        row = len(self.articles)
        self.articles.append(
            ArticleRef(a.id, a.title, a.source, a.url, a.published, item.content_hash)
        )
        first_passage = len(self.passages)
        for p in item.segmentation.paragraphs:
            q_row = first_passage + p.question if p.question is not None else None
            self.passages.append(IndexedPassage(row, p.index, p.start, p.end, p.role, q_row))
            question = (
                a.text[self.passages[q_row].start : self.passages[q_row].end]
                if q_row is not None
                else None
            )
            self.new_passage_texts.append(passage_text(a.title, question, a.text[p.start : p.end]))
        for s in item.segmentation.sentences:
            text = a.text[s.start : s.end]
            self.sentences.append(
                IndexedSentence(row, first_passage + s.paragraph, s.start, s.end, s.role, text)
            )
            self.new_sentence_texts.append(text)


def _manifest(
    tables: _Tables, encoder: Encoder, version: str, corpus_digest: str, seconds: float
) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_id": encoder.model_id,
        "dim": encoder.dim,
        "corpus_digest": corpus_digest,
        "counts": {
            "articles": len(tables.articles),
            "passages": len(tables.passages),
            "sentences": len(tables.sentences),
        },
        "build_seconds": round(seconds, 3),
    }


def build_index(
    stored: Iterable[StoredArticle],
    encoder: Encoder,
    cache: VectorCache,
    *,
    version: str,
    corpus_digest: str,
    progress: bool = False,
) -> tuple[SearchIndex, BuildStats]:
    """Segment tables, vectors, FAISS and BM25 for every stored article."""
    started = time.perf_counter()
    tables = _Tables()
    for item in stored:
        tables.append(item)
    if not tables.sentences:
        raise NoIndexError("there are no articles to index; add some with `briefing ingest PATH`")
    sentence_texts, passage_texts = tables.new_sentence_texts, tables.new_passage_texts
    log.info("embedding %d sentences and %d passages", len(sentence_texts), len(passage_texts))
    s_vectors, s_new = encode_cached(encoder, cache, sentence_texts, progress=progress)
    p_vectors, p_new = encode_cached(encoder, cache, passage_texts, progress=progress)
    seconds = time.perf_counter() - started
    manifest = dict(_manifest(tables, encoder, version, corpus_digest, seconds), kind="full")
    return _finish(
        tables,
        manifest,
        Level.build(s_vectors, sentence_texts),
        Level.build(p_vectors, passage_texts),
        s_new + p_new,
    )


def update_index(
    base: SearchIndex,
    added: Iterable[StoredArticle],
    removed: Iterable[str],
    encoder: Encoder,
    cache: VectorCache,
    *,
    version: str,
    corpus_digest: str,
) -> tuple[SearchIndex, BuildStats]:
    """A new version: ``base`` without the ``removed`` articles, plus the ``added`` ones.

    An added article whose id ``base`` holds replaces it. Only the added articles' sentences
    and passages are embedded (or read from the cache) and tokenised; ``base`` is not changed.
    """
    started = time.perf_counter()
    added = list(added)
    if base.model_id != encoder.model_id:
        raise NoIndexError(f"index {base.version} was built with another model; rebuild it")
    drop = set(removed) | {item.article.id for item in added}
    article_map = {
        old: new
        for new, old in enumerate(i for i, a in enumerate(base.articles) if a.id not in drop)
    }
    keep_p = np.array(
        [i for i, p in enumerate(base.passages) if p.article in article_map], dtype=np.int64
    )
    passage_map = {int(old): new for new, old in enumerate(keep_p)}
    keep_s = np.array(
        [i for i, s in enumerate(base.sentences) if s.article in article_map], dtype=np.int64
    )
    tables = _Tables()
    tables.articles = [base.articles[i] for i in article_map]
    tables.passages = []
    for i in keep_p:
        p = base.passages[i]
        question = None if p.question is None else passage_map[p.question]
        tables.passages.append(replace(p, article=article_map[p.article], question=question))
    tables.sentences = [
        replace(
            base.sentences[i],
            article=article_map[base.sentences[i].article],
            passage=passage_map[base.sentences[i].passage],
        )
        for i in keep_s
    ]
    for item in added:
        tables.append(item)
    if not tables.sentences:
        raise NoIndexError("there are no articles left to index")
    s_texts, p_texts = tables.new_sentence_texts, tables.new_passage_texts
    s_vectors, s_new = _encode(encoder, cache, s_texts)
    p_vectors, p_new = _encode(encoder, cache, p_texts)
    sentence_level = base.sentence_level.extend(keep_s, s_vectors, s_texts)
    passage_level = base.passage_level.extend(keep_p, p_vectors, p_texts)
    seconds = time.perf_counter() - started
    manifest = dict(
        _manifest(tables, encoder, version, corpus_digest, seconds),
        kind="incremental",
        base_version=base.version,
    )
    return _finish(tables, manifest, sentence_level, passage_level, s_new + p_new)


def _finish(
    tables: _Tables,
    manifest: dict[str, Any],
    sentence_level: Level,
    passage_level: Level,
    embedded: int,
) -> tuple[SearchIndex, BuildStats]:
    index = SearchIndex(
        str(manifest["version"]),
        manifest,
        tables.articles,
        tables.passages,
        tables.sentences,
        sentence_level,
        passage_level,
    )
    counts = (len(tables.articles), len(tables.sentences), len(tables.passages))
    return index, BuildStats(*counts, embedded, float(manifest["build_seconds"]))


def _encode(encoder: Encoder, cache: VectorCache, texts: list[str]) -> tuple[np.ndarray, int]:
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32), 0
    return encode_cached(encoder, cache, texts, progress=False)
