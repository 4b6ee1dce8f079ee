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


def _numbered(n: int) -> Article:
    return Article(f"n{n:03d}", f"Item {n}", f"Item {n} opened. It closed at {n} pm.", "Wire")


def test_iteration_pages_through_one_snapshot(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("corpus.store.ITER_PAGE", 3)
    store = ArticleStore(tmp_path / "a.sqlite3")
    assert store.upsert_many([_numbered(n) for n in range(10)]) == ["added"] * 10
    stream = store.iter_stored()
    first = next(stream)
    # Writes while the iteration is under way are not seen by it (nor blocked by it).
    store.upsert(_numbered(99))
    assert store.delete("n008")
    rest = list(stream)
    assert [s.article.id for s in [first, *rest]] == [f"n{n:03d}" for n in range(10)]
    for item in [first, *rest]:
        text = item.article.text
        assert [text[s.start : s.end] for s in item.segmentation.sentences] == [
            text.split(". ")[0] + ".",
            text.split(". ")[1],
        ]
    assert [s.article.id for s in store.iter_stored(["n001", "n008", "n099"])] == [
        "n001",
        "n099",
    ]
    many = [f"n{n:03d}" for n in range(0, 100, 2)]  # more ids than a page: paged, filtered
    assert [s.article.id for s in store.iter_stored(many)] == ["n000", "n002", "n004", "n006"]
    store.close()


def test_upsert_many_commits_together_and_reports_each(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    store.upsert(ARTICLE)
    changed = replace(ARTICLE, text="The harbour stays closed.")
    outcomes = store.upsert_many([ARTICLE, _numbered(1), changed, _numbered(1)])
    assert outcomes == ["unchanged", "added", "replaced", "unchanged"]
    assert store.get("a1") == changed and store.count() == 2
    store.close()
