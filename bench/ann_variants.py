"""Dense-search variants on one saved segment's vectors: time a question and recall@50.

    python bench/ann_variants.py --segment DIR [--questions 200] [--variants "SQ8;SQ4;PQ48x4fs"]

``DIR`` is a segment folder of a kept archive (``KEEP/data/index/segments/seg-…``, one of
a million sentences for the figures in the README). Each variant is a FAISS index factory
code after ``IVF<2·√n>,`` (the lists the index uses), trained on 40 vectors a list and
filled with every vector of the segment; each question (SQuAD questions, encoded by the
default encoder) is searched alone on one thread, with ``--shares`` of the lists probed (5 %, the
index's share, unless told) and the shortlist sizes given, and the shortlist re-scored exactly from
the float32 vectors, as the index does. Recall: share of the exact top 50 of the segment
found (ties at the 50th score counted, as ``bench/scale.py`` counts them). The segment's
own index (``sentences.ann``, or ``sentences.ivf`` from an older version) is measured
first as the reference. A ``,Refine(…)`` variant's first stage returns ``--k-factor``
times the shortlist, which the refinement scores again.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from scale import _pool  # noqa: E402

from embeddings.segment import Dense  # noqa: E402
from service.ops.engine import Engine  # noqa: E402
from service.settings import Settings  # noqa: E402

K = 50


def _params(index: faiss.Index, nprobe: int, k_factor: float) -> faiss.SearchParameters:
    ivf = faiss.extract_index_ivf(index)
    params = (
        faiss.IVFRaBitQSearchParameters()
        if isinstance(ivf, faiss.IndexIVFRaBitQ)
        else faiss.SearchParametersIVF()
    )
    params.nprobe = nprobe
    if not isinstance(index, faiss.IndexRefine):
        return params
    refine = faiss.IndexRefineSearchParameters()
    refine.k_factor = k_factor
    refine.base_index_params = params
    refine.keep = params  # the wrapper must outlive the search (SWIG holds a pointer)
    return refine


def _measure(
    name: str,
    index: faiss.Index,
    vectors: np.ndarray,
    queries: np.ndarray,
    kth: np.ndarray,
    shortlists: list[int],
    k_factor: float,
    shares: list[float],
    min_lists: int,
) -> None:
    nlist = faiss.extract_index_ivf(index).nlist
    for share, short in ((share, short) for share in shares for short in shortlists):
        nprobe = max(min_lists, int(share * nlist))
        params = _params(index, nprobe, k_factor)
        for q in queries[:10]:
            index.search(q.reshape(1, -1), short, params=params)
        times, found = [], []
        for i, q in enumerate(queries):
            started = time.perf_counter()
            _, ids = index.search(q.reshape(1, -1), short, params=params)
            times.append((time.perf_counter() - started) * 1000)
            rows = ids[0][ids[0] >= 0]
            best = np.sort(vectors[np.sort(rows)] @ q)[::-1][:K]
            found.append(float(np.sum(best >= kth[i] - 1e-6)) / K)
        print(
            f"{name:<24} nprobe {nprobe:>4} shortlist {short:>4}: "
            f"{statistics.median(times):.2f} ms a question, recall@{K} {np.mean(found):.4f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--segment", type=Path, required=True, help="a saved segment folder")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument(
        "--variants",
        default="SQ8;SQ4;PQ48x4fs;PQ96x4fs;RaBitQ;RaBitQ4",
        help="FAISS factory codes after IVF<lists>, separated by ';'",
    )
    parser.add_argument("--shortlists", default="200,400", help="rows each search returns")
    parser.add_argument(
        "--shares",
        default="0.05",
        help="shares of the lists probed, separated by ','; the index probes 0.05",
    )
    parser.add_argument(
        "--min-lists", type=int, default=64, help="lists probed at least (the index: 64)"
    )
    parser.add_argument(
        "--k-factor",
        type=float,
        default=8,
        help="with a ',Refine(…)' variant: rows its first stage hands the refinement, as a "
        "multiple of the shortlist",
    )
    args = parser.parse_args()
    path = args.segment / "sentences.vectors.npy"
    if not path.exists():
        sys.exit(f"{args.segment}: no sentences.vectors.npy; pass a segment folder of an index")
    print("reading the vectors and the exact top 50 of each question…", file=sys.stderr)
    vectors = np.ascontiguousarray(np.load(path))
    n, dim = vectors.shape
    _, qa = _pool()
    questions = [q for q, _ in qa]
    random.Random(1).shuffle(questions)
    with tempfile.TemporaryDirectory() as scratch:  # nothing is written beside the index
        engine = Engine(Settings(data_dir=Path(scratch)))
        queries = np.stack([engine.encoder.encode_query(q) for q in questions[: args.questions]])
        engine.close()
    kth = np.array([np.partition(vectors @ q, n - K)[n - K] for q in queries])
    shortlists = [int(s) for s in args.shortlists.split(",")]
    shares = [float(s) for s in args.shares.split(",")]
    faiss.omp_set_num_threads(1)
    own = faiss.read_index(str(Dense.ann_file(args.segment, "sentences")))
    _measure(
        "the segment's index",
        own,
        vectors,
        queries,
        kth,
        shortlists,
        args.k_factor,
        shares,
        args.min_lists,
    )
    nlist = max(64, int(2 * math.sqrt(n)))
    rng = np.random.default_rng(0)
    sample = vectors[np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))]
    for code in filter(None, args.variants.split(";")):
        faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
        started = time.perf_counter()
        index = faiss.index_factory(dim, f"IVF{nlist},{code}", faiss.METRIC_INNER_PRODUCT)
        index.train(sample)
        for lo in range(0, n, 100_000):
            index.add(vectors[lo : lo + 100_000])
        print(f"{code}: built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        faiss.omp_set_num_threads(1)
        _measure(
            code, index, vectors, queries, kth, shortlists, args.k_factor, shares, args.min_lists
        )
        del index


if __name__ == "__main__":
    main()
