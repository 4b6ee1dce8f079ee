"""Hostile input over a real server never gets a 500, a stall or a partial write; limits,
strict types, security headers, HEAD, request ids and metrics."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from service.api.middleware import RequestIdFilter
from service.ops.engine import Engine
from service.settings import Settings

TOKEN = "hardening-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LIMITS = {"max_body_bytes": 8192, "max_admin_body_bytes": 65_536, "max_article_chars": 5000}


@pytest.fixture(scope="module")
def hard(fresh_server: Callable[..., tuple[httpx.Client, Engine]]) -> tuple[httpx.Client, Engine]:
    return fresh_server("hard", admin_token=TOKEN, reload_interval_s=0, **LIMITS)


def _error(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict = r.json()["error"]
    assert body["code"] == code, body
    return body


def test_a_lone_surrogate_stores_nothing_of_the_batch(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    body = (
        '[{"id":"sur-ok-1","title":"ok","text":"Surrogate batch first article is fine."},'
        '{"id":"sur-bad","title":"bad","text":"Bad \\ud800 text here."}]'
    )
    headers = {**AUTH, "content-type": "application/json"}
    err = _error(http.post("/articles", content=body, headers=headers), 422, "invalid_article")
    assert "articles[1]" in err["message"] and "surrogate" in err["message"]
    title = '{"id":"sur-title","title":"Bad \\udc00","text":"A fine text."}'
    _error(http.post("/articles", content=title, headers=headers), 422, "invalid_article")
    for gone in ("sur-ok-1", "sur-bad", "sur-title"):
        assert http.get(f"/articles/{gone}").status_code == 404
    ask = '{"question":"Who \\ud800 is it?"}'
    r = http.post("/ask", content=ask, headers={"content-type": "application/json"})
    assert "question" in _error(r, 422, "invalid_request")["message"]


def test_an_offset_past_sqlite_is_a_422(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    _error(http.get("/articles", params={"offset": 9223372036854775808}), 422, "invalid_request")
    assert http.get("/articles", params={"offset": 1_000_000_000}).json()["articles"] == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"question":"a\xff\xfeb"}',
        b"[" * 1000 + b"]" * 1000,
        b'{"question":"q","top_k":' + b"9" * 5000 + b"}",
        b'{"question":',
    ],
    ids=["invalid utf-8", "nested 1000 deep", "5000-digit integer", "truncated"],
)
def test_unparseable_bodies_are_invalid_json(
    hard: tuple[httpx.Client, Engine], body: bytes
) -> None:
    http, _ = hard
    headers = {"content-type": "application/json"}
    _error(http.post("/ask", content=body, headers=headers), 400, "invalid_json")
    _error(http.post("/articles", content=body, headers={**headers, **AUTH}), 400, "invalid_json")


def test_admin_auth_is_checked_before_the_body(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    r = http.post("/articles", content=b"{not json", headers={"content-type": "application/json"})
    _error(r, 401, "unauthorized")
    # Over the /ask limit, within the admin one: refused for the token, never parsed.
    mid = b'{"id":"x","title":"t","text":"' + b"a" * 30_000 + b'"}'
    _error(http.post("/articles", content=mid), 401, "unauthorized")
    big = b'{"id":"x","title":"t","text":"' + b"a" * 100_000 + b'"}'
    _error(http.post("/articles", content=big, headers=AUTH), 413, "payload_too_large")


def test_a_streamed_body_is_cut_off_at_the_limit(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"question": "'
        for _ in range(200):  # 200 x 4 KiB, without a Content-Length
            sent += 1
            yield b"q" * 4096

    try:
        r = http.post("/ask", content=chunks(), headers={"content-type": "application/json"})
    except httpx.HTTPError:
        # The server answered and closed before taking the rest: refused, not read whole.
        assert sent < 200
        return
    assert "POST /ask" in _error(r, 413, "payload_too_large")["message"]


def test_an_article_over_the_limit_is_413_naming_it(hard: tuple[httpx.Client, Engine]) -> None:
    http, engine = hard
    batch = [
        {"id": "small-one", "title": "Small", "text": "A short and fine article."},
        {"id": "huge-one", "title": "Huge", "text": "Word. " * 1000},
    ]
    err = _error(http.post("/articles", json=batch, headers=AUTH), 413, "article_too_large")
    assert "articles[1] ('huge-one')" in err["message"] and "5,000" in err["message"]
    assert engine.store.get("small-one") is None and engine.store.get("huge-one") is None


def test_ask_bodies_over_the_limit_are_413(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    r = http.post("/ask", json={"question": "q" * 900, "padding": "x" * 10_000})
    assert "POST /ask" in _error(r, 413, "payload_too_large")["message"]


def test_a_huge_declared_body_is_refused_without_reading_it(
    hard: tuple[httpx.Client, Engine],
) -> None:
    http, _ = hard
    host, port = str(http.base_url.host), int(http.base_url.port or 80)
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 209715200\r\n\r\n" + b'{"question": "'
        )
        started = time.monotonic()
        reply = ""
        while "payload_too_large" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk.decode("latin-1")
    # Answered at once, from the header alone: 200 MB were never sent, let alone read.
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "payload_too_large" in reply and time.monotonic() - started < 5


@pytest.mark.parametrize(
    "patch",
    [
        {"top_k": "3"},
        {"top_k": True},
        {"top_k": 3.0},
        {"filters": {"published_after": 20200101}},
        {"filters": {"published_after": "2020-01-01T00:00:00"}},
        {"filters": {"published_before": "1 May 2020"}},
    ],
)
def test_types_are_strict(hard: tuple[httpx.Client, Engine], patch: dict) -> None:
    http, _ = hard
    _error(http.post("/ask", json={"question": "Who?", **patch}), 422, "invalid_request")


def test_a_boolean_id_is_refused(hard: tuple[httpx.Client, Engine]) -> None:
    http, engine = hard
    r = http.post("/articles", json={"id": True, "title": "t", "text": "Text."}, headers=AUTH)
    assert "'id' must be a string" in _error(r, 422, "invalid_article")["message"]
    assert engine.store.get("True") is None


def test_the_answer_does_not_double_a_quotation_mark(seed_engine: Engine) -> None:
    seen_own_mark = False
    for question in (
        "Where does Wisam al-Arab live?",
        "Who said clashes may begin at any time?",
        "Is the regime fighting ISIS in Deir e-Zor?",
    ):
        answer = seed_engine.ask(question).answer
        first = answer.quotes[0]
        if first.text.startswith("“"):
            seen_own_mark = True
            assert answer.answer == f"{first.text} [{first.citation}]"
        else:
            assert answer.answer == f"“{first.text}” [{first.citation}]"
        assert not answer.answer.startswith("““")
    assert seen_own_mark, "no question reached a quote that opens with its own mark"


def test_head_works_wherever_get_does(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    for path in ("/healthz", "/articles", "/widget.js", "/"):
        got, head = http.get(path), http.head(path)
        assert head.status_code == 200 == got.status_code, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"]
    assert http.head("/articles/nope").status_code == 404


def test_security_headers(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    aid = "2014-06-23-isis-deir-ez-zor"
    for r in (http.get("/"), http.get(f"/read/{aid}"), http.get("/healthz"), http.post("/ask")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    for page in (http.get("/"), http.get(f"/read/{aid}")):
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_unknown_methods_and_routes_keep_the_error_shape(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    _error(http.put("/ask", json={}), 405, "method_not_allowed")
    _error(http.get("/nothing-here"), 404, "not_found")


def test_request_ids_are_returned_and_logged(hard: tuple[httpx.Client, Engine]) -> None:
    http, _ = hard
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("service.api.access")
    access.addHandler(handler)
    previous = access.level
    access.setLevel(logging.INFO)
    try:
        mine = http.get("/healthz", headers={"X-Request-ID": "reader-42.a"})
        fresh = http.get("/healthz")
        hostile = http.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    assert mine.headers["x-request-id"] == "reader-42.a"
    assert len(fresh.headers["x-request-id"]) == 16
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"
    logged = {getattr(r, "request_id", None) for r in records}
    assert {"reader-42.a", fresh.headers["x-request-id"]} <= logged


def test_metrics(hard: tuple[httpx.Client, Engine]) -> None:
    http, engine = hard
    http.post("/ask", json={"question": "Who pledged loyalty to ISIS?"})
    http.post("/ask", json={"question": "What is the boiling point of mercury in kelvin?"})
    http.get("/articles/not-there")
    r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = _samples(r.text)
    assert got["briefing_ask_total", (("outcome", "answered"),)] >= 1
    assert got["briefing_ask_total", (("outcome", "abstained"),)] >= 1
    not_found = (("method", "GET"), ("route", "/articles/{article_id}"), ("status", "404"))
    assert got["briefing_http_requests_total", not_found] >= 1
    assert got["briefing_http_request_duration_seconds_count", (("route", "/ask"),)] >= 2
    live = engine.live
    assert live is not None
    counts = live.index.manifest["counts"]
    assert got["briefing_index_sentences", ()] == counts["sentences"]
    assert got["briefing_index_articles", ()] == counts["articles"]
    assert got["briefing_ready", ()] == 1 and got["briefing_jobs_pending", ()] >= 0
    assert got["briefing_conversations_live", ()] == len(engine.conversations)
    assert 0 <= got["briefing_index_age_seconds", ()] < 3600


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text format as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_an_empty_current_pointer_is_rebuilt_with_a_warning(
    tmp_path_factory: pytest.TempPathFactory,
    encoder: Encoder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(data_dir=tmp_path_factory.mktemp("empty-current"))
    engine = Engine(settings, encoder=encoder)
    engine.bootstrap(DEFAULT_CORPUS_DIR)
    engine.close()
    (settings.data_dir / "index" / "CURRENT").write_text("", encoding="utf-8")
    again = Engine(settings, encoder=encoder)
    with caplog.at_level(logging.WARNING, logger="embeddings.snapshots"):
        again.bootstrap(DEFAULT_CORPUS_DIR)
    try:
        assert again.state == "ready" and again.live is not None
        warnings = [r for r in caplog.records if "CURRENT" in r.getMessage()]
        assert len(warnings) == 1 and "rebuilt" in warnings[0].getMessage()
    finally:
        again.close()


def test_json_logs(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.service.test_cli import BRIEFING, ROOT

    env = dict(
        os.environ,
        BRIEFING_DATA_DIR=str(tmp_path_factory.mktemp("jsonlog")),
        BRIEFING_LOG_FORMAT="json",
        BRIEFING_LOG_LEVEL="info",
    )
    result = subprocess.run(
        [*BRIEFING, "ask", "Who pledged loyalty to ISIS?"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all({"time", "level", "name", "message"} <= set(d) for d in lines)
    assert any(d["name"] == "embeddings.build" or "index" in d["message"] for d in lines)
