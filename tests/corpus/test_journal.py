"""The store's change journal: every change of what an index holds is journaled, and a
position in it tells an update exactly which articles to look at again."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from corpus.article import Article
from corpus.store import ArticleStore, Position
from tests.corpus.test_dedup import REWRITE, WIRE

HARBOUR = Article(
    "harbour", "Harbour reopens", "The harbour reopened on Monday. Boats returned.", "Coast"
)
BRIDGE = Article("bridge", "Bridge closes", "The old bridge closed for repairs on Friday.", "Coast")


def test_inserts_rewrites_and_deletes_are_journaled_and_re_ingests_are_not(
    tmp_path: Path,
) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    start = store.position()
    store.upsert(HARBOUR)
    store.upsert(BRIDGE)
    after_two = store.position()
    assert after_two.seq > start.seq and after_two.store == start.store
    assert store.changed_since(start) == ("bridge", "harbour")
    store.upsert(HARBOUR)  # identical content: nothing changes
    assert store.position() == after_two and store.changed_since(after_two) == ()
    store.upsert(replace(HARBOUR, text="The harbour reopened on Tuesday after repairs."))
    assert store.changed_since(after_two) == ("harbour",)
    rewritten = store.position()
    store.delete("bridge")
    assert store.changed_since(rewritten) == ("bridge",)
    assert store.changed_since(start) == ("bridge", "harbour")


def test_a_change_of_canonical_article_journals_the_whole_group(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    store.upsert(Article("wire-1", "Floods", WIRE, "Wire", None, "2024-05-01"))
    before = store.position()
    # A newer copy of the story: it becomes canonical, the first one a duplicate of it.
    store.upsert(Article("wire-2", "Floods, update", REWRITE, "Wire", None, "2024-05-02"))
    assert store.changed_since(before) == ("wire-1", "wire-2")
    assert store.hashes_of(["wire-1", "wire-2"], canonical=True).keys() == {"wire-2"}
    middle = store.position()
    store.delete("wire-2")  # the older copy is canonical again
    assert store.changed_since(middle) == ("wire-1", "wire-2")
    assert store.hashes_of(["wire-1", "wire-2"], canonical=True).keys() == {"wire-1"}


def test_the_journal_refuses_positions_it_cannot_answer_for(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    other = ArticleStore(tmp_path / "b.sqlite3")
    assert store.store_id != other.store_id
    store.upsert(HARBOUR)
    first = store.position()
    store.upsert(BRIDGE)
    assert store.changed_since(Position(other.store_id, 0)) is None  # another store
    assert store.changed_since(Position(store.store_id, first.seq + 99)) is None  # ahead
    store.forget_changes(first.seq)
    assert store.changed_since(Position(store.store_id, first.seq - 1)) is None  # forgotten
    assert store.changed_since(first) == ("bridge",)
    store.close()
    reopened = ArticleStore(tmp_path / "a.sqlite3")  # the id and the journal persist
    assert reopened.store_id == store.store_id and reopened.changed_since(first) == ("bridge",)


def test_a_store_from_before_the_journal_gains_it_on_open(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    ArticleStore(path).upsert(HARBOUR)
    db = sqlite3.connect(path)
    for trigger in ("changes_insert", "changes_delete", "changes_update"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("DROP TABLE changes")
    db.execute("DROP TABLE meta")
    db.commit()
    db.close()
    store = ArticleStore(path)
    start = store.position()
    store.upsert(BRIDGE)
    assert store.changed_since(start) == ("bridge",)
    assert store.fingerprints().keys() == {"harbour", "bridge"}
