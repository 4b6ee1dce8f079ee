"""Choose the confidence floor of quotes after the first (``Calibration.floor``).

    python bench/quote_floor.py [--limit 2000] [--seed 0] [--reader] [--floor 0.1 ...]

Builds the index of the SQuAD tune files once, then asks the same sample at each floor and
reports, per floor: answer in the top three quotes (answerable questions), quotes given per
answer, the share of quotes after the first that hold the answer, and the share that are
filler (neither holding the answer nor from the question's own article), and the share that
open by pointing back (``cues.points_back``: a quote that does reads as a fragment), on v1.1
and v2.0 questions together (v2.0's unanswerable ones count only in the quotes' columns).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
from pathlib import Path

from service.answering import asking
from service.answering.cues import points_back
from service.evaluation.metrics import contains_answer
from service.evaluation.squad import load_squad
from service.ops.engine import Engine
from service.settings import Settings

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
FLOORS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reader", action="store_true", help="with the reader switched on")
    parser.add_argument(
        "--floor", type=float, action="append", help=f"a floor to ask at (default {FLOORS})"
    )
    args = parser.parse_args()
    squad = load_squad([EVAL / "squad-v1.1-dev-tune.json", EVAL / "squad-v2.0-dev-tune.json"])
    questions = random.Random(args.seed).sample(list(squad.questions), args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Settings(data_dir=Path(tmp), rerank=args.reader))
        engine.ingest_articles(squad.articles)
        engine.rebuild()
        name = "PLAIN"
        base = getattr(asking, name)
        print("floor  top3   quotes/answer  later_hold_answer  later_filler  later_points_back")
        for floor in args.floor or FLOORS:
            setattr(asking, name, dataclasses.replace(base, floor=floor))
            hits, counts, later_hit, later_filler, later_back = [], [], [], [], []
            for q in questions:
                answer = engine.ask(q.question, top_k=3).answer
                if q.golds:
                    hits.append(any(contains_answer(x.text, q.golds) for x in answer.quotes))
                if not answer.answered:
                    continue
                counts.append(len(answer.quotes))
                for x in answer.quotes[1:]:
                    held = bool(q.golds) and contains_answer(x.text, q.golds)
                    later_hit.append(held)
                    later_filler.append(not held and x.article_id != q.article_id)
                    later_back.append(points_back(x.text))
            print(
                f"{floor:<5}  {statistics.fmean(hits):.4f}  {statistics.fmean(counts):.3f}"
                f"          {statistics.fmean(later_hit or [0]):.4f}"
                f"             {statistics.fmean(later_filler or [0]):.4f}"
                f"        {statistics.fmean(later_back or [0]):.4f}",
                flush=True,
            )
        engine.close()


if __name__ == "__main__":
    main()
