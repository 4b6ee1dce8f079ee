"""Block-max top-k BM25 finds exactly what scoring every row finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings import sparse
from embeddings.bm25_search import Floor, scores_of, top_k
from embeddings.errors import IndexIntegrityError
from embeddings.segment import best_first
from embeddings.sparse import Blocks, Postings, TermRuns, idf, tokenize


def _corpus(n: int, seed: int) -> list[str]:
    """Texts of Zipf-distributed words (a few very common, many rare), some repeated."""
    rng = np.random.default_rng(seed)
    vocab = [f"word{i}" for i in range(400)]
    texts = []
    for _ in range(n):
        if texts and rng.random() < 0.1:
            texts.append(texts[int(rng.integers(len(texts)))])  # equal scores: ties
            continue
        length = int(rng.integers(1, 25))
        picks = np.minimum(rng.zipf(1.3, size=length) - 1, len(vocab) - 1)
        texts.append(" ".join(vocab[i] for i in picks))
    return texts


def _with_blocks(postings: Postings, rows: int) -> Postings:
    p = postings
    return Postings.of_rows(p.terms, p.indptr, p.rows, p.tfs, p.lengths, rows)


def _weights(postings: Postings, terms: list[str]) -> list[tuple[str, float]]:
    return [(t, idf(postings.size, postings.df(t))) for t in dict.fromkeys(terms)]


def _every_row(
    postings: Postings,
    weights: list[tuple[str, float]],
    avg: float,
    k: int,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(postings.size)
    scores = scores_of(postings, weights, avg, rows)
    keep = scores > 0 if allowed is None else (scores > 0) & allowed
    return best_first(rows[keep], scores[keep], k)


@pytest.mark.parametrize("block_rows", [1, 4, 32, 4096])
def test_top_k_is_the_best_of_every_row(block_rows: int) -> None:
    postings = _with_blocks(Postings.build(_corpus(3000, seed=block_rows)), block_rows)
    rng = np.random.default_rng(1)
    avg = postings.total_length / postings.size * 1.1  # an archive's average, not this one's
    for trial in range(60):
        terms = [f"word{int(i)}" for i in np.minimum(rng.zipf(1.3, size=4) - 1, 399)]
        terms.append("absent")
        weights = _weights(postings, terms)
        k = int(rng.choice([1, 5, 50, 10_000]))
        allowed = None
        if trial % 3 == 1:
            allowed = rng.random(postings.size) < 0.5
        elif trial % 3 == 2:
            allowed = np.zeros(postings.size, dtype=bool)
            allowed[rng.integers(postings.size, size=20)] = True  # a narrow filter
        want_rows, want_scores = _every_row(postings, weights, avg, k, allowed)
        rows, scores = top_k(postings, weights, avg, k, allowed)
        assert rows.tolist() == want_rows.tolist()
        assert scores.tobytes() == want_scores.tobytes()  # the same to the bit


@pytest.mark.parametrize("block_rows", [4, 32])
def test_a_floor_skips_what_cannot_reach_it_and_keeps_every_row_that_does(
    block_rows: int,
) -> None:
    postings = _with_blocks(Postings.build(_corpus(3000, seed=5 + block_rows)), block_rows)
    rng = np.random.default_rng(2)
    avg = postings.total_length / postings.size
    skipped = 0
    for trial in range(40):
        terms = [f"word{int(i)}" for i in np.minimum(rng.zipf(1.3, size=3) - 1, 399)]
        weights = _weights(postings, terms)
        k = int(rng.choice([1, 10, 100]))
        allowed = rng.random(postings.size) < 0.5 if trial % 2 else None
        want_rows, want_scores = _every_row(postings, weights, avg, k, allowed)
        if len(want_scores) == 0:
            continue
        # a floor at one of the k best scores (ties included), or above any score (each
        # term adds less than its idf)
        floor = float(want_scores[int(rng.integers(len(want_scores)))])
        if trial % 5 == 0:
            floor = 1.01 * sum(w for _, w in weights)
        rows, scores = top_k(postings, weights, avg, k, allowed, floor)
        reach = want_scores >= floor
        # every row of the k best that reaches the floor, in the same place and bits
        assert rows[: int(reach.sum())].tolist() == want_rows[reach].tolist()
        assert scores[: int(reach.sum())].tobytes() == want_scores[reach].tobytes()
        # what else comes back is below the floor, scored exactly
        rest = rows[int(reach.sum()) :]
        assert (scores[int(reach.sum()) :] < floor).all()
        assert (
            scores_of(postings, weights, avg, rest).tobytes()
            == scores[len(rows) - len(rest) :].tobytes()
        )
        skipped += len(want_rows) - len(rows)
        if floor > want_scores[0]:
            assert len(rows) == 0  # nothing reaches it: nothing was scored
    assert skipped > 0  # the floor left rows out


def test_a_floor_shared_by_segments_is_the_kth_best_score_they_returned() -> None:
    floor = Floor(3)
    assert floor.value == 0.0
    floor.offer(0, np.array([5.0, 1.0], np.float32))
    assert floor.value == 0.0  # fewer than k rows reach anything yet
    floor.offer(0, np.array([5.0, 1.0], np.float32))
    assert floor.value == 0.0  # a segment searched again counts once
    floor.offer(1, np.array([4.0, 2.0], np.float32))
    assert floor.value == 2.0
    floor.offer(2, np.array([9.0], np.float32))
    assert floor.value == 4.0


def test_the_top_of_many_equal_scores_is_in_row_order() -> None:
    texts = ["harbour bridge"] * 500 + ["harbour"] * 10
    postings = _with_blocks(Postings.build(texts), 8)
    weights = _weights(postings, ["harbour", "bridg"])
    rows, scores = top_k(postings, weights, 3.0, 7)
    assert rows.tolist() == list(range(7))
    assert len(set(scores.tolist())) == 1


def test_each_block_bounds_every_posting_in_it() -> None:
    postings = _with_blocks(Postings.build(_corpus(2000, seed=7)), 16)
    blocks = postings.blocks
    for avg in (0.5, 5.0, 50.0):
        for col in range(min(150, len(postings.terms))):
            lo, hi = int(blocks.indptr[col]), int(blocks.indptr[col + 1])
            tf = blocks.max_tf[lo:hi].astype(np.float64)
            length = blocks.min_length[lo:hi].astype(np.float64)
            most = 2.0 * tf / (tf + sparse.K1 * (1 - sparse.B + sparse.B * length / avg))
            bound = dict(zip(blocks.block[lo:hi].tolist(), most.tolist(), strict=True))
            at = slice(int(postings.indptr[col]), int(postings.indptr[col + 1]))
            rows, tfs = postings.rows[at], postings.tfs[at]
            exact = 2.0 * sparse.term_weights(tfs, postings.lengths[rows], avg)
            assert int(np.asarray(blocks.count[lo:hi], dtype=np.int64).sum()) == len(rows)
            for row, score in zip(rows.tolist(), exact.tolist(), strict=True):
                assert score <= bound[row // 16] * (1 + 1e-6)


def test_blocks_built_in_chunks_equal_blocks_built_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    postings = Postings.build(_corpus(1500, seed=3))
    whole = Blocks.of(postings.indptr, postings.rows, postings.tfs, postings.lengths, 8)
    monkeypatch.setattr(Blocks, "CHUNK", 50)
    chunked = Blocks.of(postings.indptr, postings.rows, postings.tfs, postings.lengths, 8)
    for field in ("indptr", "block", "count", "max_tf", "min_length"):
        assert np.array_equal(getattr(whole, field), getattr(chunked, field)), field


def test_saved_blocks_load_and_missing_ones_are_computed(tmp_path: Path) -> None:
    postings = Postings.build(_corpus(800, seed=5))
    postings.save(tmp_path, "s")
    assert Postings.has_saved_blocks(tmp_path, "s") and Postings.has_packed(tmp_path, "s")
    loaded = Postings.load(tmp_path, "s")
    assert isinstance(loaded.blocks.block, np.ndarray)
    assert np.array_equal(loaded.blocks.block, postings.blocks.block)
    assert np.array_equal(loaded.rows, postings.rows) and np.array_equal(loaded.tfs, postings.tfs)
    # Packed postings are never saved without their blocks.
    (tmp_path / "s.blocks.json").unlink()
    with pytest.raises(IndexIntegrityError, match="without their blocks"):
        Postings.load(tmp_path, "s")
    # A segment written before block-max metadata existed (rows and frequencies unpacked,
    # in int32): its blocks computed and postings packed in memory.
    np.save(tmp_path / "s.rows.npy", postings.rows.astype(np.int32))
    np.save(tmp_path / "s.tfs.npy", postings.tfs.astype(np.int32))
    for path in [*tmp_path.glob("s.blocks.*"), tmp_path / "s.packed.npy"]:
        path.unlink()
    assert not Postings.has_saved_blocks(tmp_path, "s") and not Postings.has_packed(tmp_path, "s")
    again = Postings.load(tmp_path, "s")
    assert np.array_equal(again.blocks.max_tf, postings.blocks.max_tf)
    assert np.array_equal(again.packed, postings.packed)
    weights = _weights(again, tokenize(["word1 word7 word30"])[0])
    assert (
        top_k(again, weights, 4.0, 10)[0].tolist() == top_k(postings, weights, 4.0, 10)[0].tolist()
    )


def test_inconsistent_saved_blocks_are_refused(tmp_path: Path) -> None:
    postings = Postings.build(_corpus(300, seed=9))
    postings.save(tmp_path, "s")
    np.save(tmp_path / "s.blocks.entries.npy", np.zeros(3, dtype=np.uint64))
    with pytest.raises(IndexIntegrityError, match="block-max"):
        Postings.load(tmp_path, "s")


def test_a_saved_segment_reads_its_terms_runs_without_mapping_them(tmp_path: Path) -> None:
    postings = Postings.build(_corpus(2500, seed=11))
    postings.save(tmp_path, "s")
    loaded = Postings.load(tmp_path, "s")
    assert loaded.readers is not None and loaded.blocks.readers is not None
    rng = np.random.default_rng(4)
    for _ in range(30):
        cols = sorted({int(c) for c in rng.integers(len(postings.terms), size=4)})
        mine, read = postings.runs(cols), loaded.runs(cols)
        for name in TermRuns.__dataclass_fields__:
            assert np.array_equal(getattr(mine, name), getattr(read, name)), name
        terms = [postings.terms[c] for c in cols]
        weights = _weights(postings, terms)
        assert (
            top_k(loaded, weights, 5.0, 20)[1].tobytes()
            == top_k(postings, weights, 5.0, 20)[1].tobytes()
        )
        everyone = np.arange(postings.size)
        assert np.array_equal(
            scores_of(loaded, weights, 5.0, everyone), scores_of(postings, weights, 5.0, everyone)
        )


def test_a_frequency_above_a_byte_saturates_alike_in_search_and_scores(tmp_path: Path) -> None:
    texts = [*_corpus(300, seed=4), " ".join(["word3"] * 300 + ["word8"] * 20)]
    postings = Postings.build(texts)
    postings.save(tmp_path, "s")
    assert Postings.has_packed(tmp_path, "s")
    loaded = Postings.load(tmp_path, "s")
    col = loaded.column(tokenize(["word3"])[0][0])
    assert col is not None
    tfs = np.asarray(loaded.tfs[loaded.indptr[col] : loaded.indptr[col + 1]])
    assert tfs.dtype == np.uint8 and tfs.max() == sparse.TF_MAX
    weights = _weights(loaded, tokenize(["word3 word8"])[0])
    avg = float(np.mean(loaded.lengths))
    rows, scores = top_k(loaded, weights, avg, 5)
    assert rows[0] == len(texts) - 1  # the row holding word3 300 times comes first
    assert np.array_equal(scores_of(loaded, weights, avg, rows), scores)
    length = np.array([loaded.lengths[-1]])
    expected = sum(
        np.float32(w) * sparse.term_weights(np.array([tf]), length, avg)[0]
        for (_, w), tf in zip(weights, (sparse.TF_MAX, 20), strict=True)
    )
    assert scores[0] == pytest.approx(expected, rel=1e-6)
    # The bound of the saturated block lets the search find it with a floor just below it.
    assert top_k(loaded, weights, avg, 1, floor=float(scores[0]) * 0.999)[0].tolist() == [rows[0]]
