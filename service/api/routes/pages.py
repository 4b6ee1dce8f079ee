"""Pages for people: the demo news page, the widget script, and the reading page."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from service.api.deps import EngineDep
from service.api.errors import ERRORS, ApiError, no_article
from service.api.html import DEMO_CSP, READ_CSP, render_article_page, static_text

router = APIRouter()


@router.get("/", include_in_schema=False)
def demo() -> HTMLResponse:
    """A plain mock news page with the widget embedded."""
    return HTMLResponse(static_text("demo.html"), headers={"Content-Security-Policy": DEMO_CSP})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/widget.js", include_in_schema=False)
def widget() -> Response:
    """The embeddable chat widget."""
    return Response(
        static_text("widget.js"),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/read/{article_id}", tags=["articles"], responses=ERRORS)
def read_article(
    article_id: str,
    engine: EngineDep,
    start: int | None = Query(None, ge=0),
    end: int | None = Query(None, ge=0),
) -> HTMLResponse:
    """A plain page for reading an article, the span [start, end) highlighted."""
    article = engine.store.get(article_id)
    if article is None:
        raise no_article(article_id)
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
