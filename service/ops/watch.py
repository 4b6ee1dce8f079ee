"""``briefing watch``: ingest new and changed files and feed entries as they appear.

What was done is remembered in ``watch.sqlite3`` in the data directory (a file by its
modification time and size, a feed entry by a fingerprint of its content), so a restarted
watcher picks up where it stopped without reading again what it already stored. A file
that disappears is not withdrawn: exports rotate; use ``briefing delete`` to withdraw.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from corpus.article import Article
from corpus.errors import CorpusError
from corpus.feeds import FeedItem, feed_articles
from corpus.readers import iter_files, read_path
from service.ops.datadir import open_sqlite
from service.ops.engine import Engine

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE TABLE IF NOT EXISTS feeds (url TEXT PRIMARY KEY, etag TEXT, modified TEXT);
"""
USER_AGENT = "Briefing feed reader (+https://github.com/briefing)"


@dataclass(frozen=True)
class Event:
    """Something the watcher did: ``kind`` is an ingest outcome, "failed" or "indexed"."""

    kind: str
    subject: str  # article id, or version for "indexed"
    where: str  # file path or feed URL


class WatchState:
    """What the watcher has already stored, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._db = open_sqlite(path, _SCHEMA)
        self._lock = threading.Lock()

    def fingerprint(self, source: str, key: str) -> str | None:
        """The fingerprint recorded for ``key`` of ``source``."""
        with self._lock:
            row = self._db.execute(
                "SELECT fingerprint FROM seen WHERE source = ? AND key = ?", (source, key)
            ).fetchone()
        return row[0] if row else None

    def mark(self, source: str, key: str, fingerprint: str) -> None:
        """Record that ``key`` was stored as it is now (after the store committed it)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO seen VALUES (?, ?, ?)", (source, key, fingerprint)
            )

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """The ETag and Last-Modified a feed last answered with."""
        with self._lock:
            row = self._db.execute(
                "SELECT etag, modified FROM feeds WHERE url = ?", (url,)
            ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def set_validators(self, url: str, etag: str | None, modified: str | None) -> None:
        """Remember a feed's ETag and Last-Modified for the next conditional request."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO feeds VALUES (?, ?, ?)", (url, etag, modified))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class Watcher:
    """Polls folders and feeds, stores what is new or changed, and updates the index."""

    def __init__(
        self,
        engine: Engine,
        folders: Iterable[Path],
        feeds: Iterable[str],
        *,
        on_event: Callable[[Event], None] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.folders = list(folders)
        self.feeds = list(feeds)
        self.state = WatchState(engine.data.root / "watch.sqlite3")
        self.on_event = on_event or (lambda event: None)
        self.timeout_s = timeout_s

    def close(self) -> None:
        """Release the state file."""
        self.state.close()

    def scan_folders(self) -> int:
        """Store new and changed article files; return how many articles changed."""
        changed = 0
        for path in iter_files(self.folders):
            try:
                st = path.stat()
            except OSError:
                continue  # vanished between listing and reading
            key = str(path.resolve())
            fingerprint = f"{st.st_mtime_ns}:{st.st_size}"
            if self.state.fingerprint("file", key) == fingerprint:
                continue
            try:
                articles = read_path(path)
            except CorpusError as exc:
                self.on_event(Event("failed", str(exc), str(path)))
            else:
                changed += self._store(articles, str(path))
            self.state.mark("file", key, fingerprint)
        return changed

    def poll_feeds(self) -> int:
        """Store new and changed feed entries; return how many articles changed."""
        changed = 0
        for url in self.feeds:
            try:
                raw = self._fetch(url)
            except (OSError, urllib.error.URLError) as exc:
                self.on_event(Event("failed", f"could not fetch the feed: {exc}", url))
                continue
            if raw is None:
                continue  # 304 Not Modified
            try:
                items, problems = feed_articles(raw, url)
            except CorpusError as exc:
                self.on_event(Event("failed", str(exc), url))
                continue
            for message in problems:
                self.on_event(Event("failed", message, url))
            fresh: list[FeedItem] = [
                item for item in items if self.state.fingerprint(url, item.key) != item.fingerprint
            ]
            changed += self._store([item.article for item in fresh], url)
            for item in fresh:
                self.state.mark(url, item.key, item.fingerprint)
        return changed

    def run_once(self) -> int:
        """One pass over folders and feeds, then an index update if anything changed."""
        changed = self.scan_folders() + self.poll_feeds()
        if changed:
            self._update()
        return changed

    def run(self, interval_s: float, feed_interval_s: float, stop: threading.Event) -> None:
        """Poll until ``stop`` is set: folders every ``interval_s``, feeds every
        ``feed_interval_s`` seconds."""
        next_feed = 0.0
        while not stop.is_set():
            changed = self.scan_folders()
            if self.feeds and time.monotonic() >= next_feed:
                changed += self.poll_feeds()
                next_feed = time.monotonic() + feed_interval_s
            if changed:
                self._update()
            stop.wait(interval_s)

    def _store(self, articles: list[Article], where: str) -> int:
        if not articles:
            return 0
        report = self.engine.ingest_articles(
            articles, on_article=lambda outcome, aid: self.on_event(Event(outcome, aid, where))
        )
        for message in report.failed:
            self.on_event(Event("failed", message, where))
        return len(report.added) + len(report.replaced)

    def _update(self) -> None:
        stats = self.engine.update_index()
        live = self.engine.live
        if stats is not None and live is not None:
            self.on_event(Event("indexed", live.index.version, f"{stats.sentences} sentences"))

    def _fetch(self, url: str) -> bytes | None:
        etag, modified = self.state.validators(url)
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if etag:
            request.add_header("If-None-Match", etag)
        if modified:
            request.add_header("If-Modified-Since", modified)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body: bytes = response.read()
                self.state.set_validators(
                    url, response.headers.get("ETag"), response.headers.get("Last-Modified")
                )
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return None
            raise
