"""Admin routes behind ``BRIEFING_ADMIN_TOKEN``: add and withdraw articles, follow jobs.

They answer 202 once the change is stored; the index follows in a job. The token is
checked before the body is read, and the body is read no further than its limit.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from corpus.article import Article
from corpus.errors import CorpusError
from corpus.readers import article_from_record
from service.api.deps import EngineDep, JobsDep, SettingsDep, require_admin
from service.api.errors import ERRORS, ApiError, no_article
from service.api.responses import job_out
from service.api.schemas import ArticleIn, ErrorResponse, JobOut
from service.ops.engine import Engine
from service.ops.jobs import JobQueue

MAX_BATCH = 1000

router = APIRouter(tags=["admin"], responses=ERRORS)
# Changes need the token; a job's status is public (its id is an unguessable secret).
_WRITE: dict[str, Any] = {
    "status_code": 202,
    "dependencies": [Depends(require_admin)],
    "responses": {401: {"model": ErrorResponse}},
}
_ARTICLE = ArticleIn.model_json_schema()
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        _ARTICLE,
                        {"type": "array", "items": _ARTICLE, "minItems": 1},
                        {
                            "type": "object",
                            "properties": {"articles": {"type": "array", "items": _ARTICLE}},
                            "required": ["articles"],
                        },
                    ]
                }
            }
        },
    }
}


@router.post("/articles", openapi_extra=_BATCH_BODY, **_WRITE)
async def add_articles(
    request: Request, engine: EngineDep, jobs: JobsDep, settings: SettingsDep
) -> JobOut:
    """Store one article or a batch (``{"articles": [...]}`` or a list), durably, then
    update the index in the background. Answers once the articles are stored; a batch
    with any bad article stores none of them."""
    # Read here, after the token was checked, never past the admin body limit.
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    records = body.get("articles") if isinstance(body, dict) and "articles" in body else body
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not records:
        raise ApiError(
            422,
            "invalid_request",
            'send an article object, a list of them, or {"articles": [...]}',
        )
    if len(records) > MAX_BATCH:
        raise ApiError(413, "batch_too_large", f"at most {MAX_BATCH} articles per request")
    _check_sizes(records, settings.max_article_chars)
    # Cleaning and storing take CPU and the writer lock: off the event loop.
    return await run_in_threadpool(_store, records, engine, jobs)


def _check_sizes(records: list[Any], limit: int) -> None:
    """413 naming every article whose text is over ``limit`` characters."""
    problems = [
        f"articles[{i}] ({r.get('id')!r}): the text is {len(r['text']):,} characters; "
        f"at most {limit:,} are accepted (BRIEFING_MAX_ARTICLE_CHARS)"
        for i, r in enumerate(records)
        if isinstance(r, dict) and isinstance(r.get("text"), str) and len(r["text"]) > limit
    ]
    if problems:
        raise ApiError(413, "article_too_large", "; ".join(problems), problems)


def _store(records: list[Any], engine: Engine, jobs: JobQueue) -> JobOut:
    articles: list[Article] = []
    problems: list[str] = []
    for i, record in enumerate(records):
        try:
            articles.append(article_from_record(record, where=f"articles[{i}]"))
        except CorpusError as exc:
            problems.append(str(exc))
    ids = [a.id for a in articles]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        problems.append(f"ids repeated in the batch: {repeated}")
    if problems:
        # All or nothing: a batch with a bad article stores none of them.
        raise ApiError(422, "invalid_article", "; ".join(problems), problems)
    outcomes: list[dict[str, str | None]] = []
    report = engine.ingest_articles(
        articles,
        on_article=lambda outcome, aid: outcomes.append({"id": aid, "outcome": outcome}),
    )
    for item in outcomes:
        item["duplicate_of"] = report.duplicates.get(str(item["id"]))
    return job_out(jobs.submit("ingest", outcomes))


@router.delete("/articles/{article_id}", **_WRITE)
def delete_article(article_id: str, engine: EngineDep, jobs: JobsDep) -> JobOut:
    """Withdraw an article: it leaves the store at once and answers once the job is done."""
    if not engine.withdraw([article_id]):
        raise no_article(article_id)
    return job_out(
        jobs.submit("delete", [{"id": article_id, "outcome": "deleted", "duplicate_of": None}])
    )


@router.get("/jobs/{job_id}")
def get_job(job_id: str, jobs: JobsDep) -> JobOut:
    """A job's progress and, once done, the index version that includes its changes."""
    job = jobs.get(job_id)
    if job is None:
        raise ApiError(
            404, "job_not_found", f"no job with id {job_id!r} (the newest 1,000 jobs are kept)"
        )
    return job_out(job)
