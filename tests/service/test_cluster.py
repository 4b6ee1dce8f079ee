"""Indexing on a real local Ray cluster (a head and one worker on loopback, one CPU each)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from embeddings.snapshots import Snapshots
from service.ops import cluster
from service.ops.engine import Engine
from service.settings import Settings
from tests.conftest import free_port
from tests.service.seed_questions import ANSWERABLE

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")
BRIEFING = [sys.executable, "-m", "service.cli"]
SQUAD = ROOT.parent / "shared" / "eval" / "squad-v1.1-dev-tune.json"


def _ray(*args: str) -> None:
    subprocess.run([RAY, *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    """A head and a worker, token-authenticated (Ray's own token auth, which every Ray
    process of ours, the `briefing` commands included, reads from the environment)."""
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    port = free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats"]
    _ray(
        "start",
        "--head",
        "--port",
        str(port),
        "--node-ip-address",
        "127.0.0.1",
        "--include-dashboard=false",
        *common,
    )
    try:
        _ray("start", "--address", address, "--node-ip-address", "127.0.0.1", *common)
        yield address
    finally:
        cluster.disconnect()
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def articles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The seed article and 80 SQuAD paragraphs: enough for segmentation tasks to run."""
    folder = tmp_path_factory.mktemp("articles")
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    records = [
        {"id": f"squad-{n}-{i}", "title": e["title"].replace("_", " "), "text": p["context"]}
        for n, e in enumerate(data[:8])
        for i, p in enumerate(e["paragraphs"][:10])
    ]
    path = folder / "squad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return [path, DEFAULT_CORPUS_DIR]


def _ingest(data: Path, paths: list[Path], *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BRIEFING_DATA_DIR=str(data))
    return subprocess.run(
        [*BRIEFING, "ingest", *map(str, paths), *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_cluster_build_equals_a_local_one(
    address: str, articles: list[Path], tmp_path: Path
) -> None:
    on_cluster = _ingest(tmp_path / "cluster", articles, "--ray", address)
    assert on_cluster.returncode == 0, on_cluster.stderr
    assert "encoder actors ready on the cluster" in on_cluster.stderr
    assert "81 added" in on_cluster.stdout
    local = _ingest(tmp_path / "local", articles)
    assert local.returncode == 0, local.stderr
    a = Snapshots(tmp_path / "cluster" / "index").load_current()
    b = Snapshots(tmp_path / "local" / "index").load_current()
    assert a.live_counts == b.live_counts and a.live_counts["articles"] == 81
    assert [x.id for x in a.live_articles()] == [x.id for x in b.live_articles()]
    n = a.live_counts["sentences"]
    rows = np.arange(n)
    assert a.texts(rows) == b.texts(rows)
    assert np.allclose(a.vectors("sentences", rows), b.vectors("sentences", rows), atol=1e-5)
    p = np.arange(a.live_counts["passages"])
    assert np.allclose(a.vectors("passages", p), b.vectors("passages", p), atol=1e-5)
    engines = [Engine(Settings(data_dir=tmp_path / name)) for name in ("cluster", "local")]
    try:
        for engine in engines:
            engine.load_live()
        for question, _ in ANSWERABLE:
            first = [e.ask(question).answer.quotes[0] for e in engines]
            assert first[0] == first[1], question
    finally:
        for engine in engines:
            engine.close()


def _actor_pids() -> list[int]:
    """Processes of encoder actors (Ray titles an actor's process ``ray::<class>``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and title.startswith(b"ray::_EncoderActor"):
            pids.append(int(proc.name))
    return sorted(pids)


def test_an_encoder_killed_mid_run_is_restarted_and_nothing_is_lost(
    address: str, encoder: Encoder
) -> None:
    cluster.connect(address)
    spec = cluster.EncoderSpec(None, "onnx-int8", None)
    remote = cluster.cluster_encoder(encoder, spec)
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    texts = [p["context"] for e in data[:20] for p in e["paragraphs"]][:600]
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            alive = _actor_pids()
            if len(alive) == 2:
                time.sleep(2.0)  # let them load the model and start on their chunks
                os.kill(alive[0], signal.SIGKILL)
                killed.append(alive[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one)
    killer.start()
    vectors = remote.encode(texts)
    killer.join()
    assert killed, "no encoder actor was found to kill"
    assert vectors.shape == (len(texts), encoder.dim)
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-5)
