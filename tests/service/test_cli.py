"""The ``briefing`` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from corpus.defaults import DEFAULT_CORPUS_DIR
from tests.conftest import free_port

BRIEFING = [sys.executable, "-m", "service.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, data_dir: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BRIEFING_DATA_DIR=str(data_dir), BRIEFING_LOG_LEVEL="warning")
    return subprocess.run(
        [*BRIEFING, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


@pytest.mark.parametrize(
    "command",
    [[], ["ingest"], ["rebuild"], ["ask"], ["serve"], ["eval"], ["delete"], ["watch"], ["brief"]],
)
def test_help(command: list[str], tmp_path: Path) -> None:
    r = run(*command, "--help", data_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "usage: briefing" in r.stdout


def test_bad_input_exits_non_zero_with_a_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run("ingest", str(tmp_path / "missing.txt"), data_dir=data)
    assert r.returncode == 2 and "no such file or directory" in r.stderr
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    r = run("ingest", str(empty_dir), data_dir=data)
    assert r.returncode == 2 and "no article files found" in r.stderr
    r = run("rebuild", data_dir=data)
    assert r.returncode == 2 and "briefing ingest" in r.stderr
    r = run("ask", "Anything?", "--top-k", "11", data_dir=data)
    assert r.returncode == 2 and "--top-k" in r.stderr
    r = run("ask", "Anything?", "--after", "last week", data_dir=data)
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr
    r = run("nonsense", data_dir=data)
    assert r.returncode == 2
    r = run("ingest", str(empty_dir), "--ray", "nonsense", data_dir=data)
    assert r.returncode == 2 and "host:port" in r.stderr


def test_an_unreachable_ray_head_fails_fast_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("ingest", str(DEFAULT_CORPUS_DIR), "--no-index", data_dir=data).returncode == 0
    r = run("rebuild", "--ray", f"127.0.0.1:{free_port()}", data_dir=data)
    assert r.returncode == 1
    assert "cannot reach the Ray head" in r.stderr and "ray start --head" in r.stderr


def test_bad_files_are_reported_and_good_ones_still_stored(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.json").write_text(
        json.dumps({"id": "good", "title": "Good", "text": "A fine article body."}),
        encoding="utf-8",
    )
    (folder / "empty.txt").write_text("3 min read\n\nShare this article!\n", encoding="utf-8")
    (folder / "broken.json").write_text("{oops", encoding="utf-8")
    r = run("ingest", "--no-index", str(folder), data_dir=tmp_path / "data")
    assert r.returncode == 1
    assert "added     good" in r.stdout
    assert "empty.txt" in r.stderr and "no text" in r.stderr
    assert "broken.json" in r.stderr and "invalid JSON" in r.stderr
    assert "1 added, 0 replaced, 0 unchanged, 2 failed" in r.stdout


def test_ingest_ask_and_reingest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run("ingest", str(DEFAULT_CORPUS_DIR), data_dir=data)
    assert r.returncode == 0, r.stderr
    assert "added     2014-06-23-isis-deir-ez-zor" in r.stdout
    assert "index updated: 34 sentences" in r.stdout
    r = run("ask", "Is the regime fighting ISIS in Deir e-Zor?", "--json", data_dir=data)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["answered"] and body["quotes"]
    stored = (DEFAULT_CORPUS_DIR / "2014-06-23-isis-deir-ez-zor.txt").read_text(encoding="utf-8")
    for quote in body["quotes"]:
        assert quote["text"] in stored
    r = run("ask", "Is the regime fighting ISIS in Deir e-Zor?", data_dir=data)
    assert r.returncode == 0
    assert "[1] ISIS seeking to tighten grip over Deir e-Zor — Syria Direct, 2014-06-23" in r.stdout
    r = run("ingest", str(DEFAULT_CORPUS_DIR), data_dir=data)
    assert r.returncode == 0
    assert "unchanged 2014-06-23-isis-deir-ez-zor" in r.stdout
    assert "index updated" not in r.stdout


def test_serve_builds_the_default_corpus_and_answers_over_http(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, BRIEFING_DATA_DIR=str(tmp_path / "data"), BRIEFING_LOG_LEVEL="warning")
    proc = subprocess.Popen(
        [*BRIEFING, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        ready = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                ready = httpx.get(f"{base}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200
        r = httpx.post(f"{base}/ask", json={"question": "Who pledged loyalty to ISIS?"}, timeout=30)
        assert r.status_code == 200
        body = r.json()
        assert "Mohsen, pledged loyalty to ISIS" in body["quotes"][0]["text"]
        article = httpx.get(f"{base}/articles/{body['quotes'][0]['article_id']}").json()
        q = body["quotes"][0]
        assert article["text"][q["start"] : q["end"]] == q["text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_delete_withdraws_articles_and_updates_the_index(tmp_path: Path) -> None:
    data = tmp_path / "data"
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "harbour.json").write_text(
        json.dumps({"id": "harbour", "title": "Harbour", "text": "The harbour reopened."})
    )
    assert run("ingest", str(DEFAULT_CORPUS_DIR), str(extra), data_dir=data).returncode == 0
    r = run("delete", "harbour", "nope", data_dir=data)
    assert r.returncode == 2
    assert "deleted   harbour" in r.stdout and "index updated" in r.stdout
    assert "no such article: nope" in r.stderr
    r = run("ask", "When did the harbour reopen?", "--json", data_dir=data)
    assert all(q["article_id"] != "harbour" for q in json.loads(r.stdout)["quotes"])
    r = run("delete", "2014-06-23-isis-deir-ez-zor", data_dir=data)
    assert r.returncode == 0 and "no articles are left to index" in r.stderr


def test_brief(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run("brief", "ISIS in Deir e-Zor", "--max", "3", "--json", data_dir=data)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["topic"] == "ISIS in Deir e-Zor" and len(body["points"]) == 3
    stored = (DEFAULT_CORPUS_DIR / "2014-06-23-isis-deir-ez-zor.txt").read_text(encoding="utf-8")
    assert all(p["text"] in stored and p["published"] == "2014-06-23" for p in body["points"])
    r = run("brief", "ISIS in Deir e-Zor", "--since", "2014-06-01", data_dir=data)
    assert r.returncode == 0 and r.stdout.startswith("2014-06-23  “")
    assert "[1] ISIS seeking to tighten grip over Deir e-Zor — Syria Direct" in r.stdout
    r = run("brief", "ISIS in Deir e-Zor", "--since", "2015-01-01", data_dir=data)
    assert r.returncode == 0 and "nothing on this topic" in r.stdout
    for bad in (
        ["--max", "13"],
        ["--since", "soon"],
        ["--since", "2015-01-01", "--until", "2014-01-01"],
    ):
        r = run("brief", "ISIS", *bad, data_dir=data)
        assert r.returncode == 2 and r.stderr.startswith("briefing: "), bad
