"""The compiled loop of a top-k BM25 search over one postings list (Numba, no GIL held).

NumPy could not do this cheaply: a question's terms hold tens of thousands of postings in
each large segment, and every vectorised pass over them (or over their block entries) costs
about as much as scoring them all. Compiled, the pass over the block entries is a few
nanoseconds an entry and only the postings of the blocks that can make the top k are read.
Numba compiles it once (``cache=True`` keeps the machine code beside this file).

Scores are computed exactly as ``embeddings.sparse.term_weights`` computes them in NumPy
(float32 operations in the same order, each term's float32 score summed in float64 in the
question's order, then rounded to float32), so ``bm25_search.scores_of`` gives the same
bits for any row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from embeddings.sparse import (
    ENTRY_BLOCK_MASK,
    ENTRY_COUNT_MASK,
    ENTRY_COUNT_SHIFT,
    ENTRY_MAX_TF_MASK,
    ENTRY_MAX_TF_SHIFT,
    ENTRY_MIN_LENGTH_SHIFT,
    K1,
    B,
)

_K1 = np.float32(K1)
_B = np.float32(B)
_ONE_LESS_B = np.float32(1 - B)
# Blocks in the bounds' histogram; a round scores whole buckets, highest first.
_BUCKETS = 1024


@njit(nogil=True, cache=True)
def _score32(weight, tf, length, avg32):  # type: ignore[no-untyped-def]
    """A posting's score, in float32 as NumPy computes ``weight * term_weights(...)``:
    tf / (tf + K1 * (1 - B + B * length / avg))."""
    tf32 = np.float32(tf)
    x = _B * np.float32(length)
    x = x / avg32
    x = _ONE_LESS_B + x
    x = _K1 * x
    return weight * (tf32 / (tf32 + x))


@njit(nogil=True, cache=True)
def _worse(s1, r1, s2, r2):  # type: ignore[no-untyped-def]
    """Whether (score s1, row r1) ranks below (s2, r2): lower score, or equal and later."""
    return s1 < s2 or (s1 == s2 and r1 > r2)


@njit(nogil=True, cache=True)
def _below(heap_s, heap_r, i, j):  # type: ignore[no-untyped-def]
    """Whether heap entry i ranks below entry j."""
    return _worse(heap_s[i], heap_r[i], heap_s[j], heap_r[j])


@njit(nogil=True, cache=True)
def _swap(heap_s, heap_r, i, j):  # type: ignore[no-untyped-def]
    heap_s[i], heap_s[j] = heap_s[j], heap_s[i]
    heap_r[i], heap_r[j] = heap_r[j], heap_r[i]


@njit(nogil=True, cache=True)
def _push(heap_s, heap_r, n, k, s, r):  # type: ignore[no-untyped-def]
    """Offer (s, r) to a min-heap of the best ``k`` (worst on top); returns its size."""
    if n < k:
        i = n
        heap_s[i] = s
        heap_r[i] = r
        while i > 0 and _below(heap_s, heap_r, i, (i - 1) // 2):
            _swap(heap_s, heap_r, i, (i - 1) // 2)
            i = (i - 1) // 2
        return n + 1
    if not _worse(heap_s[0], heap_r[0], s, r):
        return n
    heap_s[0] = s
    heap_r[0] = r
    i = 0
    while 2 * i + 1 < n:
        child = 2 * i + 1
        if child + 1 < n and _below(heap_s, heap_r, child + 1, child):
            child += 1
        if not _below(heap_s, heap_r, child, i):
            break
        _swap(heap_s, heap_r, i, child)
        i = child
    return n


@njit(nogil=True, cache=True)
def _block(x):  # type: ignore[no-untyped-def]
    """A packed block entry's block (``sparse.pack_entries``)."""
    return np.int64(x & np.uint64(ENTRY_BLOCK_MASK))


@njit(nogil=True, cache=True)
def _count(x):  # type: ignore[no-untyped-def]
    """A packed block entry's count of postings."""
    return np.int64((x >> np.uint64(ENTRY_COUNT_SHIFT)) & np.uint64(ENTRY_COUNT_MASK))


