"""Incremental index versions equal a full build of the same articles, embedding only new text."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from corpus.article import Article
from corpus.store import ArticleStore
from embeddings.build import build_index, update_index
from embeddings.cache import VectorCache
from embeddings.encoder import Encoder
from embeddings.index import SearchIndex
from embeddings.snapshots import Snapshots, new_version_id
from embeddings.sparse import tokenize

HARBOUR = Article(
    "harbour",
    "Harbour reopens",
    "The harbour reopened on Monday. Boats returned quickly.\n\nRepairs cost 4.2 million euros.",
    "Coastal Times",
)
LIBRARY = Article(
    "library", "Library maps", "The library scanned 12,000 maps.\n\nThe oldest is from 1602.", "M"
)
INTERVIEW = Article(
    "interview",
    "Mayor interview",
    "The mayor spoke to us.\n\nQ: Will the bridge reopen?\n\nYes, in May. Work starts soon.",
    "M",
)
NEW = Article("festival", "Festival", "The jazz festival drew 40,000 visitors this summer.", "M")
HARBOUR_V2 = Article(
    "harbour", "Harbour stays shut", "The harbour stays closed until the sea wall is fixed.", "C"
)


def _by_key(index: SearchIndex) -> dict[tuple[str, int, int], int]:
    return {
        (index.articles[s.article].id, s.start, s.end): i for i, s in enumerate(index.sentences)
    }


def test_an_update_equals_a_full_build_of_the_new_state(tmp_path: Path, encoder: Encoder) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    cache = VectorCache(tmp_path / "v.sqlite3")
    for a in (HARBOUR, LIBRARY, INTERVIEW):
        store.upsert(a)
    base, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d1")
    # Withdraw one, replace one, add one.
    store.delete("library")
    store.upsert(HARBOUR_V2)
    store.upsert(NEW)
    have = {a.id: a.content_hash for a in base.articles}
    wanted = store.fingerprints()
    removed = [a for a, h in have.items() if wanted.get(a) != h]
    added = [a for a, h in wanted.items() if have.get(a) != h]
    assert sorted(removed) == ["harbour", "library"] and sorted(added) == ["festival", "harbour"]
    updated, stats = update_index(
        base, store.iter_stored(added), removed, encoder, cache, version="v2", corpus_digest="d2"
    )
    # Only the added articles' sentences and passages were embedded.
    assert stats.embedded == 2 + 2  # festival: 1 sentence + 1 passage; harbour v2: the same
    full, _ = build_index(store.iter_stored(), encoder, cache, version="v3", corpus_digest="d2")

    assert updated.manifest["kind"] == "incremental" and updated.manifest["base_version"] == "v1"
    assert {a.id for a in updated.articles} == {"harbour", "interview", "festival"}
    got, want = _by_key(updated), _by_key(full)
    assert set(got) == set(want)
    for key, i in got.items():
        j = want[key]
        assert updated.sentences[i].text == full.sentences[j].text
        assert updated.sentences[i].role == full.sentences[j].role
        assert np.allclose(updated.sentence_level.vectors[i], full.sentence_level.vectors[j])
    # The old harbour text has left FAISS and BM25; counts agree everywhere.
    for level, rows in (
        (updated.sentence_level, updated.sentences),
        (updated.passage_level, updated.passages),
    ):
        assert level.dense.ntotal == level.sparse.doc_count == len(rows)
    for query in ("harbour reopened boats", "maps library 1602", "bridge reopen May", "jazz"):
        terms = tokenize([query])[0]
        a = updated.sentence_level.sparse.scores(terms)
        b = full.sentence_level.sparse.scores(terms)
        assert np.allclose([a[got[k]] for k in got], [b[want[k]] for k in got], atol=1e-5)
    assert not any("reopened" in s.text or "maps" in s.text for s in updated.sentences)
    # Interview structure survives the re-numbering: the answer still points at its question.
    q_rows = [p.question for p in updated.passages if p.question is not None]
    assert q_rows and all(updated.passages[q].role == "question" for q in q_rows)
    assert all(updated.passages[s.passage].article == s.article for s in updated.sentences)
    # And it round-trips through a verified snapshot.
    snaps = Snapshots(tmp_path / "index")
    snaps.publish(updated)
    loaded = snaps.load_current()
    assert loaded.version == "v2" and len(loaded.sentences) == len(updated.sentences)
    store.close()
    cache.close()


def test_the_base_version_is_left_untouched(tmp_path: Path, encoder: Encoder) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    cache = VectorCache(tmp_path / "v.sqlite3")
    store.upsert(HARBOUR)
    base, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    before = (
        len(base.sentences),
        base.sentence_level.dense.ntotal,
        base.sentence_level.sparse.doc_count,
    )
    store.upsert(NEW)
    update_index(
        base,
        store.iter_stored(["festival"]),
        [],
        encoder,
        cache,
        version=new_version_id(),
        corpus_digest="d2",
    )
    after = (
        len(base.sentences),
        base.sentence_level.dense.ntotal,
        base.sentence_level.sparse.doc_count,
    )
    assert before == after
    store.close()
    cache.close()
