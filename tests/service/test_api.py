"""The HTTP API on a real uvicorn server: the /ask contract, articles, health, errors."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import httpx
import pytest

from embeddings.encoder import Encoder
from service.ops.engine import Engine
from service.settings import Settings
from tests.helpers import assert_verbatim

QUESTION = "Were gunmen linked to a-Nusra previously in control of the Syrian side?"


def test_ask_contract(seed_http: httpx.Client) -> None:
    r = seed_http.post("/ask", json={"question": QUESTION})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {
        "conversation_id",
        "question",
        "resolved_question",
        "answered",
        "confidence",
        "answer",
        "quotes",
        "citations",
        "index_version",
    }
    assert body["question"] == QUESTION and body["resolved_question"] == QUESTION
    assert body["answered"] is True and 0 < body["confidence"] <= 1
    assert len(body["conversation_id"]) >= 22  # 128 bits, URL-safe base64
    assert 1 <= len(body["quotes"]) <= 3
    first = body["quotes"][0]
    assert first["text"].startswith("Gunmen linked to opposition fighters and a-Nusra")
    assert set(first) == {"text", "article_id", "start", "end", "score", "citation"}
    scores = [q["score"] for q in body["quotes"]]
    assert scores == sorted(scores, reverse=True)
    (citation,) = body["citations"]
    assert citation == {
        "n": 1,
        "article_id": "2014-06-23-isis-deir-ez-zor",
        "title": "ISIS seeking to tighten grip over Deir e-Zor",
        "source": "Syria Direct",
        "url": None,
        "published": "2014-06-23",
    }
    assert body["answer"] == f"“{first['text']}” [1]"
    assert_verbatim(seed_http, body)
    assert seed_http.get("/readyz").json()["index_version"] == body["index_version"]


def test_top_k_bounds_the_number_of_distinct_quotes(seed_http: httpx.Client) -> None:
    broad = "What is ISIS doing in Deir e-Zor?"  # the whole article is relevant to it
    body = seed_http.post("/ask", json={"question": broad, "top_k": 7}).json()
    assert len(body["quotes"]) == 7
    spans = sorted((q["start"], q["end"]) for q in body["quotes"])
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "quotes overlap"
    assert_verbatim(seed_http, body)
    # A narrow question gets only the quotes relevant in their own right: fewer than asked.
    narrow = seed_http.post("/ask", json={"question": QUESTION, "top_k": 7}).json()
    assert 1 <= len(narrow["quotes"]) < 7
    body = seed_http.post("/ask", json={"question": QUESTION, "top_k": 1}).json()
    assert len(body["quotes"]) == 1


def test_conversation_ids_continue_and_unknown_ids_are_404(seed_http: httpx.Client) -> None:
    first = seed_http.post("/ask", json={"question": QUESTION}).json()
    again = seed_http.post(
        "/ask", json={"question": QUESTION, "conversation_id": first["conversation_id"]}
    )
    assert again.status_code == 200
    assert again.json()["conversation_id"] == first["conversation_id"]
    other = seed_http.post("/ask", json={"question": QUESTION}).json()
    assert other["conversation_id"] != first["conversation_id"]
    r = seed_http.post("/ask", json={"question": QUESTION, "conversation_id": "nope"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "conversation_not_found"


@pytest.mark.parametrize(
    ("payload", "status", "mentions"),
    [
        ({}, 422, "question"),
        ({"question": ""}, 422, "question"),
        ({"question": "   "}, 422, "blank"),
        ({"question": "x" * 1001}, 422, "1000"),
        ({"question": "ok?", "top_k": 0}, 422, "top_k"),
        ({"question": "ok?", "top_k": 11}, 422, "top_k"),
        ({"question": "ok?", "top_k": "three"}, 422, "top_k"),
        ({"question": 42}, 422, "question"),
        ({"question": "ok?", "topk": 3}, 422, "topk"),
        ({"question": "ok?", "filters": {"published_after": "yesterday"}}, 422, "published_after"),
        ({"question": "ok?", "filters": {"colour": "red"}}, 422, "colour"),
        (
            {
                "question": "ok?",
                "filters": {"published_after": "2020-01-02", "published_before": "2020-01-01"},
            },
            422,
            "later than",
        ),
    ],
)
def test_bad_requests_get_clear_json_errors(
    seed_http: httpx.Client, payload: dict[str, object], status: int, mentions: str
) -> None:
    r = seed_http.post("/ask", json=payload)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert mentions in error["message"], error


def test_invalid_json_is_a_400(seed_http: httpx.Client) -> None:
    r = seed_http.post(
        "/ask", content=b'{"question": "unterminated', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"


def test_articles_list_and_get(archive_http: httpx.Client) -> None:
    page = archive_http.get("/articles").json()
    assert page["total"] == 3 and page["offset"] == 0 and page["limit"] == 20
    assert [a["id"] for a in page["articles"]] == [
        "library-digitises-maps",
        "harbour-reopens",
        "2014-06-23-isis-deir-ez-zor",
    ]
    assert "text" not in page["articles"][0]
    page = archive_http.get("/articles", params={"offset": 1, "limit": 1}).json()
    assert [a["id"] for a in page["articles"]] == ["harbour-reopens"]
    article = archive_http.get("/articles/harbour-reopens").json()
    assert article["source"] == "Coastal Times"
    assert article["text"].startswith("The northern harbour reopened")
    r = archive_http.get("/articles/no-such-article")
    assert r.status_code == 404
    assert "no-such-article" in r.json()["error"]["message"]
    assert archive_http.get("/articles", params={"limit": 0}).status_code == 422


def test_filters_restrict_what_is_quoted(archive_http: httpx.Client) -> None:
    question = "What did the repairs cost?"
    body = archive_http.post("/ask", json={"question": question}).json()
    assert body["answered"] and "4.2 million euros" in body["quotes"][0]["text"]
    assert_verbatim(archive_http, body)
    for filters in (
        {"source": "Metro Daily"},
        {"published_after": "2022-01-01"},
        {"published_before": "2020-12-31"},
        {"article_ids": ["library-digitises-maps"]},
    ):
        body = archive_http.post("/ask", json={"question": question, "filters": filters}).json()
        assert all(q["article_id"] != "harbour-reopens" for q in body["quotes"]), filters
    body = archive_http.post(
        "/ask", json={"question": question, "filters": {"source": "coastal times"}}
    ).json()
    assert body["quotes"][0]["article_id"] == "harbour-reopens"


def test_health_ready_and_docs(seed_http: httpx.Client) -> None:
    assert seed_http.get("/healthz").json() == {"status": "ok"}
    ready = seed_http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert seed_http.get("/docs").status_code == 200
    schema = seed_http.get("/openapi.json").json()
    assert {"/ask", "/articles", "/articles/{article_id}", "/healthz", "/readyz"} <= set(
        schema["paths"]
    )


def test_not_ready_until_an_index_is_loaded(
    serve: Callable[[Engine], httpx.Client],
    tmp_path_factory: pytest.TempPathFactory,
    encoder: Encoder,
) -> None:
    engine = Engine(Settings(data_dir=tmp_path_factory.mktemp("empty")), encoder=encoder)
    client = serve(engine)
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"
    r = client.post("/ask", json={"question": "Anything?"})
    assert r.status_code == 503 and "loading" in r.json()["error"]["message"]
    engine.close()


def test_an_article_changed_after_indexing_is_not_quoted_stale(
    archive_engine: Engine,
) -> None:
    from dataclasses import replace

    question = "How many historical maps has the library scanned?"
    before = archive_engine.ask(question).answer
    assert before.answered and before.quotes[0].article_id == "library-digitises-maps"
    original = archive_engine.store.get("library-digitises-maps")
    assert original is not None
    archive_engine.store.upsert(replace(original, text="Everything changed here. " + original.text))
    try:
        after = archive_engine.ask(question).answer
        assert all(q.article_id != "library-digitises-maps" for q in after.quotes)
    finally:
        archive_engine.store.upsert(original)
