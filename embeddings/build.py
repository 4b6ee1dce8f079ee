"""Build a SearchIndex from stored articles, embedding only text the cache has not seen."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

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
    articles: list[ArticleRef] = []
    passages: list[IndexedPassage] = []
    passage_texts: list[str] = []
    sentences: list[IndexedSentence] = []
    for item in stored:
        a = item.article
        row = len(articles)
        articles.append(ArticleRef(a.id, a.title, a.source, a.url, a.published, item.content_hash))
        first_passage = len(passages)
        for p in item.segmentation.paragraphs:
            q_row = first_passage + p.question if p.question is not None else None
            passages.append(IndexedPassage(row, p.index, p.start, p.end, p.role, q_row))
            question = (
                a.text[passages[q_row].start : passages[q_row].end] if q_row is not None else None
            )
            passage_texts.append(passage_text(a.title, question, a.text[p.start : p.end]))
        for s in item.segmentation.sentences:
            sentences.append(
                IndexedSentence(
                    row,
                    first_passage + s.paragraph,
                    s.start,
                    s.end,
                    s.role,
                    a.text[s.start : s.end],
                )
            )
    if not sentences:
        raise NoIndexError("there are no articles to index; add some with `briefing ingest PATH`")
    sentence_texts = [s.text for s in sentences]
    log.info("embedding %d sentences and %d passages", len(sentences), len(passages))
    s_vectors, s_new = encode_cached(encoder, cache, sentence_texts, progress=progress)
    p_vectors, p_new = encode_cached(encoder, cache, passage_texts, progress=progress)
    seconds = time.perf_counter() - started
    manifest = {
        "format": FORMAT_VERSION,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_id": encoder.model_id,
        "dim": encoder.dim,
        "corpus_digest": corpus_digest,
        "counts": {
            "articles": len(articles),
            "passages": len(passages),
            "sentences": len(sentences),
        },
        "build_seconds": round(seconds, 3),
    }
    index = SearchIndex(
        version,
        manifest,
        articles,
        passages,
        sentences,
        Level.build(s_vectors, sentence_texts),
        Level.build(p_vectors, passage_texts),
    )
    stats = BuildStats(len(articles), len(sentences), len(passages), s_new + p_new, seconds)
    return index, stats
