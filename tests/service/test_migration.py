"""Upgrading: a data directory whose index is in the old format is rebuilt from the store as
segments on start, with one log line, and nothing stored is lost."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pytest

from corpus.article import Article
from embeddings import segment as segment_module
from embeddings.encoder import Encoder, file_sha256
from embeddings.reader import Reader
from embeddings.segment import Segment
from embeddings.snapshots import POINTER
from embeddings.sparse import Postings
from service.answering.answer import Answer
from service.ops.engine import Engine
from service.settings import Settings

OLD_VERSION = "20251001T120000000000Z-0ld000"


def _old_format_index(root: Path) -> None:
    """What the previous release wrote: one folder a version, every table in it."""
    folder = root / "versions" / OLD_VERSION
    (folder / "bm25-sentences").mkdir(parents=True)
    (folder / "sentences.json").write_text('{"article": [0], "text": ["x"]}')
    (folder / "bm25-sentences" / "vocab.json").write_text('["x"]')
    manifest = {
        "format": 2,
        "version": OLD_VERSION,
        "model_id": "all-MiniLM-L6-v2@53aa51172d142c89",
        "counts": {"articles": 1, "passages": 1, "sentences": 1},
        "files": {"sentences.json": "0" * 64, "bm25-sentences/vocab.json": "0" * 64},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (root / POINTER).write_text(OLD_VERSION + "\n")


def test_an_old_index_is_rebuilt_from_the_store_with_one_log_line(
    tmp_path: Path, encoder: Encoder, reranker: Reader, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    first = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    articles = [
        Article("harbour", "Harbour", "The harbour reopened on Monday after repairs.", "Wire"),
        Article("maps", "Maps", "The library scanned 12,000 historical maps last year.", "Daily"),
    ]
    first.ingest_articles(articles)
    first.close()
    _old_format_index(data / "index")

    engine = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    with caplog.at_level(logging.INFO):
        engine.bootstrap(None)
    assert engine.state == "ready", engine.error
    lines = [r for r in caplog.records if "format 2" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "rebuilding" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    live = engine.live
    assert live is not None and live.index.manifest["format"] == 3
    assert live.index.live_fingerprints().keys() == {"harbour", "maps"}
    assert engine.store.count() == 2
    answer = engine.ask("How many maps did the library scan?").answer
    assert answer.answered and answer.quotes[0].article_id == "maps"
    # The old version is superseded, not needed again: the next start loads the new one.
    again = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    with caplog.at_level(logging.INFO):
        caplog.clear()
        again.bootstrap(None)
    assert not [r for r in caplog.records if "format 2" in r.getMessage()]
    assert again.live is not None and again.live.index.version == live.index.version
    engine.close()
    again.close()


def test_an_index_of_another_encoder_is_embedded_again_on_start_with_one_log_line(
    tmp_path: Path, encoder: Encoder, reranker: Reader, caplog: pytest.LogCaptureFixture
) -> None:
    # As after an upgrade that changes the default encoder: the stored articles are kept,
    # the index is embedded again with the configured model, and start-up says so once.
    data = tmp_path / "data"
    fp32 = Encoder.load(backend="onnx")
    first = Engine(Settings(data_dir=data), encoder=fp32, reranker=reranker)
    first.ingest_articles(
        [Article("maps", "Maps", "The library scanned 12,000 historical maps last year.", "D")]
    )
    first.update_index()
    assert first.live is not None and first.live.index.model_id == fp32.model_id
    first.close()

    engine = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    with caplog.at_level(logging.INFO):
        engine.bootstrap(None)
    assert engine.state == "ready", engine.error
    lines = [r for r in caplog.records if "another model" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert encoder.model_id in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert engine.live is not None and engine.live.index.model_id == encoder.model_id
    answer = engine.ask("How many maps did the library scan?").answer
    assert answer.answered and answer.quotes[0].article_id == "maps"
    engine.close()


def _unpacked(segment: Path) -> None:
    """What releases before 2026-11-28 wrote: postings' rows and frequencies in int32
    files of their own, and each block entry's four fields in a file each."""
    meta = json.loads((segment / "segment.json").read_text())
    for level in ("sentences", "passages"):
        name = f"{level}.bm25"
        postings = Postings.load(segment, name)
        blocks = postings.blocks
        older = {
            "rows": postings.rows.astype(np.int32),
            "tfs": postings.tfs.astype(np.int32),
            "blocks.block": blocks.block.astype(np.int32),
            "blocks.count": blocks.count.astype(np.uint16),
            "blocks.max_tf": blocks.max_tf.astype(np.uint16),
            "blocks.min_length": blocks.min_length.astype(np.uint16),
        }
        for array, values in older.items():
            path = segment / f"{name}.{array}.npy"
            np.save(path, values)
            meta["files"][path.name] = file_sha256(path)
        for array in ("packed", "blocks.entries"):
            (segment / f"{name}.{array}.npy").unlink()
            del meta["files"][f"{name}.{array}.npy"]
    (segment / "segment.json").write_text(json.dumps(meta))


