"""/ask on a kept archive, the code of several checkouts alternating in one run.

    git worktree add /tmp/before REV
    python bench/ask_compare.py --data DIR --code /tmp/before --code . [--rounds 2]
    python bench/ask_compare.py --data DIR --questions 60 --profile
    python bench/ask_compare.py --data DIR --questions 100 --phases
    python bench/ask_compare.py --data DIR --data OTHER_DIR --rounds 3
    python bench/ask_compare.py --code /tmp/before --data OLD --code . --data NEW --paired

``DIR`` is a data directory ``bench/scale.py --keep`` built (``KEEP/data``). Each round runs
each checkout in a process of its own (its modules imported from that folder): it loads
the published version, asks 20 SQuAD questions to warm up, then times ``Engine.ask`` on
``--questions`` more (the same ones, in the same order, for every checkout) and prints the
p50 and p95, the p50 of the CPU time the process spent on a question (both threads; less
moved by other work on the machine than wall time, blind to waiting for the disk) and a
digest of every quote's article and start offset, so two checkouts that
answer alike print the same digest. ``--data`` given more than once runs each checkout on
each data directory in turn (two copies of an archive, one of them upgraded, say: ``cp -al``
links the files, which never change); with ``--paired`` the i-th checkout runs on the i-th
data directory only (the code before on the archive as it wrote it, the code after on the
archive it upgraded). ``--profile`` also prints where the time went
(``cProfile``, cumulative); ``--phases`` the wall time spent in the index's searches
and reads, a question. The machine is shared: compare checkouts within a run.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import itertools
import json
import pstats
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _questions(count: int) -> list[str]:
    sys.path.insert(0, str(HERE))
    from scale import _pool  # bench/scale.py, beside this file

    _, qa = _pool()
    questions = [q for q, _ in qa]
    random.Random(1).shuffle(questions)
    return questions[: 20 + count]


def _worker(code: Path, data: Path, questions: list[str], profile: bool, phases: bool) -> None:
    import service
    from service.ops.engine import Engine
    from service.settings import Settings

    if not Path(service.__file__).resolve().is_relative_to(code):
        sys.exit(f"{code}: its modules were not the ones imported ({service.__file__})")

    engine = Engine(Settings(data_dir=data))
    _ = engine.encoder
    engine.load_live()
    spent = _timed_index_calls() if phases else {}
    for q in questions[:20]:
        engine.ask(q)
    spent.clear()
    timings, cpu, quotes = [], [], []
    profiler = cProfile.Profile()
    for q in questions[20:]:
        started, used = time.perf_counter(), time.process_time()
        if profile:
            profiler.enable()
        result = engine.ask(q)
        if profile:
            profiler.disable()
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        quotes.append([(x.article_id, x.start) for x in result.answer.quotes])
    digest = hashlib.sha256(json.dumps(quotes).encode()).hexdigest()[:12]
    p95 = sorted(timings)[int(0.95 * len(timings))]
    p50 = statistics.median(timings)
    print(
        f"{code} on {data}: ask p50 {p50:.2f} ms, p95 {p95:.2f} ms, "
        f"CPU p50 {statistics.median(cpu):.2f} ms, quotes {digest}"
    )
    if profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  SearchIndex.{name}: {seconds / len(timings) * 1000:.2f} ms a question")


def _timed_index_calls() -> dict[str, float]:
    """Wall time spent in the index's searches and reads, by method (their totals; ``run``
    is a question's dense and BM25 searches together, and the reads of vectors that re-score
    its dense hits happen inside it too)."""
    from embeddings.index import SearchIndex

    spent: dict[str, float] = {}

    def timed(name: str) -> None:
        call = getattr(SearchIndex, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        setattr(SearchIndex, name, wrapper)

    for name in ("run", "vectors", "texts", "column", "bm25_of"):
        timed(name)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="a kept archive's data folder (repeat to alternate several)",
    )
    parser.add_argument(
        "--code", type=Path, action="append", help="a checkout to run (default: this one)"
    )
    parser.add_argument(
        "--paired", action="store_true", help="run the i-th --code on the i-th --data only"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print cProfile's cumulative top")
    parser.add_argument(
        "--phases", action="store_true", help="print the time spent in the index's searches"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for data in args.data:
        if not (data / "index" / "CURRENT").exists():
            sys.exit(f"{data}: no published index; build one with bench/scale.py --keep")
    if args.worker:
        sys.path.insert(0, str(args.worker))  # that checkout's modules, before any import
        _worker(args.worker, args.data[0], _questions(args.questions), args.profile, args.phases)
        return
    codes = args.code or [HERE.parent]
    if args.paired and len(codes) != len(args.data):
        sys.exit("--paired needs as many --code as --data")
    if args.paired:
        runs = list(zip(codes, args.data, strict=True))
    else:
        runs = list(itertools.product(codes, args.data))
    for _ in range(args.rounds):
        for code, data in runs:
            command = [sys.executable, __file__, "--data", str(data)]
            command += ["--questions", str(args.questions), "--worker", str(code.resolve())]
            flags = [f for f, on in (("--profile", args.profile), ("--phases", args.phases)) if on]
            subprocess.run([*command, *flags], check=True)


if __name__ == "__main__":
    main()
