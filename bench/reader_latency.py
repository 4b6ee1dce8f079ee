"""What the reader costs: `/ask` with it off and with each reader set-up, in one process.

Indexes the SQuAD v1.1 tune articles into a fresh data directory (or reuses ``--data-dir``),
opens one engine per set-up on that index (the reader off; each ``--reader`` folder at each
``--depth``, at ``--margin`` if given; the shipped reader when no ``--reader`` is given),
and asks each of ``--questions`` SQuAD questions of every set-up in turn, rotating which
goes first, for ``--rounds`` passes, so the machine's noise falls on all alike. Prints each
set-up's `/ask` p50 and p95, then each reader's own time to score four sentences as it
reads them (``Reader.score`` on ``retrieve.reading``'s texts, median over 200 of the same
questions).

    python bench/reader_latency.py [--reader DIR ...] [--depth 4 ...] [--margin M]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings.reader import Reader
from service.answering.retrieve import RerankPolicy, reading
from service.evaluation.metrics import percentile
from service.evaluation.squad import load_squad
from service.ops.engine import Engine
from service.settings import Settings

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "eval" / "squad-v1.1-dev-tune.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reader", type=Path, action="append", help="reader folder (repeatable)")
    ap.add_argument("--depth", type=int, action="append", help="candidates read (repeatable)")
    ap.add_argument("--margin", type=float, help="read when the best two are this close")
    ap.add_argument("--questions", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--data-dir", type=Path, help="data directory to fill or reuse")
    args = ap.parse_args()
    squad = load_squad([SQUAD])
    questions = [q.question for q in squad.questions]
    random.Random(1).shuffle(questions)
    questions = questions[: args.questions]
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data_dir or Path(tmp) / "data"
        off = Engine(Settings(data_dir=data, rerank=False))
        if off.ingest_articles(squad.articles).changed or off.snapshots.current_version() is None:
            off.rebuild(progress=True)
        else:
            off.load_live()
        readers = {str(p): Reader.load(p) for p in args.reader or [None]}
        engines = {"reader off": off}
        for name, reader in readers.items():
            for depth in args.depth or [Settings().rerank_depth]:
                engine = Engine(Settings(data_dir=data), encoder=off.encoder, reranker=reader)
                engine.load_live()
                engine.rerank_policy = RerankPolicy(
                    depth=depth,
                    weight=reader.weight,
                    margin=engine.rerank_policy.margin if args.margin is None else args.margin,
                )
                engines[f"{'shipped' if name == 'None' else name}, depth {depth}"] = engine
        for engine in engines.values():
            engine.ask(questions[0])  # warm up
        names = list(engines)
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.rounds):
            for i, question in enumerate(questions):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    started = time.perf_counter()
                    engines[name].ask(question)
                    times[name].append((time.perf_counter() - started) * 1000)
        for name in names:
            p50, p95 = statistics.median(times[name]), percentile(times[name], 95)
            print(f"{name:50s} /ask p50 {p50:6.2f}  p95 {p95:6.2f} ms")
        rng = random.Random(0)
        assert off.live is not None
        index = off.live.index
        rows = index.rows("sentences")
        for name, reader in readers.items():
            scored = []
            for question in questions[:200]:
                # What the reader reads for them: with its title, for the shipped reader.
                texts = [reading(index, rng.choice(rows), reader.reads) for _ in range(4)]
                started = time.perf_counter()
                reader.score(question, texts)
                scored.append((time.perf_counter() - started) * 1000)
            label = "shipped" if name == "None" else name
            print(
                f"{label:50s} Reader.score, 4 sentences: median {statistics.median(scored):.2f} ms"
            )
        for engine in engines.values():
            engine.close()


if __name__ == "__main__":
    main()
