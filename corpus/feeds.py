"""RSS and Atom feeds as articles (parsed with feedparser; the caller fetches the bytes)."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser

from corpus.article import Article
from corpus.errors import CorpusError, InvalidArticleError
from corpus.readers import build_article

_BLOCKS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "tr",
        "section",
        "article",
    ]
)
_SKIP = frozenset(("script", "style", "noscript", "template"))


class FeedError(CorpusError):
    """The bytes are not an RSS or Atom feed."""


@dataclass(frozen=True)
class FeedItem:
    """An article from a feed entry, and a fingerprint that changes when the entry does."""

    key: str  # the entry's own id (or link), stable across fetches
    article: Article
    fingerprint: str


class _Text(HTMLParser):
    """Plain text of an HTML fragment: block elements become paragraph breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def fragment_text(fragment: str) -> str:
    """Readable text of an entry's HTML content or summary."""
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    paragraphs = (" ".join(p.split()) for p in "".join(parser.parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def feed_articles(raw: bytes, feed_url: str) -> tuple[list[FeedItem], list[str]]:
    """Articles of every usable entry, and a message for each entry that is not usable."""
    parsed = feedparser.parse(raw)
    if parsed.get("bozo") and not parsed.entries:
        raise FeedError(f"{feed_url}: not an RSS or Atom feed ({parsed.get('bozo_exception')})")
    source = parsed.feed.get("title") or urlsplit(feed_url).hostname
    items: list[FeedItem] = []
    problems: list[str] = []
    for n, entry in enumerate(parsed.entries):
        key = str(entry.get("id") or entry.get("link") or "")
        where = f"{feed_url} entry {n + 1}"
        if not key:
            problems.append(f"{where}: no id or link, so it cannot be tracked")
            continue
        content = entry.get("content") or []
        body = content[0].get("value", "") if content else entry.get("summary", "")
        text = fragment_text(body)
        link = entry.get("link")
        record = {
            "id": _article_id(feed_url, key),
            "title": fragment_text(entry.get("title", "")) or None,
            "source": source,
            "url": link
            if isinstance(link, str) and link.startswith(("http://", "https://"))
            else None,
            "published": _date(entry),
            "author": entry.get("author"),
        }
        try:
            article = build_article(text, record, where=where)
        except InvalidArticleError as exc:
            problems.append(str(exc))
            continue
        fingerprint = hashlib.sha256(
            "\0".join(
                str(x) for x in (article.title, article.text, article.url, article.published)
            ).encode()
        ).hexdigest()
        items.append(FeedItem(key, article, fingerprint))
    return items, problems


def _date(entry: Any) -> str | None:
    """The entry's date as YYYY-MM-DD (feedparser normalises RSS and Atom dates)."""
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return time.strftime("%Y-%m-%d", parsed) if parsed else None


def _article_id(feed_url: str, key: str) -> str:
    """A stable article id for an entry: the feed's host and a hash of the entry's id."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", urlsplit(feed_url).hostname or "feed")
    return f"{host}:{hashlib.sha256(key.encode()).hexdigest()[:20]}"
