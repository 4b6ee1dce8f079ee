"""Index versions: saved with a manifest, loaded back verified, refused when they mismatch."""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from corpus.article import Article
from corpus.store import ArticleStore
from embeddings.build import build_index
from embeddings.cache import VectorCache
from embeddings.encoder import Encoder
from embeddings.errors import IndexIntegrityError, NoIndexError, OldIndexFormatError
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
    loaded = Snapshots(snaps.root).load_current()  # a fresh reader: nothing reused
    assert loaded.version == index.version
    assert list(loaded.sentences) == list(index.sentences)
    assert list(loaded.articles) == list(index.articles)
    rows = np.arange(len(index.sentences))
    assert np.allclose(loaded.vectors("sentences", rows), index.vectors("sentences", rows))
    manifest = json.loads((snaps.versions / index.version / MANIFEST).read_text())
    assert manifest["counts"] == {"articles": 2, "passages": 3, "sentences": 4}
    assert manifest["model_id"].startswith("all-MiniLM-L6-v2")
    assert manifest["format"] == 3 and len(manifest["segments"]) == 1
    # Segment tables are memory-mapped from disk, not read into Python objects.
    segment = loaded.segments[0]
    for array in (segment.sentence_dense.vectors, segment.texts.blob, segment.sentences["end"]):
        assert mapped(array) and not array.flags.writeable


def mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory-mapped file."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, mmap.mmap)


def _segment_folder(snaps: Snapshots) -> Path:
    (folder,) = snaps.segments.iterdir()
    return folder


def test_a_changed_file_is_refused(built: tuple[SearchIndex, Snapshots, VectorCache]) -> None:
    index, snaps, _ = built
    snaps.publish(index)
    blob = _segment_folder(snaps) / "sentences.text.blob.npy"
    blob.write_bytes(blob.read_bytes().replace(b"Monday", b"Friday"))
    with pytest.raises(IndexIntegrityError, match=r"sentences\.text\.blob"):
        Snapshots(snaps.root).load_current()


def test_a_missing_file_is_refused(built: tuple[SearchIndex, Snapshots, VectorCache]) -> None:
    index, snaps, _ = built
    snaps.publish(index)
    (_segment_folder(snaps) / "passages.bm25.packed.npy").unlink()
    with pytest.raises(IndexIntegrityError, match=r"passages\.bm25\.packed"):
        Snapshots(snaps.root).load_current()


def test_counts_that_disagree_are_refused(
    built: tuple[SearchIndex, Snapshots, VectorCache],
) -> None:
    index, snaps, _ = built
    folder = snaps.publish(index)
    # A consistent-looking manifest whose counts disagree with the segment's tables.
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["counts"]["sentences"] = 5
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexIntegrityError, match="differ from the manifest"):
        Snapshots(snaps.root).load_current()
    manifest["segments"][0]["counts"]["sentences"] = 5
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexIntegrityError, match="counts differ"):
        Snapshots(snaps.root).load_current()


def test_an_old_format_is_named(built: tuple[SearchIndex, Snapshots, VectorCache]) -> None:
    _index, snaps, _ = built
    old = snaps.versions / "20200101T000000000000Z-abc123"
    old.mkdir(parents=True)
    (old / MANIFEST).write_text(json.dumps({"format": 2, "version": old.name, "files": {}}))
    (snaps.root / "CURRENT").write_text(old.name)
    with pytest.raises(OldIndexFormatError, match="format 2"):
        snaps.load_current()


def test_half_written_builds_are_ignored_and_cleaned(
    built: tuple[SearchIndex, Snapshots, VectorCache],
) -> None:
    index, snaps, _ = built
    snaps.publish(index)
    junk = snaps.building / "20990101T000000000000Z-dead00"
    junk.mkdir(parents=True)
    (junk / "sentences.text.blob.npy").write_text("{")
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
    # Versions share their segment: it is written once and kept while a version names it.
    assert len(list(snaps.segments.iterdir())) == 1
