"""Sweep one fusion weight over the news set, a SQuAD v1.1 tune sample and the seed set.

    python bench/cue_sweep.py unit 0 0.05 0.1 0.15 0.2 0.3
    python bench/cue_sweep.py interview_terms 0 0.1 0.2 0.3 [--squad-limit 2000]
    python bench/cue_sweep.py place 0 0.05 0.1 0.15 0.2 --only '\bwhere\b' [--squad FILE]

Each set is indexed once (the news set's 40 articles, the SQuAD v1.1 tune articles, the
seed article); then, for each value, ``Weights.<name>`` is set with ``Engine.configure``
and every question asked through the ``/ask`` code path (3 quotes). Printed per value:
answer in the first quote / in the top three / mean characters of the first quote, for
each set (SQuAD: a seeded sample of
``--squad-limit`` questions, seed 0, as ``briefing eval --limit 2000 --seed 0`` draws it;
``--squad`` another file, whose unanswerable questions are left out). With ``--only
REGEX``, every set keeps only the questions matching it (case-insensitive; SQuAD's are
drawn from the file's matching questions), to measure a cue on the questions it is for.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from service.answering.retrieve import Weights
from service.evaluation.metrics import contains_answer
from service.evaluation.news import load_news
from service.evaluation.squad import SquadError, load_squad
from service.ops.engine import Engine
from service.settings import Settings
from tests.service.seed_questions import ANSWERABLE

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "eval" / "squad-v1.1-dev-tune.json"


def _rates(
    engine: Engine, items: Sequence[tuple[str, Sequence[str]]]
) -> tuple[float, float, float]:
    first = top3 = 0
    chars: list[int] = []
    for question, golds in items:
        quotes = engine.ask(question, top_k=3).answer.quotes
        first += bool(quotes) and contains_answer(quotes[0].text, golds)
        top3 += any(contains_answer(q.text, golds) for q in quotes[:3])
        if quotes:
            chars.append(len(quotes[0].text))
    mean_chars = sum(chars) / len(chars) if chars else 0.0
    return round(first / len(items), 4), round(top3 / len(items), 4), round(mean_chars, 1)


def _pattern(text: str) -> re.Pattern[str]:
    """``--only``'s regular expression, case-insensitive."""
    try:
        return re.compile(text, re.I)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from exc


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    names = [f.name for f in dataclasses.fields(Weights)]
    parser.add_argument("weight", choices=names, help="the Weights field to sweep")
    parser.add_argument("values", nargs="+", type=float, help="values to try")
    parser.add_argument("--squad-limit", type=int, default=2000)
    parser.add_argument("--squad", type=Path, default=SQUAD, help="SQuAD-format file")
    parser.add_argument(
        "--only", type=_pattern, help="keep the questions matching this regular expression"
    )
    args = parser.parse_args()

    def kept(question: str) -> bool:
        return args.only is None or bool(args.only.search(question))

    news = load_news(ROOT / "bench" / "news")
    try:
        squad = load_squad([args.squad])
    except SquadError as exc:
        sys.exit(f"{exc}; give --squad a SQuAD-format file such as ../shared/eval/*.json")
    if not squad.questions:
        sys.exit(f"{args.squad}: no SQuAD questions found")
    pool = [q for q in squad.questions if q.golds and kept(q.question)]
    sample = random.Random(0).sample(pool, min(args.squad_limit, len(pool)))
    with tempfile.TemporaryDirectory(prefix="briefing-sweep-") as tmp:
        encoder = Encoder.load()
        engines = {
            name: Engine(Settings(data_dir=Path(tmp) / name), encoder=encoder)
            for name in ("n", "q", "s")
        }
        engines["n"].ingest_articles(news.articles)
        engines["q"].ingest_articles(squad.articles)
        engines["s"].ingest([DEFAULT_CORPUS_DIR])
        for engine in engines.values():
            engine.rebuild()
        every: dict[str, tuple[Engine, list[tuple[str, Sequence[str]]]]] = {
            "news": (engines["n"], [(q.question, q.answers) for q in news.questions]),
            "squad": (engines["q"], [(q.question, q.golds) for q in sample]),
            "seed": (engines["s"], [(q, list(g)) for q, g in ANSWERABLE]),
        }
        sets: dict[str, tuple[Engine, list[tuple[str, Sequence[str]]]]] = {}
        for name, (engine, items) in every.items():
            asked = [(q, golds) for q, golds in items if kept(q)]
            if asked:
                sets[f"{name} ({len(asked)})"] = (engine, asked)
        base = engines["n"].weights
        print(f"{args.weight:>16}  " + "  ".join(f"{s + ' first/top3/chars':>30}" for s in sets))
        for value in args.values:
            cells = []
            for engine, items in sets.values():
                engine.configure(weights=replace(base, **{args.weight: value}))
                first, top3, chars = _rates(engine, items)
                cells.append(f"{first:>11} / {top3:<6} / {chars:<7}")
            print(f"{value:>16}  " + "  ".join(cells), flush=True)
        for engine in engines.values():
            engine.close()


if __name__ == "__main__":
    main()
