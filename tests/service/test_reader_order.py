"""The reader (on by default) re-orders only the head of the shortlist, only on a close
call, never against a cue, and never decides abstention."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import pytest

from embeddings.reader import CONTEXT_INPUT, SENTENCE_INPUT, TITLE_INPUT, Reader
from service.answering.answer import Answer
from service.answering.retrieve import Candidate, RerankPolicy, reading, rerank
from service.ops.engine import Engine
from tests.service.seed_questions import ANSWERABLE, UNANSWERABLE


@pytest.fixture()
def engine(seed_engine: Engine) -> Iterator[Engine]:
    policy = seed_engine.rerank_policy
    yield seed_engine
    seed_engine.configure(rerank=True)
    seed_engine.rerank_policy = policy


def test_reader_is_on_by_default_reading_four_on_close_calls(seed_engine: Engine) -> None:
    assert seed_engine.use_reranker and isinstance(seed_engine.reranker, Reader)
    assert seed_engine.rerank_policy == RerankPolicy(depth=4, weight=None, margin=0.05)


def _candidates(engine: Engine, question: str) -> list[Candidate]:
    live = engine.live
    assert live is not None
    return live.retriever.retrieve(question, engine.encoder.encode_query(question)).candidates


def test_rerank_orders_the_head_by_score_plus_weighted_logit(
    seed_engine: Engine, reranker: Reader
) -> None:
    index = seed_engine.live.index  # type: ignore[union-attr]
    question = "Who controlled the Syrian side of the al-Qaim crossing before ISIS?"
    candidates = _candidates(seed_engine, question)
    assert all(c.cues == candidates[0].cues for c in candidates[:6])  # every one movable
    policy = RerankPolicy(depth=6, weight=0.5, margin=math.inf)
    reordered = rerank(index, candidates, question, reranker, policy)
    head, tail = reordered[:6], reordered[6:]
    # The tail is untouched; the head holds the same sentences, now by fused + w * logit.
    assert [c.sentence for c in tail] == [c.sentence for c in candidates[6:]]
    assert {c.sentence for c in head} == {c.sentence for c in candidates[:6]}
    read = [reading(index, c.sentence, reranker.reads) for c in candidates[:6]]
    logits = reranker.score(question, read)
    by_sentence = dict(zip((c.sentence for c in candidates[:6]), logits, strict=True))
    for c in head:
        assert c.cross == pytest.approx(float(by_sentence[c.sentence]), abs=1e-5)
    expected = sorted(candidates[:6], key=lambda c: -(c.score + 0.5 * by_sentence[c.sentence]))
    assert [c.sentence for c in head] == [c.sentence for c in expected]
    assert [c.sentence for c in head] != [c.sentence for c in candidates[:6]]
    assert np.all(np.diff([c.score for c in head]) <= 1e-9)
    # A policy naming no weight uses the reader's own (its training.json's).
    assert RerankPolicy().weight is None
    own = rerank(
        index, candidates, question, _Counting(reranker, 0.5), replace(policy, weight=None)
    )
    assert [c.sentence for c in own] == [c.sentence for c in reordered]
    plain = rerank(index, candidates, question, reranker, replace(policy, weight=None))
    by_own = sorted(
        candidates[:6], key=lambda c: -(c.score + reranker.weight * by_sentence[c.sentence])
    )
    assert [c.sentence for c in plain[:6]] == [c.sentence for c in by_own]


def test_the_reader_reads_only_close_calls(seed_engine: Engine, reranker: Reader) -> None:
    """A clear lead is kept as retrieval ranked it, without a call to the reader; a close
    call is read, unless the lead is the only one of the head matching its cues ("How many
    people lived in Deir e-Zor city before the war?": only the lead holds a count of
    people). Over the seed set the default margin leaves most questions unread."""
    index = seed_engine.live.index  # type: ignore[union-attr]
    counting = _Counting(reranker)
    read = cue_only = 0
    for question, _ in ANSWERABLE:
        candidates = _candidates(seed_engine, question)
        gap = candidates[0].score - candidates[1].score
        before = counting.calls
        out = rerank(index, candidates, question, counting, RerankPolicy(margin=gap))
        assert counting.calls == before and out == candidates  # not closer than the margin
        out = rerank(index, candidates, question, counting, RerankPolicy(margin=gap + 1e-6))
        rivals = {
            reading(index, c.sentence, reranker.reads)
            for c in candidates[: RerankPolicy().depth]
            if c.cues >= candidates[0].cues
        }
        assert counting.calls == before + (len(rivals) > 1)  # just closer: read
        cue_only += len(rivals) == 1
        before = counting.calls
        default = rerank(index, candidates, question, counting, RerankPolicy())
        read += counting.calls == before + 1
        assert (default == candidates) or gap < RerankPolicy().margin
    assert 0 < read < len(ANSWERABLE) / 2
    assert cue_only >= 1


def test_the_reader_never_lifts_a_sentence_missing_a_cue_the_lead_matches(
    seed_engine: Engine, reranker: Reader
) -> None:
    """However much the reader counts, a candidate matching fewer of the question's cues
    (answer type, unit) than retrieval's best keeps its place; the others are re-ordered."""
    index = seed_engine.live.index  # type: ignore[union-attr]
    policy = RerankPolicy(depth=8, weight=1000.0, margin=math.inf)
    fixed_seen = moved = 0
    for question, _ in ANSWERABLE:
        candidates = _candidates(seed_engine, question)
        out = rerank(index, candidates, question, reranker, policy)
        lead = candidates[0].cues
        for i, c in enumerate(candidates[:8]):
            if c.cues < lead:
                assert out[i] == c  # in its place, unread
                fixed_seen += 1
        assert out[0].cues >= lead
        moved += out[0].sentence != candidates[0].sentence
    assert fixed_seen and moved  # both kinds met: the seed set has cues the lead matches


