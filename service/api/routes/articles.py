"""``GET /articles`` and ``GET /articles/{id}``: the stored articles, for everyone."""

from __future__ import annotations

from fastapi import APIRouter, Query

from service.api.deps import EngineDep
from service.api.errors import ERRORS, no_article
from service.api.responses import article_meta
from service.api.schemas import ArticleOut, ArticlePage, ArticleSummary

router = APIRouter(prefix="/articles", tags=["articles"])
# Far past any archive, well inside SQLite's 64-bit integers.
MAX_OFFSET = 1_000_000_000


@router.get("", responses=ERRORS)
def list_articles(
    engine: EngineDep,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    limit: int = Query(20, ge=1, le=100),
) -> ArticlePage:
    """Stored articles, newest first, without their text."""
    items = engine.store.list(offset=offset, limit=limit)
    return ArticlePage(
        total=engine.store.count(),
        offset=offset,
        limit=limit,
        articles=[ArticleSummary(**article_meta(a)) for a in items],
    )


@router.get("/{article_id}", responses=ERRORS)
def get_article(article_id: str, engine: EngineDep) -> ArticleOut:
    """One stored article with its full text (quote offsets point into it)."""
    article = engine.store.get(article_id)
    if article is None:
        raise no_article(article_id)
    return ArticleOut(
        **article_meta(article),
        text=article.text,
        duplicate_of=engine.store.duplicate_of(article_id),
        duplicates=engine.store.duplicates(article_id),
    )
