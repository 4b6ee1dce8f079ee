"""Seed question set: first-quote and top-3 hit rates, abstention, and /ask latency.

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
        first = top3 = 0
        for question, fragments in ANSWERABLE:
            quotes = [q.text for q in engine.ask(question).answer.quotes]
            first += bool(quotes) and any(f in quotes[0] for f in fragments)
            top3 += any(f in q for f in fragments for q in quotes)
            if not (quotes and any(f in quotes[0] for f in fragments)):
                print(f"  first-quote miss: {question}")
        abstained = sum(not engine.ask(q).answer.answered for q in UNANSWERABLE)
        timings = []
        for _ in range(args.repeat):
            for question, _ in ANSWERABLE:
                started = time.perf_counter()
                engine.ask(question)
                timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        n = len(ANSWERABLE)
        print(f"answer in first quote   {first}/{n} ({first / n:.0%})")
        print(f"answer in top-3 quotes  {top3}/{n} ({top3 / n:.0%})")
        print(f"abstained (no answer)   {abstained}/{len(UNANSWERABLE)}")
        p95 = timings[int(0.95 * (len(timings) - 1))]
        print(f"ask latency ms          p50 {statistics.median(timings):.1f}  p95 {p95:.1f}")
        engine.close()


if __name__ == "__main__":
    main()
