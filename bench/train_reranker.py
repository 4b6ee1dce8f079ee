"""Train the reader's teacher: a six-layer cross-encoder initialised from all-MiniLM-L6-v2.

It is not shipped: with twice the reader's layers it takes about twice its time, past the
reader's budget, so ``bench/train_reader.py --teacher`` teaches its scores to the
three-layer reader that is (README, "The reader"). Training data comes only from the SQuAD
v1.1 tune articles that are *not* in the v2.0 tune file, so the v2.0 articles stay held out
for evaluation. For each question the positive is the best-ranked candidate sentence
containing a gold answer; the negatives are the best-ranked candidates that do not (hard
negatives from Briefing's own retrieval). The loss is a softmax over one positive and its
negatives. Weights are saved as float16 safetensors.

    python bench/train_reranker.py --data-dir /tmp/squad1 --out /tmp/teacher
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings.encoder import bundled_model_path
from service.evaluation.metrics import contains_answer
from service.evaluation.squad import load_squad
from service.ops.engine import Engine
from service.settings import Settings

log = logging.getLogger("train_reranker")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"


def optimiser(
    model: torch.nn.Module, lr: float, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (weight decay 0.01) with a linear warm-up over a tenth of ``steps``, then a
    linear decay to zero: the schedule the teacher and the reader are trained with."""
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    return optim, sched


def build_groups(engine: Engine, questions: list, negatives: int) -> list[tuple[str, list[str]]]:
    """(question, [positive, negative...]) groups from the live index's candidates."""
    live = engine.live
    assert live is not None
    groups = []
    for q in questions:
        if not q.golds:
            continue
        vec = engine.encoder.encode_query(q.question)
        cands = live.retriever.retrieve(q.question, vec).candidates[:30]
        texts = [live.index.sentences[c.sentence].text for c in cands]
        pos = [t for t in texts if contains_answer(t, q.golds)]
        neg = [t for t in texts if not contains_answer(t, q.golds)]
        if not pos or len(neg) < negatives:
            continue
        groups.append((q.question, [pos[0], *neg[:negatives]]))
    return groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="index of squad-v1.1-dev-tune")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--negatives", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8, help="questions per step")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    random.seed(args.seed)
    torch.manual_seed(args.seed)

    v1 = load_squad([SHARED / "squad-v1.1-dev-tune.json"])
    held_out = {a.id for a in load_squad([SHARED / "squad-v2.0-dev-tune.json"]).articles}
    train_q = [q for q in v1.questions if q.article_id not in held_out]
    engine = Engine(Settings(data_dir=args.data_dir))
    if engine.ingest_articles(v1.articles).changed or engine.snapshots.current_version() is None:
        engine.rebuild()
    else:
        engine.load_live()
    groups = build_groups(engine, train_q, args.negatives)
    log.info("%d training groups from %d questions", len(groups), len(train_q))

    path = str(bundled_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    model.train()
    steps = int(len(groups) * args.epochs / args.batch)
    optim, sched = optimiser(model, args.lr, steps)
    order: list[int] = []
    started = time.time()
    for step in range(steps):
        if len(order) < args.batch:
            order += random.sample(range(len(groups)), len(groups))
        batch = [groups[order.pop()] for _ in range(args.batch)]
        qs = [q for q, texts in batch for _ in texts]
        ss = [t for _, texts in batch for t in texts]
        enc = tokenizer(
            qs, ss, truncation=True, max_length=args.max_length, padding=True, return_tensors="pt"
        )
        logits = model(**enc).logits.view(len(batch), -1)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        optim.zero_grad()
        if step % 20 == 0:
            log.info(
                "step %d/%d loss %.4f (%.0fs)", step, steps, loss.item(), time.time() - started
            )

    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    weights = args.out / "model.safetensors"
    state = {k: v.half().contiguous() for k, v in load_file(weights).items()}
    save_file(state, weights, metadata={"format": "pt"})
    (args.out / "training.json").write_text(
        json.dumps(
            {
                "base": "all-MiniLM-L6-v2",
                "train_file": "squad-v1.1-dev-tune.json",
                "excluded_articles": "those of squad-v2.0-dev-tune.json",
                "groups": len(groups),
                "negatives": args.negatives,
                "steps": steps,
                "batch_questions": args.batch,
                "lr": args.lr,
                "max_length": args.max_length,
                "seed": args.seed,
                "seconds": round(time.time() - started),
            },
            indent=2,
        )
    )
    log.info("saved to %s", args.out)


if __name__ == "__main__":
    main()
