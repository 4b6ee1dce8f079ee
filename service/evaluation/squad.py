"""SQuAD-format files as an archive: one article per title, paragraphs in order."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from corpus.article import Article


class SquadError(ValueError):
    """The file is not SQuAD-format JSON."""


@dataclass(frozen=True)
class SquadQuestion:
    """One question, its gold answers (empty if unanswerable) and where its paragraph is."""

    id: str
    question: str
    golds: tuple[str, ...]
    article_id: str
    paragraph: int


@dataclass(frozen=True)
class SquadSet:
    """Articles and questions read from one or more SQuAD files."""

    articles: list[Article]
    paragraphs: dict[str, list[str]]  # article id -> paragraph contexts, in order
    questions: list[SquadQuestion]


def _article_id(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9._~-]+", "-", title).strip("-._~")[:200] or "article"


def load_squad(paths: list[Path]) -> SquadSet:
    """Read SQuAD files; a title seen again with other paragraphs gets a file-prefixed id."""
    articles: list[Article] = []
    paragraphs: dict[str, list[str]] = {}
    questions: list[SquadQuestion] = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))["data"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SquadError(f"{path}: not a SQuAD-format JSON file ({exc})") from exc
        for entry in data:
            contexts = [p["context"].strip() for p in entry["paragraphs"]]
            aid = _article_id(entry["title"])
            if aid in paragraphs and paragraphs[aid] != contexts:
                aid = _article_id(f"{path.stem}-{entry['title']}")
            if aid not in paragraphs:
                paragraphs[aid] = contexts
                articles.append(
                    Article(
                        id=aid,
                        title=entry["title"].replace("_", " "),
                        text="\n\n".join(contexts),
                        source="SQuAD",
                    )
                )
            for i, p in enumerate(entry["paragraphs"]):
                for qa in p["qas"]:
                    golds = tuple(a["text"] for a in qa.get("answers", []) if a["text"].strip())
                    if qa.get("is_impossible"):
                        golds = ()
                    questions.append(SquadQuestion(qa["id"], qa["question"], golds, aid, i))
    return SquadSet(articles, paragraphs, questions)


def paragraph_spans(text: str, contexts: list[str]) -> list[tuple[int, int] | None]:
    """Offsets of each paragraph in the stored text (None if cleaning dropped it)."""
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for context in contexts:
        at = text.find(context, cursor)
        if at < 0:
            spans.append(None)
            continue
        spans.append((at, at + len(context)))
        cursor = at + len(context)
    return spans
