"""Shared fixtures: the real bundled model, real indexes in temporary data directories,
and real uvicorn servers on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from corpus.article import Article
from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.api.app import create_app
from service.ops.engine import Engine
from service.settings import Settings

RAY = str(Path(sys.executable).parent / "ray")

EXTRA_ARTICLES = [
    Article(
        id="harbour-reopens",
        title="Harbour reopens after storm repairs",
        text=(
            "The northern harbour reopened on Monday after three months of repairs to the "
            "storm-damaged sea wall.\n\nThe repairs cost 4.2 million euros, the port "
            "authority said. Fishing boats returned to the harbour within hours."
        ),
        source="Coastal Times",
        url="https://example.org/harbour",
        published="2021-03-01",
    ),
    Article(
        id="library-digitises-maps",
        title="City library digitises its map collection",
        text=(
            "The city library has scanned 12,000 historical maps and put them online.\n\n"
            "The oldest map in the collection dates from 1602 and shows the river delta."
        ),
        source="Metro Daily",
        published="2023-09-15",
    ),
]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_start(*args: str) -> int:
    """Runs ``ray start`` in a session of its own and returns that session's id: every
    process of the node it starts (GCS, raylet, agents, and the workers the raylet forks
    later) stays in it."""
    proc = subprocess.Popen(
        [RAY, "start", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out.decode(errors='replace')}")
    return proc.pid


def _session_members(sessions: set[int]) -> list[int]:
    """Live processes in any of ``sessions`` (fields 3 and 6 of /proc/PID/stat: state and
    session; a zombie is gone already)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) in sessions:
            pids.append(int(proc.name))
    return pids


def _stop_sessions(sessions: set[int], grace: float = 5.0) -> None:
    """Stops the fixture's own Ray nodes: SIGTERM, then SIGKILL to what is left after
    ``grace`` seconds. (``ray stop`` would stop every Ray process on the machine, another
    test run's too.)"""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        for pid in _session_members(sessions):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _session_members(sessions):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        else:
            return


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A head and a worker, token-authenticated (Ray's own token auth, which every Ray
    process of ours, the `briefing` commands included, reads from the environment)."""
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    sessions: set[int] = set()
    sessions.add(
        _ray_start(
            "--head",
            "--port",
            str(port),
            "--node-ip-address",
            "127.0.0.1",
            "--include-dashboard=false",
            *common,
        )
    )
    try:
        sessions.add(_ray_start("--address", address, "--node-ip-address", "127.0.0.1", *common))
        yield address
    finally:
        from service.ops import cluster

        cluster.disconnect()
        _stop_sessions(sessions)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def actor_pids(cls: str) -> list[int]:
    """Processes of Ray actors of class ``cls`` (Ray titles them ``ray::<class>``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and title.startswith(f"ray::{cls}".encode()):
            pids.append(int(proc.name))
    return sorted(pids)


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The bundled all-MiniLM-L6-v2, loaded once for the session."""
    return Encoder.load()


@pytest.fixture(scope="session")
def reranker() -> Reader:
    """The shipped reader (it re-orders the best candidates), loaded once for the session."""
    return Reader.load()


def _engine(data_dir: Path, encoder: Encoder, reranker: Reader) -> Engine:
    """An engine on ``data_dir`` sharing the session's loaded models."""
    return Engine(Settings(data_dir=data_dir), encoder=encoder, reranker=reranker)


@pytest.fixture(scope="session")
def seed_engine(
    tmp_path_factory: pytest.TempPathFactory, encoder: Encoder, reranker: Reader
) -> Iterator[Engine]:
    """An engine serving only the default corpus (the seed article)."""
    engine = _engine(tmp_path_factory.mktemp("seed"), encoder, reranker)
    engine.bootstrap(DEFAULT_CORPUS_DIR)
    assert engine.state == "ready", engine.error
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def archive_engine(
    tmp_path_factory: pytest.TempPathFactory, encoder: Encoder, reranker: Reader
) -> Iterator[Engine]:
    """An engine with the seed article plus two unrelated articles from other sources."""
    engine = _engine(tmp_path_factory.mktemp("archive"), encoder, reranker)
    engine.ingest([DEFAULT_CORPUS_DIR])
    engine.ingest_articles(EXTRA_ARTICLES)
    engine.rebuild()
    engine.state = "ready"
    yield engine
    engine.close()


class LiveServer:
    """A uvicorn server running an app in a background thread."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        settings = (settings or engine.settings).model_copy(update={"port": self.port})
        config = uvicorn.Config(
            create_app(settings, engine=engine),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def serve() -> Iterator[Callable[..., httpx.Client]]:
    """Start a real server for an engine (optionally with other settings, e.g. CORS
    origins); returns an HTTP client bound to it."""
    servers: list[LiveServer] = []
    clients: list[httpx.Client] = []

    def start(engine: Engine, settings: Settings | None = None) -> httpx.Client:
        server = LiveServer(engine, settings)
        server.start()
        servers.append(server)
        client = httpx.Client(base_url=server.base_url, timeout=30)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def fresh_server(
    tmp_path_factory: pytest.TempPathFactory,
    encoder: Encoder,
    reranker: Reader,
    serve: Callable[..., httpx.Client],
) -> Iterator[Callable[..., tuple[httpx.Client, Engine]]]:
    """Start a real server over a new data directory holding the default corpus, with the
    given settings (e.g. an admin token); returns its client and its engine."""
    engines: list[Engine] = []

    def start(name: str, **settings: Any) -> tuple[httpx.Client, Engine]:
        config = Settings(data_dir=tmp_path_factory.mktemp(name), **settings)
        engine = Engine(config, encoder=encoder, reranker=reranker)
        engine.bootstrap(DEFAULT_CORPUS_DIR)
        engines.append(engine)
        return serve(engine, config), engine

    yield start
    for engine in engines:
        engine.close()


@pytest.fixture(scope="session")
def seed_http(serve: Callable[..., httpx.Client], seed_engine: Engine) -> httpx.Client:
    """HTTP client of a real server over the seed corpus."""
    return serve(seed_engine)


@pytest.fixture(scope="session")
def archive_http(serve: Callable[..., httpx.Client], archive_engine: Engine) -> httpx.Client:
    """HTTP client of a real server over the seed article plus two others."""
    return serve(archive_engine)


@pytest.fixture
def seed_text() -> str:
    """The raw seed article as shipped in the default corpus."""
    return (DEFAULT_CORPUS_DIR / "2014-06-23-isis-deir-ez-zor.txt").read_text(encoding="utf-8")
