"""``briefing eval --news DIR``: the invented news set (``bench/news``) beside the baselines.

The set is a folder with ``articles.jsonl`` (one article a line: ``id``, ``title``,
``source``, ``published``, ``text``) and ``questions.jsonl`` (``id``, ``question``,
``answers``: acceptable answer strings, ``articles``: the ids holding one, ``kind``). Every
article is ingested into a fresh data directory as any ingest would be (wire copies are
near-duplicates: only the newest is indexed) and every question asked through the ``/ask``
code path. Scored as SQuAD is (a quote holds an answer when the normalised answer is in the
normalised quote), plus ``article_recall_at_1`` (the first quote comes from an article that
holds the answer) and both hit rates per question kind.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from corpus.article import Article
from corpus.errors import CorpusError
from embeddings.encoder import Encoder
from service.evaluation.baselines import BASELINES, BaselineRanker
from service.evaluation.metrics import Outcome, contains_answer, summarize
from service.evaluation.runner import ABLATIONS, QUOTES_ASKED, ask_outcome, sentence_quote
from service.ops.engine import Engine
from service.settings import Settings

METRICS = (
    "answer_in_first_quote",
    "answer_in_top3_quotes",
    "article_recall_at_1",
    "mean_first_quote_chars",
    "first_quote_points_back",
    "ask_latency_ms_p50",
    "ask_latency_ms_p95",
)


class NewsSetError(ValueError):
    """The news set folder is missing a file or holds a malformed or inconsistent entry."""


@dataclass(frozen=True)
class NewsQuestion:
    """A question, its acceptable answers, and the articles that hold one."""

    id: str
    question: str
    answers: tuple[str, ...]
    articles: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class NewsSet:
    """Articles and questions of a news set."""

    articles: list[Article]
    questions: list[NewsQuestion]


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NewsSetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NewsSetError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise NewsSetError(f"{path}:{n}: not a JSON object")
        out.append(item)
    return out


def load_news(folder: Path) -> NewsSet:
    """Read and check a news set: every question's answer is in an article it names."""
    articles: dict[str, Article] = {}
    for n, item in enumerate(_lines(folder / "articles.jsonl"), 1):
        try:
            article = Article(
                id=str(item["id"]),
                title=str(item["title"]),
                text=str(item["text"]),
                source=item.get("source"),
                published=item.get("published"),
            )
        except KeyError as exc:
            raise NewsSetError(f"articles.jsonl:{n}: missing {exc}") from None
        except CorpusError as exc:
            raise NewsSetError(f"articles.jsonl:{n}: {exc}") from None
        articles[article.id] = article
    questions = []
    for n, item in enumerate(_lines(folder / "questions.jsonl"), 1):
        try:
            q = NewsQuestion(
                str(item["id"]),
                str(item["question"]),
                tuple(map(str, item["answers"])),
                tuple(map(str, item["articles"])),
                str(item.get("kind", "other")),
            )
        except (KeyError, TypeError) as exc:
            raise NewsSetError(f"questions.jsonl:{n}: missing or malformed {exc}") from None
        unknown = [a for a in q.articles if a not in articles]
        if unknown or not q.answers or not q.articles:
            raise NewsSetError(f"{q.id}: needs answers and known articles (unknown: {unknown})")
        if not all(contains_answer(articles[a].text, q.answers) for a in q.articles):
            raise NewsSetError(f"{q.id}: an article it names holds none of its answers")
        questions.append(q)
    if not questions:
        raise NewsSetError(f"{folder}: no questions")
    return NewsSet(list(articles.values()), questions)


def _scores(questions: list[NewsQuestion], outcomes: list[Outcome]) -> dict[str, Any]:
    result: dict[str, Any] = dict(summarize(outcomes))
    for key in ("passage_recall_at_1", "passage_recall_at_5", "questions", "answerable"):
        result.pop(key, None)
    right = [
        bool(o.quotes) and o.quotes[0].article_id in q.articles
        for q, o in zip(questions, outcomes, strict=True)
    ]
    result["article_recall_at_1"] = round(sum(right) / len(right), 4)
    return result


