"""``briefing eval``: ingest SQuAD files into a data directory, ask every question through
the same code path as ``POST /ask``, and score Briefing beside the baselines."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.answering.retrieve import Weights
from service.evaluation.baselines import BASELINES, BaselineRanker
from service.evaluation.metrics import Outcome, QuoteSpan, summarize
from service.evaluation.offtopic import OFF_TOPIC_QUESTIONS
from service.evaluation.squad import SquadQuestion, load_squad, paragraph_spans
from service.ops.engine import Engine
from service.settings import Settings

QUOTES_ASKED = 5  # enough for passage recall@5

# Each ablation changes one part of Briefing's default set-up (given its current weights).
ABLATIONS: dict[str, Callable[[Weights], dict[str, Any]]] = {
    "without reader": lambda w: {"rerank": False},
    "without passage context": lambda w: {
        "weights": replace(w, passage_dense=0.0, passage_bm25=0.0)
    },
    "without answer-type cue": lambda w: {"weights": replace(w, answer_type=0.0)},
    "without unit cue": lambda w: {"weights": replace(w, unit=0.0)},
    "without place cue": lambda w: {"weights": replace(w, place=0.0)},
    "without interviewer's-words cue": lambda w: {"weights": replace(w, interview_terms=0.0)},
    "without lead continuation": lambda w: {"weights": replace(w, continuation=0.0)},
    "sentence fusion only": lambda w: {
        "rerank": False,
        "weights": replace(w, passage_dense=0.0, passage_bm25=0.0, answer_type=0.0, place=0.0),
    },
}


def run_eval(
    files: list[Path],
    settings: Settings,
    *,
    limit: int | None = None,
    seed: int = 0,
    encoder: Encoder | None = None,
    reranker: Reader | None = None,
    progress: bool = False,
    ablation: bool = False,
) -> dict[str, Any]:
    """Evaluate Briefing and the baselines on SQuAD ``files``; return metrics per system.

    ``settings.data_dir`` must be a fresh directory. With ``ablation``, Briefing is also run
    with each of its parts changed in turn.
    """
    squad = load_squad(files)
    questions = list(squad.questions)
    if limit is not None and limit < len(questions):
        questions = random.Random(seed).sample(questions, limit)
    engine = Engine(settings, encoder=encoder, reranker=reranker)
    try:
        started = time.perf_counter()
        engine.ingest_articles(squad.articles)
        ingest_s = time.perf_counter() - started
        stats = engine.rebuild(progress=progress)
        live = engine.live
        assert live is not None
        spans: dict[str, list[tuple[int, int] | None]] = {}
        for article in squad.articles:
            stored = engine.store.get(article.id)
            assert stored is not None
            spans[article.id] = paragraph_spans(stored.text, squad.paragraphs[article.id])
        ranker = BaselineRanker(live.index)
        outcomes: dict[str, list[Outcome]] = {name: [] for name in ("briefing", *BASELINES)}
        for q in tqdm(questions, desc="questions", unit="q", disable=not progress):
            gold_span = spans[q.article_id][q.paragraph]
            outcomes["briefing"].append(_ask_briefing(engine, q, gold_span))
            vector = engine.encoder.encode_query(q.question)
            for name in BASELINES:
                rows = ranker.rank(name, q.question, vector, QUOTES_ASKED)
                quotes = tuple(sentence_quote(live.index, row) for row in rows)
                outcomes[name].append(Outcome(q.golds, q.article_id, gold_span, quotes, False))
        off_topic = [
            not engine.ask(question, top_k=1).answer.answered for question in OFF_TOPIC_QUESTIONS
        ]
        ablations: dict[str, dict[str, Any]] = {}
        ablation_items: dict[str, list[Outcome]] = {}
        if ablation:
            for variant, change in ABLATIONS.items():
                full = (engine.weights, engine.use_reranker)
                engine.configure(**change(engine.weights))
                items = []
                for q in tqdm(questions, desc=variant, unit="q", disable=not progress):
                    items.append(_ask_briefing(engine, q, spans[q.article_id][q.paragraph]))
                engine.configure(weights=full[0], rerank=full[1])
                ablations[variant] = summarize(items)
                ablation_items[variant] = items
        # With the reader in use (by default or in an ablation), figures on the questions
        # of articles it was not trained on are reported apart.
        read = engine.use_reranker or ablation
        trained = engine.load_reader().trained_on if read else frozenset()
    finally:
        engine.close()
    held = [i for i, q in enumerate(questions) if q.article_id not in trained]
    held_out: dict[str, Any] = {"questions": len(held), "of": len(questions)}
    if trained:
        for system, items in [("briefing", outcomes["briefing"]), *ablation_items.items()]:
            held_out[system] = summarize([items[i] for i in held]) if held else {}
    dropped = sum(span is None for article_spans in spans.values() for span in article_spans)
    systems = {name: summarize(items) for name, items in outcomes.items()}
    systems["briefing"]["off_topic_abstained"] = round(sum(off_topic) / len(off_topic), 4)
    return {
        "files": [str(f) for f in files],
        "corpus": {
            "articles": stats.articles,
            "paragraphs": sum(len(v) for v in squad.paragraphs.values()),
            "paragraphs_dropped_by_cleaning": dropped,
            "sentences": stats.sentences,
            "passages": stats.passages,
        },
        "index": {
            "ingest_s": round(ingest_s, 2),
            "index_build_s": round(stats.seconds, 2),
            "texts_embedded": stats.embedded,
            "sentences_per_s": round(stats.sentences / stats.seconds, 1) if stats.seconds else None,
        },
        "sample": {"questions": len(questions), "of": len(squad.questions), "seed": seed},
        "systems": systems,
        **({"ablation": ablations} if ablation else {}),
        # Figures on the questions whose article the reader was never trained on.
        **({"held_out_from_reader": held_out} if trained else {}),
    }


def ask_outcome(
    engine: Engine,
    question: str,
    golds: tuple[str, ...],
    gold_article: str,
    gold_span: tuple[int, int] | None,
) -> Outcome:
    """Ask through the ``/ask`` code path (``QUOTES_ASKED`` quotes); the latency includes
    embedding the question. A later quote may join the one it goes on from
    (``answer.cut_quotes``), so the first of five quotes can hold more than the first of
    ``/ask``'s default three."""
    began = time.perf_counter()
    answer = engine.ask(question, top_k=QUOTES_ASKED).answer
    latency = (time.perf_counter() - began) * 1000
    quotes = tuple(QuoteSpan(x.article_id, x.start, x.end, x.text) for x in answer.quotes)
    return Outcome(golds, gold_article, gold_span, quotes, not answer.answered, latency)


