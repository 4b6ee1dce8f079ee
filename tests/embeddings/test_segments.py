"""Segments: tombstones, tiered merges, filters inside search, and the IVF-SQ8 path."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from corpus.article import Article
from corpus.store import ArticleStore
from embeddings import columns, merging, segment, sq_kernel
from embeddings.build import build_index, update_index
from embeddings.cache import VectorCache
from embeddings.columns import RowReader, Strings, save_array
from embeddings.encoder import Encoder
from embeddings.index import SearchIndex, SearchPlan
from embeddings.segment import Dense, SegmentBuilder, Stage, best_first
from embeddings.snapshots import Snapshots, new_version_id
from tests.embeddings.test_snapshots import mapped


def _article(n: int, source: str = "Wire", published: str | None = None) -> Article:
    return Article(
        f"a{n}",
        f"Report {n}",
        f"Council {n} approved budget line {n * 7}. The vote was {n} to {n + 1}.",
        source,
        published=published,
    )


@pytest.fixture
def store(tmp_path: Path) -> ArticleStore:
    return ArticleStore(tmp_path / "a.sqlite3")


@pytest.fixture
def cache(tmp_path: Path) -> VectorCache:
    return VectorCache(tmp_path / "v.sqlite3")


def _add(
    base: SearchIndex, store: ArticleStore, encoder: Encoder, cache: VectorCache, *arts: Article
) -> SearchIndex:
    for a in arts:
        store.upsert(a)
    index, _ = update_index(
        base,
        store.iter_stored([a.id for a in arts]),
        [],
        encoder,
        cache,
        version=new_version_id(),
        corpus_digest="d",
    )
    return index


def test_a_withdrawal_is_a_tombstone_in_a_shared_segment(
    tmp_path: Path, store: ArticleStore, cache: VectorCache, encoder: Encoder
) -> None:
    for n in range(6):
        store.upsert(_article(n))
    base, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    updated, stats = update_index(
        base, [], ["a2"], encoder, cache, version="v2", corpus_digest="d2"
    )
    assert stats.embedded == 0
    assert updated.segments == base.segments  # nothing rewritten
    assert updated.dead[0].tolist() == [False, False, True, False, False, False]
    assert updated.article_row("a2") is None and updated.article_row("a3") is not None
    vector = encoder.encode(["Council 2 approved budget line 14"])[0]
    for rows in (
        updated.dense("sentences", vector, 50)[0],
        updated.bm25("sentences", ["council", "2", "14"], 50)[0],
    ):
        ids = {updated.articles[updated.sentences[int(r)].article].id for r in rows}
        assert ids and "a2" not in ids
    snaps = Snapshots(tmp_path / "index")
    snaps.publish(updated)
    loaded = Snapshots(tmp_path / "index").load_current()
    assert loaded.article_row("a2") is None
    assert loaded.live_counts["articles"] == 5
    assert [s.name for s in loaded.segments] == [s.name for s in base.segments]


def test_small_segments_merge_by_tier_and_answer_the_same(
    store: ArticleStore, cache: VectorCache, encoder: Encoder
) -> None:
    store.upsert(_article(0))
    index, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    counts = []
    for n in range(1, merging.MERGE_FACTOR + 2):
        index = _add(index, store, encoder, cache, _article(n))
        counts.append(len(index.segments))
    # One-article segments pile up to MERGE_FACTOR, then fold into one.
    assert max(counts) == merging.MERGE_FACTOR - 1
    assert [s.counts["articles"] for s in index.segments] == [merging.MERGE_FACTOR, 1, 1]
    full, _ = build_index(store.iter_stored(), encoder, cache, version="vf", corpus_digest="d")
    assert {a.id for a in index.live_articles()} == {a.id for a in full.live_articles()}
    vector = encoder.encode(["Council 7 approved budget line 49"])[0]

    def best(ix: SearchIndex) -> list[tuple[str, int]]:
        rows, _ = ix.dense("sentences", vector, 5)
        return [
            (ix.articles[ix.sentences[int(r)].article].id, ix.sentences[int(r)].start) for r in rows
        ]

    assert best(index) == best(full)
    _rows_a, scores_a = index.bm25("sentences", ["council", "7", "49"], 1000)
    _rows_b, scores_b = full.bm25("sentences", ["council", "7", "49"], 1000)
    assert sorted(np.round(scores_a, 4)) == sorted(np.round(scores_b, 4))


def test_a_mostly_withdrawn_segment_is_rewritten_without_its_dead(
    store: ArticleStore, cache: VectorCache, encoder: Encoder
) -> None:
    for n in range(4):
        store.upsert(_article(n))
    base, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    updated, _ = update_index(
        base, [], ["a0", "a1", "a2"], encoder, cache, version="v2", corpus_digest="d"
    )
    (seg,) = updated.segments
    assert seg is not base.segments[0] and seg.counts["articles"] == 1
    assert [a.id for a in updated.live_articles()] == ["a3"]


def test_filters_are_applied_inside_search(
    store: ArticleStore, cache: VectorCache, encoder: Encoder
) -> None:
    for n in range(8):
        store.upsert(_article(n, "Wire" if n % 2 else "Daily", f"2024-0{n + 1}-15"))
    index, _ = build_index(store.iter_stored(), encoder, cache, version="v", corpus_digest="d")
    vector = encoder.encode(["council budget vote"])[0]
    masks = index.article_masks(source="daily", published_after="2024-03-01")
    rows, _ = index.dense("sentences", vector, 50, masks)
    bm_rows, _ = index.bm25("sentences", ["council", "budget"], 1000, masks)
    for found in (rows, bm_rows):
        ids = {index.articles[index.sentences[int(r)].article].id for r in found}
        assert ids == {"a2", "a4", "a6"}
    masks = index.article_masks(article_ids=["a5", "missing"])
    rows, _ = index.dense("sentences", vector, 50, masks)
    assert {index.articles[index.sentences[int(r)].article].id for r in rows} == {"a5"}


def test_large_levels_use_fast_scan_codes_refined_by_6_bit_ones_with_exact_rescoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segment, "FLAT_MAX_ROWS", 1000)
    rng = np.random.default_rng(1)
    # Clustered unit vectors, as real sentence embeddings are.
    centres = rng.standard_normal((50, 32)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, 6000)] + 0.3 * rng.standard_normal((6000, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    dense = Dense.build(vectors)
    assert isinstance(dense.ann, faiss.IndexRefine)
    dense.save(tmp_path, "s")
    loaded = Dense.load(tmp_path, "s")
    assert mapped(loaded.vectors) and loaded.ann is not None
    assert loaded.reader is not None  # rows for re-scoring are read, not mapped
    # Kept as float16 beside the ANN index; re-scoring reads them within 1e-3 of float32.
    assert loaded.vectors.dtype == np.float16
    taken = loaded.take(np.arange(0, 6000, 7))
    assert taken.dtype == np.float16 and np.array_equal(taken, vectors[::7].astype(np.float16))
    assert np.abs(taken.astype(np.float32) @ vectors[0] - vectors[::7] @ vectors[0]).max() < 1e-3
    assert Dense.build(vectors[:1000]).vectors.dtype == np.float32  # a flat level: float32
    recalls = []
    for q in vectors[:20] + 0.1 * rng.standard_normal((20, 32)).astype(np.float32):
        q = q / np.linalg.norm(q)
        exact = set(np.argsort(-(vectors @ q))[:50].tolist())
        rows, scores, stage = loaded.search(q, 100, None)
        assert stage is Stage.CODES and len(rows) == segment.REFINE_FACTOR * 100
        assert (np.diff(scores) <= 0).all()  # best first by the 4-bit codes
        refined = loaded.refined(q, rows)  # the 6-bit codes' scores
        # Read by a compiled loop, as FAISS's refinement decodes them.
        decoded = faiss.downcast_index(loaded.ann.refine_index).reconstruct_batch(rows) @ q
        assert np.abs(refined - decoded).max() < 1e-5
        assert np.abs(refined - vectors[rows] @ q).max() < 0.02
        assert np.abs(refined - vectors[rows] @ q).max() < np.abs(scores - vectors[rows] @ q).max()
        assert not np.allclose(refined, vectors[rows] @ q, atol=1e-6)
        shortlist, _ = best_first(rows, refined, 100)
        best, _ = best_first(shortlist, vectors[shortlist] @ q, 50)  # as the index does
        recalls.append(len(exact & set(best.tolist())) / 50)
    assert np.median(recalls) >= 0.98
    allowed = np.zeros(6000, dtype=bool)
    allowed[::3] = True
    rows, _, _ = loaded.search(vectors[0], 20, allowed)
    assert rows.size == segment.REFINE_FACTOR * 20 and allowed[rows].all()
    # A filter leaving few rows: those are scanned exactly, from their float16 vectors.
    few = np.zeros(6000, dtype=bool)
    few[::7] = True
    for q in vectors[:5]:
        rows, scores, stage = loaded.search(q, 30, few)
        narrow = vectors[few].astype(np.float16).astype(np.float32) @ q
        assert stage is Stage.EXACT and few[rows].all() and (np.diff(scores) <= 0).all()
        assert np.allclose(scores, np.sort(narrow)[::-1][:30], atol=1e-5)
        assert np.allclose(scores, vectors[rows] @ q, atol=1e-3)
    empty = np.zeros(6000, dtype=bool)
    assert loaded.search(vectors[0], 30, empty)[0].size == 0


def test_a_search_re_scores_the_best_of_the_codes_exactly(
    store: ArticleStore, cache: VectorCache, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segment, "FLAT_MAX_ROWS", 70)  # 80 sentences: an ANN level
    for n in range(40):
        store.upsert(_article(n))
    base, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    assert base.segments[0].sentence_dense.ann is not None
    index = _add(base, store, encoder, cache, _article(40))  # a flat segment beside it
    assert index.segments[-1].sentence_dense.ann is None
    every = np.arange(len(index.sentences))
    for question in ("Which budget line did council 17 approve?", "The vote was 40 to 41"):
        q = encoder.encode_query(question)
        rows, scores = index.dense("sentences", q, 10)
        assert np.allclose(scores, index.vectors("sentences", rows) @ q, atol=1e-6)
        truth, _ = best_first(every, index.vectors("sentences", every) @ q, 10)
        assert rows[0] == truth[0] and len(set(rows) & set(truth)) >= 9


def test_only_whole_groups_of_6_bit_codes_are_read_by_the_compiled_loop() -> None:
    rng = np.random.default_rng(3)
    for dim, qtype, read in [
        (32, faiss.ScalarQuantizer.QT_6bit, True),
        (30, faiss.ScalarQuantizer.QT_6bit, False),  # a last group of two components
        (32, faiss.ScalarQuantizer.QT_8bit, False),
    ]:
        data = rng.standard_normal((500, dim)).astype(np.float32)
        quantizer = faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)
        quantizer.train(data)
        quantizer.add(data)
        ranges = sq_kernel.six_bit_ranges(quantizer)
        assert (ranges is not None) is read
        if ranges is not None:
            codes = faiss.vector_to_array(quantizer.codes).reshape(500, -1)
            rows = rng.choice(500, 60, replace=False)
            q = data[0] / np.linalg.norm(data[0])
            expected = quantizer.reconstruct_batch(rows) @ q
            assert np.abs(sq_kernel.scores(codes, rows, q, ranges) - expected).max() < 1e-5


def test_segments_codes_shortlists_are_refined_across_the_search_not_each_in_full(
    store: ArticleStore, cache: VectorCache, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import embeddings.index as index_module

    monkeypatch.setattr(segment, "FLAT_MAX_ROWS", 70)  # 80 sentences a segment: ANN levels
    for n in range(40):
        store.upsert(_article(n))
    index, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    for first in (40, 80):
        index = _add(index, store, encoder, cache, *(_article(n) for n in range(first, first + 40)))
    assert [s.sentence_dense.ann is not None for s in index.segments] == [True] * 3
    # Each segment's codes pick 2w rows; the best 2w across segments, and each segment's
    # own best w, are refined.
    monkeypatch.setattr(segment, "REFINE_FACTOR", 2)
    monkeypatch.setattr(index_module, "REFINE_FACTOR", 2)
    monkeypatch.setattr(index_module, "REFINE_EACH", 1)
    refined: list[tuple[int, int]] = []  # (segment's rows, rows refined)
    real = Dense.refined

    def counted(self: Dense, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        refined.append((self.size, len(rows)))
        return real(self, query, rows)

    monkeypatch.setattr(Dense, "refined", counted)
    every = np.arange(len(index.sentences))
    for question in ("Which budget line did council 97 approve?", "The vote was 12 to 13"):
        refined.clear()
        q = encoder.encode_query(question)
        rows, scores = index.dense("sentences", q, 5)  # w = 32: 64 rows from each segment
        assert len(refined) == 3 and all(n >= 32 for _, n in refined)  # each one's best
        assert sum(n for _, n in refined) <= 64 + 3 * 32 < 3 * 64  # not all 192
        assert np.allclose(scores, index.vectors("sentences", rows) @ q, atol=1e-6)
        truth, _ = best_first(every, index.vectors("sentences", every) @ q, 5)
        assert rows[0] == truth[0] and len(set(rows) & set(truth)) >= 4


def test_merged_tables_keep_every_pointer_inside(
    store: ArticleStore, cache: VectorCache, encoder: Encoder
) -> None:
    interview = Article(
        "iv", "Mayor", "The mayor spoke.\n\nQ: Will the bridge reopen?\n\nYes, in May. Soon.", "M"
    )
    store.upsert(interview)
    store.upsert(_article(1))
    builder = SegmentBuilder()
    for item in store.iter_stored():
        builder.append(item)
    seg_vectors = encoder.encode(builder.sentence_texts)
    p_vectors = encoder.encode(builder.passage_texts)
    one = builder.build("one", seg_vectors, p_vectors)
    merged = segment.merge("m", [(one, np.array([False, True])), (one, np.array([True, True]))])
    merged.check(merged.counts)
    assert merged.counts["articles"] == 3
    lead = merged.sentences["lead"]
    # The interview (kept from both parts) has one lead sentence in each copy, each pointing
    # at its own copy's question passage.
    assert (lead >= 0).sum() == 2
    for q in lead[lead >= 0]:
        assert segment.ROLES[int(merged.passages["role"][q])] == "question"
    assert len(set(merged.passages["article"][lead[lead >= 0]].tolist())) == 2


def test_no_merge_makes_a_segment_larger_than_the_cap(
    store: ArticleStore, cache: VectorCache, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(merging, "MAX_MERGED_SENTENCES", 6)  # three two-sentence articles
    store.upsert(_article(0))
    index, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    for n in range(1, 3 * merging.MERGE_FACTOR):
        index = _add(index, store, encoder, cache, _article(n))
        assert max(s.counts["sentences"] for s in index.segments) <= 6
    assert len(index.segments) < 3 * merging.MERGE_FACTOR // 2  # merges still happened
    assert len(list(index.live_articles())) == 3 * merging.MERGE_FACTOR


def test_a_bulk_build_hands_each_segment_over_as_it_is_built(
    tmp_path: Path,
    store: ArticleStore,
    cache: VectorCache,
    encoder: Encoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import embeddings.build as build

    monkeypatch.setattr(build, "BULK_SEGMENT_SENTENCES", 4)
    for n in range(5):
        store.upsert(_article(n))
    snaps = Snapshots(tmp_path / "index")
    handed: list[str] = []

    def sink(seg: segment.Segment) -> segment.Segment:
        # Segments already handed over are on disk before the next one is built.
        assert all((snaps.segments / name / "segment.json").exists() for name in handed)
        handed.append(seg.name)
        return snaps.write_segment(seg)

    index, stats = build_index(
        store.iter_stored(), encoder, cache, version="v1", corpus_digest="d", sink=sink
    )
    assert [s.name for s in index.segments] == handed and len(handed) == 3
    assert all(mapped(s.sentences["article"]) for s in index.segments)  # mapped from disk
    assert stats.sentences == 10
    snaps.publish(index)
    loaded = Snapshots(tmp_path / "index").load_current()
    assert [s.name for s in loaded.segments] == handed
    assert {a.id for a in loaded.live_articles()} == {f"a{n}" for n in range(5)}


def _four_segments(store: ArticleStore, encoder: Encoder, cache: VectorCache) -> SearchIndex:
    """An index of four articles, one segment each (a build, then three adds)."""
    store.upsert(_article(0))
    index, _ = build_index(store.iter_stored(), encoder, cache, version="v1", corpus_digest="d")
    for n in range(1, 4):
        index = _add(index, store, encoder, cache, _article(n))
    return index


def test_a_large_archives_searches_share_their_segments_between_two_threads_and_find_the_same(
    store: ArticleStore, cache: VectorCache, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import embeddings.index as index_module

    index = _four_segments(store, encoder, cache)
    assert len(index.segments) >= 2
    q = encoder.encode_query("Which budget line did council 2 approve?")
    terms = ["council", "budget", "vote", "2"]
    threads: list[str] = []

    def noted(part: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            threads.append(threading.current_thread().name)
            time.sleep(0.01)  # long enough for the worker to take parts too
            return part()

        return run

    def searches() -> list[np.ndarray]:
        plans: list[SearchPlan[Any]] = []
        for level in ("sentences", "passages"):
            dense = index.plan_dense(level, q, 5)
            bm25 = index.plan_bm25(level, terms, 1000)
            plans += [dense, bm25]
        timed = [replace(plan, parts=tuple(map(noted, plan.parts))) for plan in plans]
        return [array for ranked in index.run(timed) for array in ranked]

    alone = searches()
    assert set(threads) == {threading.current_thread().name}  # small: on this thread only
    threads.clear()
    monkeypatch.setattr(index_module, "OVERLAP_MIN_ROWS", 0)  # every archive counts as large
    shared = searches()
    assert any(name.startswith("segment-search") for name in threads)
    assert threading.current_thread().name in threads
    assert all(np.array_equal(a, b) for a, b in zip(alone, shared, strict=True))
    assert all(  # run() gives what each search alone gives
        np.array_equal(a, b)
        for a, b in zip(
            alone[:4],
            [*index.dense("sentences", q, 5), *index.bm25("sentences", terms, 1000)],
            strict=True,
        )
    )


def test_questions_asked_at_once_each_get_their_own_results_and_a_failing_part_is_raised(
    store: ArticleStore, cache: VectorCache, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import embeddings.index as index_module

    index = _four_segments(store, encoder, cache)
    asked = [(f"Which budget line did council {n} approve?", ["council", str(n)]) for n in range(4)]
    vectors = [encoder.encode_query(q) for q, _ in asked]

    def searches(n: int) -> list[np.ndarray]:
        plans = [
            index.plan_dense("sentences", vectors[n], 3),
            *[index.plan_bm25(level, asked[n][1], 3) for level in ("sentences", "passages")],
        ]
        return [array for ranked in index.run(plans) for array in ranked]

    alone = [searches(n) for n in range(4)]
    monkeypatch.setattr(index_module, "OVERLAP_MIN_ROWS", 0)  # every archive counts as large
    with ThreadPoolExecutor(4) as askers:  # more questions at once than helper threads
        together = list(askers.map(searches, [n % 4 for n in range(40)]))
    for n, got in enumerate(together):
        assert all(np.array_equal(a, b) for a, b in zip(alone[n % 4], got, strict=True))

    def broken() -> None:
        raise OSError("segment file vanished")

    plan = index.plan_bm25("sentences", ["council"], 3)
    with pytest.raises(OSError, match="vanished"):
        index.run([replace(plan, parts=(*plan.parts, broken, *plan.parts))])
    assert [a.tolist() for a in index.bm25("sentences", ["council"], 3)] == [
        a.tolist() for a in index.run([plan])[0]
    ]  # nothing left behind: the next search runs as before
    # A plan with no segment to search is finished with nothing, beside the others.
    empty, ranked = index.run([replace(plan, parts=()), plan])
    assert len(empty[0]) == 0 and len(empty[1]) == 0
    assert [a.tolist() for a in ranked] == [a.tolist() for a in index.run([plan])[0]]


def test_scattered_reads_are_advised_at_once_and_neighbours_read_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    save_array(tmp_path, "v", vectors)
    values = ["alpha", None, "", "gamma delta", *(f"row {i}" for i in range(4, 60))]
    texts = Strings.of(values)
    texts.save(tmp_path, "t")
    advised: list[tuple[int, int]] = []
    reads: list[tuple[int, int]] = []
    real_advise, real_read = os.posix_fadvise, os.pread

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        advised.append((offset, length))
        real_advise(fd, offset, length, advice)

    def count(fd: int, size: int, offset: int) -> bytes:
        reads.append((offset, size))
        return real_read(fd, size, offset)

    monkeypatch.setattr(os, "posix_fadvise", record)
    monkeypatch.setattr(os, "pread", count)
    monkeypatch.setattr(columns, "PREFETCH_MIN_ROWS", 0)  # advise even these few rows
    rows = np.array([299, 3, 150, 3, 151, 153, 4])  # runs: 3-4, 150-153 (152 between), 299
    reader = RowReader(tmp_path / "v.npy")
    reader.prefetch(rows)
    assert sorted(length for _, length in advised) == [32, 64, 128]
    assert np.array_equal(reader.read(rows), vectors[rows])  # in order, repeats too
    assert len(reads) == 3
    loaded = Strings.load(tmp_path, "t")
    advised.clear()
    reads.clear()
    loaded.prefetch([0, 1, 2])
    assert [length for _, length in advised] == [5]  # null and empty rows add nothing
    loaded.prefetch([1, 2])
    assert [length for _, length in advised] == [5]  # a span of 0 would mean the whole file
    wanted = [0, 1, 2, 3, 40, 3, 59, 44]
    assert loaded.read(np.array(wanted)) == [values[i] or "" for i in wanted]
    assert len(reads) == 3  # rows 0-3, 40-44, 59
    assert [loaded[i] for i in range(4)] == ["alpha", None, "", "gamma delta"]
