"""Nine key facts of the seed article: how many a briefing quotes beside /ask's top quotes.

    python bench/seed_briefing.py

The facts are those a reader should come away with (the issue that asked for briefings
named them); each is found by a distinctive fragment of the sentence that states it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.defaults import DEFAULT_CORPUS_DIR
from service.answering.briefing import BriefingRequest
from service.ops.engine import Engine
from service.settings import Settings

TOPIC = "ISIS in Deir e-Zor"
FACTS = {
    "the bridge siege": "a-Siyasiya Bridge",
    "al-Qaim": "al-Qaim",
    "the three-way battle": "three-way battle",
    "the weapons brought in": "weapons",
    "no regime-ISIS clashes": "no clashes between the regime and ISIS",
    "the pledge of loyalty": "pledged loyalty",
    "200,000 fled": "200,000",
    "the fighting increasing": "has increased over the past two weeks",
    "the food-aid deal": "food aid",
}


def covered(texts: list[str]) -> list[str]:
    """The facts stated in ``texts``."""
    return [fact for fact, cue in FACTS.items() if any(cue in t for t in texts)]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="briefing-seed-") as tmp:
        engine = Engine(Settings(data_dir=Path(tmp)))
        engine.bootstrap(DEFAULT_CORPUS_DIR)
        try:
            for k in (3, 6, 10):
                quotes = engine.ask(TOPIC, top_k=k).answer.quotes
                facts = covered([q.text for q in quotes])
                print(f"/ask top_k {k:2d}: {len(quotes):2d} quotes, {len(facts)}/9 facts")
            for k in (5, 9, 12):
                points = engine.brief(BriefingRequest(TOPIC, max_points=k)).points
                facts = covered([p.text for p in points])
                print(f"brief max {k:2d}: {len(points):2d} points, {len(facts)}/9 facts")
        finally:
            engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
