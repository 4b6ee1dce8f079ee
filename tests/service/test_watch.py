"""``briefing watch``: folders and RSS/Atom feeds (served from loopback), resumable."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from corpus.feeds import feed_articles, fragment_text
from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.ops.engine import Engine
from service.ops.watch import Event, Watcher
from service.settings import Settings
from tests.conftest import free_port
from tests.service.test_cli import run

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Valley Courier</title><link>https://courier.example/</link>
<item>
  <guid>https://courier.example/floods</guid>
  <title>Floods close three bridges</title>
  <link>https://courier.example/floods</link>
  <pubDate>Wed, 01 May 2024 08:00:00 GMT</pubDate>
  <description><![CDATA[<p>Floodwaters closed three bridges in the valley overnight.</p>
  <p>Emergency crews built sandbag walls along the main road, the authority said.</p>
  <script>alert(1)</script>]]></description>
</item>
<item>
  <guid>https://courier.example/budget</guid>
  <title>Council doubles library budget</title>
  <link>https://courier.example/budget</link>
  <pubDate>Thu, 02 May 2024 09:30:00 GMT</pubDate>
  <description>The council approved a budget doubling spending on public libraries.</description>
</item>
</channel></rss>"""


class FeedServer:
    """A loopback HTTP server for one feed, answering 304 to a matching If-None-Match."""

    def __init__(self) -> None:
        self.body = RSS
        self.requests: list[int] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                etag = f'"{hash(owner.body) & 0xFFFFFFFF:x}"'
                if self.headers.get("If-None-Match") == etag:
                    owner.requests.append(304)
                    self.send_response(304)
                    self.end_headers()
                    return
                data = owner.body.encode()
                owner.requests.append(200)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/feed.xml"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def engine(tmp_path: Path, encoder: Encoder, reranker: Reader) -> Iterator[Engine]:
    eng = Engine(Settings(data_dir=tmp_path / "data"), encoder=encoder, reranker=reranker)
    yield eng
    eng.close()


def _write(folder: Path, name: str, title: str, text: str) -> Path:
    path = folder / name
    path.write_text(json.dumps({"id": path.stem, "title": title, "text": text}))
    return path


def test_feed_entries_become_articles() -> None:
    items, problems = feed_articles(RSS.encode(), "https://courier.example/feed.xml")
    assert not problems
    first = items[0].article
    assert first.title == "Floods close three bridges"
    assert first.source == "Valley Courier" and first.published == "2024-05-01"
    assert first.url == "https://courier.example/floods"
    assert first.text.split("\n\n") == [
        "Floodwaters closed three bridges in the valley overnight.",
        "Emergency crews built sandbag walls along the main road, the authority said.",
    ]
    assert first.id.startswith("courier.example:")
    assert fragment_text("<p>a &amp; b</p><style>x{}</style>") == "a & b"


def test_a_folder_is_ingested_once_and_changes_are_picked_up(
    tmp_path: Path, engine: Engine
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    _write(folder, "harbour.json", "Harbour", "The harbour reopened on Monday after repairs.")
    _write(folder, "maps.json", "Maps", "The library scanned twelve thousand historical maps.")
    events: list[Event] = []
    watcher = Watcher(engine, [folder], [], on_event=events.append)
    assert watcher.run_once() == 2
    assert sorted(e.subject for e in events if e.kind == "added") == ["harbour", "maps"]
    assert any(e.kind == "indexed" for e in events)
    assert engine.ask("When did the harbour reopen?").answer.quotes[0].article_id == "harbour"
    events.clear()
    assert watcher.run_once() == 0 and events == []
    # A changed file is read again and replaces its article; a bad file is reported.
    path = _write(folder, "harbour.json", "Harbour", "The harbour stays closed until June.")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    (folder / "broken.json").write_text("{not json")
    assert watcher.run_once() == 1
    assert [e.subject for e in events if e.kind == "replaced"] == ["harbour"]
    assert any(e.kind == "failed" and "broken.json" in e.where for e in events)
    watcher.close()
    # A restarted watcher resumes: nothing is read again.
    events.clear()
    again = Watcher(engine, [folder], [], on_event=events.append)
    assert again.run_once() == 0 and events == []
    again.close()


def test_a_feed_is_polled_with_conditional_requests(engine: Engine, feed: FeedServer) -> None:
    events: list[Event] = []
    watcher = Watcher(engine, [], [feed.url], on_event=events.append)
    assert watcher.run_once() == 2
    answer = engine.ask("How many bridges did the floods close?").answer
    assert answer.answered and "three bridges" in answer.quotes[0].text
    assert watcher.run_once() == 0
    assert feed.requests == [200, 304]
    # An entry changes upstream: only it is stored again.
    feed.body = RSS.replace("doubling spending", "tripling spending")
    events.clear()
    assert watcher.run_once() == 1
    assert [e.kind for e in events if e.kind != "indexed"] == ["replaced"]
    watcher.close()


def test_watch_command(tmp_path: Path, feed: FeedServer) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    _write(folder, "harbour.json", "Harbour", "The harbour reopened on Monday after repairs.")
    data = tmp_path / "data"
    r = run("watch", str(folder), "--feed", feed.url, "--once", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert "added     harbour" in r.stdout and "indexed" in r.stdout
    assert r.stdout.count("added ") == 3
    r = run("watch", str(folder), "--feed", feed.url, "--once", data_dir=data)
    assert r.returncode == 0 and "added" not in r.stdout
    for bad in (["watch"], ["watch", "--feed", "ftp://x/feed"], ["watch", str(tmp_path / "no")]):
        r = run(*bad, data_dir=data)
        assert r.returncode == 2 and r.stderr.startswith("briefing: ")
