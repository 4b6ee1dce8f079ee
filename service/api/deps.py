"""Dependencies the routers declare with ``Annotated[..., Depends(...)]``: the engine, the
job queue, the settings, and admin authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from service.api.errors import ApiError
from service.api.metrics import Metrics
from service.ops.engine import Engine
from service.ops.jobs import JobQueue
from service.settings import Settings


def get_settings(request: Request) -> Settings:
    """The settings the app was made with."""
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    """The app's engine, ready or not (for routes that read only the store)."""
    engine: Engine = request.app.state.engine
    return engine


def get_ready_engine(engine: Annotated[Engine, Depends(get_engine)]) -> Engine:
    """The engine once an index is live; 503 ``not_ready`` before."""
    if engine.live is None:
        if engine.state == "failed":
            raise ApiError(503, "not_ready", f"the index failed to load: {engine.error}")
        raise ApiError(503, "not_ready", "the index is still loading; retry shortly")
    return engine


def get_jobs(request: Request) -> JobQueue:
    """The app's index job queue."""
    jobs: JobQueue = request.app.state.jobs
    return jobs


def get_metrics(request: Request) -> Metrics:
    """The app's metrics."""
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ReadyEngineDep = Annotated[Engine, Depends(get_ready_engine)]
JobsDep = Annotated[JobQueue, Depends(get_jobs)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def require_admin(request: Request, settings: SettingsDep) -> None:
    """Admit only requests bearing ``BRIEFING_ADMIN_TOKEN``; 404 when admin is off."""
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
