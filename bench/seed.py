"""Seed question set: first-quote and top-3 hit rates, abstention, and /ask latency (with
and without the reader, in the same run).

Runs the question set of tests/service/seed_questions.py through the engine (the code path
of POST /ask, without HTTP) on a fresh data directory holding the default corpus.

    python bench/seed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.defaults import DEFAULT_CORPUS_DIR
from service.ops.engine import Engine
from service.settings import Settings
from tests.service.seed_questions import ANSWERABLE, UNANSWERABLE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed passes over the questions")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Settings(data_dir=Path(tmp)))
        engine.bootstrap(DEFAULT_CORPUS_DIR)
        default = engine.use_reranker
        hits: dict[bool, tuple[int, int]] = {}
        for reader in (default, not default):  # the default set-up first, then the other
            engine.configure(rerank=reader)
            first = top3 = 0
            for question, fragments in ANSWERABLE:
                quotes = [q.text for q in engine.ask(question).answer.quotes]
                first += bool(quotes) and any(f in quotes[0] for f in fragments)
                top3 += any(f in q for f in fragments for q in quotes)
                if not (quotes and any(f in quotes[0] for f in fragments)):
                    print(
                        f"  first-quote miss ({'with' if reader else 'without'} the reader): "
                        f"{question}"
                    )
            hits[reader] = (first, top3)
        engine.configure(rerank=default)
        abstained = sum(not engine.ask(q).answer.answered for q in UNANSWERABLE)
        # Each question is timed with the reader and without it, one right after the other,
        # so the machine's noise falls on both alike.
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.repeat):
            for question, _ in ANSWERABLE:
                for reader in (True, False):
                    engine.configure(rerank=reader)
                    started = time.perf_counter()
                    engine.ask(question)
                    timings[reader].append((time.perf_counter() - started) * 1000)
        engine.configure(rerank=default)
        n = len(ANSWERABLE)
        first, top3 = hits[default]
        print(f"answer in first quote   {first}/{n} ({first / n:.0%})")
        print(f"answer in top-3 quotes  {top3}/{n} ({top3 / n:.0%})")
        other_first, other_top3 = hits[not default]
        other = "with" if not default else "without"
        print(f"  {other} the reader: first {other_first}/{n}, top-3 {other_top3}/{n}")
        print(f"abstained (no answer)   {abstained}/{len(UNANSWERABLE)}")
        for reader in (False, True):
            times = sorted(timings[reader])
            p95 = times[int(0.95 * (len(times) - 1))]
            label = f"ask ms, {'with' if reader else 'without'} the reader"
            print(f"{label:32s}p50 {statistics.median(times):.1f}  p95 {p95:.1f}")
        engine.close()


if __name__ == "__main__":
    main()
