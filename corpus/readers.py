"""Read articles from files and records: text, Markdown, HTML, JSON and JSONL.

Every reader produces ``Article`` values whose text is already cleaned. Metadata given
explicitly (a JSON field, YAML front matter, or a ``NAME.meta.json`` sidecar file) always
wins over what is found in the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from corpus.article import ID_PATTERN, Article
from corpus.cleaning import clean
from corpus.dates import parse_date
from corpus.errors import InvalidArticleError, ParseError

TEXT_SUFFIXES = frozenset({".txt", ".text"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
JSON_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES
SIDECAR_SUFFIX = ".meta.json"
META_FIELDS = ("id", "title", "source", "url", "published", "author")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def article_from_record(record: Mapping[str, Any], *, where: str = "record") -> Article:
    """Build an article from a JSON-like record (``id``, ``title``, ``text`` required)."""
    if not isinstance(record, Mapping):
        raise InvalidArticleError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [f for f in ("id", "title", "text") if not _str_or_none(record.get(f), f, where)]
    if missing:
        raise InvalidArticleError(f"{where}: missing or empty required field(s): {missing}")
    meta = {k: record.get(k) for k in META_FIELDS}
    return build_article(str(record["text"]), meta, where=where)


def build_article(raw_text: str, meta: Mapping[str, Any], *, where: str) -> Article:
    """Clean ``raw_text`` and combine it with metadata (explicit values win)."""
    fields = {k: _str_or_none(meta.get(k), k, where) for k in META_FIELDS}
    _check_unicode(raw_text, "text", where)
    cleaned = clean(raw_text, title=fields["title"])
    published = fields["published"]
    if published is not None:
        iso = parse_date(published)
        if iso is None:
            raise InvalidArticleError(
                f"{where}: 'published' {published!r} is not a date; use YYYY-MM-DD"
            )
        published = iso
    url = fields["url"]
    if url is not None and not re.match(r"^https?://\S+$", url):
        raise InvalidArticleError(f"{where}: 'url' must be an http(s) URL, got {url!r}")
    article_id = fields["id"]
    if article_id is None or not ID_PATTERN.match(article_id):
        raise InvalidArticleError(
            f"{where}: invalid id {article_id!r}: use 1-200 letters, digits or . _ : ~ -"
        )
    title = fields["title"] or cleaned.title
    if not cleaned.text.strip():
        raise InvalidArticleError(f"{where}: the article has no text after cleaning")
    return Article(
        id=article_id,
        title=title or article_id,
        text=cleaned.text,
        source=fields["source"],
        url=url,
        published=published or cleaned.published,
        author=fields["author"],
    )


def _str_or_none(value: Any, field: str, where: str) -> str | None:
    if value is None:
        return None
    if field == "published" and hasattr(value, "isoformat"):
        return str(value.isoformat())  # YAML front matter parses dates itself
    if isinstance(value, int) and not isinstance(value, bool) and field == "id":
        value = str(value)
    if not isinstance(value, str):
        raise InvalidArticleError(f"{where}: {field!r} must be a string")
    _check_unicode(value, field, where)
    value = value.strip()
    return value or None


def _check_unicode(value: str, field: str, where: str) -> None:
    """Refuse text that cannot be stored as UTF-8 (a lone surrogate, e.g. from JSON's
    ``"\\ud800"``), naming where it is."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArticleError(
            f"{where}: {field!r} holds invalid Unicode at character {exc.start} "
            f"({value[exc.start]!r} is a lone surrogate); send valid UTF-8 text"
        ) from None


def read_path(path: Path) -> list[Article]:
    """Read the articles in one file; raise ``ParseError`` naming the file on failure."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ParseError(
            f"{path}: unsupported file type {suffix!r}; "
            f"use one of {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        if suffix in JSON_SUFFIXES:
            return _read_json(raw, path)
        meta: dict[str, Any] = {"id": _slug(path.stem)}
        if suffix in MARKDOWN_SUFFIXES:
            front, body = split_front_matter(raw, str(path))
            meta.update(front)
            body = markdown_to_text(body)
        elif suffix in HTML_SUFFIXES:
            found, body = html_to_text(raw, where=str(path))
            meta.update({k: v for k, v in found.items() if v})
        else:
            body = raw
        meta.update(_read_sidecar(path))
        if not meta.get("published"):
            meta["published"] = _date_from_name(path.stem)
        return [build_article(body, meta, where=str(path))]
    except InvalidArticleError as exc:
        raise ParseError(str(exc)) from exc


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Expand files and folders (recursively) into article files, in a stable order."""
    for path in paths:
        if not path.exists():
            raise ParseError(f"{path}: no such file or directory")
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if child.is_file() and _is_article_file(child):
                    yield child
        else:
            yield path


