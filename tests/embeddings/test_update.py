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


def _bm25(index: SearchIndex, terms: list[str]) -> dict[int, float]:
    rows, scores = index.bm25("sentences", terms, 10**6)
    return dict(zip(rows.tolist(), scores.tolist(), strict=True))


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
    have = {a.id: a.content_hash for a in base.live_articles()}
    wanted = store.fingerprints()
    removed = [a for a, h in have.items() if wanted.get(a) != h]
    added = [a for a, h in wanted.items() if have.get(a) != h]
    assert sorted(removed) == ["harbour", "library"] and sorted(added) == ["festival", "harbour"]
    updated, stats = update_index(
        base, store.iter_stored(added), removed, encoder, cache, version="v2", corpus_digest="d2"
    )
    # Only the added articles' sentences and passages were embedded, into one new segment.
    # Two of the base segment's three articles are gone, so the merge policy rewrote it
    # without them (tombstones alone are tested in test_segments.py).
    assert stats.embedded == 2 + 2  # festival: 1 sentence + 1 passage; harbour v2: the same
    assert len(updated.segments) == 2 and base.segments[0] not in updated.segments
    assert not any(d.any() for d in updated.dead)
    full, _ = build_index(store.iter_stored(), encoder, cache, version="v3", corpus_digest="d2")

    assert updated.manifest["kind"] == "incremental" and updated.manifest["base_version"] == "v1"
    assert {a.id for a in updated.live_articles()} == {"harbour", "interview", "festival"}
    assert updated.live_counts == full.live_counts
    live = updated.sentence_allowed(np.arange(len(updated.sentences)))
    got = {k: i for k, i in _by_key(updated).items() if live[i]}
    want = {k: i for k, i in _by_key(full).items() if full.sentence_allowed(np.array([i]))[0]}
    assert set(got) == set(want)
    for key, i in got.items():
        j = want[key]
        assert updated.sentences[i].text == full.sentences[j].text
        assert updated.sentences[i].role == full.sentences[j].role
        assert np.allclose(
            updated.vectors("sentences", np.array([i])), full.vectors("sentences", np.array([j]))
        )
    # The old harbour text is never returned, by BM25 or by the dense search.
    for query in ("harbour reopened boats", "maps library 1602", "bridge reopen May", "jazz"):
        terms = tokenize([query])[0]
        a, b = _bm25(updated, terms), _bm25(full, terms)
        assert set(a) <= set(got.values())
        assert {k: round(a[i], 4) for k, i in got.items() if i in a} == {
            k: round(b[want[k]], 4) for k in got if want[k] in b
        }
        vector = encoder.encode([query])[0]
        rows, _ = updated.dense("sentences", vector, 10)
        assert set(rows.tolist()) <= set(got.values())
    # Interview structure survives: the answer still points at its question.
    q_rows = [p.question for p in updated.passages if p.question is not None]
    assert q_rows and all(updated.passages[q].role == "question" for q in q_rows)
    assert all(updated.passages[s.passage].article == s.article for s in updated.sentences)
    # And it round-trips through a verified snapshot.
    snaps = Snapshots(tmp_path / "index")
    snaps.publish(updated)
    loaded = Snapshots(tmp_path / "index").load_current()
    assert loaded.version == "v2" and loaded.live_counts == updated.live_counts
    assert [d.tolist() for d in loaded.dead] == [d.tolist() for d in updated.dead]
    store.close()
    cache.close()


def test_the_base_version_is_left_untouched(tmp_path: Path, encoder: Encoder) -> None:
    store = ArticleStore(tmp_path / "a.sqlite3")
    cache = VectorCache(tmp_path / "v.sqlite3")
    store.upsert(HARBOUR)
    base, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    before = (len(base.sentences), len(base.segments), [d.tolist() for d in base.dead])
    store.upsert(NEW)
    store.upsert(HARBOUR_V2)
    update_index(
        base,
        store.iter_stored(["festival", "harbour"]),
        [],
        encoder,
        cache,
        version=new_version_id(),
        corpus_digest="d2",
    )
    after = (len(base.sentences), len(base.segments), [d.tolist() for d in base.dead])
    assert before == after
    store.close()
    cache.close()
