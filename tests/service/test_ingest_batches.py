"""Bulk ingest: batches of one transaction each, segmented in worker processes."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from corpus.article import Article
from corpus.store import ArticleStore
from service.ops import ingest


def _articles(count: int) -> list[Article]:
    return [
        Article(
            f"b{n:04d}",
            f"Bulletin {n}",
            f"Ferry {n} left at {n % 12} am. Q: Why late?\n\nA: Fog. It lifted by noon "
            f"on day {n}.\n\nCrews counted {n * 3} passengers.",
            "Wire",
        )
        for n in range(count)
    ]


def _rows(store: ArticleStore) -> list[tuple[object, ...]]:
    return [(s.article, s.content_hash, s.segmentation) for s in store.iter_stored()]


def test_workers_store_exactly_what_one_process_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH", 16)
    monkeypatch.setattr(ingest, "PARALLEL_FROM", 4)
    started: list[int] = []

    class Pool(ProcessPoolExecutor):  # the real pool, counted
        def __init__(self, workers: int, **kw: Any) -> None:
            started.append(workers)
            super().__init__(workers, **kw)

    monkeypatch.setattr(ingest, "ProcessPoolExecutor", Pool)
    articles = _articles(70)
    acknowledged: dict[int, list[str]] = {1: [], 2: []}
    stores = {}
    for workers in (1, 2):
        store = ArticleStore(tmp_path / f"w{workers}.sqlite3")
        report = ingest.ingest_articles(
            store,
            iter(articles),
            max_chars=10_000,
            workers=workers,
            on_article=lambda outcome, aid, w=workers: acknowledged[w].append(aid),
        )
        assert len(report.added) == 70 and not report.failed
        stores[workers] = store
    assert started == [2]  # only the two-worker ingest started processes
    assert acknowledged[1] == acknowledged[2] == [a.id for a in articles]
    assert _rows(stores[1]) == _rows(stores[2])
    again = ingest.ingest_articles(stores[2], articles, max_chars=10_000, workers=2)
    assert len(again.unchanged) == 70 and not again.added


def test_a_batch_reports_too_long_articles_and_stores_the_rest(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    articles = _articles(3)
    long = Article("long", "Long", "Word. " * 400, "Wire")
    report = ingest.ingest_articles(store, [articles[0], long, *articles[1:]], max_chars=500)
    assert report.added == ["b0000", "b0001", "b0002"]
    assert len(report.failed) == 1 and report.failed[0].startswith("long: the text is 2,400")
    assert store.get("long") is None
