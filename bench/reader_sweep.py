"""Choose the reader's weight, depth and margin: answer in the first quote at each setting.

Asks, at each (depth, weight) of the grid, the news set (bench/news), the seed set
(tests/service/seed_questions.py) and a seeded sample of SQuAD v1.1 tune questions of the
articles the reader was trained on (the "fit" split; its validation on the other articles
is in its training.json). One JSON line per setting; weight 0 is the reader switched off.
The grid is depth 4 and margin 0.05 (the defaults) at 0, 0.4, 1, 2, 4 and 10 times the
reader's own weight (its training.json's, or 0.05); depths 3 and 6, and margins 0.02, 0.1
and inf (every question read), at its own weight.

    python bench/reader_sweep.py [--reader DIR] [--fit 500]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.answering.retrieve import RerankPolicy
from service.evaluation.metrics import contains_answer
from service.evaluation.news import load_news
from service.evaluation.squad import load_squad
from service.ops.engine import Engine
from service.settings import Settings
from tests.service.seed_questions import ANSWERABLE

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "eval"


def grid(weight: float) -> list[tuple[int, float, float]]:
    """(depth, weight, margin) settings around a reader's own weight."""
    return [
        *((4, round(weight * x, 6), 0.05) for x in (0, 0.4, 1, 2, 4, 10)),
        (3, weight, 0.05),
        (6, weight, 0.05),
        *((4, weight, m) for m in (0.02, 0.1, math.inf)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reader", type=Path, help="reader folder (default: the shipped one)")
    ap.add_argument("--fit", type=int, default=500, help="SQuAD questions of trained articles")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    encoder = Encoder.load()
    reader = Reader.load(args.reader)
    news = load_news(ROOT / "bench" / "news")
    v1 = load_squad([SHARED / "squad-v1.1-dev-tune.json"])
    fit = [q for q in v1.questions if q.article_id in reader.trained_on and q.golds]
    fit = random.Random(args.seed).sample(fit, min(args.fit, len(fit)))
    with tempfile.TemporaryDirectory() as tmp:
        engines = {}
        for name in ("news", "seed", "fit"):
            settings = Settings(data_dir=Path(tmp) / name, rerank=True)
            engine = Engine(settings, encoder=encoder, reranker=reader)
            if name == "seed":
                engine.bootstrap(DEFAULT_CORPUS_DIR)
            else:
                engine.ingest_articles(news.articles if name == "news" else v1.articles)
                engine.rebuild()
            engines[name] = engine

        def first(engine: Engine, question: str, answers: tuple[str, ...]) -> bool:
            quotes = engine.ask(question).answer.quotes
            return bool(quotes) and contains_answer(quotes[0].text, answers)

        for depth, weight, margin in grid(reader.weight):
            for engine in engines.values():
                engine.rerank_policy = RerankPolicy(depth=depth, weight=weight, margin=margin)
            news_hits = [first(engines["news"], q.question, q.answers) for q in news.questions]
            seed_hits = 0
            for question, fragments in ANSWERABLE:
                quotes = engines["seed"].ask(question).answer.quotes
                seed_hits += bool(quotes) and any(f in quotes[0].text for f in fragments)
            fit_hits = [first(engines["fit"], q.question, q.golds) for q in fit]
            row = {
                "depth": depth,
                "weight": weight,
                "margin": margin if math.isfinite(margin) else "inf",
                "news_first": round(sum(news_hits) / len(news_hits), 4),
                "seed_first": f"{seed_hits}/{len(ANSWERABLE)}",
                "fit_first": round(sum(fit_hits) / max(1, len(fit_hits)), 4),
            }
            print(json.dumps(row), flush=True)
        for engine in engines.values():
            engine.close()


if __name__ == "__main__":
    main()
