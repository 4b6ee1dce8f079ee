"""Conversations and rate limits shared by replicas through a real redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.index import ArticleRef
from service.answering.answer import ABSTAIN_TEXT, Answer, Citation, Quote
from service.answering.briefing import BriefingRequest
from service.answering.conversation import (
    ConversationNotFoundError,
    ConversationStore,
    ConversationsUnavailableError,
    MemoryConversationStore,
    Turn,
)
from service.ops import shared
from service.ops.shared import RedisConversationStore, RedisTokenBuckets
from tests.conftest import free_port
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
BRIEFING = str(Path(sys.executable).parent / "briefing")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path_factory.mktemp("redis"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh(server: RedisServer) -> RedisServer:
    """The server, emptied (and running: a test may have stopped it)."""
    if server.proc is None:
        server.start()
    shared.client(server.url).flushdb()
    return server


Factory = Callable[[int, float, int], ConversationStore]


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Factory:
    if request.param == "memory":
        return lambda n, ttl, turns: MemoryConversationStore(n, ttl, turns)
    url = request.getfixturevalue("fresh").url
    return lambda n, ttl, turns: RedisConversationStore(shared.client(url), n, ttl, turns)


def _turn(n: int) -> Turn:
    return Turn(f"q{n}", f"q{n}", Answer(False, 0.0, ABSTAIN_TEXT, [], []), "v1", float(n))


def test_both_stores_bound_conversations_turns_and_time(make: Factory) -> None:
    store = make(3, 60, 2)
    first, second = store.start(), store.start()
    assert first.id != second.id and len(first.id) >= 22
    store.start()
    store.get(first.id)  # touching keeps it
    time.sleep(0.01)
    store.start()
    assert len(store) == 3
    with pytest.raises(ConversationNotFoundError):
        store.get(second.id)  # the least recently used went
    for n in range(5):
        store.add_turn(first.id, _turn(n))
    assert [t.question for t in store.history(first.id)] == ["q3", "q4"]
    store.end(first.id)
    for gone in (lambda: store.end(first.id), lambda: store.add_turn(first.id, _turn(9))):
        with pytest.raises(ConversationNotFoundError):
            gone()
    short = make(3, 0.2, 2)
    conv = short.start()
    time.sleep(0.4)
    with pytest.raises(ConversationNotFoundError):
        short.get(conv.id)


def test_a_turn_comes_back_from_redis_as_it_went_in(fresh: RedisServer) -> None:
    ref = ArticleRef("a1", "Harbour reopens", "Coastal Times", None, "2021-03-01", "f" * 64)
    answer = Answer(
        True,
        0.93,
        "“The harbour reopened on Monday.” [1]",
        [Quote("The harbour reopened on Monday.", "a1", 0, 31, 1.25, 1)],
        [Citation(1, ref)],
        "briefing",
    )
    turn = Turn(
        "Brief me",
        "Brief me on the harbour",
        answer,
        "v7",
        1.5e9,
        BriefingRequest("harbour", 4, "2021-01-01"),
    )
    store = RedisConversationStore(shared.client(fresh.url), 10, 60, 5)
    other = RedisConversationStore(shared.client(fresh.url), 10, 60, 5)  # another replica
    conv = store.start()
    store.add_turn(conv.id, turn)
    assert other.history(conv.id) == [turn]
    assert other.get(conv.id).started_at == pytest.approx(conv.started_at)


def test_redis_going_away_is_survived(fresh: RedisServer) -> None:
    store = RedisConversationStore(shared.client(fresh.url), 10, 60, 5)
    buckets = RedisTokenBuckets(shared.client(fresh.url), 1, 60)
    kept = store.start()
    assert buckets.take("c") == 0 and buckets.take("c") > 0
    fresh.stop()
    lost = store.start()  # still a conversation id: the first question is answered
    assert lost.id
    with pytest.raises(ConversationsUnavailableError):
        store.history(kept.id)
    assert buckets.take("c") == 0  # fails open
    fresh.start()  # empty, as after a crash
    for cid in (kept.id, lost.id):
        with pytest.raises(ConversationNotFoundError):
            store.history(cid)
    assert store.history(store.start().id) == []


def test_replicas_share_one_rate_budget(fresh: RedisServer) -> None:
    one = RedisTokenBuckets(shared.client(fresh.url), 3, 60)
    two = RedisTokenBuckets(shared.client(fresh.url), 3, 60)
    waits = [one.take("10.0.0.1"), two.take("10.0.0.1"), one.take("10.0.0.1")]
    assert waits == [0, 0, 0]
    late = two.take("10.0.0.1")
    assert 19 < late <= 20  # one token comes every 20 s
    assert one.take("10.0.0.2") == 0  # another client has its own budget


# --- two `briefing serve` replicas on loopback ----------------------------------------


def _replica(data: Path, redis_url: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [BRIEFING, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=dict(
            os.environ,
            BRIEFING_DATA_DIR=str(data),
            BRIEFING_CORPUS_DIR=str(DEFAULT_CORPUS_DIR),
            BRIEFING_REDIS_URL=redis_url,
            BRIEFING_LOG_LEVEL="warning",
            **env,
        ),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the replica did not become ready"
        time.sleep(0.3)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def replicas(
    server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[tuple[subprocess.Popen[str], str]]]:
    data = tmp_path_factory.mktemp("replicas") / "data"
    first = _replica(data, server.url)  # builds the index; the second loads it
    second = _replica(data, server.url)
    yield [first, second]
    for proc, _ in (first, second):
        _stop(proc)


def _ask(base: str, question: str, cid: str | None = None) -> httpx.Response:
    body = {"question": question} | ({"conversation_id": cid} if cid else {})
    return httpx.post(f"{base}/ask", json=body, timeout=30)


def test_a_conversation_started_on_one_replica_continues_on_the_other(
    replicas: list[tuple[subprocess.Popen[str], str]], server: RedisServer
) -> None:
    if server.proc is None:
        server.start()
    (_, a), (_, b) = replicas
    first = _ask(a, "Who controls the al-Qaim border crossing?").json()
    follow = _ask(b, "Who held it before that?", first["conversation_id"])
    assert follow.status_code == 200, follow.text
    assert follow.json()["resolved_question"] == (
        "Who held the al-Qaim border crossing before that?"
    )
    listed = httpx.get(f"{a}/conversations/{first['conversation_id']}").json()
    assert [t["question"] for t in listed["turns"]] == [
        "Who controls the al-Qaim border crossing?",
        "Who held it before that?",
    ]
    assert httpx.delete(f"{b}/conversations/{first['conversation_id']}").status_code == 204
    assert httpx.get(f"{a}/conversations/{first['conversation_id']}").status_code == 404


def test_redis_restarting_leaves_the_replicas_answering(
    replicas: list[tuple[subprocess.Popen[str], str]], server: RedisServer
) -> None:
    if server.proc is None:
        server.start()
    (_, a), (_, b) = replicas
    cid = _ask(a, "Who is Wisam al-Arab?").json()["conversation_id"]
    server.stop()
    alone = _ask(b, "Who pledged loyalty to ISIS?")
    assert alone.status_code == 200 and alone.json()["answered"], alone.text
    refused = _ask(b, "Where does he live?", cid)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "conversations_unavailable"
    assert refused.headers["retry-after"] == "1"
    server.start()  # empty: the conversation is gone, cleanly
    gone = _ask(a, "Where does he live?", cid)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "conversation_not_found"
    again = _ask(b, "Who is Wisam al-Arab?").json()["conversation_id"]
    assert _ask(a, "Where does he live?", again).json()["resolved_question"] == (
        "Where does Wisam al-Arab live?"
    )


def test_one_replica_killed_under_load_leaves_the_other_serving(
    server: RedisServer, tmp_path: Path
) -> None:
    if server.proc is None:
        server.start()
    data = tmp_path / "data"
    doomed, a = _replica(data, server.url)
    survivor, b = _replica(data, server.url)
    statuses: dict[str, list[int]] = {a: [], b: []}
    stop = threading.Event()

    def load(base: str) -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.post(f"{base}/ask", json={"question": "Who is Wisam al-Arab?"})
                    statuses[base].append(r.status_code)
                except httpx.TransportError:
                    statuses[base].append(0)

    threads = [threading.Thread(target=load, args=(base,)) for base in (a, b)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        doomed.kill()
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        assert 0 in statuses[a]  # the killed replica really went
        assert len(statuses[b]) > 5 and set(statuses[b]) == {200}
    finally:
        stop.set()
        _stop(doomed)
        _stop(survivor)
