"""A sharded index: the searches of each question fanned out over shard actors on Ray.

``briefing serve --shards N --ray ADDRESS`` starts N shard actors on the cluster. Each
version's segments are dealt out among them (whole segments, largest first to the least
loaded shard, so every live article belongs to exactly one shard); a shard loads the ANN
indexes and BM25 postings of its own segments only, from the data directory the API reads
(shared storage, as replicas share it). The API process opens versions without ANN
indexes: it reads rows, texts and vectors of the candidates, and the shards search.

BM25 statistics must be the archive's, or a shard would weigh a term by how rare it is in its
share. Elasticsearch's ``dfs_query_then_fetch`` spends a round asking every shard for them;
here the API process has every segment's term dictionary (it opens the versions, only their
ANN indexes stay on disk), so it computes them and sends them with the question: one
parallel round per question, merged by ``service.answering.search.merge``. A sharded answer
is the unsharded one.

A shard actor that dies is restarted by Ray and the call retried; a restarted shard loads
the version it is asked about on first use. One gone for good (killed without restart, its
restarts spent) is replaced and the question retried once; a shard that does not answer
within ``BRIEFING_SHARD_TIMEOUT_S`` makes the question fail with ``SearchUnavailableError``
(HTTP 503), not hang.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from embeddings.index import SearchIndex, TermStats
from embeddings.snapshots import Snapshots
from service.answering.search import (
    Hits,
    IndexSearcher,
    Query,
    SearchUnavailableError,
    archive_stats,
    merge,
)

log = logging.getLogger(__name__)

# Versions a shard keeps open: the live one, and the one before for requests in flight.
KEPT_VERSIONS = 2
# Seconds a replacement shard may take to load its share before the question fails.
LOAD_TIMEOUT_S = 120.0


def assign(index: SearchIndex, shards: int) -> list[list[str]]:
    """Segment names of each shard: largest segment first, to the shard holding the
    fewest live sentences (ties to the lower shard); the same for the same version."""
    loads = [0] * shards
    out: list[list[str]] = [[] for _ in range(shards)]
    sizes = [
        (int((~dead)[seg.sentences["article"]].sum()), k)
        for k, (seg, dead) in enumerate(zip(index.segments, index.dead, strict=True))
    ]
    for size, k in sorted(sizes, key=lambda x: (-x[0], x[1])):
        target = min(range(shards), key=lambda s: (loads[s], s))
        loads[target] += size
        out[target].append(index.segments[k].name)
    return out


class ShardActor:
    """One shard: the versions it was asked about, each searched over its segments."""

    def __init__(self, index_root: str) -> None:
        import faiss
        from threadpoolctl import threadpool_limits

        # One question's search is small; the actor's threads would fight over the cores.
        threadpool_limits(1, user_api="blas")
        faiss.omp_set_num_threads(1)
        self.snapshots = Snapshots(Path(index_root), ann=False)
        self.open: dict[str, IndexSearcher] = {}

    def load(self, version: str, segments: list[str]) -> int:
        """Open ``version`` to search ``segments`` (idempotent); the rows it searches."""
        searcher = self._searcher(version, segments)
        return sum(searcher.index.segments[k].counts["sentences"] for k in searcher.segments or ())

    def _searcher(self, version: str, segments: list[str]) -> IndexSearcher:
        searcher = self.open.get(version)
        if searcher is None:
            index = self.snapshots.load(version, searched=segments)
            mine = set(segments)
            positions = [k for k, s in enumerate(index.segments) if s.name in mine]
            searcher = IndexSearcher(index, positions)
            self.open[version] = searcher
            for old in sorted(self.open)[:-KEPT_VERSIONS]:
                del self.open[old]
            log.info("shard serving %d segments of version %s", len(positions), version)
        return searcher

    def status(self) -> dict[str, Any]:
        """This shard's process and the versions it holds open."""
        return {"pid": os.getpid(), "versions": sorted(self.open)}

    def search(
        self, version: str, segments: list[str], query: Query, stats: dict[str, TermStats]
    ) -> Hits:
        """This shard's hits for ``query``, scored with the archive's ``stats``."""
        return self._searcher(version, segments).search(query, stats)