def _ask_briefing(engine: Engine, q: SquadQuestion, gold_span: tuple[int, int] | None) -> Outcome:
    return ask_outcome(engine, q.question, q.golds, q.article_id, gold_span)


def sentence_quote(index: Any, row: int) -> QuoteSpan:
    """A single sentence of ``index`` as a quote (what a baseline returns)."""
    s = index.sentences[row]
    return QuoteSpan(index.articles[s.article].id, s.start, s.end, s.text)


METRIC_ROWS = [
    "answer_in_first_quote",
    "answer_in_top3_quotes",
    "passage_recall_at_1",
    "passage_recall_at_5",
    "mean_first_quote_chars",
    "abstain_precision",
    "abstain_recall",
    "answerable_abstained",
    "off_topic_abstained",
    "ask_latency_ms_p50",
    "ask_latency_ms_p95",
]


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table: metrics down, systems across, then index figures."""
    systems = report["systems"]
    names = list(systems)
    lines = [f"{'metric':26s}" + "".join(f"{n:>12s}" for n in names)]
    for metric in METRIC_ROWS:
        if all(systems[n].get(metric) is None for n in names):
            continue
        cells = []
        for n in names:
            v = systems[n].get(metric)
            cells.append(f"{'—' if v is None else v:>12}")
        lines.append(f"{metric:26s}" + "".join(cells))
    idx, corpus, sample = report["index"], report["corpus"], report["sample"]
    lines.append("")
    lines.append(
        f"questions {sample['questions']} of {sample['of']} (seed {sample['seed']}); "
        f"corpus {corpus['articles']} articles, {corpus['paragraphs']} paragraphs, "
        f"{corpus['sentences']} sentences"
    )
    lines.append(
        f"index_build_s {idx['index_build_s']}  sentences_per_s {idx['sentences_per_s']}  "
        f"texts_embedded {idx['texts_embedded']}  ingest_s {idx['ingest_s']}"
    )
    held = report.get("held_out_from_reader")
    if held:
        lines.append(
            f"held out from the reader's training: {held['questions']} of {held['of']} questions"
        )
        for name, metrics in held.items():
            if isinstance(metrics, dict) and metrics:
                lines.append(
                    f"  held-out {name:32s} first {metrics['answer_in_first_quote']}  "
                    f"top3 {metrics['answer_in_top3_quotes']}  "
                    f"p@1 {metrics['passage_recall_at_1']}"
                )
    for name, metrics in report.get("ablation", {}).items():
        lines.append(
            f"ablation {name:34s} first {metrics['answer_in_first_quote']}  "
            f"top3 {metrics['answer_in_top3_quotes']}  p@1 {metrics['passage_recall_at_1']}"
        )
    return "\n".join(lines)
