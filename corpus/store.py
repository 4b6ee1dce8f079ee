"""SQLite store: the source of truth for articles and their segments.

Writes are transactions with ``synchronous=FULL`` in WAL mode, so an article whose ingest
returned survives a crash of the process. Re-ingesting identical content is a no-op; new
content for a known id replaces the article and all of its segments in one transaction.

Near-duplicates (``corpus.dedup``: the same story under another id, with a new headline or
a changed paragraph) form a group in which the newest article (by publication date, then by
ingest order) is canonical and the others point to it with ``duplicate_of``. Only canonical
articles are indexed, so an answer never cites the same text twice. When the canonical
article is withdrawn or rewritten, the newest remaining duplicate takes its place.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from corpus import dedup
from corpus.article import Article, Paragraph, Segmentation, Sentence
from corpus.segmenter import segment

log = logging.getLogger(__name__)

UpsertResult = Literal["added", "replaced", "unchanged"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source TEXT,
    url TEXT,
    published TEXT,
    author TEXT,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS paragraphs (
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    role TEXT NOT NULL,
    question INTEGER,
    PRIMARY KEY (article_id, idx)
);
CREATE TABLE IF NOT EXISTS sentences (
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    paragraph INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (article_id, idx)
);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS bands (
    band INTEGER NOT NULL,
    key INTEGER NOT NULL,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS bands_key ON bands(band, key);
CREATE INDEX IF NOT EXISTS bands_article ON bands(article_id);
"""
# The change journal: every insert, delete, new content or change of canonical article
# appends the article's id (triggers, so no write path can forget it). An index version
# records the store's position in it, and the next update reads only what changed since.
_JOURNAL = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS changes_insert AFTER INSERT ON articles
BEGIN INSERT INTO changes (article_id) VALUES (NEW.id); END;
CREATE TRIGGER IF NOT EXISTS changes_delete AFTER DELETE ON articles
BEGIN INSERT INTO changes (article_id) VALUES (OLD.id); END;
CREATE TRIGGER IF NOT EXISTS changes_update AFTER UPDATE OF content_hash, duplicate_of ON articles
WHEN OLD.content_hash IS NOT NEW.content_hash OR OLD.duplicate_of IS NOT NEW.duplicate_of
BEGIN INSERT INTO changes (article_id) VALUES (NEW.id); END;
"""
# Columns added after the first release; old stores gain them on open.
_ADDED_COLUMNS = {"duplicate_of": "TEXT", "signature": "BLOB"}
_ARTICLE_COLUMNS = "id, title, text, source, url, published, author"
# Articles read per query when iterating the store (SQLite allows 32,766 parameters).
ITER_PAGE = 500


def digest_of(fingerprints: dict[str, str]) -> str:
    """The digest of a set of (id, content hash) pairs, as ``ArticleStore.state_digest``."""
    h = hashlib.sha256()
    for aid, digest in sorted(fingerprints.items()):
        h.update(f"{aid}\0{digest}\n".encode())
    return h.hexdigest()


# What storing an article computes from its text: its segmentation and near-duplicate
# signature (None when the text is too short to have one).
Prepared = tuple[Segmentation, np.ndarray | None]


def prepare(article: Article) -> Prepared:
    """The segmentation and signature of ``article``: the costly part of storing it, pure,
    so a bulk ingest can compute it in worker processes."""
    return segment(article.text), dedup.signature(article.text)


@dataclass(frozen=True)
class Position:
    """A point in a store's change journal: the store's id and the last change's number."""

    store: str
    seq: int


@dataclass(frozen=True)
class StoredArticle:
    """An article with its segmentation, as read back for indexing."""

    article: Article
    content_hash: str
    segmentation: Segmentation


