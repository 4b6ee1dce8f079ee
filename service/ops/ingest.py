"""Ingest: read article files or take parsed articles, and store them one by one.

The caller holds the data directory's writer lock; each article is durable once
``on_article`` is called for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from corpus.article import Article
from corpus.readers import iter_files, read_path
from corpus.store import ArticleStore

log = logging.getLogger(__name__)

# Called with (outcome, article id) once an article is durably stored.
OnArticle = Callable[[str, str], None]


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
) -> IngestReport:
    """Read and store the articles in the files under ``paths``; a bad file is reported
    in ``failed`` and the rest still ingest."""
    report = IngestReport()
    for path in list(iter_files(paths)):
        try:
            articles = read_path(path)
        except Exception as exc:  # a bad file is reported, the rest still ingest
            report.failed.append(str(exc))
            articles = []
        for article in articles:
            _record(store, report, article, on_article, max_chars)
        if on_file:
            on_file(path)
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
) -> IngestReport:
    """Store already-parsed articles."""
    report = IngestReport()
    for article in articles:
        _record(store, report, article, on_article, max_chars)
    return report


def _record(
    store: ArticleStore,
    report: IngestReport,
    article: Article,
    on_article: OnArticle | None,
    max_chars: int,
) -> None:
    if len(article.text) > max_chars:
        report.failed.append(
            f"{article.id}: the text is {len(article.text):,} characters; at most "
            f"{max_chars:,} are accepted (BRIEFING_MAX_ARTICLE_CHARS)"
        )
        return
    outcome = store.upsert(article)
    getattr(report, outcome).append(article.id)
    if outcome != "unchanged":
        canonical = store.duplicate_of(article.id)
        if canonical is not None:
            report.duplicates[article.id] = canonical
    if on_article:
        on_article(outcome, article.id)
