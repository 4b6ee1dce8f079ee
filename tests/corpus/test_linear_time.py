"""No article can stall ingest: every pattern the readers and the cleaner apply runs in
time linear in the text, on every way in (JSON records as POST /articles sends them, files
of every format, feeds).

Each hostile shape below took quadratic time before (a 20,000-character one 1.7-3.7 s, so
the 200,000-character ones here would take minutes); linear, each takes milliseconds. The
bound is 100 times looser than linear needs and 100 times tighter than quadratic takes, so
a slow or busy machine does not make it fail and a quadratic pattern cannot pass.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest

from corpus.cleaning import clean
from corpus.errors import CorpusError
from corpus.feeds import feed_articles
from corpus.readers import article_from_record, markdown_to_text, read_path
from corpus.segmenter import segment

N = 200_000
BOUND_S = 3.0
HOSTILE = {
    "spaces before a full stop": "x" + " " * N + "y.",
    "spaces before an ellipsis": "x" + " " * N + "y…",
    "unclosed link brackets": "[" * N,
    "unclosed links": "[a](" * (N // 4),
    "unclosed images": "![a](" * (N // 5),
    "unclosed italics": "*a " * (N // 3),
    "unclosed underscores": "_a " * (N // 3),
    "unclosed bold": "**a " * (N // 4),
    "blank lines before a rule": "\n" * N + "x - -",
    "blank lines then text": "\n" * N + "x.",
    "heading marks": "#" + " " * N + "x",
    "a long unpunctuated sentence": "word, " * (N // 6) + ".",
    "interview labels": "Q: a\n" * (N // 5),
}


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    # Refusing the text is fine; taking minutes to do so is not.
    with contextlib.suppress(CorpusError):
        fn(*args)
    return time.perf_counter() - started


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_cleaning_and_markdown_are_linear(shape: str) -> None:
    text = HOSTILE[shape]
    assert _timed(clean, text) < BOUND_S
    assert _timed(markdown_to_text, text) < BOUND_S
    assert _timed(segment, text) < BOUND_S


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_every_way_in_is_linear(shape: str, tmp_path: Path) -> None:
    text = HOSTILE[shape]
    record = {"id": "hostile", "title": "Hostile", "text": text}
    assert _timed(article_from_record, record) < BOUND_S
    md = tmp_path / "hostile.md"
    md.write_text("---\ntitle: Hostile\n---\n" + text, encoding="utf-8")
    txt = tmp_path / "hostile.txt"
    txt.write_text(text, encoding="utf-8")
    js = tmp_path / "hostile.json"
    js.write_text(json.dumps(record), encoding="utf-8")
    for path in (md, txt, js):
        assert _timed(read_path, path) < BOUND_S, path.suffix
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>Hostile</title><guid>h1</guid><description>"
        + text.replace("&", "&amp;").replace("<", "&lt;")
        + "</description></item></channel></rss>"
    ).encode()
    assert _timed(feed_articles, feed, "https://feeds.example/rss") < BOUND_S
