"""The bar to answer: Briefing abstains exactly when retrieval's best candidate's calibrated
confidence is below ``Calibration.threshold``; at the shipped bar every off-topic question
of the evaluation is abstained on, and a question the archive answers with middling
confidence is answered (README, "The bar to answer")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from service.answering.answer import PLAIN, compose
from service.evaluation.offtopic import OFF_TOPIC_QUESTIONS
from service.ops.engine import Engine


def test_the_answer_is_given_at_the_bar_and_withheld_just_below_it(seed_engine: Engine) -> None:
    live = seed_engine.live
    assert live is not None
    question = "Who leads the opposition fighters?"
    candidates = live.retriever.retrieve(
        question, seed_engine.encoder.encode_query(question)
    ).candidates
    confidence = round(PLAIN.confidence(candidates[0]), 4)  # as the answer reports it
    ref = live.index.articles[live.index.sentences[candidates[0].sentence].article]
    fetch = {ref.id: seed_engine.store.get(ref.id)}

    def answered(bar: float) -> bool:
        calibration = replace(PLAIN, threshold=bar)
        return compose(live.index, candidates, fetch, top_k=3, calibration=calibration).answered

    assert answered(confidence)
    assert not answered(confidence + 1e-3)


def test_a_question_the_archive_answers_with_middling_confidence_is_answered(
    seed_engine: Engine,
) -> None:
    # Its best candidate's confidence lies between the bar (0.25) and the bar before it
    # (0.3, which abstained on it); the sentence naming who leads the opposition fighters
    # is among its quotes.
    answer = seed_engine.ask("Who leads the opposition fighters?").answer
    assert answer.answered, answer
    assert PLAIN.threshold <= answer.confidence
    assert any("led by Jabhat a-Nusra" in q.text for q in answer.quotes), answer.quotes


@pytest.mark.parametrize("question", OFF_TOPIC_QUESTIONS)
def test_off_topic_questions_are_abstained_on(archive_engine: Engine, question: str) -> None:
    answer = archive_engine.ask(question).answer
    assert not answer.answered, (answer.confidence, answer.quotes[0].text)
    assert answer.quotes == []
