"""Near-duplicate threshold check: the similarity of a rewritten wire story, and the highest
similarity among distinct SQuAD paragraphs on related topics.

    python bench/dedup.py [--paragraphs 200]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus import dedup
from tests.corpus.test_dedup import REWRITE, WIRE

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "squad-v1.1-dev-tune.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paragraphs", type=int, default=200)
    args = parser.parse_args()
    a, b = dedup.shingles(WIRE), dedup.shingles(REWRITE)
    sa, sb = dedup.signature(WIRE), dedup.signature(REWRITE)
    assert sa is not None and sb is not None
    print(
        f"one paragraph of five rewritten: estimate {dedup.similarity(sa, sb):.3f}, "
        f"true Jaccard {len(a & b) / len(a | b):.3f} (threshold {dedup.THRESHOLD})"
    )
    data = json.loads(EVAL.read_text(encoding="utf-8"))["data"]
    texts = [p["context"] for e in data[:8] for p in e["paragraphs"][:25]][: args.paragraphs]
    sigs = np.array([s for s in map(dedup.signature, texts) if s is not None])
    best = max(float((sigs[i + 1 :] == sigs[i]).mean(axis=1).max()) for i in range(len(sigs) - 1))
    print(f"highest estimate among {len(sigs)} distinct SQuAD paragraphs: {best:.3f}")


if __name__ == "__main__":
    main()
