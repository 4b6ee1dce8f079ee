"""The SQLite store: idempotent ingest, replacement of changed articles, exact segments."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from corpus.article import Article
from corpus.store import ArticleStore

ARTICLE = Article(
    id="a1",
    title="Harbour reopens",
    text="The harbour reopened on Monday. Boats returned.\n\nRepairs cost 4.2 million euros.",
    source="Coastal Times",
    published="2021-03-01",
)


def test_upsert_is_idempotent_and_replaces_changed_articles(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    assert store.upsert(ARTICLE) == "added"
    assert store.upsert(ARTICLE) == "unchanged"
    changed = replace(ARTICLE, text="The harbour stays closed.")
    assert store.upsert(changed) == "replaced"
    assert store.get("a1") == changed
    (stored,) = list(store.iter_stored())
    texts = [changed.text[s.start : s.end] for s in stored.segmentation.sentences]
    assert texts == ["The harbour stays closed."]
    assert store.upsert(replace(changed, title="New title")) == "replaced"
    store.close()


def test_articles_survive_reopening_and_list_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    store = ArticleStore(path)
    store.upsert(ARTICLE)
    store.upsert(replace(ARTICLE, id="a2", published="2022-01-01"))
    store.upsert(replace(ARTICLE, id="a0", published=None))
    store.close()
    store = ArticleStore(path)
    assert store.count() == 3
    assert [a.id for a in store.list()] == ["a2", "a1", "a0"]
    assert [a.id for a in store.list(offset=1, limit=1)] == ["a1"]
    store.close()


def test_get_if_current_checks_the_content_hash(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    store.upsert(ARTICLE)
    assert store.get_if_current("a1", ARTICLE.content_hash) == ARTICLE
    assert store.get_if_current("a1", "0" * 64) is None
    digest = store.state_digest()
    assert store.delete("a1") and not store.delete("a1")
    assert store.get("a1") is None and store.state_digest() != digest
    store.close()


def test_segments_point_into_the_stored_text(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    store.upsert(ARTICLE)
    (stored,) = list(store.iter_stored())
    text = stored.article.text
    assert [text[s.start : s.end] for s in stored.segmentation.sentences] == [
        "The harbour reopened on Monday.",
        "Boats returned.",
        "Repairs cost 4.2 million euros.",
    ]
    assert [p.index for p in stored.segmentation.paragraphs] == [0, 1]
    store.close()
