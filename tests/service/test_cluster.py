"""Indexing on a real local Ray cluster (a head and one worker on loopback, one CPU each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from embeddings.snapshots import Snapshots
from service.ops import cluster
from service.ops.engine import Engine
from service.settings import Settings
from tests.conftest import actor_pids
from tests.service.seed_questions import ANSWERABLE

ROOT = Path(__file__).resolve().parents[2]
BRIEFING = [sys.executable, "-m", "service.cli"]
SQUAD = ROOT.parent / "shared" / "eval" / "squad-v1.1-dev-tune.json"


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
    ray_cluster: str, articles: list[Path], tmp_path: Path
) -> None:
    address = ray_cluster
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


def test_an_encoder_killed_mid_run_is_restarted_and_nothing_is_lost(
    ray_cluster: str, encoder: Encoder
) -> None:
    address = ray_cluster
    cluster.connect(address)
    spec = cluster.EncoderSpec(None, "openvino-int8", None)
    remote = cluster.cluster_encoder(encoder, spec)
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    texts = [p["context"] for e in data[:20] for p in e["paragraphs"]][:600]
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            alive = actor_pids("_EncoderActor")
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
