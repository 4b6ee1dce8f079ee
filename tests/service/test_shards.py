"""A sharded index answers as the unsharded one: in-process shards, then a real
`briefing serve --shards 2` on a local Ray cluster (a head and a worker on loopback)."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from corpus.article import Article
from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from embeddings.index import SearchIndex
from embeddings.sparse import tokenize
from service.answering.retrieve import Retriever
from service.answering.search import Filters, Hits, IndexSearcher, Query, archive_stats, merge
from service.evaluation.squad import SquadQuestion, load_squad
from service.ops.engine import Engine
from service.ops.shards import assign
from service.settings import Settings
from tests.conftest import EXTRA_ARTICLES, actor_pids, free_port
from tests.service.seed_questions import ANSWERABLE

ROOT = Path(__file__).resolve().parents[2]
SQUAD = ROOT.parent / "shared" / "eval" / "squad-v1.1-dev-tune.json"
BRIEFING = [sys.executable, "-m", "service.cli"]
TITLES = 12  # SQuAD articles in the archive, ingested in three batches


class InProcessShards:
    """What ``service.ops.shards.ShardedSearcher`` does over Ray, with direct calls."""

    def __init__(self, index: SearchIndex, count: int) -> None:
        self.index = index
        self.parts = [
            IndexSearcher(index, [k for k, s in enumerate(index.segments) if s.name in names])
            for names in map(set, assign(index, count))
        ]

    def search(self, query: Query) -> Hits:
        stats = archive_stats(self.index, query.terms)
        return merge(self.index, query, [p.search(query, stats) for p in self.parts])


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Iterator[Engine]:
    """Four segments (seed and extras, then three batches of SQuAD articles) and a
    tombstone (one SQuAD article withdrawn)."""
    squad = load_squad([SQUAD])
    engine = Engine(Settings(data_dir=tmp_path_factory.mktemp("sharded")), encoder=encoder)
    engine.ingest([DEFAULT_CORPUS_DIR])
    engine.ingest_articles(EXTRA_ARTICLES)
    engine.update_index()
    articles = squad.articles[:TITLES]
    for lo in range(0, TITLES, TITLES // 3):
        engine.ingest_articles(articles[lo : lo + TITLES // 3])
        engine.update_index()
    engine.withdraw([articles[1].id])
    engine.update_index()
    live = engine.live
    assert live is not None and len(live.index.segments) == 4
    assert any(d.any() for d in live.index.dead)
    yield engine
    engine.close()


def _questions(engine: Engine, n: int = 120) -> list[SquadQuestion]:
    live = engine.live
    assert live is not None
    kept = {a.id for a in live.index.live_articles()}
    questions = [q for q in load_squad([SQUAD]).questions if q.article_id in kept]
    return random.Random(0).sample(questions, n)


FILTERS = [
    Filters(),
    Filters(source="Coastal Times"),
    Filters(published_after="2022-01-01"),
    Filters(article_ids=("harbour-reopens", "2014-06-23-isis-deir-ez-zor")),
]


def _same_hits(a: Hits, b: Hits) -> None:
    for f in dataclasses.fields(Hits):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, tuple):
            assert np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]), f.name
        else:
            assert np.array_equal(x, y), f.name


def test_shards_are_whole_segments_dealt_largest_first(archive: Engine) -> None:
    live = archive.live
    assert live is not None
    names = [s.name for s in live.index.segments]
    for count in (1, 2, 3, 4, 6):
        shards = assign(live.index, count)
        assert len(shards) == count
        assert sorted(n for shard in shards for n in shard) == sorted(names)
    sizes = sorted(len(s) for s in assign(live.index, 2))
    assert sizes[0] >= 1  # both shards get work
    live_rows = [
        int((~dead)[seg.sentences["article"]].sum())
        for seg, dead in zip(live.index.segments, live.index.dead, strict=True)
    ]
    largest = live.index.segments[live_rows.index(max(live_rows))].name
    assert assign(live.index, 2)[0][0] == largest  # dealt first, to the first shard


@pytest.mark.parametrize("count", [2, 3])
def test_sharded_searches_find_exactly_what_one_search_finds(
    archive: Engine, encoder: Encoder, count: int
) -> None:
    live = archive.live
    assert live is not None
    whole, shards = IndexSearcher(live.index), InProcessShards(live.index, count)
    questions = [q for q, _ in ANSWERABLE] + [q.question for q in _questions(archive, 60)]
    vectors = encoder.encode(questions)
    for vector, terms in zip(vectors, tokenize(questions), strict=True):
        for filters in FILTERS:
            query = Query(tuple(dict.fromkeys(terms)), vector, filters, 50, 8)
            expected = whole.search(query)
            _same_hits(shards.search(query), expected)
        assert expected.pool.size  # the comparison is not between two empty results


def test_sharded_retrieval_ranks_every_candidate_as_unsharded(
    archive: Engine, encoder: Encoder
) -> None:
    live = archive.live
    assert live is not None
    index = live.index
    plain = Retriever(index, archive.weights)
    sharded = Retriever(index, archive.weights, searcher=InProcessShards(index, 2))
    questions = [q for q, _ in ANSWERABLE] + [q.question for q in _questions(archive)]
    firsts = []
    for question, vector in zip(questions, encoder.encode(questions), strict=True):
        a = plain.retrieve(question, vector)
        b = sharded.retrieve(question, vector)
        assert a.candidates == b.candidates, question
        firsts.append(a.candidates[0].sentence)
    # The shards answered from every segment, not only one.
    segments, _ = index.locate("sentences", np.array(firsts))
    assert len(set(segments.tolist())) >= 3


def test_a_sharded_server_needs_a_cluster(tmp_path: Path) -> None:
    env = dict(os.environ, BRIEFING_DATA_DIR=str(tmp_path))
    run = subprocess.run(
        [*BRIEFING, "serve", "--shards", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2
    assert "shards need a Ray cluster" in run.stderr
    env.update(BRIEFING_SHARDS="2", BRIEFING_RAY_ADDRESS="head-without-port")
    run = subprocess.run([*BRIEFING, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "'head-without-port' is not a Ray head's host:port" in run.stderr
    assert not any(tmp_path.iterdir())  # nothing was started or written


# --- a real server on a real cluster ---------------------------------------------------


def _wait_ready(
    client: httpx.Client, proc: subprocess.Popen[str], log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("server not ready")


def _quotes(body: dict[str, object]) -> list[tuple[object, ...]]:
    quotes = body["quotes"]
    assert isinstance(quotes, list)
    return [(q["article_id"], q["start"], q["end"], q["text"]) for q in quotes]


def test_a_sharded_server_answers_as_one_process_follows_versions_and_survives_a_shard_kill(
    ray_cluster: str, archive: Engine, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(os.environ, BRIEFING_DATA_DIR=str(archive.settings.data_dir))
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [*BRIEFING, "serve", "--port", str(port), "--shards", "2", "--ray", ray_cluster],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        text=True,
    )
    questions = [q for q, _ in ANSWERABLE] + [q.question for q in _questions(archive, 30)]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            _wait_ready(client, proc, log)
            assert len(actor_pids("ShardActor")) == 2

            def compare() -> None:
                for question in questions:
                    r = client.post("/ask", json={"question": question})
                    assert r.status_code == 200, r.text
                    body = r.json()
                    expected = archive.ask(question)
                    assert body["index_version"] == expected.index_version
                    assert body["answered"] == expected.answer.answered, question
                    assert _quotes(body) == [
                        (q.article_id, q.start, q.end, q.text) for q in expected.answer.quotes
                    ], question

            compare()

            # A version published by another process is searched by the shards too.
            archive.ingest_articles(
                [
                    Article(
                        id="ferry-strike",
                        title="Ferry crews strike over rosters",
                        text="Ferry crews on the island route walked out on Tuesday over "
                        "new rosters.\n\nThe strike stranded about 1,300 passengers, the "
                        "operator said.",
                        source="Coastal Times",
                        published="2024-05-07",
                    )
                ]
            )
            archive.update_index()
            live = archive.live
            assert live is not None
            deadline = time.monotonic() + 60
            body: dict[str, object] = {}
            while time.monotonic() < deadline:
                body = client.post(
                    "/ask", json={"question": "How many ferry passengers did the strike strand?"}
                ).json()
                if body["index_version"] == live.index.version:
                    break
                time.sleep(0.5)
            assert body["index_version"] == live.index.version
            assert "1,300 passengers" in _quotes(body)[0][3]

            # A shard process killed: Ray restarts it, it reloads its share, and the
            # question is retried; answers are unchanged.
            victim = actor_pids("ShardActor")[0]
            os.kill(victim, signal.SIGKILL)
            compare()
            assert victim not in actor_pids("ShardActor")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        # The shards are the server's: they stop with it.
        deadline = time.monotonic() + 30
        while actor_pids("ShardActor") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not actor_pids("ShardActor")
    served = log.read_text()
    assert "served by 2 shards" in served and "Traceback" not in served, served[-3000:]


def test_a_shard_gone_for_good_is_replaced_and_a_hung_one_fails_fast(
    ray_cluster: str, archive: Engine, encoder: Encoder, serve: Any
) -> None:
    import ray

    settings = Settings(
        data_dir=archive.settings.data_dir,
        shards=2,
        ray_address=ray_cluster,
        shard_timeout_s=2.0,
        reload_interval_s=0,
    )
    engine = Engine(settings, encoder=encoder)
    try:
        engine.load_live()
        pool = engine.shards
        assert pool is not None
        client = serve(engine, settings)
        question = ANSWERABLE[0][0]
        expected = [
            (q.article_id, q.start, q.end, q.text) for q in archive.ask(question).answer.quotes
        ]

        # Killed without restart: replaced, the question retried, the answer unchanged.
        gone = pool.actors[0]
        ray.kill(gone, no_restart=True)
        r = client.post("/ask", json={"question": question})
        assert r.status_code == 200, r.text
        assert _quotes(r.json()) == expected
        assert pool.actors[0] is not gone

        # Hung (stopped): the question fails within the timeout with a 503, not a hang.
        hung = ray.get(pool.actors[1].status.remote())["pid"]
        os.kill(hung, signal.SIGSTOP)
        try:
            began = time.monotonic()
            r = client.post("/ask", json={"question": question})
            took = time.monotonic() - began
        finally:
            os.kill(hung, signal.SIGCONT)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "search_unavailable"
        assert r.headers["Retry-After"] == "1"
        assert 2.0 <= took < 10.0
        # Resumed, it answers again.
        r = client.post("/ask", json={"question": question})
        assert r.status_code == 200 and _quotes(r.json()) == expected

        # A sharded server is also a writer: what it indexes (a new segment, written while
        # this process holds no ANN index) its shards search.
        engine.ingest_articles(
            [
                Article(
                    id="tram-fares",
                    title="Tram fares frozen",
                    text="Tram fares in Marrowby will be frozen at £2.10 until 2028, the city "
                    "council said on Friday.",
                    source="Courier",
                )
            ]
        )
        engine.update_index()
        r = client.post("/ask", json={"question": "Until when are tram fares frozen?"})
        assert r.status_code == 200 and "until 2028" in _quotes(r.json())[0][3]
    finally:
        engine.close()
