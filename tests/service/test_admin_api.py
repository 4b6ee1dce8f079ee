"""Admin routes on a real server: token, durable 202s, jobs, replacements, withdrawals,
near-duplicates, and GET /index."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from corpus.defaults import DEFAULT_CORPUS_DIR
from corpus.readers import article_from_record
from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.ops.engine import Engine
from service.ops.jobs import JobQueue
from service.settings import Settings
from tests.corpus.test_dedup import REWRITE, WIRE

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HARBOUR = {
    "id": "harbour-2024",
    "title": "Harbour reopens after repairs",
    "text": "The northern harbour reopened on Monday after three months of repairs. "
    "The repairs cost 4.2 million euros, the port authority said.",
    "source": "Coastal Times",
    "published": "2024-03-01",
}


@pytest.fixture(scope="module")
def admin(fresh_server: Callable[..., tuple[httpx.Client, Engine]]) -> tuple[httpx.Client, Engine]:
    return fresh_server("admin", admin_token=TOKEN)


def _wait(http: httpx.Client, job: dict) -> dict:
    deadline = time.monotonic() + 60
    while True:
        body = http.get(f"/jobs/{job['job_id']}").json()
        if body["state"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def _first_quote(http: httpx.Client, question: str) -> dict | None:
    body = http.post("/ask", json={"question": question}).json()
    return body["quotes"][0] if body["answered"] else None


def test_admin_routes_are_off_without_a_token(seed_http: httpx.Client) -> None:
    r = seed_http.post("/articles", json=HARBOUR, headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "admin_disabled"
    assert "BRIEFING_ADMIN_TOKEN" in r.json()["error"]["message"]
    assert seed_http.delete("/articles/x", headers=AUTH).status_code == 404


def test_a_wrong_or_missing_token_is_401(admin: tuple[httpx.Client, Engine]) -> None:
    http, _ = admin
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = http.post("/articles", json=HARBOUR, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthorized"
    assert http.get("/articles/harbour-2024").status_code == 404


def test_a_bad_batch_stores_nothing_and_names_the_problem(
    admin: tuple[httpx.Client, Engine],
) -> None:
    http, _ = admin
    good = dict(HARBOUR, id="good-one")
    r = http.post(
        "/articles",
        json={"articles": [good, {"id": "bad one", "title": "x", "text": "y"}, good]},
        headers=AUTH,
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_article"
    assert any("articles[1]" in d and "invalid id" in d for d in error["details"])
    assert any("repeated" in d for d in error["details"])
    assert http.get("/articles/good-one").status_code == 404
    assert http.post("/articles", json=[], headers=AUTH).status_code == 422
    headers = {**AUTH, "Content-Type": "application/json"}
    assert http.post("/articles", content=b"{", headers=headers).status_code == 400


def test_added_replaced_and_withdrawn_articles(admin: tuple[httpx.Client, Engine]) -> None:
    http, _ = admin
    before = http.get("/index").json()
    r = http.post("/articles", json=HARBOUR, headers=AUTH)
    assert r.status_code == 202
    job = r.json()
    assert job["articles"] == [{"id": "harbour-2024", "outcome": "added", "duplicate_of": None}]
    # 202 means durably stored: the article is readable before the index has it.
    assert http.get("/articles/harbour-2024").status_code == 200
    done = _wait(http, job)
    assert done["state"] == "done" and done["index_version"] > before["version"]
    status = http.get("/index").json()
    assert status["version"] >= done["index_version"]
    assert status["kind"] == "incremental"
    assert status["counts"]["articles"] == before["counts"]["articles"] + 1
    assert status["pending_jobs"] == 0
    quote = _first_quote(http, "How much did the harbour repairs cost?")
    assert quote is not None and "4.2 million euros" in quote["text"]

    # The same article again is a no-op; new text under the same id replaces the old.
    again = http.post("/articles", json=HARBOUR, headers=AUTH).json()
    assert again["articles"][0]["outcome"] == "unchanged"
    changed = dict(
        HARBOUR,
        text="The northern harbour stays closed. Repairs were postponed "
        "because the contractor went bankrupt, the port authority said.",
    )
    job = http.post("/articles", json=changed, headers=AUTH).json()
    assert job["articles"][0]["outcome"] == "replaced"
    _wait(http, job)
    quote = _first_quote(http, "How much did the harbour repairs cost?")
    assert quote is None or "4.2 million" not in quote["text"]
    quote = _first_quote(http, "Why were the harbour repairs postponed?")
    assert quote is not None and "contractor went bankrupt" in quote["text"]
    # The index is segments; live articles are their rows less the tombstoned ones (the
    # replaced harbour's one-article segment had nothing left alive and was dropped).
    status = http.get("/index").json()
    segments = status["segments"]
    assert segments and all(s["name"].startswith("seg-") for s in segments)
    live = sum(s["articles"] - s["tombstoned_articles"] for s in segments)
    assert live == status["counts"]["articles"] == before["counts"]["articles"] + 1

    # Withdrawn: gone from the store at once, and from answers once the job is done.
    r = http.delete("/articles/harbour-2024", headers=AUTH)
    assert r.status_code == 202
    assert http.get("/articles/harbour-2024").status_code == 404
    _wait(http, r.json())
    quote = _first_quote(http, "Why were the harbour repairs postponed?")
    assert quote is None or quote["article_id"] != "harbour-2024"
    assert http.delete("/articles/harbour-2024", headers=AUTH).status_code == 404
    assert http.get("/jobs/no-such-job").status_code == 404


def test_near_duplicates_are_cited_once(admin: tuple[httpx.Client, Engine]) -> None:
    http, _ = admin
    batch = [
        {
            "id": "floods-wire",
            "title": "Floods in the valley",
            "text": WIRE,
            "source": "Wire",
            "published": "2024-05-01",
        },
        {
            "id": "floods-update",
            "title": "Valley floods: rain to ease",
            "text": REWRITE,
            "source": "Wire",
            "published": "2024-05-02",
        },
    ]
    job = http.post("/articles", json={"articles": batch}, headers=AUTH).json()
    assert job["articles"][1] == {"id": "floods-update", "outcome": "added", "duplicate_of": None}
    _wait(http, job)
    older = http.get("/articles/floods-wire").json()
    assert older["duplicate_of"] == "floods-update"
    assert http.get("/articles/floods-update").json()["duplicates"] == ["floods-wire"]
    body = http.post(
        "/ask", json={"question": "How many bridges were closed by the floods?", "top_k": 5}
    ).json()
    assert body["answered"]
    cited = {c["article_id"] for c in body["citations"]}
    assert "floods-update" in cited and "floods-wire" not in cited


def test_jobs_survive_a_restart_and_unfinished_ones_run_again(
    tmp_path: Path, encoder: Encoder, reranker: Reader
) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "data"), encoder=encoder, reranker=reranker)
    engine.bootstrap(DEFAULT_CORPUS_DIR)
    queue = JobQueue(engine)
    engine.ingest_articles([article_from_record(HARBOUR)])
    job = queue.submit("ingest", [{"id": "harbour-2024", "outcome": "added", "duplicate_of": None}])
    queue.stop()  # finishes what was queued
    done = JobQueue(engine).get(job.id)
    assert done is not None and done.state == "done" and done.index_version
    # A job left "indexing" by a server that died is run again by the next one.
    path = engine.data.root / "jobs.sqlite3"
    db = sqlite3.connect(path)
    body = json.loads(db.execute("SELECT body FROM jobs").fetchone()[0])
    body.update(state="indexing", index_version=None)
    db.execute("UPDATE jobs SET body = ?", (json.dumps(body),))
    db.commit()
    db.close()
    again = JobQueue(engine)
    deadline = time.monotonic() + 30
    while (j := again.get(job.id)) is None or j.state != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert j.index_version
    again.stop()
    engine.close()
