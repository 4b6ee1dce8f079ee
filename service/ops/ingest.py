"""Ingest: read article files or take parsed articles, and store them one by one.

The caller holds the data directory's writer lock; each article is durable once
``on_article`` is called for it. Articles are committed in batches, so a bulk ingest pays one
disk sync per batch; a large one is segmented in worker processes.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Protocol

from corpus.article import Article
from corpus.readers import iter_files, read_path
from corpus.store import ArticleStore, Prepared, UpsertResult, prepare

log = logging.getLogger(__name__)

# Called with (outcome, article id) once an article is durably stored.
OnArticle = Callable[[str, str], None]


class Executor(Protocol):
    """Runs ``prepare`` elsewhere: a process pool here, or Ray tasks (``service.ops.cluster``)."""

    def map(
        self, fn: Callable[[Article], Prepared], items: Iterable[Article], chunksize: int = 1
    ) -> Iterator[Prepared]: ...

    def shutdown(self, cancel_futures: bool = False) -> None: ...


# Articles stored per transaction; from how many changed ones a batch is segmented in
# worker processes (once an ingest has stored a first full batch).
BATCH = 256
PARALLEL_FROM = 64


@dataclass
class IngestReport:
    """What one ingest did, file by file."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # messages naming file and problem
    duplicates: dict[str, str] = field(default_factory=dict)  # id -> canonical id

    @property
    def changed(self) -> bool:
        """Whether the store changed."""
        return bool(self.added or self.replaced)


def ingest_files(
    store: ArticleStore,
    paths: Iterable[Path],
    *,
    max_chars: int,
    on_file: Callable[[Path], None] | None = None,
    on_article: OnArticle | None = None,
    workers: int = 1,
    executor: Executor | None = None,
) -> IngestReport:
    """Read and store the articles in the files under ``paths``; a bad file is reported
    in ``failed`` and the rest still ingest. ``workers``, ``executor``: see
    ``ingest_articles``."""
    report = IngestReport()
    with _Batcher(store, report, on_article, max_chars, workers, executor) as batcher:
        for path in list(iter_files(paths)):
            try:
                articles = read_path(path)
            except Exception as exc:  # a bad file is reported, the rest still ingest
                report.failed.append(str(exc))
                articles = []
            batcher.add(articles, partial(on_file, path) if on_file else None)
    log.info(
        "ingest: %d added, %d replaced, %d unchanged, %d failed",
        len(report.added),
        len(report.replaced),
        len(report.unchanged),
        len(report.failed),
    )
    return report


def ingest_articles(
    store: ArticleStore,
    articles: Iterable[Article],
    *,
    max_chars: int,
    on_article: OnArticle | None = None,
    workers: int = 1,
    executor: Executor | None = None,
) -> IngestReport:
    """Store already-parsed articles.

    ``workers`` > 1 segments a large ingest in that many spawned worker processes: only
    from a program whose main module is import-safe (``if __name__ == "__main__"``), as
    the ``briefing`` command is; a server stores in-process. ``executor`` (a Ray cluster's)
    segments every batch of ``PARALLEL_FROM`` changed articles or more instead.
    """
    report = IngestReport()
    with _Batcher(store, report, on_article, max_chars, workers, executor) as batcher:
        for article in articles:
            batcher.add([article])
    return report


class _Batcher:
    """Stores articles ``BATCH`` at a time, one transaction each, so a bulk ingest pays one
    disk sync per batch, not per article; with ``workers`` > 1, once an ingest proves
    large, the articles are segmented and signed in that many worker processes while the
    batch before is written. ``on_article`` is called for each article once its batch is
    committed, so it still means "durably stored"."""

    def __init__(
        self,
        store: ArticleStore,
        report: IngestReport,
        on_article: OnArticle | None,
        max_chars: int,
        workers: int,
        executor: Executor | None = None,
    ) -> None:
        self.store, self.report, self.on_article = store, report, on_article
        self.max_chars, self.workers, self.executor = max_chars, workers, executor
        self.pending: list[Article] = []
        self.done: list[Callable[[], None]] = []  # called after the pending batch commits
        # Batches being prepared: (articles, positions of the changed ones, their
        # preparations as they arrive from the workers, callbacks).
        self.inflight: deque[
            tuple[list[Article], list[int], Iterator[Prepared] | None, list[Callable[[], None]]]
        ] = deque()
        self.flushed = 0
        self.pool: Executor | ProcessPoolExecutor | None = None

    def __enter__(self) -> _Batcher:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.flush()
                while self.inflight:
                    self._write()
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)

    def add(self, articles: Iterable[Article], done: Callable[[], None] | None = None) -> None:
        for article in articles:
            if len(article.text) > self.max_chars:
                self.report.failed.append(
                    f"{article.id}: the text is {len(article.text):,} characters; at most "
                    f"{self.max_chars:,} are accepted (BRIEFING_MAX_ARTICLE_CHARS)"
                )
            else:
                self.pending.append(article)
        if done is not None:
            self.done.append(done)
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Start preparing the pending batch; write the one before it, if any."""
        batch, self.pending = self.pending, []
        done, self.done = self.done, []
        known = self.store.hashes_of([a.id for a in batch]) if batch else {}
        changed = [k for k, a in enumerate(batch) if known.get(a.id) != a.content_hash]
        pool = self._pool() if len(changed) >= PARALLEL_FROM else None
        ready = None
        if pool is not None:
            ready = pool.map(prepare, [batch[k] for k in changed], chunksize=16)
        self.inflight.append((batch, changed, ready, done))
        self.flushed += len(batch)
        while len(self.inflight) > (1 if pool is not None else 0):
            self._write()

    def _write(self) -> None:
        """Commit the oldest batch in flight and report it."""
        batch, changed, ready, done = self.inflight.popleft()
        if batch:
            prepared: list[Prepared | None] = [None] * len(batch)
            if ready is not None:
                for k, item in zip(changed, ready, strict=True):
                    prepared[k] = item
            outcomes = self.store.upsert_many(batch, prepared)
            for article, outcome in zip(batch, outcomes, strict=True):
                self._record(article, outcome)
        for callback in done:
            callback()

    def _pool(self) -> Executor | ProcessPoolExecutor | None:
        """The given executor, or worker processes, started once an ingest has stored a
        first full batch (a small ingest is not worth starting them)."""
        if self.executor is not None:
            return self.executor
        if self.pool is None and self.workers > 1 and self.flushed >= BATCH:
            # spawn, not fork: the caller has threads (ONNX Runtime's, at least).
            context = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self.pool

    def _record(self, article: Article, outcome: UpsertResult) -> None:
        getattr(self.report, outcome).append(article.id)
        if outcome != "unchanged":
            canonical = self.store.duplicate_of(article.id)
            if canonical is not None:
                self.report.duplicates[article.id] = canonical
        if self.on_article:
            self.on_article(outcome, article.id)