def _ask(engine: Engine, q: NewsQuestion) -> Outcome:
    return ask_outcome(engine, q.question, q.answers, q.articles[0], None)


def run_news_eval(
    news: NewsSet,
    settings: Settings,
    *,
    encoder: Encoder | None = None,
    progress: bool = False,
    ablation: bool = False,
) -> dict[str, Any]:
    """Ask every question of ``news`` of Briefing and the baselines; metrics per system, per
    question kind (Briefing), and per ablation. ``settings.data_dir`` must be fresh."""
    engine = Engine(settings, encoder=encoder)
    try:
        report = engine.ingest_articles(news.articles)
        stats = engine.rebuild(progress=progress)
        live = engine.live
        assert live is not None
        ranker = BaselineRanker(live.index)
        outcomes: dict[str, list[Outcome]] = {name: [] for name in ("briefing", *BASELINES)}
        for q in tqdm(news.questions, desc="questions", unit="q", disable=not progress):
            outcomes["briefing"].append(_ask(engine, q))
            vector = engine.encoder.encode_query(q.question)
            for name in BASELINES:
                rows = ranker.rank(name, q.question, vector, QUOTES_ASKED)
                quotes = tuple(sentence_quote(live.index, row) for row in rows)
                outcomes[name].append(Outcome(q.answers, q.articles[0], None, quotes, False))
        ablations: dict[str, dict[str, Any]] = {}
        if ablation:
            full = (engine.weights, engine.use_reranker)
            for variant, change in ABLATIONS.items():
                engine.configure(**change(engine.weights))
                items = [_ask(engine, q) for q in news.questions]
                engine.configure(weights=full[0], rerank=full[1])
                ablations[variant] = _scores(news.questions, items)
    finally:
        engine.close()
    kinds: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(news.questions):
        kinds[q.kind].append(i)
    briefing = outcomes["briefing"]

    def share(rows: list[int], k: int) -> float:
        return round(sum(briefing[i].hit(k) for i in rows) / len(rows), 4)

    return {
        "corpus": {
            "articles": len(news.articles),
            "indexed": stats.articles,
            "duplicates": len(report.duplicates),
            "sentences": stats.sentences,
        },
        "questions": len(news.questions),
        "systems": {name: _scores(news.questions, items) for name, items in outcomes.items()},
        "kinds": {
            kind: {
                "questions": len(rows),
                "answer_in_first_quote": round(
                    sum(briefing[i].hit(1) for i in rows) / len(rows), 4
                ),
                "answer_in_top3_quotes": round(
                    sum(briefing[i].hit(3) for i in rows) / len(rows), 4
                ),
            }
            for kind, rows in sorted(kinds.items())
        },
        **({"ablation": ablations} if ablation else {}),
    }


def format_news_table(report: dict[str, Any]) -> str:
    """Metrics down, systems across; then Briefing per question kind and per ablation."""
    systems = report["systems"]
    names = list(systems)
    lines = [f"{'metric':26s}" + "".join(f"{n:>12s}" for n in names)]
    for metric in METRICS:
        cells = [systems[n].get(metric) for n in names]
        if all(c is None for c in cells):
            continue
        lines.append(f"{metric:26s}" + "".join(f"{'—' if c is None else c:>12}" for c in cells))
    corpus = report["corpus"]
    lines += [
        "",
        f"questions {report['questions']}; corpus {corpus['articles']} articles "
        f"({corpus['duplicates']} near-duplicate copies not indexed), "
        f"{corpus['sentences']} sentences",
        "",
        f"{'kind':12s}{'questions':>10s}{'first':>8s}{'top3':>8s}",
    ]
    for kind, m in report["kinds"].items():
        lines.append(
            f"{kind:12s}{m['questions']:>10}{m['answer_in_first_quote']:>8}"
            f"{m['answer_in_top3_quotes']:>8}"
        )
    for name, m in report.get("ablation", {}).items():
        lines.append(
            f"ablation {name:34s} first {m['answer_in_first_quote']}  "
            f"top3 {m['answer_in_top3_quotes']}  article@1 {m['article_recall_at_1']}"
        )
    return "\n".join(lines)
