"""Index versions: saved with a manifest, loaded back verified, refused when they mismatch."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from corpus.article import Article
from corpus.store import ArticleStore
from embeddings.build import build_index
from embeddings.cache import VectorCache
from embeddings.encoder import Encoder
from embeddings.errors import IndexIntegrityError, NoIndexError
from embeddings.index import SearchIndex
from embeddings.snapshots import MANIFEST, Snapshots, new_version_id

ARTICLES = [
    Article("a1", "Harbour", "The harbour reopened on Monday. Boats returned quickly.", "S1"),
    Article("a2", "Library", "The library scanned 12,000 maps.\n\nThe oldest is from 1602.", "S2"),
]


@pytest.fixture
def built(tmp_path: Path, encoder: Encoder) -> Iterator[tuple[SearchIndex, Snapshots, VectorCache]]:
    store = ArticleStore(tmp_path / "a.sqlite3")
    for a in ARTICLES:
        store.upsert(a)
    cache = VectorCache(tmp_path / "v.sqlite3")
    index, stats = build_index(
        store.iter_stored(), encoder, cache, version=new_version_id(), corpus_digest="d"
    )
    assert (stats.articles, stats.sentences, stats.passages) == (2, 4, 3)
    yield index, Snapshots(tmp_path / "index"), cache
    store.close()
    cache.close()


def test_round_trip(built: tuple[SearchIndex, Snapshots, VectorCache]) -> None:
    index, snaps, _ = built
    assert snaps.current_version() is None
    with pytest.raises(NoIndexError):
        snaps.load_current()
    snaps.publish(index)
    loaded = snaps.load_current()
    assert loaded.version == index.version
    assert loaded.sentences == index.sentences and loaded.articles == index.articles
    assert np.allclose(loaded.sentence_level.vectors, index.sentence_level.vectors)
    manifest = json.loads((snaps.versions / index.version / MANIFEST).read_text())
    assert manifest["counts"] == {"articles": 2, "passages": 3, "sentences": 4}
    assert manifest["model_id"].startswith("all-MiniLM-L6-v2@")
    assert {"sentences.faiss", "articles.json"} <= set(manifest["files"])


def test_a_changed_file_is_refused(built: tuple[SearchIndex, Snapshots, VectorCache]) -> None:
    index, snaps, _ = built
    folder = snaps.publish(index)
    sentences = folder / "sentences.json"
    sentences.write_text(sentences.read_text().replace("Monday", "Friday"))
    with pytest.raises(IndexIntegrityError, match=r"sentences\.json"):
        snaps.load_current()


def test_a_missing_file_is_refused(built: tuple[SearchIndex, Snapshots, VectorCache]) -> None:
    index, snaps, _ = built
    folder = snaps.publish(index)
    shutil.rmtree(folder / "bm25-passages")
    with pytest.raises(IndexIntegrityError, match="bm25-passages"):
        snaps.load_current()


def test_counts_that_disagree_are_refused(
    built: tuple[SearchIndex, Snapshots, VectorCache],
) -> None:
    index, snaps, _ = built
    folder = snaps.publish(index)
    # A consistent-looking manifest whose counts disagree with FAISS and BM25.
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["counts"]["sentences"] = 5
    with pytest.raises(IndexIntegrityError, match="counts disagree"):
        SearchIndex.load(folder, manifest)


def test_half_written_builds_are_ignored_and_cleaned(
    built: tuple[SearchIndex, Snapshots, VectorCache],
) -> None:
    index, snaps, _ = built
    snaps.publish(index)
    junk = snaps.building / "20990101T000000000000Z-dead00"
    junk.mkdir(parents=True)
    (junk / "sentences.json").write_text("{")
    assert snaps.load_current().version == index.version
    snaps.clean()
    assert not junk.exists()
    assert snaps.load_current().version == index.version


def test_old_versions_are_pruned_but_live_kept(
    built: tuple[SearchIndex, Snapshots, VectorCache],
) -> None:
    index, snaps, _ = built
    versions = []
    for _ in range(4):
        index.version = new_version_id()
        index.manifest["version"] = index.version
        snaps.publish(index)
        versions.append(index.version)
    snaps.clean(keep=1)
    left = sorted(p.name for p in snaps.versions.iterdir())
    assert left == versions[-2:]
    assert snaps.current_version() == versions[-1]
