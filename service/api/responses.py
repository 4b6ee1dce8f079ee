"""Engine results as response models."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from corpus.article import Article
from service.answering.answer import Citation
from service.answering.asking import AskResult
from service.answering.briefing import Briefing
from service.api.schemas import (
    AskResponse,
    BriefPoint,
    BriefResponse,
    CitationOut,
    JobArticle,
    JobOut,
    QuoteOut,
)
from service.ops.jobs import Job


def to_response(
    result: AskResult,
    question: str,
    conversation_id: str,
    *,
    resolved_question: str | None = None,
) -> AskResponse:
    """The ``/ask`` response for an engine result."""
    a = result.answer
    return AskResponse(
        conversation_id=conversation_id,
        question=question,
        resolved_question=resolved_question or question,
        answered=a.answered,
        confidence=a.confidence,
        answer=a.answer,
        quotes=[QuoteOut(**asdict(q)) for q in a.quotes],
        citations=_citations(a.citations),
        index_version=result.index_version,
        mode=a.mode,
    )


def to_brief_response(briefing: Briefing) -> BriefResponse:
    """The ``/brief`` response for a briefing."""
    dates = {c.n: c.article.published for c in briefing.citations}
    return BriefResponse(
        topic=briefing.request.topic,
        points=[
            BriefPoint(
                text=p.text,
                article_id=p.article_id,
                start=p.start,
                end=p.end,
                published=dates.get(p.citation),
                citation=p.citation,
                score=p.score,
            )
            for p in briefing.points
        ],
        citations=_citations(briefing.citations),
        message=briefing.message,
        index_version=briefing.index_version,
    )


def _citations(citations: list[Citation]) -> list[CitationOut]:
    return [
        CitationOut(
            n=c.n,
            article_id=c.article.id,
            title=c.article.title,
            source=c.article.source,
            url=c.article.url,
            published=c.article.published,
        )
        for c in citations
    ]


def job_out(job: Job) -> JobOut:
    """A job as ``GET /jobs/{id}`` shows it."""
    return JobOut(
        job_id=job.id,
        kind=job.kind,
        state=job.state,
        articles=[JobArticle(**a) for a in job.articles],  # type: ignore[arg-type]
        created_at=utc(job.created_at),
        finished_at=utc(job.finished_at) if job.finished_at else None,
        index_version=job.index_version,
        error=job.error,
    )


def article_meta(article: Article) -> dict[str, Any]:
    """An article's metadata fields, without its text."""
    return {k: getattr(article, k) for k in ("id", "title", "source", "url", "published", "author")}


def utc(timestamp: float) -> dt.datetime:
    """A UNIX timestamp as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
