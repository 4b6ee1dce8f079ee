"""Would a learned fusion over more signals choose the first quote better? (It did not.)

Collects, for SQuAD tune questions and the news set, every candidate retrieval ranks with
the fused score's signals and eighteen more (the sentence's own share of the question's
terms, plain and weighted by rarity; matching term pairs; its place and length in its
paragraph; its neighbours' similarity to the question; ranks by each signal; the best
passage similarity of its article; distances from the question's best), then fits on the
13 SQuAD v1.1 tune articles that are not in the v2.0 file (the reader's training
articles) and reports, on questions of articles it never saw (v1.1's other 18, all of
v2.0, the news set), how often the first and top three candidates hold an answer: the
fused score as shipped beside a logistic regression (each candidate alone), a pairwise
logistic regression (answer against non-answer of one question) and gradient-boosted
trees.

    python bench/fusion_features.py --v1-data-dir /tmp/ff1 --v2-data-dir /tmp/ff2 \\
        --news-data-dir /tmp/ffn [--limit 4000]

Each data directory is built on first use (about a minute each) and reused after.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.article import Article
from embeddings.index import SearchIndex
from embeddings.sparse import idf, tokenize
from service.evaluation.metrics import contains_answer
from service.evaluation.news import load_news
from service.evaluation.squad import load_squad
from service.ops.engine import Engine
from service.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"
NEWS = Path(__file__).resolve().parent / "news"


@dataclass(frozen=True)
class Asked:
    """One question: its article, acceptable answers."""

    question: str
    article: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Ranked:
    """A question's candidates in retrieval's order: features and whether each holds an
    answer."""

    article: str
    features: np.ndarray
    labels: np.ndarray


def engine_for(folder: Path, articles: Sequence[Article]) -> Engine:
    """An engine over ``articles`` in ``folder``, built on first use."""
    engine = Engine(Settings(data_dir=folder, rerank=False))
    if engine.ingest_articles(list(articles)).changed or engine.snapshots.current_version() is None:
        engine.rebuild(progress=True)
    else:
        engine.load_live()
    return engine


def collect(engine: Engine, asked: Sequence[Asked]) -> list[Ranked]:
    """Every candidate of each question with its features."""
    live = engine.live
    assert live is not None
    idx, retriever = live.index, live.retriever
    out = []
    for q in asked:
        vector = engine.encoder.encode_query(q.question)
        found = retriever.retrieve(q.question, vector)
        cands = found.candidates
        if not cands:
            continue
        ids = np.array([c.sentence for c in cands], dtype=np.int64)
        texts = idx.texts(ids)
        tokens = tokenize(texts)
        terms = list(dict.fromkeys(found.query_terms))
        stats = idx.term_stats("sentences", terms)
        rarity = {t: idf(stats.rows, df) for t, df in zip(terms, stats.df, strict=True)}
        total = sum(rarity.values()) or 1.0
        wanted = set(terms)
        pairs = set(zip(found.query_terms, found.query_terms[1:], strict=False))
        passages = idx.column("sentences", "passage", ids)
        articles = idx.column("sentences", "article", ids)
        rows = []
        for j, c in enumerate(cands):
            own = set(tokens[j])
            span = idx.passage_sentences(int(passages[j]))
            place = c.sentence - span.start
            rows.append(
                [
                    c.score,
                    c.sentence_dense,
                    c.sentence_bm25,
                    c.passage_dense,
                    c.passage_bm25,
                    retriever.with_coverage(c, wanted).coverage,
                    c.type_match,
                    c.unit_match,
                    sum(rarity[t] for t in wanted & own) / total,
                    len(wanted & own) / max(1, len(wanted)),
                    len(pairs & set(zip(tokens[j], tokens[j][1:], strict=False))),
                    place,
                    float(place == 0),
                    len(span),
                    np.log1p(len(texts[j])),
                    len(tokens[j]),
                ]
            )
        f = np.array(rows, dtype=np.float64)
        before = np.where(f[:, 11] > 0, ids - 1, -1)
        after = np.where(f[:, 11] < f[:, 13] - 1, ids + 1, -1)

        best_of_article = np.zeros(len(f))
        for a in np.unique(articles):
            best_of_article[articles == a] = f[articles == a, 3].max()
        extra = np.stack(
            [
                _similarity(idx, before, vector),
                _similarity(idx, after, vector),
                1 / (1 + np.argsort(np.argsort(-f[:, 1]))),
                1 / (1 + np.argsort(np.argsort(-f[:, 2]))),
                1 / (1 + np.arange(len(f))),
                best_of_article,
                f[:, 0] - f[0, 0],
                f[:, 1] - f[:, 1].max(),
                f[:, 3] - f[:, 3].max(),
            ],
            axis=1,
        )
        labels = np.array([contains_answer(t, q.answers) for t in texts])
        out.append(Ranked(q.article, np.concatenate([f, extra], axis=1), labels))
    return out


def _similarity(idx: SearchIndex, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Cosine of each sentence row to the question (0 where the row is -1: none)."""
    sims = np.zeros(len(rows))
    have = rows >= 0
    if have.any():
        sims[have] = idx.vectors("sentences", rows[have]) @ vector
    return sims


