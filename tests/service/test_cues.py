"""Cues: what a quantity question measures (or how precise a date it asks for) and which
sentences hold it; where a "where" question's place is named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from corpus.article import Article
from embeddings.encoder import Encoder
from service.answering.cues import Unit, asks_place, holds_place, holds_unit, unit_of
from service.evaluation.news import load_news
from service.ops.engine import Engine
from service.settings import Settings


@pytest.mark.parametrize(
    ("question", "unit"),
    [
        ("How many votes did Tomasz Nowak get?", Unit(nouns=("vote",))),
        ("How many Roman coins were found?", Unit(nouns=("roman", "coin"))),
        ("How many extra workers did Kestrel hire?", Unit(nouns=("worker",))),
        ("How many nursing vacancies are there?", Unit(nouns=("nursing", "vacancy"))),
        ("How much did the new wing cost?", Unit("money")),
        ("How much was Aske Water fined?", Unit("money")),
        ("What share of members voted to strike?", Unit("percent")),
        ("What was the turnout?", Unit("percent")),
        ("How much of Europe's population did it kill?", Unit("percent")),
        ("How old was she when she died?", Unit("age")),
        ("How long was he jailed for?", Unit("extent")),
        ("How long is the Rhine?", Unit("extent")),
        ("How high did the river rise?", Unit("length")),
        ("Who won the by-election?", None),
        ("When will the bridge reopen?", None),
        # A date question naming its precision.
        ("In what year was Nikola Tesla born?", Unit("year")),
        ("On what date did Luther die?", Unit("date")),
        ("What day was the game played on?", Unit("day")),
        ("In which month did the strike begin?", Unit("month")),
        ("In what century was the cathedral built?", Unit("century")),
        ("What decade did the show end?", Unit("decade")),
    ],
)
def test_the_unit_a_question_names(question: str, unit: Unit | None) -> None:
    assert unit_of(question) == unit


@pytest.mark.parametrize(
    ("unit", "sentence", "expected"),
    [
        (Unit(nouns=("vote",)), "Mr Nowak received 1,842 votes, ahead of Labour.", True),
        (Unit(nouns=("vote",)), "Turnout was 29 percent of 12,000 voters.", False),
        (Unit(nouns=("coin",)), "A hoard of about 1,100 Roman coins was found.", True),
        # People: any word counting people, or a population, counts for another.
        (
            Unit(nouns=("people", "lived")),
            "Aid reached the city, which had an estimated pre-war population of 200,000.",
            True,
        ),
        (Unit(nouns=("resident",)), "The town had 52,000 inhabitants before the pit shut.", True),
        (Unit(nouns=("people",)), "The population has grown by 2,000 a year.", False),
        (Unit(nouns=("vote",)), "The town has a population of 12,000.", False),
        (Unit(nouns=("rain",)), "About 94 millimetres of rain fell.", True),
        (Unit("money"), "It cost £31 million, more than budgeted.", True),
        (Unit("money"), "The wing has 48 beds and four bays.", False),
        (Unit("money"), "Costs rose to 2.5 million euros.", True),
        (Unit("percent"), "Of the members, 87 percent backed strike action.", True),
        (Unit("percent"), "Of the 4,000 members, most backed strike action.", False),
        (Unit("age"), "Graham Witt, 61, of Brindle, was jailed.", True),
        (Unit("age"), "The 112-year-old bridge was shut.", True),
        (Unit("age"), "She was 91.", True),
        (Unit("age"), "The bridge carries 14,000 vehicles.", False),
        (Unit("duration"), "He was jailed for four years.", True),
        (Unit("duration"), "The talks lasted eleven hours.", True),
        (Unit("duration"), "He stole £780,000.", False),
        (Unit("length"), "The river peaked at 4.1 metres.", True),
        (Unit("extent"), "The Rhine is 1,230 km long.", True),
        (Unit("extent"), "He was jailed for four years.", True),
        (Unit("extent"), "He stole £780,000.", False),
        (Unit("year"), "Tesla was born on 10 July 1856 in Smiljan.", True),
        (Unit("year"), "Rome fell in AD 476, Carthage in 146 BC.", True),
        (Unit("year"), "He was born in the village of Smiljan in July.", False),
        (Unit("date"), "He died on 18 February 1546 in Eisleben.", True),
        (Unit("date"), "The game was played on February 7, 2016.", True),
        (Unit("date"), "He died in 1546.", False),
        (Unit("date"), "It may 3 times have been rebuilt.", False),
        (Unit("day"), "Media day is held on Tuesdays.", True),
        (Unit("day"), "The pictures were sent on Christmas Eve.", True),
        (Unit("day"), "It was played in 2016.", False),
        (Unit("month"), "The strike began in March.", True),
        (Unit("month"), "Talks may resume soon.", False),
        (Unit("century"), "It was built in the 12th century.", True),
        (Unit("century"), "It was built in 1150.", False),
        (Unit("decade"), "The show ended in the 1960s.", True),
        (Unit("decade"), "The show ended in 1966.", False),
    ],
)
def test_sentences_holding_a_quantity_of_the_unit(
    unit: Unit, sentence: str, expected: bool
) -> None:
    assert holds_unit(unit, sentence) is expected


WING = (
    "A new emergency wing at Northgate General Hospital opened on Wednesday, 18 months "
    "later than planned.\n\n"
    "The new emergency wing has 48 beds and four resuscitation bays. It cost £31 million, "
    "£6 million more than budgeted.\n\n"
    "Why was it late?\n\n"
    "Yes, it was late. The ventilation system failed its first test, and we had to replace "
    "the fans in every ward of the new emergency wing.\n\n"
    "Will it be busy?\n\n"
    "Very. We expect 200 patients a day."
)


def test_the_unit_cue_and_interview_replies_choose_the_quote(
    tmp_path: Path, encoder: Encoder
) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "data"), encoder=encoder)
    try:
        engine.ingest_articles([Article("wing", "Hospital wing opens", WING, "Courier")])
        engine.rebuild()
        cost = engine.ask("How much did the new emergency wing cost?").answer.quotes[0]
        assert "£31 million" in cost.text
        # A later sentence of a reply is quoted from the reply's opening.
        fans = engine.ask("Why did the ventilation fans need replacing in every ward?")
        first = fans.answer.quotes[0]
        assert first.text.startswith("Yes, it was late. The ventilation system failed")
        assert WING[first.start : first.end] == first.text
    finally:
        engine.close()


def test_a_reply_to_the_question_asked_in_the_users_words_comes_first(
    tmp_path: Path, encoder: Encoder
) -> None:
    news = load_news(Path(__file__).resolve().parents[2] / "bench" / "news")
    engine = Engine(Settings(data_dir=tmp_path / "data"), encoder=encoder)
    try:
        engine.ingest_articles(news.articles)
        engine.rebuild()
        # The interviewer asked "What did Margaret Lowe teach you?"
        question = "What did Margaret Lowe teach the festival director?"
        first = engine.ask(question).answer.quotes[0].text
        assert "to say yes to young artists" in first
        # The reader reads the reply right on its own, so the cue is tested without it: the
        # cue alone brings the reply first, and without it another sentence about her does.
        engine.configure(rerank=False)
        assert "to say yes to young artists" in engine.ask(question).answer.quotes[0].text
        engine.configure(weights=replace(engine.weights, interview_terms=0.0))
        assert "to say yes to young artists" not in engine.ask(question).answer.quotes[0].text
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Where was Super Bowl 50 played?", True),
        ("In which city did the council meet?", True),
        ("After Huguenots fled France, their last remaining bastion was where?", True),
        ("Who won the by-election?", False),
        ("What is the Rhine called in Dutch?", False),
    ],
)
def test_questions_asking_for_a_place(question: str, expected: bool) -> None:
    assert asks_place(question) is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The game was played on February 7, 2016, at Levi's Stadium in Santa Clara.", True),
        ("The war was fought along the frontiers between New France and the colonies.", True),
        ("It began in the arid plains of Central Asia.", True),  # a place "of" a name
        ("Fans went to see Santa Clara.", False),  # "to see …": no place phrase
        ("Super Bowl 50 was an American football game to decide the champion.", False),
        ("It was played on Sunday in February.", False),  # days and months are no places
        ("Fans watched the final of Super Bowl 50 in Super Bowl 50's week.", False),  # asked
        ("The stadium opened in 2014 to great acclaim.", False),
    ],
)
def test_sentences_naming_a_place_the_question_does_not(sentence: str, expected: bool) -> None:
    assert holds_place("Where was Super Bowl 50 played?", sentence) is expected


def test_the_place_cue_adds_its_weight_to_sentences_naming_a_place(
    tmp_path: Path, encoder: Encoder
) -> None:
    text = (
        "The Brindle folk festival returns this summer with a bigger programme. "
        "The festival will be held at Harrow Park, beside the river. "
        "Organisers said the festival would run for three days."
    )
    engine = Engine(Settings(data_dir=tmp_path / "data"), encoder=encoder)
    try:
        engine.ingest_articles([Article("fest", "Folk festival returns", text, "Courier")])
        engine.rebuild()

        def scores(question: str, place: float) -> dict[str, tuple[float, float]]:
            engine.configure(weights=replace(engine.weights, place=place))
            live = engine.live
            assert live is not None
            found = live.retriever.retrieve(question, encoder.encode_query(question))
            index = live.index
            return {index.text(c.sentence): (c.score, c.place_match) for c in found.candidates}

        question = "Where will the festival be held?"
        on, off = scores(question, 0.1), scores(question, 0.0)
        named = [t for t, (_, match) in on.items() if match]
        assert named == ["The festival will be held at Harrow Park, beside the river."]
        for sentence, (score, match) in on.items():
            assert score == pytest.approx(off[sentence][0] + 0.1 * match)
        # A question that asks for no place gets no place cue.
        assert not any(m for _, m in scores("Who organises the festival?", 0.1).values())
    finally:
        engine.close()