class ArticleStore:
    """Articles and segments in one SQLite file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(articles)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE articles ADD COLUMN {column} {kind}")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS articles_duplicate_of ON articles(duplicate_of)"
        )
        self._db.executescript(_JOURNAL)
        # A random name for this store file: a position in another store's journal means
        # nothing here (a data folder whose database was replaced).
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('store_id', lower(hex(randomblob(16))))"
        )
        self.store_id = str(
            self._db.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0]
        )
        self._migrate_bands()

    def _migrate_bands(self) -> None:
        """Recompute the stored band keys if they were cut with another layout
        (``dedup.BAND_LAYOUT``, kept as the database's user_version) — from the stored
        signatures, in one transaction; groups already formed stay as they are."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= dedup.BAND_LAYOUT:
            return
        with self._transaction():
            if self._db.execute("PRAGMA user_version").fetchone()[0] < dedup.BAND_LAYOUT:
                rows = self._db.execute(
                    "SELECT id, signature FROM articles WHERE signature IS NOT NULL"
                ).fetchall()
                if rows:
                    log.info("recomputing the near-duplicate band keys of %d articles", len(rows))
                self._db.execute("DELETE FROM bands")
                self._db.executemany(
                    "INSERT INTO bands VALUES (?, ?, ?)",
                    (
                        (band, key, aid)
                        for aid, blob in rows
                        for band, key in enumerate(
                            dedup.band_keys(np.frombuffer(blob, dtype=np.uint32))
                        )
                    ),
                )
                self._db.execute(f"PRAGMA user_version = {dedup.BAND_LAYOUT}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction under the lock: committed, or rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def upsert(self, article: Article) -> UpsertResult:
        """Store ``article`` and its segments; say whether it was added, replaced or unchanged.

        Near-duplicate groups are updated in the same transaction (see the module docstring).
        """
        return self.upsert_many([article])[0]

    def upsert_many(
        self, articles: Sequence[Article], prepared: Sequence[Prepared | None] | None = None
    ) -> list[UpsertResult]:
        """Store several articles in one transaction (one disk sync, not one per article);
        the outcome of each, in order. All are durable once this returns.

        ``prepared`` may hold each article's ``prepare(article)``, computed elsewhere (in
        worker processes, for a bulk ingest); missing ones are computed here. The same id
        twice in one call: the later text wins, as with two calls.
        """
        digests = [a.content_hash for a in articles]
        known = self.hashes_of([a.id for a in articles])
        if all(known.get(a.id) == d for a, d in zip(articles, digests, strict=True)):
            return ["unchanged"] * len(articles)  # a re-ingest: nothing to segment or write
        work: list[Prepared | None] = (
            list(prepared) if prepared is not None else [None] * len(articles)
        )
        for k, article in enumerate(articles):
            if known.get(article.id) != digests[k] and work[k] is None:
                work[k] = prepare(article)  # outside the lock: segmenting is the slow part
        with self._transaction():
            outcomes = [self._write(article, work[k]) for k, article in enumerate(articles)]
        return outcomes

    def _write(self, article: Article, ready: Prepared | None) -> UpsertResult:
        """Insert or replace one article inside the open transaction."""
        digest = article.content_hash
        row = self._db.execute(
            "SELECT content_hash FROM articles WHERE id = ?", (article.id,)
        ).fetchone()
        previous = row[0] if row else None  # read again: another writer may have been first
        if previous == digest:
            return "unchanged"
        seg, sig = ready if ready is not None else prepare(article)
        if previous is not None:
            self._detach(article.id)
            self._db.execute("DELETE FROM articles WHERE id = ?", (article.id,))
        self._db.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}, content_hash, signature) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.title,
                article.text,
                article.source,
                article.url,
                article.published,
                article.author,
                digest,
                sig.tobytes() if sig is not None else None,
            ),
        )
        self._db.executemany(
            "INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?, ?)",
            [(article.id, p.index, p.start, p.end, p.role, p.question) for p in seg.paragraphs],
        )
        self._db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
            [(article.id, s.index, s.paragraph, s.start, s.end, s.role) for s in seg.sentences],
        )
        if sig is not None:
            self._group(article.id, sig)
        return "added" if previous is None else "replaced"

    def hashes_of(self, ids: Sequence[str], *, canonical: bool = False) -> dict[str, str]:
        """The content hash of each of ``ids`` that is stored (and, with ``canonical``, is
        not a near-duplicate of another: what an index holds)."""
        found: dict[str, str] = {}
        where = "duplicate_of IS NULL AND " if canonical else ""
        with self._lock:
            for i in range(0, len(ids), ITER_PAGE):
                chunk = list(ids[i : i + ITER_PAGE])
                found.update(
                    self._db.execute(
                        f"SELECT id, content_hash FROM articles WHERE {where}"
                        f"id IN ({','.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                )
        return found

    def _group(self, article_id: str, sig: np.ndarray) -> None:
        """Index the signature's bands and join the article to its near-duplicates."""
        keys = dedup.band_keys(sig)
        self._db.executemany(
            "INSERT INTO bands VALUES (?, ?, ?)",
            [(band, key, article_id) for band, key in enumerate(keys)],
        )
        candidates: set[str] = set()
        for band, key in enumerate(keys):
            candidates.update(
                r[0]
                for r in self._db.execute(
                    "SELECT article_id FROM bands WHERE band = ? AND key = ? AND article_id != ?",
                    (band, key, article_id),
                )
            )
        matches = []
        for other in sorted(candidates):
            blob = self._db.execute(
                "SELECT signature FROM articles WHERE id = ?", (other,)
            ).fetchone()[0]
            if blob is not None:
                other_sig = np.frombuffer(blob, dtype=np.uint32)
                if dedup.similarity(sig, other_sig) >= dedup.THRESHOLD:
                    matches.append(other)
        if not matches:
            return
        # The whole group: the matches, their canonical articles and everything under those.
        heads = {article_id}
        for other in matches:
            up = self._db.execute(
                "SELECT duplicate_of FROM articles WHERE id = ?", (other,)
            ).fetchone()[0]
            heads.add(up or other)
        members = set(heads)
        for head in heads:
            members.update(
                r[0]
                for r in self._db.execute("SELECT id FROM articles WHERE duplicate_of = ?", (head,))
            )
        self._set_canonical(members)

    def _set_canonical(self, members: set[str]) -> None:
        """Make the newest of ``members`` canonical and point the others at it."""
        marks = ",".join("?" * len(members))
        (canonical,) = self._db.execute(
            f"SELECT id FROM articles WHERE id IN ({marks}) "
            "ORDER BY published IS NULL, published DESC, ingested_at DESC, rowid DESC LIMIT 1",
            sorted(members),
        ).fetchone()
        self._db.execute("UPDATE articles SET duplicate_of = NULL WHERE id = ?", (canonical,))
        self._db.execute(
            f"UPDATE articles SET duplicate_of = ? WHERE id IN ({marks}) AND id != ?",
            [canonical, *sorted(members), canonical],
        )

    def _detach(self, article_id: str) -> None:
        """Take an article out of its group; the newest duplicate replaces a canonical one."""
        rest = {
            r[0]
            for r in self._db.execute(
                "SELECT id FROM articles WHERE duplicate_of = ?", (article_id,)
            )
        }
        if rest:
            self._set_canonical(rest)

    def delete(self, article_id: str) -> bool:
        """Remove an article and its segments; False if there was none."""
        with self._transaction():
            self._detach(article_id)
            cur = self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            return cur.rowcount > 0

    def duplicate_of(self, article_id: str) -> str | None:
        """The canonical article this one duplicates, or None (canonical or unknown)."""
        with self._lock:
            row = self._db.execute(
                "SELECT duplicate_of FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return row[0] if row else None

    def duplicates(self, article_id: str) -> list[str]:
        """Ids recorded as near-duplicates of this canonical article."""
        with self._lock:
            return [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM articles WHERE duplicate_of = ? ORDER BY id", (article_id,)
                )
            ]

    def fingerprints(self) -> dict[str, str]:
        """Content hash of every canonical article: what an index should hold."""
        with self._lock:
            return dict(
                self._db.execute(
                    "SELECT id, content_hash FROM articles WHERE duplicate_of IS NULL"
                ).fetchall()
            )

    def get(self, article_id: str) -> Article | None:
        """The stored article, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return Article(*row) if row else None

    def get_if_current(self, article_id: str, content_hash: str) -> Article | None:
        """The stored article if its content hash is still ``content_hash``, else None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ? AND content_hash = ?",
                (article_id, content_hash),
            ).fetchone()
        return Article(*row) if row else None

    def count(self) -> int:
        """Number of stored articles."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])

    def list(self, offset: int = 0, limit: int = 20) -> list[Article]:
        """Articles ordered by publication date (newest first), then id."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles "
                "ORDER BY published IS NULL, published DESC, id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [Article(*r) for r in rows]

    def position(self) -> Position:
        """Where the change journal stands: every change so far is at or before it."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'changes'"
            ).fetchone()
        return Position(self.store_id, int(row[0]) if row else 0)

    def changed_since(self, position: Position) -> tuple[str, ...] | None:
        """Ids of the articles inserted, deleted, rewritten or made (non-)canonical after
        ``position``, sorted; None when the journal cannot tell (a position in another
        store, ahead of this one, or before changes already forgotten)."""
        with self._lock:
            floor = self._db.execute(
                "SELECT value FROM meta WHERE key = 'journal_floor'"
            ).fetchone()
            now = self.position()
            if (
                position.store != self.store_id
                or position.seq > now.seq
                or position.seq < (int(floor[0]) if floor else 0)
            ):
                return None
            rows = self._db.execute(
                "SELECT DISTINCT article_id FROM changes WHERE seq > ? ORDER BY article_id",
                (position.seq,),
            ).fetchall()
        return tuple(r[0] for r in rows)

    def forget_changes(self, through: int) -> None:
        """Drop the journal up to ``through`` (an index version holds everything before)."""
        with self._transaction():
            self._db.execute("DELETE FROM changes WHERE seq <= ?", (through,))
            self._db.execute(
                "INSERT INTO meta VALUES ('journal_floor', ?) ON CONFLICT (key) "
                "DO UPDATE SET value = max(CAST(value AS INTEGER), excluded.value)",
                (through,),
            )

    def has_canonical(self) -> bool:
        """Whether any article is left to index."""
        with self._lock:
            row = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM articles WHERE duplicate_of IS NULL)"
            ).fetchone()
        return bool(row[0])

    def state_digest(self) -> str:
        """A digest of every canonical (id, content hash) pair: equal digests mean the same
        articles to index."""
        return digest_of(self.fingerprints())

    def iter_stored(self, ids: Iterable[str] | None = None) -> Iterator[StoredArticle]:
        """Canonical articles with their segmentation, ordered by id; only those in ``ids``
        when given.

        The rows are read in pages of ``ITER_PAGE`` articles over a connection of their own
        inside one read transaction: the iteration sees one consistent snapshot however
        long its consumer takes, holds only a page in memory (a bulk build streams the
        archive), and never blocks this store's other users.
        """
        wanted = None if ids is None else set(ids)
        if wanted is not None and not wanted:
            return
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("BEGIN")  # WAL: every read below sees the same snapshot
            columns = f"SELECT {_ARTICLE_COLUMNS}, content_hash FROM articles "
            if wanted is not None and len(wanted) <= ITER_PAGE:
                # A few articles are read by id: an update of a large archive must not
                # read every text.
                chosen = sorted(wanted)
                marks = ",".join("?" * len(chosen))
                yield from self._page(
                    db,
                    db.execute(
                        columns + f"WHERE duplicate_of IS NULL AND id IN ({marks}) ORDER BY id",
                        chosen,
                    ).fetchall(),
                )
                return
            after = ""
            while True:
                page = db.execute(
                    columns + "WHERE duplicate_of IS NULL AND id > ? ORDER BY id LIMIT ?",
                    (after, ITER_PAGE),
                ).fetchall()
                if not page:
                    return
                after = page[-1][0]
                yield from self._page(db, [r for r in page if wanted is None or r[0] in wanted])
        finally:
            db.close()

    @staticmethod
    def _page(db: sqlite3.Connection, articles: Sequence[Any]) -> Iterator[StoredArticle]:
        """``articles`` (rows of the article columns and content hash, sorted by id), each
        with its segmentation."""
        if not articles:
            return
        ids = [r[0] for r in articles]
        marks = ",".join("?" * len(ids))

        def grouped(sql: str, make: Callable[..., Any]) -> dict[str, list[Any]]:
            out: dict[str, list[Any]] = {}
            for aid, *rest in db.execute(
                f"{sql} WHERE article_id IN ({marks}) ORDER BY article_id, idx", ids
            ):
                out.setdefault(aid, []).append(make(*rest))
            return out

        paragraphs = grouped(
            'SELECT article_id, idx, start, "end", role, question FROM paragraphs', Paragraph
        )
        sentences = grouped(
            'SELECT article_id, idx, paragraph, start, "end", role FROM sentences', Sentence
        )
        for *fields, digest in articles:
            article = Article(*fields)
            yield StoredArticle(
                article,
                digest,
                Segmentation(
                    tuple(paragraphs.get(article.id, ())), tuple(sentences.get(article.id, ()))
                ),
            )
