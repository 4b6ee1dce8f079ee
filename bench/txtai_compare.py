"""Briefing's /ask path against txtai's hybrid search, same sentences and questions, same run.

    python bench/txtai_compare.py [--questions 1000] [--json]

Both index the sentences of the SQuAD v1.1 tune articles (txtai: the sentence texts
Briefing's index holds, hybrid=True: dense + BM25 with its own score fusion, over the same
bundled all-MiniLM-L6-v2 run by sentence-transformers) and answer the same questions, one
at a time, after warm-up. Briefing's time is ``Engine.ask`` (question encoding, retrieval,
quotes and confidence: more work than a search); txtai's is ``Embeddings.search(q, 3)``.
Also reported: how often the first result holds a gold answer (a sanity check that both
searched the same thing, not Briefing's evaluation; see ``briefing eval``).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from embeddings.encoder import bundled_model_path
from service.evaluation.squad import load_squad
from service.ops.engine import Engine
from service.settings import Settings

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "eval" / "squad-v1.1-dev-tune.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from txtai import Embeddings

    squad = load_squad([SQUAD])
    questions = list(squad.questions)
    random.Random(0).shuffle(questions)
    questions = questions[: args.questions]
    with tempfile.TemporaryDirectory(prefix="briefing-txtai-") as tmp:
        engine = Engine(Settings(data_dir=Path(tmp)))
        engine.ingest_articles(squad.articles)
        engine.update_index()
        live = engine.live
        assert live is not None
        index = live.index
        every = np.arange(len(index.sentences))
        rows = every[index.sentence_allowed(every)].tolist()
        texts = [index.text(r) for r in rows]
        t = time.perf_counter()
        txt = Embeddings(path=str(bundled_model_path()), hybrid=True, content=True)
        txt.index([(i, text, None) for i, text in enumerate(texts)])
        txtai_build_s = time.perf_counter() - t

        def timed(run: object) -> tuple[list[float], list[str]]:
            for q in questions[:20]:
                run(q.question)  # type: ignore[operator]
            ms, firsts = [], []
            for q in questions:
                t = time.perf_counter()
                firsts.append(run(q.question))  # type: ignore[operator]
                ms.append((time.perf_counter() - t) * 1000)
            return ms, firsts

        def ours(question: str) -> str:
            quotes = engine.ask(question).answer.quotes
            return quotes[0].text if quotes else ""

        def theirs(question: str) -> str:
            hits = txt.search(question, 3)
            return str(hits[0]["text"]) if hits else ""

        b_ms, b_first = timed(ours)
        x_ms, x_first = timed(theirs)
        engine.close()

    def hit(firsts: list[str]) -> float:
        return sum(
            any(g.casefold() in f.casefold() for g in q.golds)
            for f, q in zip(firsts, questions, strict=True)
        ) / len(questions)

    report = {
        "sentences": len(texts),
        "questions": len(questions),
        "briefing_ask_ms_p50": round(statistics.median(b_ms), 2),
        "briefing_ask_ms_p95": round(sorted(b_ms)[int(0.95 * len(b_ms))], 2),
        "txtai_search_ms_p50": round(statistics.median(x_ms), 2),
        "txtai_search_ms_p95": round(sorted(x_ms)[int(0.95 * len(x_ms))], 2),
        "txtai_over_briefing_p50": round(statistics.median(x_ms) / statistics.median(b_ms), 2),
        "briefing_first_holds_answer": round(hit(b_first), 3),
        "txtai_first_holds_answer": round(hit(x_first), 3),
        "txtai_build_s": round(txtai_build_s, 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:30} {v}")


if __name__ == "__main__":
    main()