def test_copies_of_the_lead_make_no_close_call_and_are_read_once(
    seed_engine: Engine, reranker: Reader
) -> None:
    """The same sentence in two articles reads alike: the close call is measured to the
    best candidate with another text, and each distinct text is read once."""
    index = seed_engine.live.index  # type: ignore[union-attr]
    question = "Who controlled the Syrian side of the al-Qaim crossing before ISIS?"
    c = _candidates(seed_engine, question)
    copy = replace(c[0], score=c[0].score - 1e-4)  # as a copy in another article would rank
    candidates = [c[0], copy, *c[1:]]
    gap = c[0].score - c[1].score  # to the best other text
    counting = _Counting(reranker)
    assert rerank(index, candidates, question, counting, RerankPolicy(margin=gap)) == candidates
    assert counting.calls == 0  # the copy is closer than the margin, but no rival
    out = rerank(index, candidates, question, counting, RerankPolicy(margin=gap + 1e-6))
    assert counting.calls == 1 and counting.texts == 3  # four candidates, three texts
    assert {x.sentence for x in out[:4]} == {c[0].sentence, c[1].sentence, c[2].sentence}
    lead, twin = (x for x in out[:4] if x.sentence == c[0].sentence)
    assert lead.cross == twin.cross  # both copies got the one reading


class _Counting:
    """The reader, counting its calls and the texts it read; with ``weight``, as if its
    record named that weight."""

    def __init__(self, reader: Reader, weight: float | None = None) -> None:
        self.reader, self.reads = reader, reader.reads
        self.weight = reader.weight if weight is None else weight
        self.calls = self.texts = 0

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.reader.score(question, texts)


def test_abstention_and_confidence_do_not_depend_on_the_reader(engine: Engine) -> None:
    questions = [q for q, _ in ANSWERABLE] + list(UNANSWERABLE)
    engine.configure(rerank=False)
    plain = [engine.ask(q).answer for q in questions]
    engine.configure(rerank=True)
    engine.rerank_policy = RerankPolicy(margin=math.inf)  # read every question
    read = [engine.ask(q).answer for q in questions]
    for q, a, b in zip(questions, read, plain, strict=True):
        assert (a.answered, a.confidence) == (b.answered, b.confidence), q

    # ... while the reader does change which sentence some answers open with.
    def first(answer: Answer) -> tuple[str, int] | None:
        return (answer.quotes[0].article_id, answer.quotes[0].start) if answer.quotes else None

    assert any(first(a) != first(b) for a, b in zip(read, plain, strict=True))


def test_a_reader_reads_the_sentence_alone_after_its_title_or_after_its_context(
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
        text = reading(index, row, CONTEXT_INPUT)
        assert text.endswith(s.text)
        assert reading(index, row, SENTENCE_INPUT) == s.text
        title = index.articles[s.article].title
        assert reading(index, row, TITLE_INPUT) == f"{title}: {s.text}" and title
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


def test_the_margin_is_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from service.settings import Settings

    monkeypatch.setenv("BRIEFING_RERANK_MARGIN", "inf")
    assert Settings().rerank_margin == math.inf  # every question read
    monkeypatch.setenv("BRIEFING_RERANK_MARGIN", "-0.1")
    with pytest.raises(ValidationError, match="rerank_margin"):
        Settings()
