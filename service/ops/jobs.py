"""Index jobs: articles are stored at once, the index catches up in the background.

``POST /articles`` and ``DELETE /articles/{id}`` change the store synchronously (so the 202
answer means the change is durable) and queue a job; one worker thread brings the index up
to date for every job queued so far (several jobs share one incremental update) and records
the index version that includes them. Jobs are kept in ``jobs.sqlite3`` (the newest
``keep``), so their ids stay valid across restarts; jobs a stopped server left unfinished
are run again when it starts.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from service.ops.datadir import open_sqlite
from service.ops.engine import Engine

log = logging.getLogger(__name__)

# Once a job arrives, the worker waits this long for more before updating the index: a
# stream of changes then costs a few index versions a second, not one per change, and a
# change is still answerable within about a second (as with Lucene's refresh interval).
SETTLE_S = 0.25

JobState = Literal["queued", "indexing", "done", "failed"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    body TEXT NOT NULL
);
"""


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
    """Queued index jobs, kept in SQLite, and the worker thread that runs them."""

    def __init__(self, engine: Engine, path: Path | None = None, keep: int = 1000) -> None:
        self.engine = engine
        self.keep = keep
        self._db = open_sqlite(path or engine.data.root / "jobs.sqlite3", _SCHEMA)
        self._wake = threading.Condition()
        self._stopping = False
        self._running = 0  # jobs in the update under way
        self.failures = 0  # jobs whose index update failed since start
        # Jobs a stopped server left unfinished: their changes are stored, so run again.
        self._pending: list[Job] = [j for j in self._all() if j.state in ("queued", "indexing")]
        for job in self._pending:
            job.state = "queued"
        self._thread = threading.Thread(target=self._run, name="index-jobs", daemon=True)
        self._thread.start()

    def submit(
        self, kind: Literal["ingest", "delete"], articles: list[dict[str, str | None]]
    ) -> Job:
        """Queue a job for changes already made to the store."""
        job = Job(secrets.token_urlsafe(12), kind, articles)
        with self._wake:
            self._db.execute(
                "INSERT INTO jobs (id, body) VALUES (?, ?)", (job.id, json.dumps(asdict(job)))
            )
            self._db.execute(
                "DELETE FROM jobs WHERE seq <= (SELECT MAX(seq) FROM jobs) - ?", (self.keep,)
            )
            self._pending.append(job)
            self._wake.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        """A job by id (None if unknown or long forgotten)."""
        with self._wake:
            row = self._db.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row[0]) if row else None

    def pending(self) -> int:
        """Jobs whose changes are not yet in the live index."""
        with self._wake:
            return len(self._pending) + self._running

    def stop(self) -> None:
        """Finish the jobs queued so far, then stop the worker and close the file."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=60)
        with self._wake:
            self._db.close()

    def _all(self) -> list[Job]:
        return [_job(r[0]) for r in self._db.execute("SELECT body FROM jobs ORDER BY seq")]

    def _save(self, jobs: list[Job]) -> None:
        self._db.executemany(
            "UPDATE jobs SET body = ? WHERE id = ?", [(json.dumps(asdict(j)), j.id) for j in jobs]
        )

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    self._wake.wait()
                if not self._pending:
                    return
                # Let a burst of changes join this update (new jobs notify; keep waiting).
                settled = time.monotonic() + SETTLE_S
                while not self._stopping and (left := settled - time.monotonic()) > 0:
                    self._wake.wait(left)
                batch, self._pending = self._pending, []
                self._running = len(batch)
                now = time.time()
                for job in batch:
                    job.state, job.started_at = "indexing", now
                self._save(batch)
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
                if state == "failed":
                    self.failures += len(batch)
                for job in batch:
                    job.state, job.index_version, job.error = state, version, error
                    job.finished_at = now
                self._save(batch)
                self._running = 0


def _job(body: str) -> Job:
    data: dict[str, Any] = json.loads(body)
    return Job(**{f.name: data[f.name] for f in fields(Job)})
