"""The HTTP API: FastAPI over one Engine."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from corpus.article import Article
from service.conversation import ConversationNotFoundError
from service.engine import AskResult, Engine
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
    QuoteOut,
    TurnOut,
)
from service.settings import Settings

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 422, 503)
}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "details"}}``."""

    def __init__(self, status: int, code: str, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


def _error(status: int, code: str, message: str, details: list[str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status)


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
        if own_engine:
            # Load or build the index in the background: /healthz answers at once and
            # /readyz turns 200 once the index is live.
            threading.Thread(
                target=eng.bootstrap, args=(settings.corpus_dir,), daemon=True, name="bootstrap"
            ).start()
        yield
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
        return _error(exc.status, exc.code, exc.message, exc.details)

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
                    ).model_dump(exclude={"conversation_id"}),
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
        return ArticleOut(**_meta(article), text=article.text)

    return app


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
