"""Follow-up detection and resolution, without a generative model."""

from __future__ import annotations

import pytest

from service.answering.followup import PriorTurn, is_follow_up, resolve
from tests.service.seed_questions import ANSWERABLE, UNANSWERABLE


def _after(previous: str, question: str, answer: str = "") -> tuple[str, ...]:
    return resolve(question, [PriorTurn(previous, ("a1",), answer)]).readings


@pytest.mark.parametrize("question", [q for q, _ in ANSWERABLE] + UNANSWERABLE)
def test_self_contained_questions_are_left_alone(question: str) -> None:
    assert not is_follow_up(question)
    resolution = resolve(question, [PriorTurn("Who is Wisam al-Arab?", ("a1",))])
    assert resolution.readings == (question,)
    assert not resolution.follow_up and resolution.prefer_articles == ()


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        (
            "Who controls the al-Qaim border crossing?",
            "Who held it before that?",
            "Who held the al-Qaim border crossing before that?",
        ),
        ("In what year was Nikola Tesla born?", "When did he die?", "When did Nikola Tesla die?"),
        (
            "How long did the Apollo program run?",
            "What year was its first manned flight?",
            "What year was the Apollo program’s first manned flight?",
        ),
        (
            "When were the French Wars of Religion fought?",
            "What treaty ended them?",
            "What treaty ended the French Wars of Religion?",
        ),
        (
            "What positions does the regime hold around Deir e-Zor?",
            "Is it fighting ISIS?",
            "Is the regime fighting ISIS?",
        ),
        (  # an object pronoun that is the subject of what follows: the previous subject
            "Why has ISIS delayed its offensive in Deir e-Zor?",
            "Which forces helped it take the Iraqi side of al-Qaim?",
            "Which forces helped ISIS take the Iraqi side of al-Qaim?",
        ),
        (  # a name holding a question word ("Doctor Who") is one phrase
            "Who produced the Doctor Who revival series?",
            "Who played the Doctor in it?",
            "Who played the Doctor in the Doctor Who revival series?",
        ),
        (  # an adverb ends the phrase ("the regime still" is not a referent)
            "Does the regime still control al-Qusour and al-Jora?",
            "Which other neighborhood did it try to take?",
            "Which other neighborhood did the regime try to take?",
        ),
    ],
)
def test_pronouns_take_the_likeliest_referent_first(
    previous: str, question: str, expected: str
) -> None:
    assert _after(previous, question)[0] == expected


def test_other_referents_are_offered_as_alternative_readings() -> None:
    readings = _after("When did ISIS seize the a-Siyasiya Bridge?", "Why does it matter?")
    assert "Why does the a-Siyasiya Bridge matter?" in readings
    assert "Why does ISIS matter?" in readings
    assert len(readings) <= 4


def test_after_a_who_question_the_person_comes_from_the_answer() -> None:
    answer = "I was surprised that the leader of the rebel military council, Mohsen, pledged."
    readings = _after("Who pledged loyalty to ISIS last Wednesday?", "Why did he do it?", answer)
    assert readings[0] == "Why did Mohsen do it?"
    # Sentence-initial words and pronouns are never taken for names.
    assert not any("I do" in r for r in readings)


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        (
            "Which team represented the AFC at Super Bowl 50?",
            "And the NFC?",
            "Which team represented the NFC at Super Bowl 50?",
        ),
        (
            "What is the Rhine called in Dutch?",
            "And in French?",
            "What is the Rhine called in French?",
        ),
        (
            "What does the regime want in Deir e-Zor?",
            "What about ISIS?",
            "What does ISIS want in Deir e-Zor?",
        ),
    ],
)
def test_ellipsis_replaces_the_parallel_phrase(previous: str, question: str, expected: str) -> None:
    assert _after(previous, question)[0] == expected


def test_ellipsis_offers_the_other_phrases_as_readings() -> None:
    readings = _after("When did ISIS capture al-Qaim?", "How about Raqqa?")
    assert readings == ("When did Raqqa capture al-Qaim?", "When did ISIS capture Raqqa?")


@pytest.mark.parametrize("question", ["And when?", "And why?", "But where?"])
def test_a_bare_question_word_after_and_carries_the_topic(question: str) -> None:
    (reading,) = _after("Who captured the a-Siyasiya Bridge?", question)
    bare = question.split()[1].capitalize()
    assert reading.startswith(f"{bare} (") and "a-Siyasiya Bridge" in reading


