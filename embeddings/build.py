"""Build index versions from stored articles, embedding only text the cache has not seen.

A full build cuts the archive into segments of at most ``BULK_SEGMENT_SENTENCES``; an
update adds one segment of the added articles and tombstones the withdrawn and replaced
ones, then lets the merge policy (``embeddings.merging``) fold small segments together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from corpus.store import StoredArticle
from embeddings.cache import VectorCache, encode_cached
from embeddings.encoder import Encoder
from embeddings.errors import NoIndexError
from embeddings.index import FORMAT_VERSION, SearchIndex
from embeddings.merging import MAX_MERGED_SENTENCES, apply_merges
from embeddings.segment import Segment, SegmentBuilder, new_segment_name, passage_text

__all__ = ["BuildStats", "build_index", "passage_text", "update_index"]

log = logging.getLogger(__name__)

# A bulk build starts a new segment after this many sentences (each has its own IVF): the
# largest segment merges make, so bulk segments are not merged again.
BULK_SEGMENT_SENTENCES = MAX_MERGED_SENTENCES


@dataclass(frozen=True)
class BuildStats:
    """What a build did: counts and timings."""

    articles: int
    sentences: int
    passages: int
    embedded: int
    seconds: float


def _manifest(
    index_counts: dict[str, int], encoder: Encoder, version: str, corpus_digest: str | None
) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_id": encoder.model_id,
        "dim": encoder.dim,
        "corpus_digest": corpus_digest,
        "counts": index_counts,
    }


def _segment_of(
    builder: SegmentBuilder, encoder: Encoder, cache: VectorCache, progress: bool
) -> tuple[Segment, int]:
    s_vectors, s_new = _encode(encoder, cache, builder.sentence_texts, progress)
    p_vectors, p_new = _encode(encoder, cache, builder.passage_texts, progress)
    return builder.build(new_segment_name(), s_vectors, p_vectors), s_new + p_new


def _batches(stored: Iterable[StoredArticle], limit: int) -> Iterator[SegmentBuilder]:
    builder = SegmentBuilder()
    for item in stored:
        builder.append(item)
        if len(builder) >= limit:
            yield builder
            builder = SegmentBuilder()
    if builder.articles:
        yield builder


def build_index(
    stored: Iterable[StoredArticle],
    encoder: Encoder,
    cache: VectorCache,
    *,
    version: str,
    corpus_digest: str | None,
    progress: bool = False,
    sink: Callable[[Segment], Segment] | None = None,
) -> tuple[SearchIndex, BuildStats]:
    """A version of new segments holding every stored article.

    ``stored`` is consumed as a stream. With ``sink`` (``Snapshots.write_segment``), each
    segment is handed over as soon as it is built and what it returns (the segment mapped
    from disk, with its ANN indexes unless the snapshots are opened without them) is kept,
    so the build holds one segment's rows in memory, not the archive's.
    """
    started = time.perf_counter()
    segments: list[Segment] = []
    embedded = 0
    for builder in _batches(stored, BULK_SEGMENT_SENTENCES):
        log.info(
            "segment %d: embedding %d sentences and %d passages",
            len(segments) + 1,
            len(builder.sentence_texts),
            len(builder.passage_texts),
        )
        segment, new = _segment_of(builder, encoder, cache, progress)
        del builder  # this batch's texts and lists go before the next batch is read
        segments.append(sink(segment) if sink is not None else segment)
        del segment  # with a sink, only its mapped copy is kept
        embedded += new
    if not segments or not any(s.counts["sentences"] for s in segments):
        raise NoIndexError("there are no articles to index; add some with `briefing ingest PATH`")
    dead = [np.zeros(s.counts["articles"], dtype=bool) for s in segments]
    return _finish(segments, dead, encoder, version, corpus_digest, started, embedded, "full")


def update_index(
    base: SearchIndex,
    added: Iterable[StoredArticle],
    removed: Iterable[str],
    encoder: Encoder,
    cache: VectorCache,
    *,
    version: str,
    corpus_digest: str | None,
) -> tuple[SearchIndex, BuildStats]:
    """A new version: ``base`` without the ``removed`` articles, plus the ``added`` ones.

    An added article whose id ``base`` holds replaces it. The added articles become one new
    segment (only their text is embedded or read from the cache, and tokenised); the others
    are tombstoned. ``base`` and its segments are not changed.
    """
    started = time.perf_counter()
    if base.model_id != encoder.model_id:
        raise NoIndexError(f"index {base.version} was built with another model; rebuild it")
    builder = SegmentBuilder()
    for item in added:
        builder.append(item)
    segments = list(base.segments)
    dead = [d.copy() for d in base.dead]
    for article_id in {*removed, *(row[0] for row in builder.articles)}:
        for k, segment in enumerate(segments):
            for r in segment.articles.rows_of(article_id):
                dead[k][r] = True
    embedded = 0
    if builder.articles:
        segment, embedded = _segment_of(builder, encoder, cache, False)
        segments.append(segment)
        dead.append(np.zeros(segment.counts["articles"], dtype=bool))
    segments, dead = apply_merges(segments, dead, new_segment_name)
    if not any((~d).any() for d in dead):
        raise NoIndexError("there are no articles left to index")
    index, stats = _finish(
        segments, dead, encoder, version, corpus_digest, started, embedded, "incremental"
    )
    index.manifest["base_version"] = base.version
    return index, stats


def _finish(
    segments: list[Segment],
    dead: list[np.ndarray],
    encoder: Encoder,
    version: str,
    corpus_digest: str | None,
    started: float,
    embedded: int,
    kind: str,
) -> tuple[SearchIndex, BuildStats]:
    index = SearchIndex(version, {}, segments, dead)
    counts = index.live_counts
    seconds = time.perf_counter() - started
    index.manifest.update(
        _manifest(counts, encoder, version, corpus_digest),
        kind=kind,
        build_seconds=round(seconds, 3),
    )
    stats = BuildStats(
        counts["articles"], counts["sentences"], counts["passages"], embedded, seconds
    )
    return index, stats


def _encode(
    encoder: Encoder, cache: VectorCache, texts: list[str], progress: bool
) -> tuple[np.ndarray, int]:
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32), 0
    return encode_cached(encoder, cache, texts, progress=progress)
