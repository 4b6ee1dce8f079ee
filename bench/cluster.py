"""Past one machine: indexing throughput with 1 and 2 Ray workers, /ask throughput with 1
and 2 API replicas, each pinned to its own core, as ratios measured in one run.

    python bench/cluster.py [--texts 3000] [--seconds 20] [--json]

Indexing: a Ray head and a worker on loopback (``taskset`` one core each, ``--num-cpus 1``,
token-authenticated); the same held-out SQuAD sentences are embedded through
``service.ops.cluster.RayModel`` with one encoder actor, then two (each run includes starting
the actors and loading the model, as every ``briefing ingest --ray`` does).

Serving: ``briefing serve`` replicas on the default corpus (each ``taskset`` to one core)
sharing a data directory and a ``redis-server``; ``wrk`` (Debian's) posts seed questions for
``--seconds`` at replica 1 alone, then spread over both, with 8 connections per replica. On a
2-core machine the load generator and Redis share the replicas' cores, so the 2-replica
figure is a floor.

Needs Debian's ``redis-server`` and ``wrk``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.ops import cluster

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
RAY = str(Path(sys.executable).parent / "ray")
BRIEFING = str(Path(sys.executable).parent / "briefing")
QUESTIONS = [
    "Which sides are fighting over Deir e-Zor?",
    "When did ISIS seize the a-Siyasiya Bridge?",
    "Who pledged loyalty to ISIS?",
    "Why does the bridge matter?",
]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sentences(n: int) -> list[str]:
    from live import _sentences as live_sentences  # bench/live.py, beside this file

    pool = live_sentences()
    random.Random(0).shuffle(pool)
    return pool[:n]


def indexing(texts: list[str]) -> dict[str, float]:
    """Embedding throughput (texts/s) on one encoder actor and on two."""
    from embeddings.encoder import Encoder

    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    port = _port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]
    head = ["--head", "--port", str(port), "--include-dashboard=false"]
    subprocess.run(["taskset", "-c", "0", RAY, "start", *head, *common], check=True)
    try:
        worker = ["--address", address]
        subprocess.run(["taskset", "-c", "1", RAY, "start", *worker, *common], check=True)
        cluster.connect(address)
        local = Encoder.load()
        spec = cluster.EncoderSpec(None, "openvino-int8", None)
        rates: dict[str, float] = {}
        for actors in (1, 2):
            model = cluster.RayModel(spec, local.model_id, local.dim, actors=actors)
            model.encode(texts[:64], batch_size=32, progress=False)  # warm the nodes' caches
            started = time.perf_counter()
            model.encode(texts, batch_size=32, progress=False)
            rates[f"embed_texts_per_s_{actors}_workers"] = len(texts) / (
                time.perf_counter() - started
            )
            _log(f"{actors} encoder actor(s): {rates[f'embed_texts_per_s_{actors}_workers']:.0f}/s")
        return rates
    finally:
        cluster.disconnect()
        subprocess.run([RAY, "stop", "--force"], capture_output=True)


def _serve(data: Path, redis_url: str, core: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    env = dict(
        os.environ,
        BRIEFING_DATA_DIR=str(data),
        BRIEFING_REDIS_URL=redis_url,
        BRIEFING_LOG_LEVEL="warning",
    )
    proc = subprocess.Popen(
        ["taskset", "-c", str(core), BRIEFING, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("a replica did not become ready")


_WRK_SCRIPT = """
local questions = {%s}
local n = 0
request = function()
  n = n + 1
  local body = '{"question": "' .. questions[(n %% #questions) + 1] .. '"}'
  return wrk.format("POST", "/ask", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.duration))
end
"""


def _wrk(bases: list[str], seconds: int, folder: Path) -> tuple[float, int]:
    """Requests a second over all ``bases`` (8 connections each, in parallel), and errors."""
    script = folder / "ask.lua"
    script.write_text(_WRK_SCRIPT % ", ".join(json.dumps(q) for q in QUESTIONS))
    runs = [
        subprocess.Popen(
            ["wrk", "-t1", "-c8", f"-d{seconds}s", "-s", str(script), base],
            stdout=subprocess.PIPE,
            text=True,
        )
        for base in bases
    ]
    total, errors = 0.0, 0
    for run in runs:
        out, _ = run.communicate()
        m = re.search(r"RESULT (\d+) (\d+) (\d+)", out)
        assert m, out
        requests, errs, micros = (int(g) for g in m.groups())
        total += requests / (micros / 1e6)
        errors += errs
    return total, errors


def serving(seconds: int) -> dict[str, float]:
    """/ask throughput on one replica and on two (each on its own core)."""
    folder = Path(tempfile.mkdtemp(prefix="briefing-cluster-"))
    redis_port = _port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = f"redis://127.0.0.1:{redis_port}/0"
        first, a = _serve(folder / "data", url, 0)
        second, b = _serve(folder / "data", url, 1)
        procs = [first, second]
        for base in (a, b):  # warm up
            for q in QUESTIONS * 5:
                httpx.post(f"{base}/ask", json={"question": q}, timeout=30)
        one, errors_one = _wrk([a], seconds, folder)
        _log(f"1 replica: {one:.1f} /ask per second ({errors_one} errors)")
        two, errors_two = _wrk([a, b], seconds, folder)
        _log(f"2 replicas: {two:.1f} /ask per second ({errors_two} errors)")
        return {
            "ask_per_s_1_replica": one,
            "ask_per_s_2_replicas": two,
            "ask_errors": errors_one + errors_two,
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        redis.kill()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=3000, help="sentences embedded per run")
    parser.add_argument("--seconds", type=int, default=20, help="length of each load run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    for tool in ("wrk", "redis-server", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/cluster.py needs {tool}: apt-get install wrk redis-server util-linux")
    report: dict[str, Any] = {}
    report.update(indexing(_sentences(args.texts)))
    report.update(serving(args.seconds))
    report["indexing_speedup"] = round(
        report["embed_texts_per_s_2_workers"] / report["embed_texts_per_s_1_workers"], 2
    )
    report["serving_speedup"] = round(
        report["ask_per_s_2_replicas"] / report["ask_per_s_1_replica"], 2
    )
    report = {
        k: round(v, 1) if isinstance(v, float) and not k.endswith("speedup") else v
        for k, v in report.items()
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
