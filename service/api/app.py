"""The HTTP API: a FastAPI app over one Engine, its routers, error handlers and lifespan."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.api.bodylimit import BodyLimitMiddleware
from service.api.errors import install_error_handlers
from service.api.metrics import Metrics
from service.api.middleware import RequestContextMiddleware, SecurityHeadersMiddleware
from service.api.ratelimit import Buckets, RateLimitMiddleware, TokenBuckets
from service.api.routes import admin, articles, ask, brief, conversations, ops, pages
from service.ops import shared
from service.ops.engine import Engine
from service.ops.jobs import JobQueue
from service.ops.shared import RedisTokenBuckets
from service.settings import Settings

log = logging.getLogger(__name__)


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
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    metrics.watch(app.state)
    # Innermost first: body limit, rate limit, CORS, security headers, then the request's
    # id, log line and metrics.
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        admin_limit=settings.max_admin_body_bytes,
    )
    rate = settings.rate()
    if rate is not None:
        buckets: Buckets = (
            RedisTokenBuckets(shared.client(settings.redis_url), *rate)
            if settings.redis_url
            else TokenBuckets(*rate)
        )
        app.add_middleware(RateLimitMiddleware, buckets=buckets, trusted=settings.proxy_networks())
    # Browsers may call the API only from these origins; same-origin calls need no header.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins(),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    install_error_handlers(app)
    for module in (pages, ask, brief, conversations, articles, admin, ops):
        app.include_router(module.router)
    return app


def _follow(engine: Engine, interval: float, stop: threading.Event) -> None:
    """Serve each index version another process publishes, without a restart."""
    while not stop.wait(interval):
        if engine.live is not None:
            try:
                engine.follow_published()
            except Exception:  # keep following; the live version keeps serving
                log.exception("could not follow the published index")
