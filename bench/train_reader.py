"""Train the reader: a small cross-encoder that re-orders Briefing's best candidates.

The reader reads the question with each shortlisted sentence: the sentence alone, after
its article's title (``--title``, as the shipped reader does) or after the sentence before
it (``--context``); ``training.json`` records which, as ``input``, and ``rerank`` gives it
the same. It is the bundled all-MiniLM-L6-v2 (or its first ``--layers`` transformer layers)
with a one-logit head, fine-tuned here and shipped as an int8 ONNX file
(``embeddings/models/reader/``).

Training data, split by article. By default only the SQuAD v1.1 tune articles that are
*not* in the v2.0 tune file are read (13 of 31); every article of the v2.0 file (the other
18) is validation and never seen. ``--hold-out half-v2`` trains on every other article of
the v2.0 file too (in title order, 9 of 18) and validates on the rest. From the training
articles come:

- SQuAD's own questions: the positive is the best-ranked candidate holding a gold answer,
  the negatives the sentences beside it in its paragraph (the near misses readers see most)
  and Briefing's best-ranked candidates that hold no answer (hard negatives);
- yes/no questions, which SQuAD lacks, made by moving a sentence's auxiliary verb to the
  front ("The bridge will reopen on Monday." -> "Will the bridge reopen on Monday?"), with
  the rest of the sentence cut short, so the question shares only part of its words;
- quantity questions ("How many passengers ...?") made from sentences holding a number of
  a counted noun, whose negatives are the candidates without that number.

With ``--news DIR`` (by default ``bench/reader_news``: 31 invented news articles and 115
questions written for training, never asked in any evaluation) it also reads news: the
set's hand-written questions (quantities, dates, why, interview replies: what SQuAD lacks),
yes/no and quantity questions made from its sentences as above, and every interview
question with the reply's opening as its positive and the interviewer's words among its
negatives. These groups are repeated ``--news-repeat`` times, as they are few.

The loss is a softmax over one positive and its negatives. With ``--residual`` a group is
instead Briefing's own head for the question (``--depth`` candidates holding both an
answering and a wrong sentence), and the softmax runs over fused score + ``--weight`` ×
logit with every answering sentence a positive: the logit learns what to add to
Briefing's order, as ``rerank`` adds it (the weight is written into ``training.json``,
where the reader is loaded from). Validation figures (answer in
the first quote among the re-ordered shortlist, on questions of the held-out articles) are
written into ``training.json`` beside the model.

    python bench/train_reader.py --data-dir /tmp/reader-squad1 --title --max-length 80 --out DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train_reranker import optimiser  # bench/train_reranker.py, beside this file

from embeddings.encoder import bundled_model_path, file_sha256
from embeddings.onnx_model import convert
from embeddings.reader import CONTEXT_INPUT, MODEL_FILE, SENTENCE_INPUT, TITLE_INPUT, Reader
from service.answering.retrieve import Candidate, reading
from service.evaluation.metrics import contains_answer
from service.evaluation.news import NewsQuestion, load_news
from service.evaluation.squad import SquadQuestion, load_squad
from service.ops.engine import Engine
from service.settings import Settings

log = logging.getLogger("train_reader")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"
READER_NEWS = Path(__file__).resolve().parent / "reader_news"

_AUX = "is|are|was|were|will|has|have|had|can|could|would|should|did|does|do"
_STATEMENT = re.compile(
    rf"^(?P<subject>(?:The |A |An )?[A-Z][\w'’-]*(?: [\w'’-]+){{0,4}}?) (?P<aux>{_AUX}) "
    r"(?P<rest>[^,;:“”\"()]{12,}?)\.$"
)
_LOWERED = {"The", "A", "An", "He", "She", "It", "They", "This", "These", "That", "Those", "We"}
_NOT_SUBJECTS = {
    *("In", "On", "At", "After", "Before", "During", "By", "From", "For", "With", "As"),
    *("Although", "Though", "While", "When", "If", "Because", "Since", "Despite", "However"),
}
_DANGLING = frozenset(
    ["the", "a", "an", "of", "in", "on", "at", "to", "for", "by", "with", "and", "or", "after"]
)
_COUNTED = re.compile(r"\b(?P<n>\d[\d,.]*)\s+(?P<unit>[a-z]{3,}s)\b")
TEACHER_MAX_LENGTH = 96  # what bench/train_reranker.py trained the teacher with
_NOT_UNITS = {"years", "times", "others", "is", "was", "has", "this", "its", "as"}


@dataclass(frozen=True)
class Group:
    """One question with its positive sentence first and its negatives after."""

    question: str
    texts: tuple[str, ...]
    kind: str
    # Residual groups (``--residual``): the texts are Briefing's head for the question, in
    # order, with their fused scores and which of them answer (any number of them).
    base: tuple[float, ...] = ()
    answers: tuple[bool, ...] = ()


def yes_no_question(sentence: str, rng: random.Random) -> str | None:
    """A yes/no question made from a plain statement, or None when it has no simple form."""
    m = _STATEMENT.match(sentence.strip())
    if not m:
        return None
    subject, words = m["subject"], m["rest"].split()
    first = subject.split()[0]
    perfect = not m["aux"].startswith("ha") or words[0].endswith(("ed", "en"))
    if first in _NOT_SUBJECTS or not perfect:
        return None  # "In 1990 the city had…", "The city has a station…": no simple inversion
    if first in _LOWERED:
        subject = subject[0].lower() + subject[1:]
    words = words[: max(3, int(len(words) * rng.uniform(0.5, 0.9)))]
    while len(words) > 3 and words[-1].lower() in _DANGLING:
        words.pop()
    return f"{m['aux'].capitalize()} {subject} {' '.join(words)}?"


def quantity_question(sentence: str) -> tuple[str, str] | None:
    """("How many <unit> ...?", the number asked for) from a sentence counting something."""
    m = _COUNTED.search(sentence)
    if not m or m["unit"] in _NOT_UNITS:
        return None
    rest = (sentence[: m.start()] + sentence[m.end() :]).strip().rstrip(".")
    words = [w for w in rest.split() if not any(ch.isdigit() for ch in w)]
    if len(words) < 4:
        return None
    words[0] = words[0][0].lower() + words[0][1:] if words[0][:1].isupper() else words[0]
    return f"How many {m['unit']} {' '.join(words[:12])}?", m["n"]


class GroupMaker:
    """Builds training groups from Briefing's own candidates on one index."""

    def __init__(self, engine: Engine, negatives: int, reads: str) -> None:
        assert engine.live is not None
        self.engine = engine
        self.live = engine.live
        self.negatives = negatives
        self.reads = reads

    def text(self, sentence: int) -> str:
        """What the reader reads for ``sentence`` (see ``retrieve.reading``)."""
        return reading(self.live.index, sentence, self.reads)

    def candidates(self, question: str, depth: int = 30) -> list[int]:
        return [c.sentence for c in self.head(question, depth)]

    def head(self, question: str, depth: int) -> list[Candidate]:
        vec = self.engine.encoder.encode_query(question)
        return self.live.retriever.retrieve(question, vec).candidates[:depth]

    def residual(
        self, question: str, depth: int, answers: Callable[[int], bool], kind: str
    ) -> Group | None:
        """The reader's head for ``question`` as one group, when it holds both an answering
        and a wrong sentence (the other heads teach nothing about order)."""
        head = self.head(question, depth)
        holds = tuple(answers(c.sentence) for c in head)
        if len(head) < depth or all(holds) or not any(holds):
            return None
        return Group(
            question,
            tuple(self.text(c.sentence) for c in head),
            kind,
            base=tuple(c.score for c in head),
            answers=holds,
        )

    def squad_residual(self, q: SquadQuestion, depth: int) -> Group | None:
        idx = self.live.index
        return self.residual(
            q.question, depth, lambda s: contains_answer(idx.text(s), q.golds), "squad"
        )

    def generated_residual(self, sentence: int, rng: random.Random, depth: int) -> Group | None:
        idx = self.live.index
        text = idx.text(sentence)
        question = yes_no_question(text, rng)
        if question is not None:
            return self.residual(question, depth, lambda s: s == sentence, "yes/no")
        counted = quantity_question(text)
        if counted is None:
            return None
        question, number = counted
        return self.residual(question, depth, lambda s: number in idx.text(s), "quantity")

    def group(self, question: str, positive: int, wrong: list[int], kind: str) -> Group | None:
        """``positive`` with its paragraph neighbours and then ``wrong`` as negatives."""
        idx = self.live.index
        pos = idx.sentences[positive]
        neighbours = [
            s
            for s in (positive - 1, positive + 1)
            if 0 <= s < len(idx.sentences) and idx.sentences[s].passage == pos.passage
        ]
        bad = set(wrong)
        chosen = [s for s in neighbours if s in bad][:2]
        chosen += [s for s in wrong if s not in chosen][: self.negatives - len(chosen)]
        if len(chosen) < self.negatives:
            return None
        return Group(question, tuple(self.text(s) for s in [positive, *chosen]), kind)

    def answered(
        self, question: str, holds: Callable[[int], bool], reads: Callable[[int], bool], kind: str
    ) -> Group | None:
        """The best-ranked candidate that ``holds`` an answer is the positive; its
        neighbours and the other candidates are negatives, unless their text ``reads`` as
        an answer."""
        ranked = self.candidates(question)
        positive = next((s for s in ranked if holds(s)), None)
        if positive is None:
            return None
        near = [s for s in (positive + 1, positive - 1) if 0 <= s < len(self.live.index.sentences)]
        wrong = near + [s for s in ranked if not holds(s)]
        wrong = [s for s in dict.fromkeys(wrong) if not reads(s)]
        return self.group(question, positive, wrong, kind)

    def squad(self, q: SquadQuestion) -> Group | None:
        idx = self.live.index

        def reads(s: int) -> bool:
            return contains_answer(idx.text(s), q.golds)

        return self.answered(q.question, reads, reads, "squad")

    def news(self, q: NewsQuestion) -> Group | None:
        """A hand-written news question: the answer must be in one of its articles."""
        idx = self.live.index
        rows = {idx.article_row(a) for a in q.articles} - {None}

        def reads(s: int) -> bool:
            return contains_answer(idx.text(s), q.answers)

        def holds(s: int) -> bool:
            return idx.sentences[s].article in rows and reads(s)

        return self.answered(q.question, holds, reads, f"news {q.kind}")

    def interviews(self) -> list[Group]:
        """Each interviewer's question with the opening of its reply as the positive, the
        question's own sentences first among the negatives (they share its words)."""
        idx = self.live.index
        groups = []
        for p, passage in enumerate(idx.passages):
            if passage.question is None:
                continue
            asked = list(idx.passage_sentences(passage.question))
            question = " ".join(idx.texts(asked))
            opening = idx.passage_sentences(p).start
            wrong = asked + [s for s in self.candidates(question) if idx.sentences[s].passage != p]
            group = self.group(question, opening, list(dict.fromkeys(wrong)), "news interview")
            if group is not None:
                groups.append(group)
        return groups

    def generated(self, sentence: int, rng: random.Random) -> Group | None:
        text = self.live.index.text(sentence)
        question = yes_no_question(text, rng)
        if question is not None:
            wrong = [s for s in self.candidates(question) if s != sentence]
            return self.group(question, sentence, wrong, "yes/no")
        counted = quantity_question(text)
        if counted is None:
            return None
        question, number = counted
        idx = self.live.index
        wrong = [s for s in self.candidates(question) if number not in idx.text(s)]
        return self.group(question, sentence, wrong, "quantity")


