"""Operations: liveness, readiness and the index's state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from service.api.deps import EngineDep, JobsDep, MetricsDep
from service.api.errors import ERRORS, error_response
from service.api.metrics import CONTENT_TYPE
from service.api.schemas import IndexOut

router = APIRouter(tags=["ops"])


@router.get("/index", responses=ERRORS)
def index_status(engine: EngineDep, jobs: JobsDep) -> IndexOut:
    """The live index version, its counts and build time, and pending jobs."""
    live = engine.live
    m = live.index.manifest if live else {}
    return IndexOut(
        state=engine.state,
        version=live.index.version if live else None,
        published_version=engine.snapshots.current_version(),
        created_at=m.get("created_at"),
        kind=m.get("kind"),
        build_seconds=m.get("build_seconds"),
        counts=m.get("counts", {}),
        segments=[
            {"name": seg.name, **seg.counts, "tombstoned_articles": int(dead.sum())}
            for seg, dead in zip(live.index.segments, live.index.dead, strict=True)
        ]
        if live
        else [],
        stored_articles=engine.store.count(),
        pending_jobs=jobs.pending(),
    )


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=ERRORS)
def readyz(engine: EngineDep) -> Any:
    """Readiness: 200 once an index is loaded, 503 before."""
    live = engine.live
    if live is None:
        return error_response(503, "not_ready", engine.error or "the index is still loading")
    return {"status": "ready", "index_version": live.index.version}


@router.get("/metrics", response_class=Response)
def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics: requests, latencies, answers, the index, jobs, conversations."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
