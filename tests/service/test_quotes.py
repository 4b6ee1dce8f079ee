"""Quotes read alone: one that opens by pointing back takes in the sentence it points to,
the lead gives way to its own continuation when that is relevant too, and quotes after the
first are given only when relevant in their own right."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from corpus.article import Article
from embeddings.encoder import Encoder
from service.answering.answer import MAX_QUOTE_CHARS, continue_lead, cut_quotes, quote_span
from service.answering.cues import points_back
from service.answering.retrieve import Candidate, Weights
from service.ops.engine import Engine
from service.settings import Settings


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("They will reopen the bridge on Monday.", True),
        ("The company said it would appeal.", True),
        ("But he refused to resign.", True),
        ("However, these figures were disputed.", True),
        ("“They are fleeing,” he said.", True),
        ("Its population is 200,000.", True),
        ("Theresa May resigned in 2019.", False),
        ("The harbour reopened after repairs.", False),
        ("Heavy rain fell overnight.", False),
        ("This: the first of three points.", False),
    ],
)
def test_back_references_are_recognised(sentence: str, expected: bool) -> None:
    assert points_back(sentence) is expected


COUNCIL = (
    "The city council voted on Tuesday to repair the old stone bridge over the Vale river. "
    "They will reopen it to cars on the first Monday of June, after eleven weeks of work."
    "\n\n"
    "They expect the repairs to cost about 2.5 million euros in all, paid from reserves."
    "\n\n"
    + "The mayor thanked residents"
    + ", and the shopkeepers of the old town" * 8
    + ", for their patience with detours on every street. "
    + "It was the longest closure in living memory."
)

PIER = (
    "The old ferry pier at Carrow was built in 1890 by the harbour company for the mail boats. "
    "It was rebuilt twice in the last century, once after the great winter storm of 1953 and "
    "again when the first car ferry began to call there in 1971. "
    "It is now too short for the new ferries, which will berth at a floating pontoon beside "
    "the lifeboat station from the spring of next year onwards."
)


@pytest.fixture
def engine_on(tmp_path: Path, encoder: Encoder) -> Iterator[Callable[[Article], Engine]]:
    """Builds an engine whose archive is one article; closes them all afterwards."""
    engines: list[Engine] = []

    def build(article: Article) -> Engine:
        engine = Engine(Settings(data_dir=tmp_path / f"data-{len(engines)}"), encoder=encoder)
        engines.append(engine)
        engine.ingest_articles([article])
        engine.rebuild()
        return engine

    yield build
    for engine in engines:
        engine.close()


def test_a_quote_takes_in_the_sentence_its_opening_points_to(
    engine_on: Callable[[Article], Engine],
) -> None:
    engine = engine_on(Article("council", "Bridge to reopen", COUNCIL, "Vale Times"))
    first = engine.ask("When will the bridge reopen to cars?").answer.quotes[0]
    assert first.text == (
        "The city council voted on Tuesday to repair the old stone bridge over the Vale "
        "river. They will reopen it to cars on the first Monday of June, after eleven "
        "weeks of work."
    )
    assert COUNCIL[first.start : first.end] == first.text
    # The previous sentence is in another paragraph: not taken in.
    cost = engine.ask("How much will the bridge repairs cost?").answer.quotes[0]
    assert cost.text.startswith("They expect the repairs")
    # Taking in the sentence before would pass MAX_QUOTE_CHARS: the quote stays alone.
    longest = engine.ask("Was it the longest closure in living memory?").answer.quotes[0]
    assert longest.text == "It was the longest closure in living memory."
    assert len(COUNCIL.split("\n\n")[2]) > MAX_QUOTE_CHARS > len(longest.text)


def test_a_later_quote_that_goes_on_from_an_earlier_one_joins_it(
    engine_on: Callable[[Article], Engine],
) -> None:
    article = Article("council", "Bridge to reopen", COUNCIL, "Vale Times")
    engine = engine_on(article)
    live = engine.live
    assert live is not None
    index = live.index
    voted, reopen, expect, thanked, longest = range(5)
    assert index.text(reopen).startswith("They will reopen")

    def cut(*order: int) -> list[str]:
        cands = [_candidate(i, 1.0 - n / 10) for n, i in enumerate(order)]
        quotes, _ = cut_quotes(index, cands, lambda ref: article, 3)
        assert all(COUNCIL[q.start : q.end] == q.text for q in quotes)
        return [q.text for q in quotes]

    # "They will reopen it…" goes on from the first quote: it joins it, and the third
    # place goes to the next candidate, where before it was quoted alone, a fragment.
    assert cut(voted, reopen, expect, thanked) == [
        f"{index.text(voted)} {index.text(reopen)}",
        index.text(expect),
        index.text(thanked),
    ]
    # "They expect…" opens another paragraph: it goes on from nothing quoted.
    assert cut(reopen, expect)[1] == index.text(expect)
    # "It was the longest closure…" cannot take in the long sentence before it (the cap):
    # it goes on from nothing quoted, and is quoted alone.
    assert cut(thanked, longest) == [index.text(thanked), index.text(longest)]
    # Each of the pier's second and third sentences takes in the one before it, but the
    # three together would pass the cap: the third is quoted alone, not joined.
    pier = Article("pier", "Carrow pier", PIER, "Vale Times")
    pier_live = engine_on(pier).live
    assert pier_live is not None
    built, rebuilt, short = (pier_live.index.text(i) for i in range(3))
    assert len(PIER) > MAX_QUOTE_CHARS >= max(len(f"{built} {rebuilt}"), len(f"{rebuilt} {short}"))
    cands = [_candidate(1, 1.0), _candidate(2, 0.9)]
    quotes, _ = cut_quotes(pier_live.index, cands, lambda ref: pier, 3)
    assert [q.text for q in quotes] == [f"{built} {rebuilt}", short]


def test_top_k_is_not_filled_with_quotes_from_unrelated_stories(archive_engine: Engine) -> None:
    maps = archive_engine.ask("How old is the oldest map in the library?", top_k=3).answer
    assert maps.quotes[0].text.startswith("The oldest map in the collection dates from 1602")
    # Without the floor the third quote was "“Clashes may begin at any time,” …" (Syria).
    assert {q.article_id for q in maps.quotes} == {"library-digitises-maps"}
    harbour = archive_engine.ask("When did the harbour reopen?", top_k=3).answer
    assert len(harbour.quotes) == 3  # relevant ones still fill it
    assert {q.article_id for q in harbour.quotes} == {"harbour-reopens"}


TAPESTRY = (
    "By far the most famous work of Norman art is the Bayeux Tapestry, an embroidery of the "
    "conquest of England. It was commissioned by Odo, the Bishop of Bayeux. It is now kept "
    "in a museum in the town."
    "\n\n"
    "It is about seventy metres long. The museum opens every day of the year."
)


def _candidate(sentence: int, score: float) -> Candidate:
    return Candidate(sentence, score, 0.5, 0.5, 0.5, 0.5, 0.5)


def test_the_lead_gives_way_to_its_continuation_when_that_is_relevant_too(
    engine_on: Callable[[Article], Engine],
) -> None:
    engine = engine_on(Article("tapestry", "Norman art", TAPESTRY, "Vale Times"))
    live = engine.live
    assert live is not None
    index = live.index
    texts = [index.text(i) for i in range(5)]
    famous, odo, kept, long, museum = (
        next(i for i, t in enumerate(texts) if t.startswith(opening))
        for opening in ("By far", "It was", "It is now", "It is about", "The museum")
    )
    margin = Weights().continuation
    rival = _candidate(museum, 0.95)

    def order(lead: int, nxt: int, gap: float, m: float = margin) -> list[int]:
        cands = [_candidate(lead, 1.0), rival, _candidate(nxt, 1.0 - gap)]
        return [c.sentence for c in continue_lead(index, cands, m)]

    # "It was commissioned by Odo…" continues the lead and scores within the margin:
    # it comes first, and its quote holds the whole lead.
    assert order(famous, odo, margin / 2) == [odo, famous, museum]
    assert quote_span(index, odo)[0] == quote_span(index, famous)[0]
    # Not within the margin, or the rule off: the order stays.
    assert order(famous, odo, margin * 1.5) == [famous, museum, odo]
    assert order(famous, odo, margin / 2, m=0.0) == [famous, museum, odo]
    # The lead itself points back, so its quote starts a sentence earlier than its
    # continuation's would: taking the continuation first would drop that sentence.
    assert order(odo, kept, margin / 2) == [odo, museum, kept]
    # A next sentence in another paragraph is no continuation, though it points back.
    assert order(kept, long, margin / 2) == [kept, museum, long]
    # Nor is one that names its subject.
    assert order(long, museum, margin / 2)[0] == long
    # Through /ask's code path, one quote asked (so no later quote joins the first):
    # off, the lead is quoted alone; with a margin wide enough for any continuation,
    # the lead's continuation is quoted first, the lead taken in.
    question = "What is the most famous work of Norman art?"
    engine.configure(weights=replace(engine.weights, continuation=0.0))
    alone = engine.ask(question, top_k=1).answer.quotes[0]
    assert alone.text == index.text(famous)
    engine.configure(weights=replace(engine.weights, continuation=10.0))
    first = engine.ask(question, top_k=1).answer.quotes[0]
    assert first.text == f"{index.text(famous)} {index.text(odo)}"
    assert TAPESTRY[first.start : first.end] == first.text
