"""The HTTP API: FastAPI over one Engine."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from corpus.article import Article
from corpus.errors import CorpusError
from corpus.readers import article_from_record
from service.conversation import ConversationNotFoundError
from service.engine import AskResult, Engine
from service.jobs import Job, JobQueue
from service.pages import DEMO_CSP, READ_CSP, render_article_page
from service.pages import static_text as _static
from service.retrieve import Filters
from service.schemas import (
    ArticleOut,
    ArticlePage,
    ArticleSummary,
    AskRequest,
    AskResponse,
    CitationOut,
    ConversationOut,
    ErrorResponse,
    IndexOut,
    JobArticle,
    JobOut,
    QuoteOut,
    TurnOut,
)
from service.settings import Settings

log = logging.getLogger(__name__)
MAX_BATCH = 1000

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 422, 503)
}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "details"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []
        self.headers = headers


def _error(
    status: int,
    code: str,
    message: str,
    details: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def _describe(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
    return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid"))


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. Without ``engine``, one is made and made ready in the background."""
    settings = settings or Settings()
    own_engine = engine is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        eng = Engine(settings) if engine is None else engine
        app.state.engine = eng
        app.state.jobs = JobQueue(eng)
        if own_engine:
            # Load or build the index in the background: /healthz answers at once and
            # /readyz turns 200 once the index is live.
            threading.Thread(
                target=eng.bootstrap, args=(settings.corpus_dir,), daemon=True, name="bootstrap"
            ).start()
        stop = threading.Event()
        if settings.reload_interval_s > 0:
            threading.Thread(
                target=_follow, args=(eng, settings.reload_interval_s, stop), daemon=True
            ).start()
        yield
        stop.set()
        app.state.jobs.stop()
        if own_engine:
            eng.close()

    app = FastAPI(
        title="Briefing",
        version="0.1.0",
        summary="Cited answers from a news archive: every answer is verbatim quotes.",
        lifespan=lifespan,
    )

    # Browsers may call the API only from these origins; same-origin calls need no header.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins(),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type"],
        max_age=600,
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "invalid_json", "the request body is not valid JSON")
        details = [_describe(e) for e in errors]
        return _error(422, "invalid_request", "; ".join(details), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return _error(exc.status_code, code, str(exc.detail))

    def ready_engine(request: Request) -> Engine:
        eng: Engine = request.app.state.engine
        if eng.live is None:
            if eng.state == "failed":
                raise ApiError(503, "not_ready", f"the index failed to load: {eng.error}")
            raise ApiError(503, "not_ready", "the index is still loading; retry shortly")
        return eng

    @app.get("/", include_in_schema=False)
    def demo() -> HTMLResponse:
        """A plain mock news page with the widget embedded."""
        return HTMLResponse(_static("demo.html"), headers={"Content-Security-Policy": DEMO_CSP})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        """The embeddable chat widget."""
        return Response(
            _static("widget.js"),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/read/{article_id}", tags=["articles"], responses=ERRORS)
    def read_article(
        article_id: str,
        request: Request,
        start: int | None = Query(None, ge=0),
        end: int | None = Query(None, ge=0),
    ) -> HTMLResponse:
        """A plain page for reading an article, the span [start, end) highlighted."""
        eng: Engine = request.app.state.engine
        article = eng.store.get(article_id)
        if article is None:
            raise ApiError(404, "article_not_found", f"no article with id {article_id!r}")
        span = None
        if start is not None or end is not None:
            if start is None or end is None or not start < end <= len(article.text):
                raise ApiError(
                    422,
                    "invalid_span",
                    f"start and end must satisfy 0 <= start < end <= {len(article.text)}",
                )
            span = (start, end)
        return HTMLResponse(
            render_article_page(article, span), headers={"Content-Security-Policy": READ_CSP}
        )

    def require_admin(request: Request) -> None:
        token = settings.admin_token
        if not token:
            raise ApiError(
                404,
                "admin_disabled",
                "admin routes are off; set BRIEFING_ADMIN_TOKEN on the server to enable them",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # Constant-time comparison: the time taken says nothing about the token.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise ApiError(
                401,
                "unauthorized",
                "send the admin token as 'Authorization: Bearer <BRIEFING_ADMIN_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    # Admin routes answer 202 once the change is stored; the index follows in a job.
    admin: dict[str, Any] = {
        "tags": ["admin"],
        "status_code": 202,
        "responses": {**ERRORS, 401: {"model": ErrorResponse}},
        "dependencies": [Depends(require_admin)],
    }

    @app.post("/articles", **admin)
    def add_articles(request: Request, body: Any = Body(...)) -> JobOut:  # noqa: B008
        """Store one article or a batch (``{"articles": [...]}`` or a list), durably, then
        update the index in the background. Answers once the articles are stored."""
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
        articles, problems = [], []
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
        eng: Engine = request.app.state.engine
        outcomes: list[dict[str, str | None]] = []
        report = eng.ingest_articles(
            articles,
            on_article=lambda outcome, aid: outcomes.append({"id": aid, "outcome": outcome}),
        )
        for item in outcomes:
            item["duplicate_of"] = report.duplicates.get(str(item["id"]))
        job = request.app.state.jobs.submit("ingest", outcomes)
        return _job_out(job)

    @app.delete("/articles/{article_id}", **admin)
    def delete_article(article_id: str, request: Request) -> JobOut:
        """Withdraw an article: it leaves the store at once and answers once the job is done."""
        eng: Engine = request.app.state.engine
        if not eng.withdraw([article_id]):
            raise ApiError(404, "article_not_found", f"no article with id {article_id!r}")
        job = request.app.state.jobs.submit(
            "delete", [{"id": article_id, "outcome": "deleted", "duplicate_of": None}]
        )
        return _job_out(job)

    @app.get("/jobs/{job_id}", tags=["admin"], responses=ERRORS)
    def get_job(job_id: str, request: Request) -> JobOut:
        """A job's progress and, once done, the index version that includes its changes."""
        job = request.app.state.jobs.get(job_id)
        if job is None:
            raise ApiError(
                404, "job_not_found", f"no job with id {job_id!r} (the newest 1,000 jobs are kept)"
            )
        return _job_out(job)

    @app.get("/index", tags=["ops"], responses=ERRORS)
    def index_status(request: Request) -> IndexOut:
        """The live index version, its counts and build time, and pending jobs."""
        eng: Engine = request.app.state.engine
        live = eng.live
        m = live.index.manifest if live else {}
        return IndexOut(
            state=eng.state,
            version=live.index.version if live else None,
            published_version=eng.snapshots.current_version(),
            created_at=m.get("created_at"),
            kind=m.get("kind"),
            build_seconds=m.get("build_seconds"),
            counts=m.get("counts", {}),
            stored_articles=eng.store.count(),
            pending_jobs=request.app.state.jobs.pending(),
        )

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses=ERRORS)
    def readyz(request: Request) -> Any:
        """Readiness: 200 once an index is loaded, 503 before."""
        eng: Engine = request.app.state.engine
        live = eng.live
        if live is None:
            message = eng.error or "the index is still loading"
            return _error(503, "not_ready", message)
        return {"status": "ready", "index_version": live.index.version}

    @app.post("/ask", tags=["answers"], responses=ERRORS)
    def ask(body: AskRequest, request: Request) -> AskResponse:
        """Answer a question with verbatim, cited quotes (or abstain)."""
        eng = ready_engine(request)
        f = body.filters
        filters = (
            Filters(
                source=f.source,
                published_after=f.published_after.isoformat() if f.published_after else None,
                published_before=f.published_before.isoformat() if f.published_before else None,
                article_ids=tuple(f.article_ids) if f.article_ids is not None else None,
            )
            if f
            else None
        )
        try:
            exchange = eng.converse(
                body.question,
                conversation_id=body.conversation_id,
                top_k=body.top_k,
                filters=filters,
            )
        except ConversationNotFoundError:
            raise _no_conversation(body.conversation_id or "") from None
        return to_response(
            exchange.result,
            body.question,
            exchange.conversation_id,
            resolved_question=exchange.resolution.resolved,
        )

    @app.get("/conversations/{conversation_id}", tags=["answers"], responses=ERRORS)
    def get_conversation(conversation_id: str, request: Request) -> ConversationOut:
        """A conversation's kept turns, oldest first."""
        eng: Engine = request.app.state.engine
        try:
            conv = eng.conversations.get(conversation_id)
            turns = eng.conversations.history(conversation_id)
        except ConversationNotFoundError:
            raise _no_conversation(conversation_id) from None
        return ConversationOut(
            conversation_id=conv.id,
            started_at=_utc(conv.started_at),
            turns=[
                TurnOut(
                    **to_response(
                        AskResult(t.answer, t.index_version),
                        t.question,
                        conv.id,
                        resolved_question=t.resolved_question,
                    ).model_dump(),
                    asked_at=_utc(t.asked_at),
                )
                for t in turns
            ],
        )

    @app.delete(
        "/conversations/{conversation_id}", tags=["answers"], status_code=204, responses=ERRORS
    )
    def end_conversation(conversation_id: str, request: Request) -> Response:
        """End a conversation and forget its turns."""
        eng: Engine = request.app.state.engine
        try:
            eng.conversations.end(conversation_id)
        except ConversationNotFoundError:
            raise _no_conversation(conversation_id) from None
        return Response(status_code=204)

    @app.get("/articles", tags=["articles"], responses=ERRORS)
    def list_articles(
        request: Request,
        offset: int = Query(0, ge=0),
        limit: int = Query(20, ge=1, le=100),
    ) -> ArticlePage:
        """Stored articles, newest first, without their text."""
        eng: Engine = request.app.state.engine
        items = eng.store.list(offset=offset, limit=limit)
        return ArticlePage(
            total=eng.store.count(),
            offset=offset,
            limit=limit,
            articles=[ArticleSummary(**_meta(a)) for a in items],
        )

    @app.get("/articles/{article_id}", tags=["articles"], responses=ERRORS)
    def get_article(article_id: str, request: Request) -> ArticleOut:
        """One stored article with its full text (quote offsets point into it)."""
        eng: Engine = request.app.state.engine
        article = eng.store.get(article_id)
        if article is None:
            raise ApiError(404, "article_not_found", f"no article with id {article_id!r}")
        return ArticleOut(
            **_meta(article),
            text=article.text,
            duplicate_of=eng.store.duplicate_of(article_id),
            duplicates=eng.store.duplicates(article_id),
        )

    return app


def _follow(engine: Engine, interval: float, stop: threading.Event) -> None:
    """Serve each index version another process publishes, without a restart."""
    while not stop.wait(interval):
        if engine.live is not None:
            try:
                engine.follow_published()
            except Exception:  # keep following; the live version keeps serving
                log.exception("could not follow the published index")


def _job_out(job: Job) -> JobOut:
    return JobOut(
        job_id=job.id,
        kind=job.kind,
        state=job.state,
        articles=[JobArticle(**a) for a in job.articles],  # type: ignore[arg-type]
        created_at=_utc(job.created_at),
        finished_at=_utc(job.finished_at) if job.finished_at else None,
        index_version=job.index_version,
        error=job.error,
    )


def _no_conversation(conversation_id: str) -> ApiError:
    return ApiError(
        404,
        "conversation_not_found",
        f"conversation {conversation_id!r} does not exist or has expired; "
        "omit conversation_id to start a new one",
    )


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


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
        citations=[
            CitationOut(
                n=c.n,
                article_id=c.article.id,
                title=c.article.title,
                source=c.article.source,
                url=c.article.url,
                published=c.article.published,
            )
            for c in a.citations
        ],
        index_version=result.index_version,
    )


def _meta(article: Article) -> dict[str, Any]:
    return {k: getattr(article, k) for k in ("id", "title", "source", "url", "published", "author")}
