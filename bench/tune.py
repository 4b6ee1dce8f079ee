"""Fit the fusion weights and the confidence calibration on SQuAD tune data.

Builds (or reuses) an index of a SQuAD file in a data directory, collects the retrieval
signals of every candidate sentence for a seeded sample of questions, grid-searches the
fusion weights for the answer-in-first-quote rate, then fits the logistic confidence:
positives are the questions asked of the whole corpus, negatives the same questions with
their gold article filtered out (so the archive does not hold the answer).

    python bench/tune.py ../shared/eval/squad-v1.1-dev-tune.json --data-dir /tmp/squad1
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import string
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from corpus.article import Article
from service.engine import Engine
from service.retrieve import Filters, Weights
from service.settings import Settings

FEATURES = ("sentence_dense", "sentence_bm25", "passage_dense", "passage_bm25", "type_match")
CALIBRATION_FEATURES = ("sentence_dense", "passage_dense", "coverage")


def normalize(s: str) -> str:
    """SQuAD answer normalisation."""
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_articles(path: Path) -> tuple[list[Article], list[tuple[str, list[str], str]]]:
    """One article per SQuAD title (paragraphs in order) and (question, golds, article id)."""
    data = json.loads(path.read_text())["data"]
    articles, questions = [], []
    for a in data:
        text = "\n\n".join(p["context"].strip() for p in a["paragraphs"])
        aid = re.sub(r"[^A-Za-z0-9._~-]+", "-", a["title"]).strip("-")
        articles.append(Article(aid, a["title"].replace("_", " "), text, source="SQuAD"))
        for p in a["paragraphs"]:
            for qa in p["qas"]:
                questions.append((qa["question"], [x["text"] for x in qa["answers"]], aid))
    return articles, questions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("squad", type=Path)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=800)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    engine = Engine(Settings(data_dir=args.data_dir))
    articles, questions = squad_articles(args.squad)
    if engine.ingest_articles(articles).changed or engine.snapshots.current_version() is None:
        engine.rebuild(progress=True)
    else:
        engine.load_live()
    live = engine.live
    assert live is not None
    ids = tuple(a.id for a in articles)
    questions = [q for q in questions if any(g.strip() for g in q[1])]
    random.Random(args.seed).shuffle(questions)
    rows, calib_x, calib_y = [], [], []
    for q, golds, aid in questions[: args.limit]:
        vec = engine.encoder.encode([q])[0]
        cands = live.retriever.retrieve(q, vec).candidates[:60]
        gold = [normalize(g) for g in golds]
        feats = np.array([[getattr(c, f) for f in FEATURES] for c in cands])
        labels = np.array(
            [
                any(g in normalize(live.index.sentences[c.sentence].text) for g in gold)
                for c in cands
            ]
        )
        rows.append((feats, labels))
        calib_x.append([getattr(cands[0], f) for f in CALIBRATION_FEATURES])
        calib_y.append(1)
        others = Filters(article_ids=tuple(i for i in ids if i != aid))
        neg = live.retriever.retrieve(q, vec, others).candidates[0]
        calib_x.append([getattr(neg, f) for f in CALIBRATION_FEATURES])
        calib_y.append(0)

    def hit_rate(w: tuple[float, ...]) -> float:
        wv = np.array(w)
        return float(np.mean([bool(lab[np.argmax(f @ wv)]) for f, lab in rows if len(lab)]))

    current = Weights()
    now = tuple(getattr(current, f if f != "type_match" else "answer_type") for f in FEATURES)
    print(f"current weights {now}: answer in first quote {hit_rate(now):.3f}")
    grid = [0.0, 0.1, 0.2, 0.3, 0.4]
    scored = [(hit_rate(w), w) for w in itertools.product(grid, repeat=5) if sum(w[:4]) > 0]
    best_rate, best = max(scored)
    print(f"best weights {best}: answer in first quote {best_rate:.3f}")
    weights = replace(
        current,
        **dict(
            zip(
                ("sentence_dense", "sentence_bm25", "passage_dense", "passage_bm25", "answer_type"),
                best,
                strict=True,
            )
        ),
    )
    print("as Weights:", weights)
    model = LogisticRegression(C=10).fit(np.array(calib_x), np.array(calib_y))
    coef = dict(zip(CALIBRATION_FEATURES, model.coef_[0].round(2), strict=True))
    print(f"calibration: bias {model.intercept_[0]:.2f}, {coef}")
    p = model.predict_proba(np.array(calib_x))[:, 1]
    y = np.array(calib_y)
    for t in (0.3, 0.4, 0.5, 0.6):
        print(
            f"  threshold {t}: answerable abstained {np.mean(p[y == 1] < t):.3f}, "
            f"gold-article-removed abstained {np.mean(p[y == 0] < t):.3f}"
        )


if __name__ == "__main__":
    main()
