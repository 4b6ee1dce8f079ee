"""Near-duplicates: MinHash estimates, and the store's groups with the newest canonical."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from corpus import dedup
from corpus.article import Article
from corpus.store import ArticleStore

EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval" / "squad-v1.1-dev-tune.json"

WIRE = "\n\n".join(
    [
        "Floodwaters rose across the river valley overnight, forcing hundreds of families to "
        "leave their homes as emergency crews built sandbag walls along the main road.",
        "The regional authority said three bridges were closed and that schools in the "
        "lowest districts would stay shut until the water level falls below the warning mark.",
        "Farmers reported losing most of the spring harvest, and the agriculture ministry "
        "promised compensation for fields that remain under water for more than a week.",
        "Forecasters expect more rain on Thursday, although the heaviest storms should pass "
        "to the north of the valley by the weekend according to the national weather service.",
        "Volunteers from neighbouring towns arrived with boats and food supplies, and the "
        "red cross opened two shelters in sports halls on higher ground near the old market.",
    ]
)
REWRITE = WIRE.replace(
    "Forecasters expect more rain on Thursday, although the heaviest storms should pass "
    "to the north of the valley by the weekend according to the national weather service.",
    "The national weather service now expects the rain to ease on Friday, with only light "
    "showers over the valley during the weekend and dry weather from Monday onwards.",
)
OTHER = (
    "The city council approved a new budget on Tuesday that doubles spending on public "
    "libraries and adds two bus lines serving the eastern suburbs from next spring onwards."
)


def test_signatures_estimate_similarity() -> None:
    a, b, c = dedup.signature(WIRE), dedup.signature(REWRITE), dedup.signature(OTHER)
    assert a is not None and b is not None and c is not None
    assert dedup.similarity(a, dedup.signature(WIRE)) == 1.0  # type: ignore[arg-type]
    assert dedup.similarity(a, b) >= dedup.THRESHOLD  # one paragraph of five rewritten
    assert dedup.similarity(a, c) < 0.2
    assert dedup.signature("Too short to judge.") is None


def _article(aid: str, text: str, published: str | None, title: str = "Floods") -> Article:
    return Article(aid, title, text, "Wire", None, published)


def test_the_newest_of_a_group_is_canonical_and_only_it_is_indexed(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    store.upsert(_article("wire-1", WIRE, "2024-05-01"))
    store.upsert(_article("other", OTHER * 2, "2024-05-01"))
    # The same story with a new headline and a rewritten paragraph, published later.
    assert (
        store.upsert(_article("wire-2", REWRITE, "2024-05-02", "Floods: rain to ease")) == "added"
    )
    assert store.duplicate_of("wire-1") == "wire-2"
    assert store.duplicate_of("wire-2") is None
    assert store.duplicates("wire-2") == ["wire-1"]
    assert set(store.fingerprints()) == {"wire-2", "other"}
    assert [s.article.id for s in store.iter_stored()] == ["other", "wire-2"]
    # An exact copy under a third id, older: it joins the group without taking it over.
    store.upsert(_article("wire-0", WIRE, "2024-04-30"))
    assert store.duplicates("wire-2") == ["wire-0", "wire-1"]
    # Withdrawing the canonical article promotes the newest remaining one.
    assert store.delete("wire-2")
    assert store.duplicate_of("wire-1") is None
    assert store.duplicates("wire-1") == ["wire-0"]
    # Rewriting an article into another story takes it out of the group.
    store.upsert(replace(_article("wire-0", OTHER + " Different ending here today.", None)))
    assert store.duplicate_of("wire-0") in (None, "other")
    assert store.duplicates("wire-1") == []
    store.close()


def test_the_same_article_twice_is_a_no_op(tmp_path: Path) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    assert store.upsert(_article("wire-1", WIRE, "2024-05-01")) == "added"
    digest = store.state_digest()
    assert store.upsert(_article("wire-1", WIRE, "2024-05-01")) == "unchanged"
    assert store.state_digest() == digest and store.duplicates("wire-1") == []
    store.close()


@pytest.mark.skipif(not EVAL.exists(), reason="needs ../shared/eval")
def test_distinct_paragraphs_are_never_grouped(tmp_path: Path) -> None:
    data = json.loads(EVAL.read_text(encoding="utf-8"))["data"]
    store = ArticleStore(tmp_path / "a.sqlite3")
    n = 0
    for entry in data[:8]:
        for i, p in enumerate(entry["paragraphs"][:25]):
            store.upsert(Article(f"p{n}-{i}", entry["title"], p["context"], "SQuAD"))
            n += 1
    assert len(store.fingerprints()) == store.count() == n
    store.close()


def test_band_keys_of_an_older_layout_are_recomputed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    store = ArticleStore(path)
    store.upsert(_article("wire-1", WIRE, "2024-05-01"))
    store.close()
    db = sqlite3.connect(path)  # as a store written with the old layout left it
    db.execute("DELETE FROM bands")
    db.execute("INSERT INTO bands VALUES (0, 12345, 'wire-1')")
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    store = ArticleStore(path)
    (bands,) = store._db.execute("SELECT COUNT(*) FROM bands").fetchone()
    assert bands == dedup.BANDS
    assert store.upsert(_article("wire-2", REWRITE, "2024-05-02")) == "added"
    assert store.duplicate_of("wire-1") == "wire-2"  # found through the recomputed keys
    store.close()
