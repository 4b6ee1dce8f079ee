"""Live index updates: a running server follows other processes, swaps atomically under
load, and nothing acknowledged is lost when the ingesting process is killed (SIGKILL)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from corpus.article import Article
from corpus.defaults import DEFAULT_CORPUS_DIR
from corpus.store import ArticleStore
from embeddings.encoder import Encoder
from embeddings.index import SearchIndex
from embeddings.reader import Reader
from embeddings.snapshots import POINTER, Snapshots
from service.ops.engine import Engine
from service.settings import Settings
from tests.service.test_cli import BRIEFING, ROOT, run

TOKEN = "live-updates-token-0123456789"
WORDS = [
    *[
        "river",
        "harbour",
        "council",
        "budget",
        "festival",
        "bridge",
        "school",
        "museum",
        "railway",
        "election",
    ],
    *[
        "tunnel",
        "library",
        "stadium",
        "hospital",
        "market",
        "factory",
        "airport",
        "garden",
        "theatre",
    ],
    *[
        "orchestra",
        "vineyard",
        "glacier",
        "volcano",
        "canal",
        "lighthouse",
        "observatory",
        "monastery",
    ],
    *["castle", "brewery", "ferry"],
]


def _article(n: int, rng: random.Random) -> dict[str, str]:
    """A distinct small article: its own words, so no two are near-duplicates."""
    sentences = [
        " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + f" number {n}-{k}."
        for k in range(4)
    ]
    return {"id": f"story-{n}", "title": f"Story {n}", "text": " ".join(sentences)}


def _engine(path: Path, encoder: Encoder, reranker: Reader, **extra: object) -> Engine:
    settings = Settings(data_dir=path, admin_token=TOKEN, reload_interval_s=0.2, **extra)
    return Engine(settings, encoder=encoder, reranker=reranker)


def test_a_running_server_serves_what_another_process_ingests(
    tmp_path: Path, encoder: Encoder, reranker: Reader, serve: Callable[..., httpx.Client]
) -> None:
    engine = _engine(tmp_path / "data", encoder, reranker)
    engine.bootstrap(DEFAULT_CORPUS_DIR)
    http = serve(engine, engine.settings)
    before = http.get("/index").json()["version"]
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "harbour.json").write_text(
        json.dumps(
            {
                "id": "harbour",
                "title": "Harbour reopens",
                "text": "The northern harbour reopened on Monday. "
                "The repairs cost 4.2 million euros, the port authority said.",
            }
        )
    )
    r = run("ingest", str(folder), data_dir=tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "index updated" in r.stdout
    deadline = time.monotonic() + 20
    while http.get("/index").json()["version"] == before:
        assert time.monotonic() < deadline, "the server did not pick up the new version"
        time.sleep(0.1)
    body = http.post("/ask", json={"question": "How much did the harbour repairs cost?"}).json()
    assert body["answered"] and body["quotes"][0]["article_id"] == "harbour"
    assert body["index_version"] != before
    engine.close()


def test_ask_never_fails_and_each_answer_is_from_exactly_one_version(
    tmp_path: Path, encoder: Encoder, reranker: Reader, serve: Callable[..., httpx.Client]
) -> None:
    engine = _engine(tmp_path / "data", encoder, reranker)
    engine.bootstrap(DEFAULT_CORPUS_DIR)
    live = engine.live
    assert live is not None
    # Instrumentation, not a mock: remember which articles each published version holds.
    versions: dict[str, set[str]] = {live.index.version: {a.id for a in live.index.articles}}
    publish = engine.snapshots.publish

    def recording_publish(index: SearchIndex) -> Path:
        versions[index.version] = {a.id for a in index.articles}
        return publish(index)

    engine.snapshots.publish = recording_publish  # type: ignore[method-assign]
    http = serve(engine, engine.settings)
    rng = random.Random(7)
    new = [_article(n, rng) for n in range(6)]
    questions = [
        "Is the regime fighting ISIS in Deir e-Zor?",
        "Who is Wisam al-Arab?",
        *(a["text"].split(" number")[0] + "?" for a in new),
    ]
    stop = threading.Event()
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def hammer(seed: int) -> None:
        client = httpx.Client(base_url=str(http.base_url), timeout=60)
        r = random.Random(seed)
        while not stop.is_set():
            resp = client.post("/ask", json={"question": r.choice(questions)})
            with lock:
                results.append((resp.status_code, resp.json()))
        client.close()

    threads = [threading.Thread(target=hammer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    jobs = []
    for n, article in enumerate(new):
        r = http.post("/articles", json=article, headers=headers)
        assert r.status_code == 202, r.text
        jobs.append(r.json()["job_id"])
        if n % 2 == 1:
            engine.rebuild()  # a full rebuild, three times, while readers keep asking
        time.sleep(0.2)
    deadline = time.monotonic() + 60
    while any(http.get(f"/jobs/{j}").json()["state"] != "done" for j in jobs):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()

    failures = [(s, b) for s, b in results if s != 200]
    assert not failures, failures[:3]
    seen_versions = {b["index_version"] for _, b in results}
    assert len(seen_versions) >= 3, "the readers should have crossed several versions"
    texts = {a["id"]: a["text"] for a in new}
    seed_text = engine.store.get("2014-06-23-isis-deir-ez-zor")
    assert seed_text is not None
    texts[seed_text.id] = seed_text.text
    for _, body in results:
        version = body["index_version"]
        assert version in versions, f"answered from an unknown version {version}"
        for citation in body["citations"]:
            assert citation["article_id"] in versions[version]
        for q in body["quotes"]:
            assert texts[q["article_id"]][q["start"] : q["end"]] == q["text"]
    engine.close()


@pytest.mark.slow
def test_killing_the_ingest_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    folder = tmp_path / "incoming"
    folder.mkdir()
    articles = [_article(n, rng) for n in range(60)]
    for a in articles:
        (folder / f"{a['id']}.json").write_text(json.dumps(a))
    data = tmp_path / "data"
    env = dict(os.environ, BRIEFING_DATA_DIR=str(data), BRIEFING_LOG_LEVEL="info")
    acknowledged: set[str] = set()
    kills = 0
    # Kill moments rotate over three phases, each at a random point within it: while
    # articles are being committed (right after a random acknowledgement), while the index
    # is being updated (a random delay after the last acknowledgement), and from start
    # (model loading, or anywhere).
    # A run that finishes before its kill moment counts for nothing: runs go on (up to 12)
    # until at least 8 were made and 4 of them killed mid-way.
    phases = ["storing", "indexing", "anytime"] * 4
    for attempt, phase in enumerate(phases):
        if attempt >= 8 and kills >= 4:
            break
        # Change some articles each time, so every run stores, embeds and publishes.
        for a in rng.sample(articles, 8):
            a["text"] += f" Updated in run {attempt}."
            (folder / f"{a['id']}.json").write_text(json.dumps(a))
        proc = subprocess.Popen(
            [*BRIEFING, "ingest", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        lines: list[str] = []
        logs: list[str] = []
        acked = threading.Condition()

        def read(
            p: subprocess.Popen[str] = proc,
            out: list[str] = lines,
            cond: threading.Condition = acked,
        ) -> None:
            for line in p.stdout or []:
                with cond:
                    out.append(line)
                    cond.notify_all()

        def read_log(
            p: subprocess.Popen[str] = proc,
            out: list[str] = logs,
            cond: threading.Condition = acked,
        ) -> None:
            for line in p.stderr or []:
                with cond:
                    out.append(line)
                    cond.notify_all()

        readers = [threading.Thread(target=read), threading.Thread(target=read_log)]
        for reader in readers:
            reader.start()
        with acked:
            if phase == "storing":
                n = rng.randint(1, len(articles) - 5)
                acked.wait_for(lambda n=n, out=lines: len(out) >= n, timeout=120)
                delay = rng.uniform(0.0, 0.05)
            elif phase == "indexing":
                # The model loads when the index update starts; then it embeds and publishes.
                acked.wait_for(lambda out=logs: any("loaded model" in x for x in out), timeout=120)
                delay = rng.uniform(0.0, 1.0)
            else:
                delay = rng.uniform(0.5, 8.0)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        for reader in readers:
            reader.join()
        acknowledged |= {
            line.split()[1]
            for line in lines
            if line.split() and line.split()[0] in ("added", "replaced", "unchanged")
        }
        # Every acknowledged article is stored, whatever moment the process died at.
        store = ArticleStore(data / "articles.sqlite3")
        missing = [a for a in acknowledged if store.get(a) is None]
        store.close()
        assert not missing, f"seed {seed}, attempt {attempt}: lost {missing}"
        # Whatever CURRENT names is a complete version that passes verification.
        snapshots = Snapshots(data / "index")
        if snapshots.current_version() is not None:
            snapshots.load_current()
    assert kills >= 4, f"seed {seed}: too few runs were killed mid-way ({kills})"

    # A clean run finishes the job: everything stored, the index complete, junk gone.
    r = run("ingest", str(folder), data_dir=data, timeout=300)
    assert r.returncode == 0, r.stderr
    store = ArticleStore(data / "articles.sqlite3")
    for a in articles:
        stored = store.get(a["id"])
        assert stored is not None and stored.text == a["text"], f"seed {seed}: {a['id']}"
    store.close()
    snapshots = Snapshots(data / "index")
    index = snapshots.load_current()
    assert {x.id for x in index.articles} == {a["id"] for a in articles}
    assert not any(snapshots.building.iterdir()) if snapshots.building.exists() else True
    assert not list((data / "index").glob(f"{POINTER}.*.tmp"))


def test_a_server_refuses_a_tampered_new_version_and_keeps_serving(
    tmp_path: Path, encoder: Encoder, reranker: Reader
) -> None:
    writer = _engine(tmp_path / "data", encoder, reranker)
    writer.bootstrap(DEFAULT_CORPUS_DIR)
    reader = _engine(tmp_path / "data", encoder, reranker)
    reader.load_live()
    serving = reader.live
    assert serving is not None
    writer.ingest_articles([Article("harbour", "Harbour", "The harbour reopened on Monday.")])
    assert writer.update_index() is not None
    published = writer.snapshots.current_version()
    assert published is not None and published != serving.index.version
    # Corrupt the new version's new segment after publication: its checksums no longer match.
    manifest = json.loads((writer.snapshots.versions / published / "manifest.json").read_text())
    new_segment = writer.snapshots.segments / manifest["segments"][-1]["name"]
    blob = new_segment / "sentences.text.blob.npy"
    blob.write_bytes(blob.read_bytes().replace(b"Monday", b"Friday"))
    assert reader.follow_published() is False
    assert reader.live is serving
    assert reader.ask("Is the regime fighting ISIS?").index_version == serving.index.version
    writer.close()
    reader.close()
