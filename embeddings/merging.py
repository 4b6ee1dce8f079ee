"""The merge policy: keep the number of segments small, log-structured (tiered).

Segments are grouped into tiers by their live sentences (tier t holds 10^t to 10^(t+1)
rows); when a tier holds ``MERGE_FACTOR`` segments they become one of the next tier, so an
archive of N sentences has at most about ``MERGE_FACTOR · log10(N)`` segments and each row is
rewritten about log10(N) times in its life. As Lucene's ``max_merged_segment``, no merge
makes a segment of more than ``MAX_MERGED_SENTENCES``: a tier's smallest segments are merged
as far as that allows, and segments of that size (a bulk build's) are never merged together,
so a merge never holds more than that many rows in memory, however large the archive. A
segment whose articles are mostly withdrawn is rewritten alone to drop them; a segment with
no live article is dropped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np

from embeddings.segment import Segment, merge

log = logging.getLogger(__name__)

MERGE_FACTOR = 10
# Rewrite a segment when more than this share of its sentences belong to dead articles.
MAX_DEAD_SHARE = 0.5
# No merge produces a segment of more live sentences than this (a bulk build's segment size).
MAX_MERGED_SENTENCES = 1_000_000


def _live_sentences(segment: Segment, dead: np.ndarray) -> int:
    return int((~dead)[segment.sentences["article"]].sum())


def plan(segments: list[Segment], dead: list[np.ndarray]) -> list[int]:
    """Positions of the segments to merge next into one (empty: nothing to do)."""
    live = [_live_sentences(s, d) for s, d in zip(segments, dead, strict=True)]
    tiers: dict[int, list[int]] = {}
    for k, n in enumerate(live):
        tiers.setdefault(int(math.log10(max(n, 1))), []).append(k)
    for tier in sorted(tiers):
        if len(tiers[tier]) < MERGE_FACTOR:
            continue
        picked, total = [], 0
        for k in sorted(tiers[tier], key=lambda k: live[k])[:MERGE_FACTOR]:
            if total + live[k] > MAX_MERGED_SENTENCES:
                break
            picked.append(k)
            total += live[k]
        if len(picked) >= 2:
            return sorted(picked)
    for k, (segment, n) in enumerate(zip(segments, live, strict=True)):
        total = segment.counts["sentences"]
        if n and total and 1 - n / total > MAX_DEAD_SHARE:
            return [k]
    return []


def apply_merges(
    segments: list[Segment], dead: list[np.ndarray], name: Callable[[], str]
) -> tuple[list[Segment], list[np.ndarray]]:
    """Drop empty segments and merge by ``plan`` until it has nothing left to do."""
    keep = [k for k, d in enumerate(dead) if (~d).any()]
    segments, dead = [segments[k] for k in keep], [dead[k] for k in keep]
    while picked := plan(segments, dead):
        started = time.perf_counter()
        merged = merge(name(), [(segments[k], ~dead[k]) for k in picked])
        first = picked[0]
        rest = set(picked[1:])
        segments = [merged if k == first else s for k, s in enumerate(segments) if k not in rest]
        fresh = np.zeros(merged.counts["articles"], dtype=bool)
        dead = [fresh if k == first else d for k, d in enumerate(dead) if k not in rest]
        log.info(
            "merged %d segments into %s (%d sentences) in %.2fs",
            len(picked),
            merged.name,
            merged.counts["sentences"],
            time.perf_counter() - started,
        )
    return segments, dead
