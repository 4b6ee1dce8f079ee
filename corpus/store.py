"""SQLite store: the source of truth for articles and their segments.

Writes are transactions with ``synchronous=FULL`` in WAL mode, so an article whose ingest
returned survives a crash of the process. Re-ingesting identical content is a no-op; new
content for a known id replaces the article and all of its segments in one transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from corpus.article import Article, Paragraph, Segmentation, Sentence
from corpus.segmenter import segment

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
"""
_ARTICLE_COLUMNS = "id, title, text, source, url, published, author"


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

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def upsert(self, article: Article) -> UpsertResult:
        """Store ``article`` and its segments; say whether it was added, replaced or unchanged."""
        digest = article.content_hash
        seg = segment(article.text)
        with self._lock:
            row = self._db.execute(
                "SELECT content_hash FROM articles WHERE id = ?", (article.id,)
            ).fetchone()
            if row is not None and row[0] == digest:
                return "unchanged"
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if row is not None:
                    self._db.execute("DELETE FROM articles WHERE id = ?", (article.id,))
                self._db.execute(
                    f"INSERT INTO articles ({_ARTICLE_COLUMNS}, content_hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        article.id,
                        article.title,
                        article.text,
                        article.source,
                        article.url,
                        article.published,
                        article.author,
                        digest,
                    ),
                )
                self._db.executemany(
                    "INSERT INTO paragraphs VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (article.id, p.index, p.start, p.end, p.role, p.question)
                        for p in seg.paragraphs
                    ],
                )
                self._db.executemany(
                    "INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (article.id, s.index, s.paragraph, s.start, s.end, s.role)
                        for s in seg.sentences
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return "added" if row is None else "replaced"

    def delete(self, article_id: str) -> bool:
        """Remove an article and its segments; False if there was none."""
        with self._lock:
            cur = self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            return cur.rowcount > 0

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

    def state_digest(self) -> str:
        """A digest of every (id, content hash) pair: equal digests mean equal corpora."""
        h = hashlib.sha256()
        with self._lock:
            for aid, digest in self._db.execute(
                "SELECT id, content_hash FROM articles ORDER BY id"
            ):
                h.update(f"{aid}\0{digest}\n".encode())
        return h.hexdigest()

    def iter_stored(self) -> Iterator[StoredArticle]:
        """Every article with its segmentation, ordered by id (one consistent snapshot)."""
        with self._lock:
            articles = self._db.execute(
                f"SELECT {_ARTICLE_COLUMNS}, content_hash FROM articles ORDER BY id"
            ).fetchall()
            paragraphs: dict[str, list[Paragraph]] = {}
            for aid, *rest in self._db.execute(
                'SELECT article_id, idx, start, "end", role, question FROM paragraphs '
                "ORDER BY article_id, idx"
            ):
                paragraphs.setdefault(aid, []).append(Paragraph(*rest))
            sentences: dict[str, list[Sentence]] = {}
            for aid, *rest in self._db.execute(
                'SELECT article_id, idx, paragraph, start, "end", role FROM sentences '
                "ORDER BY article_id, idx"
            ):
                sentences.setdefault(aid, []).append(Sentence(*rest))
        for *fields, digest in articles:
            article = Article(*fields)
            yield StoredArticle(
                article,
                digest,
                Segmentation(
                    tuple(paragraphs.get(article.id, ())), tuple(sentences.get(article.id, ()))
                ),
            )
