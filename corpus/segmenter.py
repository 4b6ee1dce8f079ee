"""Split stored text into paragraphs and sentences with ``[start, end)`` offsets.

Sentences come from syntok, chosen by measurement (bench/segmenters.py): it tied for the
fewest SQuAD answers cut by a sentence boundary and was the only candidate that handled
every abbreviation, quotation and interview case in our hand set.
Interview structure is kept: a "Q:" paragraph is a question, and the paragraphs after it
(up to the next question or heading) are its answer, linked by ``Paragraph.question``. An
interview printed without labels (each question a paragraph of one short sentence ending
in "?", as newspapers set a Q&A in bold) is recognised when an article has at least
``MIN_UNLABELLED_QUESTIONS`` such paragraphs, each followed by one that is not a question.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import syntok.segmenter as syntok

from corpus.article import Paragraph, Role, Segmentation, Sentence
from corpus.cleaning import QA_LABEL, looks_like_heading

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_ENDS_WITH_QUESTION = re.compile(r"\?[\"”’')\]]*$")
# An unlabelled interview needs this many question paragraphs: one could be rhetorical.
MIN_UNLABELLED_QUESTIONS = 2
MAX_QUESTION_CHARS = 300


def _paragraph_spans(text: str) -> Iterator[tuple[int, int]]:
    """Yield stripped ``[start, end)`` spans of blocks; an interview label starts a block."""
    pos = 0
    for m in [*_BLANK_LINE.finditer(text), None]:
        end = m.start() if m else len(text)
        block_start = pos
        # Split further at lines that open with an interview label.
        line_start = pos
        while line_start < end:
            nl = text.find("\n", line_start, end)
            line_end = end if nl < 0 else nl
            if line_start > block_start and QA_LABEL.match(text[line_start:line_end]):
                yield from _strip(text, block_start, line_start)
                block_start = line_start
            line_start = line_end + 1
        yield from _strip(text, block_start, end)
        pos = m.end() if m else len(text)


def _strip(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Sentence]:
    """Sentences of ``text[start:end]`` as body sentences of paragraph 0 (offsets into text)."""
    return [
        Sentence(i, 0, a, b, "body") for i, (a, b) in enumerate(_sentence_spans(text, start, end))
    ]


def _sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    end = len(text) if end is None else end
    chunk = text[start:end]
    spans: list[tuple[int, int]] = []
    for para in syntok.analyze(chunk):
        for sent in para:
            tokens = list(sent)
            if not tokens:
                continue
            a = start + tokens[0].offset
            b = start + tokens[-1].offset + len(tokens[-1].value)
            spans.append((a, b))
    return _repair(text, spans, start, end)


def _repair(text: str, spans: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """Make spans ordered, non-overlapping, in range and whitespace-trimmed.

    Text between sentences that syntok dropped (stray symbols) is attached to the previous
    sentence, so the sentences cover every non-blank character of the paragraph.
    """
    out: list[tuple[int, int]] = []
    cursor = start
    for a, b in spans:
        a, b = max(a, cursor), min(b, end)
        if b <= a:
            continue
        if out and text[cursor:a].strip():
            out[-1] = (out[-1][0], a)
        elif not out and text[start:a].strip():
            a = start
        out.append((a, b))
        cursor = b
    if out and text[cursor:end].strip():
        out[-1] = (out[-1][0], end)
    if not out and text[start:end].strip():
        out.append((start, end))
    return [s for span in out for s in _strip(text, *span)]


def _unlabelled_questions(text: str, spans: list[tuple[int, int]]) -> set[int]:
    """Paragraphs that are an unlabelled interview's questions (none if it is not one)."""
    if any(QA_LABEL.match(text[a:b]) for a, b in spans):
        return set()

    def is_question(i: int) -> bool:
        a, b = spans[i]
        return (
            b - a <= MAX_QUESTION_CHARS
            and bool(_ENDS_WITH_QUESTION.search(text[a:b]))
            and len(_sentence_spans(text, a, b)) == 1
        )

    questions = [is_question(i) for i in range(len(spans))]
    asked = [i for i in range(len(spans) - 1) if questions[i] and not questions[i + 1]]
    return set(asked) if len(asked) >= MIN_UNLABELLED_QUESTIONS else set()


def segment(text: str) -> Segmentation:
    """Paragraphs and sentences of ``text``, with interview questions linked to answers."""
    paragraphs: list[Paragraph] = []
    sentences: list[Sentence] = []
    question: int | None = None
    spans = list(_paragraph_spans(text))
    asked = _unlabelled_questions(text, spans)
    for p_index, (p_start, p_end) in enumerate(spans):
        block = text[p_start:p_end]
        label = QA_LABEL.match(block)
        role: Role
        link: int | None = None
        body_start = p_start
        if p_index in asked:
            role, question = "question", p_index
        elif label:
            body_start = p_start + label.end()
            if label.group("label").lower().startswith("q"):
                role, question = "question", p_index
            else:
                role, link = "answer", question
        elif looks_like_heading(block):
            role, question = "heading", None
        elif question is not None:
            role, link = "answer", question
        else:
            role = "body"
        if role == "answer" and link is None:
            role = "body"
        paragraphs.append(Paragraph(p_index, p_start, p_end, role, link))
        if body_start >= p_end:
            continue
        spans = (
            [(body_start, p_end)]
            if role in ("heading", "question")
            else _sentence_spans(text, body_start, p_end)
        )
        for a, b in spans:
            sentences.append(Sentence(len(sentences), p_index, a, b, role))
    return Segmentation(tuple(paragraphs), tuple(sentences))