def hits(rows: Sequence[Ranked], score: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Share of questions whose best-scored candidate, and whose best three, hold an answer."""
    first, top3 = [], []
    for r in rows:
        order = np.argsort(-score(r.features), kind="stable")
        first.append(bool(r.labels[order[0]]))
        top3.append(bool(r.labels[order[:3]].any()))
    return float(np.mean(first)), float(np.mean(top3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--v1-data-dir", type=Path, required=True)
    ap.add_argument("--v2-data-dir", type=Path, required=True)
    ap.add_argument("--news-data-dir", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=4000, help="SQuAD questions per file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sets: dict[str, list[Ranked]] = {}
    held = {a.id for a in load_squad([SHARED / "squad-v2.0-dev-tune.json"]).articles}
    for name, folder in (("v1.1", args.v1_data_dir), ("v2.0", args.v2_data_dir)):
        squad = load_squad([SHARED / f"squad-{name}-dev-tune.json"])
        pool = [q for q in squad.questions if q.golds]
        chosen = rng.sample(pool, min(args.limit, len(pool)))
        engine = engine_for(folder, squad.articles)
        asked = [Asked(q.question, q.article_id, tuple(q.golds)) for q in chosen]
        sets[name] = collect(engine, asked)
        engine.close()
    news = load_news(NEWS)
    engine = engine_for(args.news_data_dir, news.articles)
    sets["news"] = collect(
        engine, [Asked(q.question, q.articles[0], q.answers) for q in news.questions]
    )
    engine.close()
    fit = [r for r in sets["v1.1"] if r.article not in held]
    reported = {
        "fit (v1.1, 13 articles)": fit,
        "v1.1, 18 other articles": [r for r in sets["v1.1"] if r.article in held],
        "v2.0 (answerable)": sets["v2.0"],
        "news set": sets["news"],
    }
    x = np.concatenate([r.features for r in fit])
    y = np.concatenate([r.labels for r in fit])
    mean, spread = x.mean(axis=0), x.std(axis=0) + 1e-6
    pointwise = LogisticRegression(C=0.1, max_iter=3000).fit((x - mean) / spread, y)
    diffs: list[np.ndarray] = []
    for r in fit:
        z = (r.features - mean) / spread
        if r.labels.any() and (~r.labels).any():
            diffs.extend(p - z[~r.labels][:30] for p in z[r.labels][:3])
    d = np.concatenate(diffs)
    pairwise = LogisticRegression(C=0.1, max_iter=3000, fit_intercept=False).fit(
        np.concatenate([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))]
    )
    trees = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=200, max_leaf_nodes=15, min_samples_leaf=50
    ).fit(x, y)
    scorers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "fused score (shipped)": lambda f: f[:, 0],
        "logistic regression": lambda f: pointwise.decision_function((f - mean) / spread),
        "pairwise logistic": lambda f: ((f - mean) / spread) @ pairwise.coef_[0],
        "gradient-boosted trees": lambda f: trees.decision_function(f),
    }
    print("| first quote / top-3 | " + " | ".join(reported) + " |")
    print("|---" * (len(reported) + 1) + "|")
    for name, score in scorers.items():
        cells = [f"{a:.4f} / {b:.4f}" for a, b in (hits(rows, score) for rows in reported.values())]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("questions: " + ", ".join(f"{k} {len(v)}" for k, v in reported.items()))


if __name__ == "__main__":
    main()
