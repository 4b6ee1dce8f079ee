"""Index jobs: articles are stored at once, the index catches up in the background.

``POST /articles`` and ``DELETE /articles/{id}`` change the store synchronously (so the 202
answer means the change is durable) and queue a job; one worker thread brings the index up
to date for every job queued so far (several jobs share one incremental update) and records
the index version that includes them. Jobs live in memory; the newest ``keep`` are kept.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from service.engine import Engine

log = logging.getLogger(__name__)

JobState = Literal["queued", "indexing", "done", "failed"]


@dataclass
class Job:
    """One change to the archive and how far the index has caught up with it."""

    id: str
    kind: Literal["ingest", "delete"]
    articles: list[dict[str, str | None]]  # {"id", "outcome", "duplicate_of"}
    created_at: float = field(default_factory=time.time)
    state: JobState = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    index_version: str | None = None
    error: str | None = None


class JobQueue:
    """Queued index jobs and the worker thread that runs them."""

    def __init__(self, engine: Engine, keep: int = 1000) -> None:
        self.engine = engine
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._pending: list[Job] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="index-jobs", daemon=True)
        self._thread.start()

    def submit(
        self, kind: Literal["ingest", "delete"], articles: list[dict[str, str | None]]
    ) -> Job:
        """Queue a job for changes already made to the store."""
        job = Job(secrets.token_urlsafe(12), kind, articles)
        with self._wake:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                self._jobs.popitem(last=False)
            self._pending.append(job)
            self._wake.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        """A job by id (None if unknown or forgotten)."""
        with self._wake:
            return self._jobs.get(job_id)

    def pending(self) -> int:
        """Jobs whose changes are not yet in the live index."""
        with self._wake:
            return sum(j.state in ("queued", "indexing") for j in self._jobs.values())

    def stop(self) -> None:
        """Finish the jobs queued so far, then stop the worker."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                now = time.time()
                for job in batch:
                    job.state, job.started_at = "indexing", now
            try:
                self.engine.update_index()
                live = self.engine.live
                version = live.index.version if live else None
                state: JobState = "done"
                error = None
            except Exception as exc:  # the changes are stored; the next update retries them
                log.exception("index update failed")
                version, state, error = None, "failed", f"the index update failed: {exc}"
            with self._wake:
                now = time.time()
                for job in batch:
                    job.state, job.index_version, job.error = state, version, error
                    job.finished_at = now