@njit(nogil=True, cache=True)
def _bound(x, w, avg):  # type: ignore[no-untyped-def]
    """What a term of weight ``w`` can add to a row of a packed block entry's block: its
    BM25 weight at the entry's highest frequency and shortest length."""
    tf = np.float64((x >> np.uint64(ENTRY_MAX_TF_SHIFT)) & np.uint64(ENTRY_MAX_TF_MASK))
    norm = K1 * (1 - B + B * np.float64(x >> np.uint64(ENTRY_MIN_LENGTH_SHIFT)) / avg)
    return w * tf / (tf + norm)


@njit(nogil=True, cache=True)
def _seek(entries, lo, hi, b):  # type: ignore[no-untyped-def]
    """The first entry in ``lo:hi`` (blocks ascending) whose block is ``b`` or later:
    galloping from ``lo``, so walking a term's entries through ascending blocks costs the
    log of each gap."""
    if lo >= hi or _block(entries[lo]) >= b:
        return lo
    step = 1
    while lo + step < hi and _block(entries[lo + step]) < b:
        lo += step
        step *= 2
    top = min(lo + step, hi)  # entry lo's block < b; entry top's >= b, or top == hi
    lo += 1
    while lo < top:
        mid = (lo + top) // 2
        if _block(entries[mid]) < b:
            lo = mid + 1
        else:
            top = mid
    return lo


@njit(nogil=True, cache=True)
def entry_starts(entries):  # type: ignore[no-untyped-def]
    """Where each block entry's postings start: the counts before it summed (runs of terms
    one after another hold exactly their entries' counts)."""
    out = np.empty(entries.shape[0], np.int64)
    p = 0
    for e in range(entries.shape[0]):
        out[e] = p
        p += _count(entries[e])
    return out


@njit(nogil=True, cache=True)
def find_postings(entries, packed, start, lo, hi, rows, shift):  # type: ignore[no-untyped-def]
    """Where each of ``rows`` is among the postings of the block entries ``lo:hi`` (one
    term's), or -1: its block's entry found by ``_seek``, then its place in the block."""
    out = np.full(rows.shape[0], -1, np.int64)
    mask = (1 << shift) - 1
    for i in range(rows.shape[0]):
        r = rows[i]
        b = r >> shift
        a = _seek(entries, lo, hi, b)
        if a < hi and _block(entries[a]) == b:
            want = r & mask
            for p in range(start[a], start[a] + _count(entries[a])):
                if packed[p] & mask == want:
                    out[i] = p
                    break
    return out