def _is_article_file(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.endswith(SIDECAR_SUFFIX)


def _read_json(raw: str, path: Path) -> list[Article]:
    records: list[Any]
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        records = []
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ParseError(f"{path}:{n}: invalid JSON ({exc.msg})") from exc
    else:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ParseError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
        records = data if isinstance(data, list) else [data]
    return [article_from_record(r, where=f"{path}[{i}]") for i, r in enumerate(records)]


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = path.with_name(path.stem + SIDECAR_SUFFIX)
    if not sidecar.exists():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ParseError(f"{sidecar}: invalid metadata file ({exc})") from exc
    if not isinstance(data, dict):
        raise ParseError(f"{sidecar}: metadata must be a JSON object")
    return {k: v for k, v in data.items() if k in META_FIELDS}


def split_front_matter(raw: str, where: str) -> tuple[dict[str, Any], str]:
    """Split optional YAML front matter (``---`` fenced) from a Markdown body."""
    m = _FRONT_MATTER.match(raw)
    if not m:
        return {}, raw
    try:
        data = yaml.safe_load(m.group("yaml")) or {}
    except yaml.YAMLError as exc:
        raise ParseError(f"{where}: invalid YAML front matter ({exc})") from exc
    if not isinstance(data, dict):
        raise ParseError(f"{where}: front matter must be a YAML mapping")
    if "date" in data and "published" not in data:
        data["published"] = data["date"]
    return {k: v for k, v in data.items() if k in META_FIELDS}, raw[m.end() :]


# Every pattern runs in time linear in the text: no repeat can scan past the next
# delimiter, and none spans lines, so a hostile file cannot stall ingest.
_MD_RULES = [
    (re.compile(r"!\[[^\[\]\n]*\]\([^()\s]*\)"), ""),  # images
    (re.compile(r"\[([^\[\]\n]+)\]\([^()\s]*\)"), r"\1"),  # links keep their text
    (re.compile(r"^#{1,6}[ \t]+", re.M), ""),  # heading marks
    (re.compile(r"^>[ \t]?", re.M), ""),  # block quotes
    (re.compile(r"\*\*([^*\n]+?)\*\*"), r"\1"),  # bold
    (re.compile(r"__([^_\n]+?)__"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])"), r"\1"),  # italics
    (re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])"), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
    (re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.M), ""),  # horizontal rules
]


def markdown_to_text(body: str) -> str:
    """Reduce Markdown to plain text: quotes must not carry link or emphasis syntax."""
    for pattern, repl in _MD_RULES:
        body = pattern.sub(repl, body)
    return body


def html_to_text(raw: str, where: str = "page") -> tuple[dict[str, str | None], str]:
    """Extract the main text and metadata of an HTML page (navigation and boilerplate go)."""
    import trafilatura

    text = trafilatura.extract(
        raw, include_comments=False, include_tables=False, favor_precision=True
    )
    if not text:
        raise ParseError(f"{where}: no article text found in the HTML page")
    meta = trafilatura.extract_metadata(raw)
    found: dict[str, str | None] = {}
    if meta is not None:
        found = {
            "title": meta.title,
            "author": meta.author,
            "source": meta.sitename,
            "url": meta.url if meta.url and meta.url.startswith(("http://", "https://")) else None,
            "published": meta.date,
        }
    # trafilatura puts one paragraph per line; make paragraphs blank-line separated.
    return found, "\n\n".join(line for line in text.split("\n") if line.strip())


def _slug(stem: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._~-]+", "-", stem).strip("-._~")
    return slug[:200] or "article"


def _date_from_name(stem: str) -> str | None:
    m = re.match(r"^(\d{4}-\d{2}-\d{2})", stem)
    return parse_date(m.group(1)) if m else None
