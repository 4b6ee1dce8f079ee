"""Segmentation: offsets are exact, sentences cover the text in order, interviews are linked."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.cleaning import clean
from corpus.segmenter import segment, split_sentences

WORDS = ["Mr.", "U.S.", "Dr.", "e.g.", "3.5", "ISIS", "al-Qaim", "“quoted”", "[sic]", "200,000"]
word = st.one_of(st.sampled_from(WORDS), st.from_regex(r"[A-Za-z]{1,9}", fullmatch=True))
sentence = st.builds(
    lambda ws, end: " ".join(ws) + end,
    st.lists(word, min_size=1, max_size=12),
    st.sampled_from([".", "?", "!", "", "…", ".”"]),
)
paragraph = st.builds(
    lambda label, ss, sep: label + sep.join(ss),
    st.sampled_from(["", "", "Q: ", "A: "]),
    st.lists(sentence, min_size=1, max_size=5),
    st.sampled_from([" ", "  ", "\n"]),
)
article_text = st.builds(
    lambda ps, sep: sep.join(ps),
    st.lists(paragraph, min_size=1, max_size=6),
    st.sampled_from(["\n\n", "\n \n", "\n\n\n"]),
)


@settings(max_examples=300, deadline=None)
@given(article_text)
def test_segments_are_exact_slices_in_order(text: str) -> None:
    seg = segment(text)
    last_end = 0
    for s in seg.sentences:
        chunk = text[s.start : s.end]
        assert chunk and chunk == chunk.strip()
        assert s.start >= last_end, "sentences overlap or go backwards"
        last_end = s.end
        p = seg.paragraphs[s.paragraph]
        assert p.start <= s.start and s.end <= p.end


@settings(max_examples=300, deadline=None)
@given(article_text)
def test_sentences_cover_every_word_of_the_text(text: str) -> None:
    seg = segment(text)
    covered = bytearray(len(text))
    for s in seg.sentences:
        covered[s.start : s.end] = b"\1" * (s.end - s.start)
    for p in seg.paragraphs:
        label = re.match(r"(Q|A|Question|Answer)\s*:\s*", text[p.start : p.end], re.I)
        body_start = p.start + (label.end() if label else 0)
        for i in range(body_start, p.end):
            assert covered[i] or text[i].isspace(), f"char {i} {text[i]!r} not in a sentence"


@settings(max_examples=200, deadline=None)
@given(st.lists(sentence, min_size=1, max_size=8))
def test_split_sentences_offsets(parts: list[str]) -> None:
    text = " ".join(parts)
    for s in split_sentences(text):
        assert text[s.start : s.end].strip() == text[s.start : s.end]


def test_abbreviations_and_quotes_do_not_break_sentences() -> None:
    cases = {
        "Mr. Smith met Dr. Jones in Washington. They talked.": 2,
        "The U.S. Army moved in. Troops left on Jan. 5 at 3 p.m. on Friday.": 2,
        "He said: “Stop right now.” Then he left.": 2,
        "“Clashes may begin at any time,” Wisam al-Arab tells Mohammed. He agreed.": 2,
        "It weighs approx. 5 kg, e.g. a small dog. It is No. 10 in the list.": 2,
        "The company, Acme Inc., reported gains. Shares rose 3.5 per cent.": 2,
    }
    for text, expected in cases.items():
        got = [text[s.start : s.end] for s in split_sentences(text)]
        assert len(got) == expected, got


def test_interview_questions_are_linked_to_answers(seed_text: str) -> None:
    text = clean(seed_text).text
    seg = segment(text)
    questions = [p for p in seg.paragraphs if p.role == "question"]
    assert len(questions) == 5
    answers = [p for p in seg.paragraphs if p.role == "answer"]
    assert {a.question for a in answers} == {q.index for q in questions}
    fight = next(q for q in questions if "Is the regime fighting" in text[q.start : q.end])
    answer = next(a for a in answers if a.question == fight.index)
    assert text[answer.start : answer.end].startswith("There are no clashes")
    # Labels are not part of quotable sentences, and questions are not quotable.
    campaign = next(s for s in seg.sentences if "didn’t achieve" in text[s.start : s.end])
    assert text[campaign.start : campaign.end] == "It didn’t achieve anything on ground."
    assert all(not s.quotable for s in seg.sentences if s.role == "question")


def test_caption_line_is_a_heading_not_a_quote(seed_text: str) -> None:
    text = clean(seed_text).text
    seg = segment(text)
    caption = next(
        s for s in seg.sentences if text[s.start : s.end] == "Hawiqa Deir e-Zor w3abridge"
    )
    assert caption.role == "heading" and not caption.quotable


UNLABELLED = (
    "Priya Raman has been head of highways since 2023. She spoke to us about the bridge.\n\n"
    "Why did nobody spot the cracks earlier?\n\n"
    "Honestly, we should have inspected the bridge sooner. The last inspection was in 2019.\n\n"
    "Will the bridge open on time?\n\n"
    "I am confident it will. The steel arrived last Thursday.\n\n"
    "The council meets again on Monday."
)


def test_an_interview_printed_without_labels_is_recognised() -> None:
    seg = segment(UNLABELLED)
    roles = [p.role for p in seg.paragraphs]
    assert roles == ["body", "question", "answer", "question", "answer", "answer"]
    assert [p.question for p in seg.paragraphs] == [None, None, 1, None, 3, 3]
    reply = next(s for s in seg.sentences if s.paragraph == 2)
    assert UNLABELLED[reply.start : reply.end].startswith("Honestly, we should have")
    assert not any(s.quotable for s in seg.sentences if s.paragraph in (1, 3))


@pytest.mark.parametrize(
    "text",
    [
        # One question paragraph may be rhetorical: not an interview.
        "So what went wrong?\n\nThe council ran out of money. Nobody noticed.",
        # Two sentences, the last a question: a body paragraph.
        "The mayor spoke. Who will pay?\n\nNobody knows.\n\nIs it over?\n\nNot yet.",
        # Questions in a row answer nothing.
        "Who knew?\n\nWho cared?\n\nThe report was filed.",
    ],
)
def test_questions_that_are_not_an_interview_stay_body(text: str) -> None:
    roles = [p.role for p in segment(text).paragraphs]
    assert "question" not in roles and "answer" not in roles, roles