class ShardedSearcher:
    """A ``Searcher`` over one version whose segments are searched by shard actors."""

    def __init__(self, index: SearchIndex, pool: ShardPool, segments: list[list[str]]):
        self.index = index
        self.pool = pool
        self.segments = segments

    def search(self, query: Query) -> Hits:
        """Every shard's searches, with the archive's BM25 statistics, merged.

        A shard whose actor is gone for good is replaced once and the searches retried; a
        shard that does not answer within the pool's timeout, or a cluster that cannot be
        reached, raises ``SearchUnavailableError``.
        """
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayError

        stats = archive_stats(self.index, query.terms)
        version = self.index.version
        for attempt in (1, 2):
            calls = zip(self.pool.actors, self.segments, strict=True)
            refs = [a.search.remote(version, segs, query, stats) for a, segs in calls]
            try:
                hits = ray.get(refs, timeout=self.pool.timeout_s)
            except GetTimeoutError:
                for ref in refs:  # queued ones need not run; one running cannot be stopped
                    with contextlib.suppress(RayError, TypeError, ValueError):
                        ray.cancel(ref)
                raise SearchUnavailableError(
                    f"an index shard did not answer within {self.pool.timeout_s:g} s"
                ) from None
            except RayActorError as gone:
                reason: Exception = gone
                try:
                    if attempt == 1 and self.pool.replace_dead(version, self.segments):
                        continue
                except RayError as again:
                    reason = again
                raise SearchUnavailableError(f"an index shard is gone ({reason})") from None
            except RayError as exc:
                raise SearchUnavailableError(f"the Ray cluster failed the search ({exc})") from None
            return merge(self.index, query, hits)
        raise AssertionError("unreachable")


class ShardPool:
    """N shard actors on the connected Ray cluster, spread over its nodes."""

    def __init__(self, index_root: Path, count: int, timeout_s: float = 10.0) -> None:
        self.index_root = index_root
        self.timeout_s = timeout_s
        self.actors: list[Any] = [self._start() for _ in range(count)]
        log.info("%d index shards started on the cluster", count)

    def _start(self) -> Any:
        import ray

        remote = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(ShardActor)
        return remote.options(scheduling_strategy="SPREAD").remote(str(self.index_root))

    def replace_dead(self, version: str, segments: list[list[str]]) -> bool:
        """Start a new actor for each one that is gone for good, loaded with its share of
        ``version`` before it is asked to search; whether any was replaced."""
        import ray
        from ray.exceptions import RayActorError

        replaced = []
        for k, actor in enumerate(self.actors):
            try:
                ray.get(actor.__ray_ready__.remote(), timeout=self.timeout_s)
            except RayActorError:
                log.warning("index shard %d is gone; starting a new one", k)
                self.actors[k] = self._start()
                replaced.append(k)
        # Loading a share reads (and verifies) its segments: longer than one search.
        loads = [self.actors[k].load.remote(version, segments[k]) for k in replaced]
        ray.get(loads, timeout=max(LOAD_TIMEOUT_S, self.timeout_s))
        return bool(replaced)

    def open(self, index: SearchIndex) -> ShardedSearcher:
        """Have every shard load its share of ``index``; a searcher over them."""
        import ray

        segments = assign(index, len(self.actors))
        # Bounded: a hung shard must not hold the swap (the live version keeps serving, and
        # following published versions tries again).
        rows = ray.get(
            [a.load.remote(index.version, s) for a, s in zip(self.actors, segments, strict=True)],
            timeout=max(LOAD_TIMEOUT_S, self.timeout_s),
        )
        log.info("index %s served by %d shards (sentences: %s)", index.version, len(rows), rows)
        return ShardedSearcher(index, self, segments)

    def close(self) -> None:
        """Stop the shard actors."""
        import ray

        for actor in self.actors:
            ray.kill(actor)