def teacher_logits(groups: list[Group], teacher: Path, batch: int = 16) -> list[list[float]]:
    """The teacher's logit for every text of every group (no gradients, computed once)."""
    tokenizer = AutoTokenizer.from_pretrained(str(teacher))
    model = AutoModelForSequenceClassification.from_pretrained(str(teacher), dtype=torch.float32)
    model.eval()
    out: list[list[float]] = []
    started = time.time()
    with torch.inference_mode():
        for lo in range(0, len(groups), batch):
            part = groups[lo : lo + batch]
            enc = tokenizer(
                [g.question for g in part for _ in g.texts],
                [t for g in part for t in g.texts],
                truncation=True,
                max_length=TEACHER_MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            logits = model(**enc).logits.view(len(part), -1).tolist()
            out.extend(logits)
            if lo // batch % 50 == 0:
                log.info("teacher %d/%d groups (%.0fs)", lo, len(groups), time.time() - started)
    return out


def train(
    groups: list[Group], soft: list[list[float]] | None, args: argparse.Namespace
) -> tuple[object, object]:
    """Fine-tune the cut-down model: softmax loss over each group, plus (with a teacher)
    the KL divergence from the teacher's distribution over the same texts."""
    init = str(args.teacher or bundled_model_path())
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    tokenizer.truncation_side = "left"  # as embeddings.reader cuts: the context's start
    model = AutoModelForSequenceClassification.from_pretrained(
        init, num_labels=1, num_hidden_layers=args.layers
    )
    model.train()
    steps = int(len(groups) * args.epochs / args.batch)
    optim, sched = optimiser(model, args.lr, steps)
    rng = random.Random(args.seed)
    order: list[int] = []
    started = time.time()
    for step in range(steps):
        if len(order) < args.batch:
            order += rng.sample(range(len(groups)), len(groups))
        picked = [order.pop() for _ in range(args.batch)]
        batch = [groups[i] for i in picked]
        enc = tokenizer(
            [g.question for g in batch for _ in g.texts],
            [t for g in batch for t in g.texts],
            truncation=True,
            max_length=args.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = model(**enc).logits.view(len(batch), -1)
        if args.residual:
            # Order by fused score + weight x logit, as rerank does: the logit learns what
            # to add to Briefing's own order, not an order of its own.
            scores = logits + torch.tensor([g.base for g in batch]) / args.weight
            answers = torch.tensor([g.answers for g in batch])
            loss = (
                torch.logsumexp(scores, -1)
                - torch.logsumexp(scores.masked_fill(~answers, float("-inf")), -1)
            ).mean()
        else:
            loss = torch.nn.functional.cross_entropy(
                logits, torch.zeros(len(batch), dtype=torch.long)
            )
        if soft is not None:
            target = torch.softmax(torch.tensor([soft[i] for i in picked]) / args.temperature, -1)
            kl = torch.nn.functional.kl_div(
                torch.log_softmax(logits / args.temperature, -1), target, reduction="batchmean"
            )
            loss = (1 - args.distil) * loss + args.distil * args.temperature**2 * kl
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        optim.zero_grad()
        if step % 25 == 0 or step == steps - 1:
            log.info(
                "step %d/%d loss %.4f (%.0fs)", step + 1, steps, loss.item(), time.time() - started
            )
    model.eval()
    return model, tokenizer


def export(model: object, tokenizer: object, out: Path) -> None:
    """The trained model as an int8 ONNX file (ONNX Runtime's fusions, per-channel weights)."""
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw.onnx"
    # Reloaded with eager attention, whose graph ONNX Runtime fuses into its Attention
    # kernel (the default SDPA export stays a dozen unfused ops per layer, slower).
    model.save_pretrained(str(out / "torch"))  # type: ignore[attr-defined]
    model = AutoModelForSequenceClassification.from_pretrained(
        str(out / "torch"), attn_implementation="eager", dtype=torch.float32
    ).eval()
    sample = tokenizer(  # type: ignore[operator]
        ["a question?"] * 2, ["a sentence.", "another"], return_tensors="pt", padding=True
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        model,
        tuple(sample[n] for n in names),
        str(raw),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={**{n: {0: "pairs", 1: "tokens"} for n in names}, "logits": {0: "pairs"}},
        opset_version=17,
        dynamo=False,
    )
    config = model.config.to_dict()  # type: ignore[attr-defined]
    convert(raw, out / MODEL_FILE, config, int8=True)
    raw.unlink()
    shutil.rmtree(out / "torch")
    tokenizer.save_pretrained(str(out))  # type: ignore[attr-defined]
    for extra in ("vocab.txt", "special_tokens_map.json"):
        (out / extra).unlink(missing_ok=True)


def _shown(path: Path) -> str:
    """``path`` as recorded: relative to the repository when inside it."""
    root = Path(__file__).resolve().parents[1]
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def reads(args: argparse.Namespace) -> str:
    """What the reader reads for a sentence (``embeddings.reader.INPUTS``)."""
    return CONTEXT_INPUT if args.context else TITLE_INPUT if args.title else SENTENCE_INPUT


def news_training(args: argparse.Namespace, rng: random.Random) -> list[Group]:
    """Groups from the training news set (see the module's docstring), indexed in a data
    directory of its own beside ``--data-dir``."""
    news = load_news(args.news)
    engine = Engine(Settings(data_dir=args.data_dir.with_name(args.data_dir.name + "-news")))
    if engine.ingest_articles(news.articles).changed or engine.snapshots.current_version() is None:
        engine.rebuild(progress=True)
    else:
        engine.load_live()
    maker = GroupMaker(engine, args.negatives, reads(args))
    groups = [g for q in news.questions if (g := maker.news(q)) is not None]
    groups += maker.interviews()
    for s in range(len(maker.live.index.sentences)):
        if (g := maker.generated(s, rng)) is not None:
            groups.append(g)
    log.info("%d groups from %s", len(groups), args.news)
    engine.close()
    return groups


def validate(
    maker: GroupMaker, reader: Reader, questions: list[SquadQuestion], depth: int, weight: float
) -> dict:
    """Answer-in-first-quote among the top candidates: Briefing's order, the reader's alone,
    and Briefing's score plus the reader's logit at a few weights (``weight`` among them)."""
    idx = maker.live.index
    weights = sorted({0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 100.0, weight / 2, weight, 2 * weight})
    hits = {w: 0 for w in weights}
    for q in questions:
        vec = maker.engine.encoder.encode_query(q.question)
        head = maker.live.retriever.retrieve(q.question, vec).candidates[:depth]
        if not head:
            continue
        logits = reader.score(q.question, [maker.text(c.sentence) for c in head])
        fused = np.array([c.score for c in head])
        for w in weights:
            best = head[int(np.argmax(fused + w * logits))]
            hits[w] += contains_answer(idx.text(best.sentence), q.golds)
    return {f"weight {w}": round(hits[w] / len(questions), 4) for w in weights}


VALIDATION = {
    "v2": "the 18 articles of squad-v2.0-dev-tune.json (never trained on)",
    "half-v2": "every other article of squad-v2.0-dev-tune.json in title order, 9 of 18 "
    "(never trained on; the other 9 are trained on)",
}


def held_out_articles(which: str) -> set[str]:
    """The articles never trained on (see ``VALIDATION``)."""
    v2 = sorted(a.id for a in load_squad([SHARED / "squad-v2.0-dev-tune.json"]).articles)
    return set(v2) if which == "v2" else set(v2[1::2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="index of squad-v1.1-dev-tune")
    ap.add_argument("--out", type=Path, required=True, help="folder for the int8 ONNX reader")
    ap.add_argument(
        "--layers", type=int, default=6, help="transformer layers kept (of 6; default all)"
    )
    ap.add_argument("--negatives", type=int, default=5)
    ap.add_argument("--generated", type=int, default=1500, help="yes/no and quantity groups")
    ap.add_argument("--batch", type=int, default=8, help="questions per step")
    ap.add_argument("--epochs", type=float, default=1.5)
    ap.add_argument("--lr", type=float, default=6e-5)
    ap.add_argument("--depth", type=int, default=6, help="candidates re-ordered at validation")
    ap.add_argument("--validate", type=int, default=600, help="held-out questions")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--teacher",
        type=Path,
        help="a six-layer cross-encoder made by bench/train_reranker.py on the same articles: "
        "the reader starts from its first layers and learns its scores too",
    )
    reading_kind = ap.add_mutually_exclusive_group()
    reading_kind.add_argument(
        "--context",
        action="store_true",
        help="read each sentence after the one before it (or an interviewer's question)",
    )
    reading_kind.add_argument(
        "--title", action="store_true", help="read each sentence after its article's title"
    )
    ap.add_argument("--max-length", type=int, default=64, help="tokens of question and text")
    ap.add_argument(
        "--residual",
        action="store_true",
        help="train on Briefing's head for each question, the logit added to its fused score "
        "at --weight (what rerank does), instead of on a positive and its negatives alone",
    )
    ap.add_argument("--weight", type=float, default=0.05, help="the logit's weight (--residual)")
    ap.add_argument(
        "--news",
        type=Path,
        default=READER_NEWS,
        help="a news set made for training (articles.jsonl, questions.jsonl; default "
        "bench/reader_news); 'none' to train on SQuAD's articles alone",
    )
    ap.add_argument("--news-repeat", type=int, default=3, help="times each news group is read")
    ap.add_argument(
        "--hold-out",
        choices=tuple(VALIDATION),
        default="v2",
        help="validation articles: every article of the v2.0 file (v2), or every other one of "
        "them in title order (half-v2; the other nine are trained on too)",
    )
    ap.add_argument("--distil", type=float, default=0.5, help="weight of the teacher's loss")
    ap.add_argument("--temperature", type=float, default=2.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)

    v1 = load_squad([SHARED / "squad-v1.1-dev-tune.json"])
    held_out = held_out_articles(args.hold_out)
    train_ids = sorted(a.id for a in v1.articles if a.id not in held_out)
    engine = Engine(Settings(data_dir=args.data_dir, rerank=False))
    if engine.ingest_articles(v1.articles).changed or engine.snapshots.current_version() is None:
        engine.rebuild(progress=True)
    else:
        engine.load_live()
    maker = GroupMaker(engine, args.negatives, reads(args))
    idx = maker.live.index

    started = time.time()
    asked = [q for q in v1.questions if q.article_id in train_ids and q.golds]
    if args.residual:
        groups = [g for q in asked if (g := maker.squad_residual(q, args.depth)) is not None]
    else:
        groups = [g for q in asked if (g := maker.squad(q)) is not None]
    log.info("%d groups from SQuAD questions (%.0fs)", len(groups), time.time() - started)
    rows = {idx.article_row(a) for a in train_ids}
    sentences = [s for s in range(len(idx.sentences)) if idx.sentences[s].article in rows]
    rng.shuffle(sentences)
    made = 0
    for s in sentences:
        if made >= args.generated:
            break
        g = (
            maker.generated_residual(s, rng, args.depth)
            if args.residual
            else maker.generated(s, rng)
        )
        if g is not None:
            groups.append(g)
            made += 1
    if str(args.news) != "none":
        if args.residual or args.teacher:
            sys.exit("--news is for plain training: add --news none to --residual or --teacher")
        news_groups = news_training(args, rng)
        groups += news_groups * args.news_repeat
    kinds: dict[str, int] = {}
    for g in groups:
        kinds[g.kind] = kinds.get(g.kind, 0) + 1
    log.info("groups by kind: %s (%.0fs)", kinds, time.time() - started)
    for g in groups[-3:]:
        log.info("example %s: %s -> %s", g.kind, g.question, g.texts[0][:100])

    soft = teacher_logits(groups, args.teacher) if args.teacher else None
    model, tokenizer = train(groups, soft, args)
    export(model, tokenizer, args.out)
    reader = Reader.load(args.out)
    val = [q for q in v1.questions if q.article_id in held_out and q.golds]
    val = rng.sample(val, min(args.validate, len(val)))
    figures = validate(maker, reader, val, args.depth, args.weight)
    log.info("validation (held-out articles, first quote among top %d): %s", args.depth, figures)
    (args.out / "training.json").write_text(
        json.dumps(
            {
                "base": f"all-MiniLM-L6-v2, first {args.layers} of 6 layers",
                **(
                    {
                        "teacher": {
                            "made_by": "bench/train_reranker.py",
                            "sha256": file_sha256(args.teacher / "model.safetensors"),
                            "distil": args.distil,
                            "temperature": args.temperature,
                        }
                    }
                    if args.teacher
                    else {}
                ),
                "train_articles": train_ids,
                **(
                    {"news": {"set": _shown(args.news), "repeat": args.news_repeat}}
                    if str(args.news) != "none"
                    else {}
                ),
                "validation": VALIDATION[args.hold_out],
                "groups": kinds,
                "negatives": args.negatives,
                "epochs": args.epochs,
                "batch_questions": args.batch,
                "lr": args.lr,
                "max_length": args.max_length,
                "input": reads(args),
                **({"residual": True, "weight": args.weight} if args.residual else {}),
                "seed": args.seed,
                "seconds": round(time.time() - started),
                "validation_first_quote": {"questions": len(val), "depth": args.depth, **figures},
                "sha256": file_sha256(args.out / MODEL_FILE),
            },
            indent=2,
        )
        + "\n"
    )
    log.info("saved to %s", args.out)


if __name__ == "__main__":
    main()