def test_questions_with_nothing_to_substitute_carry_the_topic() -> None:
    (reading,) = _after("Which neighborhood did the regime try to take?", "Why?")
    assert reading.startswith("Why? (") and "regime" in reading and "neighborhood" in reading


HAWIKA = (
    "The regime tried more than once to progress and control al-Hawika neighborhood in "
    "order to reach the a-Siyasiya Bridge, the only crossing for rebels."
)


def test_a_bare_question_also_carries_the_name_the_answer_gave() -> None:
    (reading,) = _after("Which other neighborhood did the regime try to take?", "Why?", HAWIKA)
    assert reading == "Why? (neighborhood regime try take al-Hawika)"
    # Only a name the previous question lacked: this one was asked about already.
    (reading,) = _after("Why did the regime try to take al-Hawika?", "When?", HAWIKA)
    assert reading.count("al-Hawika") == 1


def _answered_before(previous: str, question: str, answer: str) -> tuple:
    turn = PriorTurn(previous, ("a1",), answer, ("a1", 120))
    return resolve(question, [turn]).answered_before


def test_the_previous_answer_is_avoided_only_when_the_follow_up_asks_for_something_else() -> None:
    # Words of its own that the answer lacks: another sentence should answer.
    crossing = "ISIS captured both sides of al-Qaim border crossing."
    held = _answered_before(
        "Who controls the al-Qaim border crossing?", "Who held it before that?", crossing
    )
    assert held == (("a1", 120),)
    # Nothing of its own: most often it asks for what the answer did not say.
    seized = "ISIS seized the a-Siyasiya Bridge on the Euphrates River on June 3."
    why = _answered_before("When did ISIS seize the a-Siyasiya Bridge?", "Why?", seized)
    assert why == (("a1", 120),)
    # Unless it asks why and the answer gives a reason ("in order to reach …").
    why = _answered_before("Which other neighborhood did the regime try to take?", "Why?", HAWIKA)
    assert why == ()
    assert _answered_before("Which neighborhood did it take?", "And why?", HAWIKA) == ()
    # Nothing the answer lacks: it may answer again.
    both = (
        "Circuit switching is characterized by a fee per unit of connection time, while "
        "packet switching is characterized by a fee per unit of information transmitted."
    )
    assert (
        _answered_before(
            "What is circuit switching characterized by?", "And packet switching?", both
        )
        == ()
    )


def test_follow_ups_favour_the_articles_that_answered_before() -> None:
    resolution = resolve("When did he die?", [PriorTurn("Who was Nikola Tesla?", ("tesla",))])
    assert resolution.follow_up and resolution.prefer_articles == ("tesla",)


def test_without_history_nothing_is_resolved() -> None:
    assert resolve("When did he die?", []).readings == ("When did he die?",)


@pytest.mark.parametrize(
    "question",
    ["Were there clashes in Deir e-Zor?", "Is there an agreement on food aid?"],
)
def test_existential_there_is_not_a_reference(question: str) -> None:
    assert not is_follow_up(question)


def test_after_a_who_question_a_persons_pronoun_is_the_answers_name_whatever_its_role() -> None:
    answer = (
        "Rollo's contingents who raided and ultimately settled Normandy included Danes, "
        "Norwegians and Orkney Vikings."
    )
    readings = _after(
        "Who was the Norse leader who settled Normandy?",
        "Which countries did his people come from?",
        answer,
    )
    # A possessive opening the quote is a name, not a capitalised first word.
    assert readings[0] == "Which countries did Rollo’s people come from?"
    assert "Which countries did Normandy’s people come from?" in readings[1:]


@pytest.mark.parametrize(
    ("previous", "question", "expected"),
    [
        (
            "What is circuit switching characterized by?",
            "And packet switching?",
            "What is packet switching characterized by?",
        ),
        (
            "How many people lived in the old town?",
            "And the new town?",
            "How many people lived in the new town?",
        ),
        ("What is the capital of France?", "And of Spain?", "What is the capital of Spain?"),
    ],
)
def test_ellipsis_replaces_the_phrase_with_the_same_head(
    previous: str, question: str, expected: str
) -> None:
    assert _after(previous, question) == (expected,)
