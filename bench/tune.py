"""Fit the fusion weights, the reader's weight and the confidence calibration.

Uses an index of squad-v1.1-dev-tune.json. Questions of the articles that are also in
squad-v2.0-dev-tune.json are held out (the reader never trained on them); everything is fitted
on the other articles and reported on both, so the held-out column is the honest one.

1. grid search of the fused-score weights (answer in first quote, reader off);
2. the weight of the reader's logit added to the fused score (top candidates only);
3. logistic confidence (see the comment at its fitting), reported on held-out articles.

    python bench/tune.py --data-dir /tmp/squad1 --v2-data-dir /tmp/squad2 [--no-reranker]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings.reader import Reader
from service.answering.retrieve import Candidate, RerankPolicy, Weights, rerank
from service.answering.search import Filters
from service.evaluation.metrics import contains_answer
from service.evaluation.squad import SquadQuestion, load_squad
from service.ops.engine import Engine
from service.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"
FUSED = ("sentence_dense", "sentence_bm25", "passage_dense", "passage_bm25", "type_match")
WEIGHT_NAMES = ("sentence_dense", "sentence_bm25", "passage_dense", "passage_bm25", "answer_type")
CALIBRATION = ("sentence_dense", "passage_dense", "coverage")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="for squad-v1.1-dev-tune")
    ap.add_argument("--v2-data-dir", type=Path, required=True, help="for squad-v2.0-dev-tune")
    ap.add_argument("--reranker", type=Path, help="reader folder (default: the shipped one)")
    ap.add_argument("--no-reranker", action="store_true")
    ap.add_argument("--limit", type=int, default=600, help="questions per split")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    v1 = load_squad([SHARED / "squad-v1.1-dev-tune.json"])
    held = {a.id for a in load_squad([SHARED / "squad-v2.0-dev-tune.json"]).articles}
    engine = Engine(Settings(data_dir=args.data_dir, rerank=False))
    if engine.ingest_articles(v1.articles).changed or engine.snapshots.current_version() is None:
        engine.rebuild(progress=True)
    else:
        engine.load_live()
    live = engine.live
    assert live is not None
    reranker = None if args.no_reranker else Reader.load(args.reranker)
    ids = tuple(a.id for a in v1.articles)
    rng = random.Random(args.seed)
    splits: dict[str, list[SquadQuestion]] = {}
    for name, keep in (
        ("fit", lambda q: q.article_id not in held),
        ("held-out", lambda q: q.article_id in held),
    ):
        pool = [q for q in v1.questions if keep(q) and q.golds]
        splits[name] = rng.sample(pool, min(args.limit, len(pool)))

    rows: dict[
        str, list[tuple[np.ndarray, np.ndarray, np.ndarray, list[Candidate], SquadQuestion]]
    ] = {}
    for name, questions in splits.items():
        rows[name] = []
        for q in questions:
            vec = engine.encoder.encode_query(q.question)
            cands = live.retriever.retrieve(q.question, vec).candidates[:60]
            if reranker is not None:
                cands = rerank(live.index, cands, q.question, reranker, RerankPolicy(weight=0.0))
            feats = np.array([[getattr(c, f) for f in FUSED] for c in cands])
            cross = np.array([c.cross for c in cands])
            labels = np.array(
                [contains_answer(live.index.sentences[c.sentence].text, q.golds) for c in cands]
            )
            rows[name].append((feats, cross, labels, cands, q))

    def rate(name: str, w: np.ndarray, w_cross: float, depth: int = RerankPolicy().depth) -> float:
        hits = []
        for feats, cross, labels, _, _ in rows[name]:
            fused = feats @ w
            order = np.argsort(-fused, kind="stable")[:depth] if w_cross else np.argsort(-fused)[:1]
            best = order[np.argmax(fused[order] + w_cross * cross[order])] if w_cross else order[0]
            hits.append(bool(labels[best]))
        return float(np.mean(hits))

    current = Weights()
    w_now = np.array([getattr(current, f) for f in WEIGHT_NAMES])
    fit, held_out = rate("fit", w_now, 0), rate("held-out", w_now, 0)
    print(f"fused weights now {tuple(w_now)}: fit {fit:.3f}, held-out {held_out:.3f}")
    grid = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    scored = [
        (rate("fit", np.array(w), 0), w)
        for w in itertools.product(grid, repeat=5)
        if sum(w[:4]) > 0
    ]
    best_rate, best_w = max(scored)
    held_out = rate("held-out", np.array(best_w), 0)
    print(f"best fused weights on fit {best_w}: fit {best_rate:.3f}, held-out {held_out:.3f}")
    chosen = 0.0
    if reranker is not None:
        # Candidates were collected with the current weights; the reader re-orders their head.
        results = []
        for w_cross in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 100.0):
            results.append((rate("fit", w_now, w_cross), w_cross))
            held_out = rate("held-out", w_now, w_cross)
            print(f"  reader weight {w_cross}: fit {results[-1][0]:.3f}, held-out {held_out:.3f}")
        chosen = max(results)[1]
        print(f"reader weight chosen on fit: {chosen}")

    # Calibration. Positives: answerable questions. Negatives: the same v1.1 questions with
    # their gold article filtered out, and SQuAD v2.0's unanswerable questions. Fitted on
    # the v2.0 articles of even rank (plus the v1.1 fit split), reported on the others.
    v2 = load_squad([SHARED / "squad-v2.0-dev-tune.json"])
    v2_engine = Engine(Settings(data_dir=args.v2_data_dir, rerank=False), encoder=engine.encoder)
    if (
        v2_engine.ingest_articles(v2.articles).changed
        or v2_engine.snapshots.current_version() is None
    ):
        v2_engine.rebuild(progress=True)
    else:
        v2_engine.load_live()
    v2_live = v2_engine.live
    assert v2_live is not None
    v2_ids = sorted(a.id for a in v2.articles)
    v2_fit_ids = set(v2_ids[::2])

    def top_features(eng: Engine, question: str, filters: Filters | None = None) -> list[float]:
        lv = eng.live
        assert lv is not None
        vec = eng.encoder.encode_query(question)
        # Judged on retrieval's best candidate, before the reader re-orders (as /ask does).
        cands = lv.retriever.retrieve(question, vec, filters).candidates
        if not cands:
            return [0.0] * len(CALIBRATION)
        return [getattr(cands[0], f) for f in CALIBRATION]

    data: dict[str, tuple[list[list[float]], list[int]]] = {"fit": ([], []), "held-out": ([], [])}
    for _, _, _, _, q in rows["fit"][: args.limit // 2]:
        others = Filters(article_ids=tuple(i for i in ids if i != q.article_id))
        data["fit"][0].append(top_features(engine, q.question, others))
        data["fit"][1].append(0)
    v2_questions = rng.sample(v2.questions, min(len(v2.questions), 4 * args.limit))
    for q in v2_questions:
        split = "fit" if q.article_id in v2_fit_ids else "held-out"
        data[split][0].append(top_features(v2_engine, q.question))
        data[split][1].append(int(bool(q.golds)))
    model = LogisticRegression(C=10, max_iter=1000).fit(
        np.array(data["fit"][0]), np.array(data["fit"][1])
    )
    coef = {f: round(float(c), 2) for f, c in zip(CALIBRATION, model.coef_[0], strict=True)}
    print(f"calibration: bias {model.intercept_[0]:.2f}, {coef}")
    for name, (xs, ys) in data.items():
        p = model.predict_proba(np.array(xs))[:, 1]
        y = np.array(ys)
        for t in (0.2, 0.3, 0.4, 0.5):
            abstained = p < t
            wrong = float(np.mean(abstained[y == 1]))
            precision = float(np.mean(y[abstained] == 0)) if abstained.any() else float("nan")
            recall = float(np.mean(abstained[y == 0]))
            print(
                f"  {name} threshold {t}: abstain precision {precision:.3f}, "
                f"recall {recall:.3f}, answerable abstained {wrong:.3f}"
            )
    v2_engine.close()


if __name__ == "__main__":
    main()
