"""Cleaning drops page furniture and finds title and date, never editing the article's words."""

from __future__ import annotations

from corpus.cleaning import clean, split_blocks
from corpus.dates import parse_date


def test_seed_article_furniture_title_and_date(seed_text: str) -> None:
    cleaned = clean(seed_text)
    assert cleaned.title == "ISIS seeking to tighten grip over Deir e-Zor"
    assert cleaned.published == "2014-06-23"
    for furniture in (
        "3 min read",
        "Share this article!",
        "like us on Facebook",
        "[…]",
        "23 June 2014",
    ):
        assert furniture not in cleaned.text
    assert cleaned.text.startswith("Fighting in Deir e-Zor province has increased")
    assert cleaned.text.endswith("to bring in support and funding.")
    assert "Q: Is the regime fighting ISIS in Deir e-Zor?" in cleaned.text


def test_kept_blocks_are_the_authors_words_unchanged(seed_text: str) -> None:
    cleaned = clean(seed_text)
    for block in split_blocks(cleaned.text):
        assert block in seed_text


def test_explicit_title_wins_and_its_line_is_dropped() -> None:
    text = "Harbour Reopens\n\nThe harbour reopened on Monday."
    cleaned = clean(text, title="Harbour reopens")
    assert cleaned.text == "The harbour reopened on Monday."
    assert cleaned.title is None  # nothing found: the given title is the caller's


def test_explicit_title_keeps_a_different_first_heading() -> None:
    cleaned = clean("Breaking news\n\nThe harbour reopened.", title="Harbour reopens")
    assert cleaned.text.startswith("Breaking news")


def test_body_paragraphs_are_not_mistaken_for_furniture() -> None:
    text = (
        "Ministers will share the cost of the new bridge, officials said on Friday.\n\n"
        "Readers can follow the debate in parliament this week."
    )
    assert clean(text, title="t").text == text


def test_date_lines_only_dropped_near_the_top() -> None:
    body = "\n\n".join(f"Paragraph {i} says something." for i in range(10))
    text = "June 1, 2020\n\n" + body + "\n\nJune 2, 2020"
    cleaned = clean(text, title="t")
    assert cleaned.published == "2020-06-01"
    assert cleaned.text.endswith("June 2, 2020")


def test_interview_label_starts_a_new_block() -> None:
    blocks = split_blocks("Intro line.\nQ: A question?\nA: An answer.")
    assert blocks == ["Intro line.", "Q: A question?", "A: An answer."]


def test_parse_date_forms() -> None:
    assert parse_date("June 23, 2014") == "2014-06-23"
    assert parse_date("23 June 2014") == "2014-06-23"
    assert parse_date("Published: Jun. 3, 2014") == "2014-06-03"
    assert parse_date("2014-06-23T10:00:00Z") == "2014-06-23"
    assert parse_date("2014-02-30") is None
    assert parse_date("Fighting in June 23, 2014") is None
