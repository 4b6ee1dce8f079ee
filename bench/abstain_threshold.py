"""Choose the confidence an answer must reach (``Calibration.threshold``): below it Briefing
abstains.

    python bench/abstain_threshold.py [--limit 2000] [--seed 0]

Builds four archives (the SQuAD v1.1 tune file, the v2.0 tune file, the news set
bench/news and the default corpus), asks each its questions once with the threshold at 0
(every answer's confidence and quotes kept), asks each the off-topic questions of
``briefing eval`` (and the default corpus the seed set's unanswerable ones too), then reads
off, per threshold: the answer in the first quote and in the top three (answerable
questions; an abstention is a miss), v2.0's abstention precision, recall and answerable
questions abstained on, and the off-topic questions abstained on in each archive (the goal
is every one). The SQuAD samples are those of ``briefing eval --limit N --seed S``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.defaults import DEFAULT_CORPUS_DIR
from service.answering import asking
from service.evaluation.metrics import contains_answer
from service.evaluation.news import load_news
from service.evaluation.offtopic import OFF_TOPIC_QUESTIONS
from service.evaluation.squad import load_squad
from service.ops.engine import Engine
from service.settings import Settings
from tests.service.seed_questions import ANSWERABLE, UNANSWERABLE

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
THRESHOLDS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35)


@dataclasses.dataclass(frozen=True)
class Asked:
    """One question asked with no threshold: its answer's confidence and where it hit."""

    confidence: float
    answerable: bool
    off_topic: bool
    first: bool
    top3: bool


def ask_all(engine: Engine, questions: Sequence[tuple[str, Sequence[str]]]) -> list[Asked]:
    out = []
    for question, golds in questions:
        answer = engine.ask(question, top_k=3).answer
        texts = [q.text for q in answer.quotes]
        wanted = tuple(golds)
        out.append(
            Asked(
                answer.confidence,
                bool(wanted),
                False,
                bool(wanted) and bool(texts) and contains_answer(texts[0], wanted),
                bool(wanted) and any(contains_answer(t, wanted) for t in texts),
            )
        )
    return out


def off_topic(engine: Engine, questions: Sequence[str]) -> list[Asked]:
    return [Asked(engine.ask(q).answer.confidence, False, True, False, False) for q in questions]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=2000, help="SQuAD questions per file")
    parser.add_argument("--seed", type=int, default=0, help="sample seed (as briefing eval)")
    args = parser.parse_args()
    base = asking.PLAIN
    asking.PLAIN = dataclasses.replace(base, threshold=0.0)
    asked: dict[str, list[Asked]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("v1.1", "v2.0"):
            squad = load_squad([EVAL / f"squad-{name}-dev-tune.json"])
            questions = list(squad.questions)
            if args.limit < len(questions):
                questions = random.Random(args.seed).sample(questions, args.limit)
            engine = Engine(Settings(data_dir=Path(tmp) / name))
            engine.ingest_articles(squad.articles)
            engine.rebuild(progress=True)
            asked[name] = ask_all(engine, [(q.question, q.golds) for q in questions])
            asked[name] += off_topic(engine, OFF_TOPIC_QUESTIONS)
            engine.close()
        news = load_news(ROOT / "bench" / "news")
        engine = Engine(Settings(data_dir=Path(tmp) / "news"))
        engine.ingest_articles(news.articles)
        engine.rebuild(progress=True)
        asked["news"] = ask_all(engine, [(q.question, q.answers) for q in news.questions])
        asked["news"] += off_topic(engine, OFF_TOPIC_QUESTIONS)
        engine.close()
        engine = Engine(Settings(data_dir=Path(tmp) / "seed"))
        engine.bootstrap(DEFAULT_CORPUS_DIR)
        asked["seed"] = ask_all(engine, [(q, g) for q, g in ANSWERABLE])
        asked["seed"] += off_topic(engine, [*UNANSWERABLE, *OFF_TOPIC_QUESTIONS])
        engine.close()
    asking.PLAIN = base
    print(
        "threshold | v1.1 first / top-3 | v2.0 first / top-3 | v2.0 abstention precision / "
        "recall / answerable abstained | news first / top-3 | seed first | off-topic "
        "abstained (v1.1, v2.0, news, seed)"
    )
    for t in THRESHOLDS:
        cells = []
        for name, rows in asked.items():
            answerable = [r for r in rows if r.answerable]
            first = sum(r.first and r.confidence >= t for r in answerable)
            top3 = sum(r.top3 and r.confidence >= t for r in answerable)
            n = len(answerable)
            cells.append(f"{first}/{n}" if name == "seed" else f"{first / n:.4f} / {top3 / n:.4f}")
            if name == "v2.0":
                unanswerable = [r for r in rows if not r.answerable and not r.off_topic]
                right = sum(r.confidence < t for r in unanswerable)
                wrong = sum(r.confidence < t for r in answerable)
                precision = f"{right / (right + wrong):.3f}" if right + wrong else "-"
                cells.append(
                    f"{precision} / {right / len(unanswerable):.3f} / {wrong / len(answerable):.3f}"
                )
        off = [
            f"{sum(r.confidence < t for r in rows if r.off_topic)}/{sum(r.off_topic for r in rows)}"
            for rows in asked.values()
        ]
        print(f"{t} | " + " | ".join(cells) + " | " + ", ".join(off), flush=True)
    for name, rows in asked.items():
        highest = max(r.confidence for r in rows if r.off_topic)
        print(f"{name}: highest confidence of an off-topic question {highest}")


if __name__ == "__main__":
    main()
