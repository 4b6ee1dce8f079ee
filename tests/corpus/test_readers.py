"""Readers: every supported format becomes a cleaned article; bad input names the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.defaults import DEFAULT_CORPUS_DIR
from corpus.errors import InvalidArticleError, ParseError
from corpus.readers import article_from_record, iter_files, read_path


def test_default_corpus_is_the_seed_article_with_its_metadata() -> None:
    files = list(iter_files([DEFAULT_CORPUS_DIR]))
    assert [f.name for f in files] == ["2014-06-23-isis-deir-ez-zor.txt"]
    (article,) = read_path(files[0])
    assert article.id == "2014-06-23-isis-deir-ez-zor"
    assert article.title == "ISIS seeking to tighten grip over Deir e-Zor"
    assert article.source == "Syria Direct"
    assert article.published == "2014-06-23"
    assert "3 min read" not in article.text


def test_plain_text_finds_title_and_date_without_metadata(tmp_path: Path, seed_text: str) -> None:
    path = tmp_path / "story.txt"
    path.write_text(seed_text, encoding="utf-8")
    (article,) = read_path(path)
    assert article.id == "story"
    assert article.title == "ISIS seeking to tighten grip over Deir e-Zor"
    assert article.published == "2014-06-23"
    assert article.source is None


def test_markdown_front_matter_and_syntax(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        "---\ntitle: Harbour reopens\nsource: Coastal Times\ndate: 2021-03-01\n"
        "url: https://example.org/h\n---\n# Harbour reopens\n\n"
        "The **northern** harbour [reopened](https://example.org) on *Monday*.\n",
        encoding="utf-8",
    )
    (article,) = read_path(path)
    assert article.title == "Harbour reopens"
    assert article.source == "Coastal Times"
    assert article.published == "2021-03-01"
    assert article.url == "https://example.org/h"
    assert article.text == "The northern harbour reopened on Monday."


def test_html_keeps_the_article_and_drops_navigation(tmp_path: Path) -> None:
    body = " ".join(["The harbour reopened on Monday after months of repairs to the sea wall."] * 3)
    path = tmp_path / "page.html"
    path.write_text(
        f"""<html><head><title>Harbour reopens | Coastal Times</title>
        <meta property="og:site_name" content="Coastal Times">
        <meta name="date" content="2021-03-01"></head><body>
        <nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
        <article><h1>Harbour reopens</h1><p>{body}</p>
        <p>Fishing boats returned to the harbour within hours, the port authority said.</p>
        </article><footer>Copyright 2021 Coastal Times. All rights reserved.</footer>
        </body></html>""",
        encoding="utf-8",
    )
    (article,) = read_path(path)
    assert "Fishing boats returned" in article.text
    assert "Home" not in article.text and "Copyright" not in article.text
    assert article.published == "2021-03-01"


def test_json_and_jsonl_records(tmp_path: Path) -> None:
    record = {"id": "a1", "title": "T", "text": "Body text.", "published": "2020-01-02"}
    (tmp_path / "one.json").write_text(json.dumps(record), encoding="utf-8")
    (tmp_path / "many.jsonl").write_text(
        json.dumps(record | {"id": "a2"}) + "\n\n" + json.dumps(record | {"id": "a3"}) + "\n",
        encoding="utf-8",
    )
    assert [a.id for a in read_path(tmp_path / "one.json")] == ["a1"]
    assert [a.id for a in read_path(tmp_path / "many.jsonl")] == ["a2", "a3"]


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"title": "T", "text": "x"}, "id"),
        ({"id": "a", "text": "x"}, "title"),
        ({"id": "a", "title": "T", "text": "   "}, "text"),
        ({"id": "a/b", "title": "T", "text": "x"}, "invalid id"),
        ({"id": "a", "title": "T", "text": "x", "published": "soon"}, "published"),
        ({"id": "a", "title": "T", "text": "x", "url": "javascript:alert(1)"}, "url"),
        ({"id": "a", "title": 5, "text": "x"}, "title"),
    ],
)
def test_invalid_records_name_the_problem(record: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidArticleError, match=problem):
        article_from_record(record)


def test_bad_files_raise_parse_errors_naming_the_file(tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("3 min read\n\nShare this article!\n", encoding="utf-8")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    unknown = tmp_path / "data.csv"
    unknown.write_text("a,b", encoding="utf-8")
    for path, problem in [
        (bad_json, "invalid JSON"),
        (empty, "no text"),
        (binary, "not UTF-8"),
        (unknown, "unsupported file type"),
    ]:
        with pytest.raises(ParseError, match=problem) as info:
            read_path(path)
        assert str(path) in str(info.value)


def test_iter_files_skips_sidecars_hidden_and_unknown(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a.meta.json").write_text("{}", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("x", encoding="utf-8")
    (tmp_path / "notes.csv").write_text("x", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("x", encoding="utf-8")
    assert [p.name for p in iter_files([tmp_path])] == ["a.txt", "b.md"]
    with pytest.raises(ParseError, match="no such file"):
        list(iter_files([tmp_path / "missing"]))


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300).filter(
        lambda t: t.strip()
    ),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80).filter(
        lambda t: t.strip()
    ),
)
def test_any_record_text_is_stored_as_blocks_of_its_own_words(text: str, title: str) -> None:
    try:
        article = article_from_record({"id": "x", "title": title, "text": text})
    except InvalidArticleError:
        return  # everything was furniture: refused, not stored empty
    for block in article.text.split("\n\n"):
        assert block.strip() and block in text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("field", ["text", "title", "source", "author", "id"])
def test_a_lone_surrogate_is_refused_naming_the_field(field: str) -> None:
    record = {"id": "sur", "title": "ok", "text": "Fine text here."}
    record[field] = "Bad \ud800 text here."
    with pytest.raises(InvalidArticleError, match=f"'{field}'.*surrogate"):
        article_from_record(record, where="articles[1]")


@pytest.mark.parametrize("value", [True, False, 1.5])
def test_an_id_must_be_a_string_or_an_integer(value: object) -> None:
    with pytest.raises(InvalidArticleError, match="'id' must be a string"):
        article_from_record({"id": value, "title": "t", "text": "Some text."})
    assert article_from_record({"id": 42, "title": "t", "text": "Some text."}).id == "42"
