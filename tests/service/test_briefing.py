"""Briefings: recognised requests, narrowing follow-ups, the digest's choice and order,
POST /brief and /ask in briefing mode over a real server, on the dated set."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import httpx
import pytest

from corpus.readers import article_from_record
from service.answering.briefing import BriefingRequest, briefing_request, narrow, resolve_date
from service.evaluation.briefings import DATED_SET
from service.ops.engine import Engine
from tests.helpers import assert_verbatim

DATED = [
    article_from_record(json.loads(line))
    for line in DATED_SET.read_text(encoding="utf-8").splitlines()
    if line.strip()
]
PUBLISHED = {a.id: a.published for a in DATED}
FERRY = {a.id for a in DATED if a.id.startswith("elwyn-ferry-")}


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Brief me on ISIS in Deir e-Zor", "ISIS in Deir e-Zor"),
        ("Catch me up on the ferry service.", "the ferry service"),
        ("What's the latest on the elections?", "the elections"),
        ("what is the latest on the library strike", "the library strike"),
        ("Give me an overview of the Riverside race", "the Riverside race"),
        ("Summarise the coverage of the ferry", "the ferry"),
        ("Summarize the strike", "the strike"),
        ("Can you fill me in on the bridge siege?", "the bridge siege"),
        ("Please bring me up to speed on Carrow Island", "Carrow Island"),
    ],
)
def test_briefing_requests_are_recognised(question: str, topic: str) -> None:
    request = briefing_request(question)
    assert request is not None and request.topic == topic


@pytest.mark.parametrize(
    "question",
    [
        "Who briefed the press on Monday?",
        "What is the latest death toll?",
        "How many people fled Deir e-Zor?",
        "Did the mayor summarise her plans?",
        "Brief me on",
    ],
)
def test_questions_are_not_briefings(question: str) -> None:
    assert briefing_request(question) is None


def test_follow_ups_narrow_a_briefing() -> None:
    before = BriefingRequest("the ferry service")
    friday = dt.date(2025, 4, 4)  # a Friday
    assert narrow(before, "And since Monday?", friday) == BriefingRequest(
        "the ferry service", since="2025-03-31"
    )
    assert narrow(before, "since 2025-03-20", friday).since == "2025-03-20"  # type: ignore[union-attr]
    assert narrow(before, "What about before 12 March 2025?", friday).until == "2025-03-12"  # type: ignore[union-attr]
    assert narrow(before, "What about the charter boat?", friday) == BriefingRequest(
        "the ferry service: the charter boat"
    )
    assert narrow(before, "And the buses?", friday).topic == "the ferry service: the buses"  # type: ignore[union-attr]
    assert narrow(before, "Who runs the ferry?", friday) is None
    assert narrow(before, "And since the dawn of time?", friday) is None


def test_dates_resolve_against_today() -> None:
    friday = dt.date(2025, 4, 4)
    assert resolve_date("Monday", friday) == "2025-03-31"
    assert resolve_date("last Friday", friday) == "2025-03-28"
    assert resolve_date("yesterday", friday) == "2025-04-03"
    assert resolve_date("last week", friday) == "2025-03-28"
    assert resolve_date("March 20", friday) == "2025-03-20"
    assert resolve_date("December 1", friday) == "2024-12-01"  # not in the future
    assert resolve_date("2024-02-29", friday) == "2024-02-29"
    assert resolve_date("soon", friday) is None


@pytest.fixture(scope="module")
def dated(fresh_server: Callable[..., tuple[httpx.Client, Engine]]) -> tuple[httpx.Client, Engine]:
    """A real server over the seed article plus the dated set."""
    http, engine = fresh_server("dated")
    engine.ingest_articles(DATED)
    engine.update_index()
    return http, engine


def test_a_briefing_is_distinct_dated_and_in_reading_order(
    dated: tuple[httpx.Client, Engine],
) -> None:
    _, engine = dated
    b = engine.brief(BriefingRequest("the Carrow Island ferry", max_points=5))
    assert len(b.points) == 5 and b.message is None
    assert {p.article_id for p in b.points} <= FERRY
    # Recent reporting is in, the story reads oldest first, each article in its own order.
    assert "elwyn-ferry-2025-04-07" in {p.article_id for p in b.points}
    keys = [(PUBLISHED[p.article_id], p.start) for p in b.points]
    assert keys == sorted(keys)
    # No two points from one paragraph.
    paragraphs = set()
    for p in b.points:
        text = engine.store.get(p.article_id).text  # type: ignore[union-attr]
        assert text[p.start : p.end] == p.text
        paragraphs.add((p.article_id, text.rfind("\n\n", 0, p.start)))
    assert len(paragraphs) == len(b.points)


def test_since_and_until_bound_the_articles(dated: tuple[httpx.Client, Engine]) -> None:
    _, engine = dated
    later = engine.brief(BriefingRequest("the Carrow Island ferry", since="2025-03-20"))
    assert later.points and all(PUBLISHED[p.article_id] >= "2025-03-20" for p in later.points)
    early = engine.brief(BriefingRequest("the Carrow Island ferry", until="2025-03-05"))
    assert early.points and {p.article_id for p in early.points} == {"elwyn-ferry-2025-03-03"}
    none = engine.brief(BriefingRequest("the Carrow Island ferry", since="2026-01-01"))
    assert none.points == [] and "since 2026-01-01" in (none.message or "")


def test_nothing_relevant_is_an_empty_briefing(dated: tuple[httpx.Client, Engine]) -> None:
    _, engine = dated
    b = engine.brief(BriefingRequest("the Champions League final"))
    assert b.points == [] and b.citations == []
    assert b.message == "The archive has nothing on this topic (the Champions League final)."


def test_post_brief(dated: tuple[httpx.Client, Engine]) -> None:
    http, _ = dated
    r = http.post("/brief", json={"topic": "the library strike", "max_points": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["topic"] == "the library strike" and body["message"] is None
    assert 1 <= len(body["points"]) <= 3
    cited = {c["n"]: c for c in body["citations"]}
    for point in body["points"]:
        assert point["published"] == cited[point["citation"]]["published"]
        assert point["article_id"].startswith("library-strike-")
    assert_verbatim(http, {"quotes": body["points"], "citations": body["citations"]})
    empty = http.post("/brief", json={"topic": "the Champions League final"}).json()
    assert empty["points"] == [] and empty["message"].startswith("The archive has nothing")


@pytest.mark.parametrize(
    "body",
    [
        {"topic": ""},
        {"topic": "   "},
        {"topic": "x" * 301},
        {"topic": "ferry", "max_points": 13},
        {"topic": "ferry", "max_points": "5"},
        {"topic": "ferry", "since": "2025-04-01", "until": "2025-03-01"},
        {"topic": "ferry", "since": "1 April"},
        {"topic": "ferry", "extra": 1},
    ],
)
def test_bad_brief_requests_are_422(dated: tuple[httpx.Client, Engine], body: dict) -> None:
    http, _ = dated
    r = http.post("/brief", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_ask_answers_briefing_requests_and_follow_ups_narrow_them(
    dated: tuple[httpx.Client, Engine],
) -> None:
    http, _ = dated
    first = http.post("/ask", json={"question": "Catch me up on the Carrow Island ferry"}).json()
    assert first["mode"] == "briefing" and first["answered"]
    assert len(first["quotes"]) >= 3
    assert {q["article_id"] for q in first["quotes"]} <= FERRY
    assert first["answer"].startswith("• ")
    assert_verbatim(http, first)
    cid = first["conversation_id"]
    later = http.post(
        "/ask", json={"question": "And since 2025-03-20?", "conversation_id": cid}
    ).json()
    assert later["mode"] == "briefing"
    assert later["resolved_question"] == "Brief me on the Carrow Island ferry since 2025-03-20"
    assert later["quotes"] and all(
        PUBLISHED[q["article_id"]] >= "2025-03-20" for q in later["quotes"]
    )
    boat = http.post(
        "/ask", json={"question": "What about the charter boat?", "conversation_id": cid}
    ).json()
    assert boat["mode"] == "briefing" and "charter boat" in boat["resolved_question"]
    assert any("charter" in q["text"] for q in boat["quotes"])
    # A plain question in the same conversation is answered as a question.
    plain = http.post(
        "/ask",
        json={
            "question": "How many passengers does the charter boat carry?",
            "conversation_id": cid,
        },
    ).json()
    assert plain["mode"] == "answer" and "40 passengers" in plain["quotes"][0]["text"]
    turns = http.get(f"/conversations/{cid}").json()["turns"]
    assert [t["mode"] for t in turns] == ["briefing", "briefing", "briefing", "answer"]
