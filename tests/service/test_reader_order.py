"""The reader (opt-in) re-orders only the head of the shortlist, and never decides
abstention."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from embeddings.reader import Reader
from service.answering.answer import Answer
from service.answering.retrieve import RerankPolicy, reading, rerank
from service.ops.engine import Engine
from tests.service.seed_questions import ANSWERABLE, UNANSWERABLE


@pytest.fixture()
def engine(seed_engine: Engine) -> Iterator[Engine]:
    yield seed_engine
    seed_engine.configure(rerank=False)


def test_reader_is_off_by_default_and_loads_when_asked(seed_engine: Engine) -> None:
    assert not seed_engine.use_reranker and seed_engine.reranker is None
    assert isinstance(seed_engine.load_reader(), Reader)
    assert seed_engine.rerank_policy.depth == 6


def test_rerank_orders_the_head_by_score_plus_weighted_logit(
    seed_engine: Engine, reranker: Reader
) -> None:
    live = seed_engine.live
    assert live is not None
    question = "How many people lived in Deir e-Zor city before the war?"
    vector = seed_engine.encoder.encode_query(question)
    candidates = live.retriever.retrieve(question, vector).candidates
    policy = RerankPolicy(depth=6, weight=0.5)
    reordered = rerank(live.index, candidates, question, reranker, policy)
    head, tail = reordered[:6], reordered[6:]
    # The tail is untouched; the head holds the same sentences, now by fused + w * logit.
    assert [c.sentence for c in tail] == [c.sentence for c in candidates[6:]]
    assert {c.sentence for c in head} == {c.sentence for c in candidates[:6]}
    logits = reranker.score(question, [live.index.text(c.sentence) for c in candidates[:6]])
    by_sentence = dict(zip((c.sentence for c in candidates[:6]), logits, strict=True))
    for c in head:
        assert c.cross == pytest.approx(float(by_sentence[c.sentence]), abs=1e-5)
    expected = sorted(candidates[:6], key=lambda c: -(c.score + 0.5 * by_sentence[c.sentence]))
    assert [c.sentence for c in head] == [c.sentence for c in expected]
    assert np.all(np.diff([c.score for c in head]) <= 1e-9)
    # A policy naming no weight uses the reader's own (its training.json's).
    assert RerankPolicy(depth=6).weight is None
    own = rerank(live.index, candidates, question, _Weighted(reranker, 0.5), RerankPolicy(depth=6))
    assert [c.sentence for c in own] == [c.sentence for c in reordered]
    plain = rerank(live.index, candidates, question, reranker, RerankPolicy(depth=6))
    by_own = sorted(
        candidates[:6], key=lambda c: -(c.score + reranker.weight * by_sentence[c.sentence])
    )
    assert [c.sentence for c in plain[:6]] == [c.sentence for c in by_own]


class _Weighted:
    """A reader whose record names ``weight``."""

    def __init__(self, reader: Reader, weight: float) -> None:
        self.reader, self.weight, self.context = reader, weight, reader.context

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        return self.reader.score(question, texts)


def test_abstention_and_confidence_do_not_depend_on_the_reader(engine: Engine) -> None:
    questions = [q for q, _ in ANSWERABLE] + list(UNANSWERABLE)
    plain = [engine.ask(q).answer for q in questions]
    engine.configure(rerank=True)
    read = [engine.ask(q).answer for q in questions]
    for q, a, b in zip(questions, read, plain, strict=True):
        assert (a.answered, a.confidence) == (b.answered, b.confidence), q

    # ... while the reader does change which sentence some answers open with.
    def first(answer: Answer) -> tuple[str, int] | None:
        return (answer.quotes[0].article_id, answer.quotes[0].start) if answer.quotes else None

    assert any(first(a) != first(b) for a, b in zip(read, plain, strict=True))


def test_a_reader_with_context_reads_the_sentence_before_or_the_interviewers_question(
    seed_engine: Engine,
) -> None:
    live = seed_engine.live
    assert live is not None
    index = live.index
    later = openings = 0
    for row in range(len(index.sentences)):
        s = index.sentences[row]
        first = index.passage_sentences(s.passage).start
        asked = index.passages[s.passage].question
        text = reading(index, row)
        assert text.endswith(s.text)
        if row > first:
            assert text == f"{index.text(row - 1)} {s.text}"
            later += 1
        elif asked is not None:
            question = " ".join(index.texts(index.passage_sentences(asked)))
            assert text == f"{question} {s.text}" and question.endswith("?")
            openings += 1
        else:
            assert text == s.text
    assert later and openings  # the seed article has both, interview replies included
