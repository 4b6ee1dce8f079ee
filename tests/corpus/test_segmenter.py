"""Segmentation: offsets are exact, sentences cover the text in order, interviews are linked."""

from __future__ import annotations

import re

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
