"""Remove page furniture and find title and date; the article's own words stay untouched.

The cleaned text is the article's paragraphs (blocks of non-blank lines, each kept exactly
as written) joined by blank lines. Whole blocks are dropped, never edited, so every later
offset points at the author's words.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from corpus.dates import parse_date

log = logging.getLogger(__name__)

QA_LABEL = re.compile(r"^\s*(?P<label>Q|A|Question|Answer)\s*:\s*", re.I)
_TERMINAL = tuple('.!?…:;,"”’)]')
# A trailing ellipsis, bare or bracketed. Matched against the block's end only (see
# ``_without_ellipsis``): searched for, a leading ``\s*`` made this quadratic in a block of
# many spaces.
_ELLIPSIS = re.compile(r"(?:\[[ \t]*(?:…|\.\.\.)[ \t]*\]|…|\.\.\.)\Z")
_FURNITURE = [
    re.compile(r"^\d+\s*(?:-\s*)?min(?:ute)?s?\.?\s+read$", re.I),
    re.compile(
        r"^(?:share|tweet|email|print|save)(?:\s+(?:this|the))?"
        r"(?:\s+(?:article|story|page|post))?\s*[!.:]?$",
        re.I,
    ),
    re.compile(
        r"\b(?:like|follow|find|join)\s+us\s+on\s+"
        r"(?:facebook|twitter|instagram|x|linkedin|telegram|youtube)\b",
        re.I,
    ),
    re.compile(r"^(?:advertisement|sponsored( content)?|skip to (?:main )?content)$", re.I),
    re.compile(r"^(?:sign up|subscribe)\b.*\bnewsletter\b.*$", re.I),
    re.compile(r"^(?:read more|related(?:\s+(?:articles|stories|coverage))?)\s*:?$", re.I),
]
# Date and title lines are only looked for near the top, where page headers put them.
_HEADER_BLOCKS = 8
_MAX_FURNITURE_CHARS = 200


@dataclass(frozen=True)
class CleanText:
    """Cleaned text plus the title and date found in it (None when absent)."""

    text: str
    title: str | None
    published: str | None
    dropped: tuple[str, ...]


def split_blocks(text: str) -> list[str]:
    """Split text into blocks: runs of non-blank lines; an interview label starts a block."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if current and QA_LABEL.match(line):
            blocks.append(current)
            current = []
        current.append(line.rstrip())
    if current:
        blocks.append(current)
    return ["\n".join(lines).strip() for lines in blocks]


def is_furniture(block: str) -> bool:
    """True for reading-time, share/follow, newsletter and similar page lines."""
    if len(block) > _MAX_FURNITURE_CHARS:
        return False
    return any(p.search(block) for p in _FURNITURE)


def looks_like_heading(block: str) -> bool:
    """A short single line without sentence punctuation: a title, heading or caption."""
    return (
        "\n" not in block
        and len(block) <= 200
        and not block.endswith(_TERMINAL)
        and not QA_LABEL.match(block)
    )


def _fold(s: str) -> str:
    return " ".join(s.casefold().split())


def _is_teaser(block: str, others: list[str]) -> bool:
    """A header that repeats the opening of the article and ends in an ellipsis."""
    core = _without_ellipsis(block)
    if core is None:
        return False
    core = _fold(core)
    tail = core[-40:]
    return len(tail) >= 15 and any(tail in _fold(o) for o in others if o is not block)


def _without_ellipsis(block: str) -> str | None:
    """``block`` without its trailing ellipsis, or None when it does not end in one."""
    body = block.rstrip()
    tail = body[-12:]  # the longest ellipsis form with its inner spacing fits here
    m = _ELLIPSIS.search(tail)
    if m is None:
        return None
    return body[: len(body) - len(tail) + m.start()]


def clean(text: str, title: str | None = None) -> CleanText:
    """Drop page furniture, header dates, teasers and the title line from ``text``.

    ``title`` is the explicitly given title, if any: it always wins, and a first line equal
    to it is dropped. Without it, a heading-like first line becomes the title.
    """
    blocks = split_blocks(text)
    kept: list[str] = []
    dropped: list[str] = []
    found_title: str | None = None
    published: str | None = None
    for i, block in enumerate(blocks):
        in_header = i < _HEADER_BLOCKS and not any(QA_LABEL.match(k) for k in kept)
        reason = None
        if is_furniture(block):
            reason = "furniture"
        elif in_header and parse_date(block):
            published = published or parse_date(block)
            reason = "date"
        elif in_header and _is_teaser(block, blocks):
            reason = "teaser"
        elif found_title is not None and _fold(block) == _fold(found_title):
            reason = "repeated title"
        elif not kept and looks_like_heading(block):
            if title is None and found_title is None:
                found_title, reason = block, "title"
            elif _fold(block) == _fold(title or found_title or ""):
                reason = "title"
        if reason:
            dropped.append(reason)
        else:
            kept.append(block)
    if dropped:
        log.debug("cleaning dropped %d blocks: %s", len(dropped), ", ".join(dropped))
    return CleanText("\n\n".join(kept), found_title, published, tuple(dropped))