@njit(nogil=True, cache=True)
def top_k_blocks(  # type: ignore[no-untyped-def]
    packed,
    start,
    lengths,
    entries,
    ent_ptr,
    weights,
    avg,
    k,
    shift,
    allowed,
    margin,
    first_blocks,
    growth,
    floor,
):
    """The best ``k`` (row, score) pairs with a positive score, unordered, leaving out
    rows that score below ``floor`` when that spares scoring them.

    Term t (idf ``weights[t]``, float32) has block entries ``ent_ptr[t]:ent_ptr[t + 1]``,
    packed as ``sparse.pack_entries`` packs them (block, count, highest frequency,
    shortest length); entry e's postings are ``packed[start[e]:start[e] + count]``
    (``sparse.pack``: a posting's frequency shifted by ``shift``, log2 of the rows a block
    holds, above its row's place in the block). ``allowed`` is a row mask, or empty for
    every row.
    Blocks are scored in rounds, highest bound first (by a histogram of the bounds, not a
    sort); a round ends the search when no block left can reach the k-th best score.
    ``floor`` (0 for none) is a score that k rows elsewhere reach (other segments of the
    archive, searched first): blocks whose bound is below it are never scored, so every
    row scoring ``floor`` or more is still found.
    """
    n_rows = lengths.shape[0]
    n_terms = weights.shape[0]
    block_rows = 1 << shift
    n_blocks = (n_rows + block_rows - 1) // block_rows
    bound = np.zeros(n_blocks)
    mask = block_rows - 1
    for t in range(n_terms):
        w = np.float64(weights[t])
        for e in range(ent_ptr[t], ent_ptr[t + 1]):
            bound[_block(entries[e])] += _bound(entries[e], w, avg)
    check = allowed.shape[0] > 0
    candidates = np.empty(n_blocks, np.int64)
    n_cand = 0
    top = 0.0
    for b in range(n_blocks):
        if bound[b] <= 0 or bound[b] * (1 + margin) < floor:
            continue
        if check:
            ok = False
            for r in range(b * block_rows, min((b + 1) * block_rows, n_rows)):
                if allowed[r]:
                    ok = True
                    break
            if not ok:
                continue
        candidates[n_cand] = b
        n_cand += 1
        top = max(top, bound[b])
    heap_s = np.empty(k, np.float32)
    heap_r = np.empty(k, np.int64)
    n = 0
    if n_cand == 0:
        return heap_r[:0], heap_s[:0]
    # Blocks grouped by bucket of bound, highest bucket first (a counting sort).
    bucket = np.empty(n_cand, np.int64)
    ends = np.zeros(_BUCKETS, np.int64)  # where each bucket's blocks end in ``ordered``
    for i in range(n_cand):
        j = min(int(bound[candidates[i]] / top * _BUCKETS), _BUCKETS - 1)
        bucket[i] = j
        ends[j] += 1
    total = 0
    for j in range(_BUCKETS - 1, -1, -1):
        total += ends[j]
        ends[j] = total
    fill = np.empty(_BUCKETS, np.int64)
    for j in range(_BUCKETS):
        fill[j] = ends[j + 1] if j + 1 < _BUCKETS else 0
    ordered = np.empty(n_cand, np.int64)
    for i in range(n_cand):
        ordered[fill[bucket[i]]] = candidates[i]
        fill[bucket[i]] += 1
    avg32 = np.float32(avg)
    marked = np.zeros(n_blocks, np.bool_)  # blocks of the round being gathered
    kth = floor  # the score a block must be able to reach to be scored (0: any)
    j = _BUCKETS - 1  # the highest bucket not scored yet
    done = 0  # blocks of ``ordered`` scored (or skipped)
    take = first_blocks
    while j >= 0:
        last = j  # the round takes buckets j down to ``last``, at least ``take`` blocks
        while last > 0 and ends[last] - done < take:
            last -= 1
        # The round's blocks in ascending order (each term's entries are walked forward):
        # marked, then collected from the candidates, which ascend — cheaper than sorting.
        for i in range(done, ends[last]):
            marked[ordered[i]] = True
        kept = np.empty(ends[last] - done, np.int64)
        done = ends[last]
        m = 0
        for i in range(n_cand):
            b = candidates[i]
            if marked[b]:
                marked[b] = False
                # Only blocks that can still reach the k-th best score are scored.
                if kth == 0 or bound[b] * (1 + margin) >= kth:
                    kept[m] = b
                    m += 1
        sums = np.zeros(m * block_rows)
        for t in range(n_terms):  # term by term: each row's terms summed in their order
            e = ent_ptr[t]
            hi = ent_ptr[t + 1]
            for i in range(m):
                b = kept[i]
                e = _seek(entries, e, hi, b)
                if e == hi:
                    break
                if _block(entries[e]) != b:
                    continue
                base = i * block_rows
                first = b * block_rows
                for p in range(start[e], start[e] + _count(entries[e])):
                    v = packed[p]
                    q = v & mask
                    s = _score32(weights[t], v >> shift, lengths[first + q], avg32)
                    sums[base + q] += np.float64(s)
        for i in range(m):
            for q in range(block_rows):
                v = sums[i * block_rows + q]
                r = kept[i] * block_rows + q
                if v > 0 and (not check or allowed[r]):
                    n = _push(heap_s, heap_r, n, k, np.float32(v), r)
        if n == k:
            kth = max(kth, np.float64(heap_s[0]))
        j = last - 1
        # Blocks left are in buckets below ``last``: bounded by last / BUCKETS of the top.
        if kth > 0 and top * last / _BUCKETS * (1 + margin) < kth:
            break
        take *= growth
    return heap_r[:n].copy(), heap_s[:n].copy()
