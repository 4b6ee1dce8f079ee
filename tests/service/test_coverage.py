"""Term coverage (a confidence signal) read from the passages' postings is what analysing
the passage, its article's title and its interviewer's question again would give."""

from __future__ import annotations

import numpy as np

from embeddings.index import SearchIndex
from embeddings.sparse import tokenize
from service.ops.engine import Engine
from tests.service.seed_questions import ANSWERABLE, UNANSWERABLE


def _analysed(index: SearchIndex, passage: int) -> set[str]:
    """Terms of a passage and of its article's title, from its text."""
    article = int(index.column("passages", "article", np.array([passage]))[0])
    words = [index.articles[article].title, *index.texts(index.passage_sentences(passage))]
    return set(tokenize([" ".join(words)])[0])


def test_coverage_from_the_postings_is_that_of_the_texts(archive_engine: Engine) -> None:
    live = archive_engine.live
    assert live is not None
    index, retriever = live.index, live.retriever
    questions = [q for q, _ in ANSWERABLE] + UNANSWERABLE + ["Q: regime? Syria Direct"]
    replies = 0
    for question in questions:
        terms = tokenize([question])[0]
        passages = np.arange(len(index.passages))
        coverage = retriever._coverage(terms, passages)
        for passage, got in zip(passages.tolist(), coverage.tolist(), strict=True):
            found = _analysed(index, passage)
            asked = index.passages[passage].question
            if asked is not None:  # an interview reply: the interviewer's words count
                found |= _analysed(index, asked)
                replies += 1
            wanted = set(terms)
            assert got == (len(wanted & found) / len(wanted) if wanted else 0.0), (
                question,
                passage,
            )
    assert replies > 0  # the seed article's interview replies were among them