def _without_blocks(segment: Path) -> None:
    """What releases before block-max metadata wrote: unpacked postings, no blocks."""
    _unpacked(segment)
    for path in segment.glob("*.blocks.*"):
        path.unlink()
    meta = json.loads((segment / "segment.json").read_text())
    meta["files"] = {k: v for k, v in meta["files"].items() if ".blocks." not in k}
    (segment / "segment.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("older", [_without_blocks, _unpacked])
def test_segments_an_older_release_wrote_are_written_again_on_start(
    tmp_path: Path,
    encoder: Encoder,
    reranker: Reader,
    caplog: pytest.LogCaptureFixture,
    older: Callable[[Path], None],
) -> None:
    data = tmp_path / "data"
    first = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    first.ingest_articles(
        [
            Article("harbour", "Harbour", "The harbour reopened on Monday after repairs.", "Wire"),
            Article("maps", "Maps", "The library scanned 12,000 historical maps last year.", "D"),
        ]
    )
    first.update_index()
    first.ingest_articles([Article("zoo", "Zoo", "The zoo's two pandas arrived in May.", "Wire")])
    first.update_index()
    assert first.live is not None
    before = first.live.index
    question = "How many maps did the library scan?"
    expected = first.ask(question).answer
    first.close()
    old = [data / "index" / "segments" / s.name for s in before.segments]
    assert len(old) == 2
    for folder in old:
        older(folder)
    assert all(Segment.outdated(folder) for folder in old)

    engine = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    with caplog.at_level(logging.INFO):
        engine.bootstrap(None)
    assert engine.state == "ready", engine.error
    assert len([r for r in caplog.records if "block-max metadata existed" in r.getMessage()]) == 1
    live = engine.live
    assert live is not None and live.index.version != before.version
    assert live.index.manifest["store"] == before.manifest["store"]  # holds the same changes
    assert live.index.live_counts == before.live_counts
    for folder, segment in zip(old, live.index.segments, strict=True):
        new = data / "index" / "segments" / segment.name
        assert segment.name != folder.name
        assert (new / "sentences.bm25.blocks.json").exists()
        assert not Segment.outdated(new)
        for level in ("sentences", "passages"):
            assert (new / f"{level}.bm25.blocks.entries.npy").exists()
            assert not (new / f"{level}.bm25.rows.npy").exists()
            assert not (new / f"{level}.bm25.blocks.max_tf.npy").exists()
            assert np.array_equal(
                Postings.load(new, f"{level}.bm25").rows,
                Postings.load(folder, f"{level}.bm25").rows,
            )
        # Linked, not copied: the vectors are the same file.
        assert (new / "sentences.vectors.npy").stat().st_ino == (
            folder / "sentences.vectors.npy"
        ).stat().st_ino
    answer = engine.ask(question).answer
    assert [(q.article_id, q.start) for q in answer.quotes] == [
        (q.article_id, q.start) for q in expected.quotes
    ]
    # A process that only follows loads (and verifies) the upgraded version.
    reader = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    assert reader.load_live().version == live.index.version
    # Done once: the next start publishes nothing.
    engine.close()
    again = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    again.bootstrap(None)
    assert again.live is not None and again.live.index.version == live.index.version
    again.close()
    reader.close()


def _with_wide_vectors(segment: Path, level: str) -> np.ndarray:
    """What releases before float16 vectors wrote beside an ANN index: float32 vectors.
    Returns them."""
    vectors = np.load(segment / f"{level}.vectors.npy").astype(np.float32)
    np.save(segment / f"{level}.vectors.npy", vectors)
    meta = json.loads((segment / "segment.json").read_text())
    meta["files"][f"{level}.vectors.npy"] = file_sha256(segment / f"{level}.vectors.npy")
    (segment / "segment.json").write_text(json.dumps(meta))
    return vectors


def _with_older_ann(segment: Path, level: str) -> np.ndarray:
    """What the releases before fast-scan codes wrote: the level's IVF over 8-bit codes
    alone (``.ivf``), beside float32 vectors. Returns its lists' centroids."""
    vectors = _with_wide_vectors(segment, level)
    nlist = faiss.extract_index_ivf(faiss.read_index(str(segment / f"{level}.ann"))).nlist
    older = faiss.index_factory(vectors.shape[1], f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    older.train(vectors)
    older.add(vectors)
    faiss.write_index(older, str(segment / f"{level}.ivf"))
    (segment / f"{level}.ann").unlink()
    meta = json.loads((segment / "segment.json").read_text())
    del meta["files"][f"{level}.ann"]
    meta["files"][f"{level}.ivf"] = file_sha256(segment / f"{level}.ivf")
    (segment / "segment.json").write_text(json.dumps(meta))
    quantizer = faiss.extract_index_ivf(older).quantizer
    return quantizer.reconstruct_n(0, quantizer.ntotal)


COUNCIL_QUESTIONS = ["Which budget line did council 17 approve?", "What was the vote in council 5?"]


@dataclass
class Council:
    """A data folder whose index is one segment of 40 short articles (80 sentences: an ANN
    level, ``FLAT_MAX_ROWS`` being 70 for the test; 40 passages, a flat level), the
    segment's folder, and the answers it gave to ``COUNCIL_QUESTIONS``."""

    data: Path
    folder: Path
    expected: list[Answer]
    encoder: Encoder
    reranker: Reader
    caplog: pytest.LogCaptureFixture

    def start(self) -> Engine:
        """An engine started on the folder as ``briefing serve`` starts one, its log captured."""
        engine = Engine(Settings(data_dir=self.data), encoder=self.encoder, reranker=self.reranker)
        with self.caplog.at_level(logging.INFO):
            engine.bootstrap(None)
        assert engine.state == "ready", engine.error
        return engine

    def logged(self, text: str) -> int:
        """How many captured log lines hold ``text``."""
        return len([r for r in self.caplog.records if text in r.getMessage()])

    def same_quotes(self, engine: Engine) -> None:
        for question, answer in zip(COUNCIL_QUESTIONS, self.expected, strict=True):
            got = engine.ask(question).answer
            assert [(q.article_id, q.start) for q in got.quotes] == [
                (q.article_id, q.start) for q in answer.quotes
            ]


@pytest.fixture()
def council(
    tmp_path: Path,
    encoder: Encoder,
    reranker: Reader,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Council:
    monkeypatch.setattr(segment_module, "FLAT_MAX_ROWS", 70)
    data = tmp_path / "data"
    first = Engine(Settings(data_dir=data), encoder=encoder, reranker=reranker)
    first.ingest_articles(
        [
            Article(
                f"c{n}",
                f"Council {n}",
                f"Council {n} approved budget line {n} on Tuesday. The vote was {n} to {n + 3}.",
                "Wire",
            )
            for n in range(40)
        ]
    )
    first.update_index()
    assert first.live is not None
    (segment,) = first.live.index.segments
    expected = [first.ask(q).answer for q in COUNCIL_QUESTIONS]
    first.close()
    folder = data / "index" / "segments" / segment.name
    return Council(data, folder, expected, encoder, reranker, caplog)


def test_older_ann_indexes_are_built_again_on_their_lists_on_start(council: Council) -> None:
    data, folder = council.data, council.folder
    assert (folder / "sentences.ann").exists() and not (folder / "passages.ann").exists()
    lists = _with_older_ann(folder, "sentences")

    engine = council.start()
    assert council.logged("8-bit ANN codes alone") == 1
    assert engine.live is not None
    (upgraded,) = engine.live.index.segments
    new = data / "index" / "segments" / upgraded.name
    assert upgraded.name != folder.name and not (new / "sentences.ivf").exists()
    ann = faiss.read_index(str(new / "sentences.ann"))
    assert isinstance(ann, faiss.IndexRefine)  # fast-scan codes, refined by 6-bit ones
    quantizer = faiss.extract_index_ivf(ann).quantizer
    assert np.array_equal(quantizer.reconstruct_n(0, quantizer.ntotal), lists)  # same lists
    assert np.load(new / "sentences.vectors.npy", mmap_mode="r").dtype == np.float16
    for kept in ("passages.vectors.npy", "sentences.bm25.blocks.entries.npy"):  # linked
        assert (new / kept).stat().st_ino == (folder / kept).stat().st_ino
    council.same_quotes(engine)
    engine.close()


def test_float32_vectors_beside_an_ann_index_are_narrowed_to_float16_on_start(
    council: Council,
) -> None:
    data, folder = council.data, council.folder
    # A flat level is written as float32 today, an ANN level as float16.
    assert np.load(folder / "passages.vectors.npy", mmap_mode="r").dtype == np.float32
    assert not Segment.outdated(folder)
    wide = _with_wide_vectors(folder, "sentences")
    assert Segment.outdated(folder)

    engine = council.start()
    assert council.logged("with float32 vectors") == 1
    assert engine.live is not None
    (upgraded,) = engine.live.index.segments
    new = data / "index" / "segments" / upgraded.name
    assert upgraded.name != folder.name and not Segment.outdated(new)
    narrowed = np.load(new / "sentences.vectors.npy", mmap_mode="r")
    assert narrowed.dtype == np.float16
    assert np.array_equal(narrowed, wide.astype(np.float16))
    for kept in ("sentences.ann", "passages.vectors.npy", "sentences.bm25.packed.npy"):
        assert (new / kept).stat().st_ino == (folder / kept).stat().st_ino  # linked
    council.same_quotes(engine)
    engine.close()
