"""``briefing eval --briefings``: how good a briefing is, beside ``/ask``'s top quotes.

On SQuAD-format files the topic is an article's title, and the gold is that article's
paragraphs:

- precision: share of points quoted from that article;
- coverage: distinct paragraphs of that article among the points;
- redundancy: share of points that share a paragraph with an earlier point.

The baselines are what ``/ask`` returns for the title as a question: with its default 3
quotes (what a reader gets today), and with as many quotes as the briefing has points.
On the dated set (``bench/briefings.jsonl``: three invented running stories over five
weeks), each story is briefed whole and ``since`` its midpoint: whether every point stays
within the dates, whether the newest article on the story is quoted, and whether the points
come oldest article first.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from corpus.readers import article_from_record
from embeddings.encoder import Encoder
from service.answering.answer import Quote
from service.answering.briefing import BriefingRequest
from service.evaluation.squad import load_squad, paragraph_spans
from service.ops.engine import Engine
from service.settings import Settings

DATED_SET = Path(__file__).resolve().parents[2] / "bench" / "briefings.jsonl"
# The dated set's stories: topic, and the articles that belong to it (by id prefix).
STORIES = {
    "the Carrow Island ferry": "elwyn-ferry-",
    "the Riverside mayoral election": "riverside-vote-",
    "the library strike": "library-strike-",
}


@dataclass(frozen=True)
class Scored:
    """One briefing (or baseline) scored against its article's paragraphs."""

    points: int
    precision: float
    coverage: int
    redundancy: float


def score(points: list[Quote], article_id: str, spans: list[tuple[int, int] | None]) -> Scored:
    """Precision, coverage and redundancy of ``points`` for the article ``article_id``."""
    if not points:
        return Scored(0, 0.0, 0, 0.0)
    mine = [p for p in points if p.article_id == article_id]
    seen: set[int] = set()
    repeated = 0
    for p in mine:
        paragraph = next(
            (i for i, s in enumerate(spans) if s is not None and s[0] <= p.start < s[1]), None
        )
        if paragraph is None:
            continue
        if paragraph in seen:
            repeated += 1
        seen.add(paragraph)
    return Scored(len(points), len(mine) / len(points), len(seen), repeated / len(points))


def run_briefing_eval(
    files: list[Path],
    settings: Settings,
    *,
    max_points: int = 5,
    encoder: Encoder | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Brief on every article title of the SQuAD ``files`` and on the dated set's stories;
    ``settings.data_dir`` must be a fresh directory."""
    squad = load_squad(files)
    dated = [
        article_from_record(json.loads(line), where=f"{DATED_SET.name}:{n}")
        for n, line in enumerate(DATED_SET.read_text(encoding="utf-8").splitlines(), 1)
        if line.strip()
    ]
    engine = Engine(settings, encoder=encoder)
    try:
        engine.ingest_articles([*squad.articles, *dated])
        engine.rebuild(progress=progress)
        briefed: list[Scored] = []
        baseline: list[Scored] = []
        default: list[Scored] = []
        for article in tqdm(squad.articles, desc="topics", unit="topic", disable=not progress):
            stored = engine.store.get(article.id)
            assert stored is not None
            spans = paragraph_spans(stored.text, squad.paragraphs[article.id])
            briefing = engine.brief(BriefingRequest(article.title, max_points=max_points))
            briefed.append(score(briefing.points, article.id, spans))
            asked = engine.ask(article.title, top_k=max_points).answer
            baseline.append(score(asked.quotes, article.id, spans))
            plain = engine.ask(article.title).answer  # /ask as a reader gets it: 3 quotes
            default.append(score(plain.quotes, article.id, spans))
        stories = _dated_checks(engine, dated, max_points)
    finally:
        engine.close()
    return {
        "files": [str(f) for f in files],
        "topics": len(squad.articles),
        "max_points": max_points,
        "systems": {
            "briefing": _summary(briefed),
            "/ask default": _summary(default),
            f"/ask top {max_points}": _summary(baseline),
        },
        "dated": stories,
    }


def _summary(items: list[Scored]) -> dict[str, float]:
    with_points = [s for s in items if s.points]
    return {
        "points": round(statistics.fmean(s.points for s in items), 2),
        "precision": round(statistics.fmean(s.precision for s in with_points), 4)
        if with_points
        else 0.0,
        "coverage": round(statistics.fmean(s.coverage for s in items), 2),
        "redundancy": round(statistics.fmean(s.redundancy for s in with_points), 4)
        if with_points
        else 0.0,
        "empty": sum(1 for s in items if not s.points),
    }


def _dated_checks(engine: Engine, dated: list[Any], max_points: int) -> dict[str, Any]:
    published = {a.id: a.published for a in dated}
    out: dict[str, Any] = {}
    for topic, prefix in STORIES.items():
        ids = sorted(a for a in published if a.startswith(prefix))
        dates = sorted(published[a] for a in ids)
        newest = max(ids, key=lambda a: published[a])
        whole = engine.brief(BriefingRequest(topic, max_points=max_points))
        since = dates[len(dates) // 2]
        recent = engine.brief(BriefingRequest(topic, max_points=max_points, since=since))
        order = [published.get(p.article_id) or "~" for p in whole.points]  # undated last
        out[topic] = {
            "articles": len(ids),
            "points": len(whole.points),
            "on_story": round(
                sum(p.article_id in ids for p in whole.points) / max(1, len(whole.points)), 4
            ),
            "articles_quoted": len({p.article_id for p in whole.points} & set(ids)),
            "newest_quoted": newest in {p.article_id for p in whole.points},
            "oldest_first": order == sorted(order),
            "since": since,
            "points_since": len(recent.points),
            "all_within_since": all(
                (published.get(p.article_id) or "") >= since for p in recent.points
            ),
        }
    return out


def format_briefing_table(report: dict[str, Any]) -> str:
    """Plain-text tables: the SQuAD metrics side by side, then the dated checks."""
    systems = report["systems"]
    names = list(systems)
    lines = [f"{'metric':14s}" + "".join(f"{n:>16s}" for n in names)]
    for metric in ("points", "precision", "coverage", "redundancy", "empty"):
        lines.append(f"{metric:14s}" + "".join(f"{systems[n][metric]:>16}" for n in names))
    lines.append(
        f"\n{report['topics']} topics (article titles), up to {report['max_points']} points"
    )
    lines.append("")
    for topic, d in report["dated"].items():
        lines.append(
            f"{topic}: {d['points']} points, {d['on_story']:.0%} on the story, "
            f"{d['articles_quoted']}/{d['articles']} articles quoted, newest quoted "
            f"{d['newest_quoted']}, oldest first {d['oldest_first']}; since {d['since']}: "
            f"{d['points_since']} points, all within {d['all_within_since']}"
        )
    return "\n".join(lines)
