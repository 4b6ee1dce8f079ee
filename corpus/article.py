"""The article and its segments: plain frozen records with offsets into the stored text."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Literal

from corpus.errors import InvalidArticleError

# Ids appear in URLs (/articles/{id}) and citations, so they stay printable and slash-free.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~\-]{0,199}$")

Role = Literal["body", "heading", "question", "answer"]
QUOTABLE_ROLES: frozenset[str] = frozenset({"body", "answer"})


@dataclass(frozen=True)
class Article:
    """A cleaned article. ``text`` is the stored text every offset points into."""

    id: str
    title: str
    text: str
    source: str | None = None
    url: str | None = None
    published: str | None = None  # ISO date, YYYY-MM-DD
    author: str | None = None

    def __post_init__(self) -> None:
        if not ID_PATTERN.match(self.id):
            raise InvalidArticleError(
                f"invalid article id {self.id!r}: use 1-200 letters, digits or . _ : ~ -, "
                "starting with a letter or digit"
            )
        if not self.title.strip():
            raise InvalidArticleError(f"article {self.id!r} has an empty title")
        if not self.text.strip():
            raise InvalidArticleError(f"article {self.id!r} has no text")

    @property
    def content_hash(self) -> str:
        """SHA-256 over text and metadata: equal hashes mean re-ingesting is a no-op."""
        payload = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Paragraph:
    """A block of the text. ``question`` links an answer to its interview question."""

    index: int
    start: int
    end: int
    role: Role
    question: int | None = None


@dataclass(frozen=True)
class Sentence:
    """A sentence (or heading / interview question line) with ``[start, end)`` offsets."""

    index: int
    paragraph: int
    start: int
    end: int
    role: Role

    @property
    def quotable(self) -> bool:
        """Whether this sentence may be returned as a quote (headings and questions are not)."""
        return self.role in QUOTABLE_ROLES


@dataclass(frozen=True)
class Segmentation:
    """Paragraphs and sentences of one article, in text order."""

    paragraphs: tuple[Paragraph, ...]
    sentences: tuple[Sentence, ...]
