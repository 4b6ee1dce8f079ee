"""Soak: mixed traffic against a real `briefing serve` on loopback, for minutes.

    python bench/soak.py --minutes 30 [--clients 4] [--json]

Starts `briefing serve` in a fresh data directory (the default corpus, an admin token),
then drives it from --clients threads until the time is up: questions (half of them from
the seed question set, half from SQuAD paragraphs the run adds), follow-ups in the
conversations they start, conversation and article reads, and admin adds and deletes of
SQuAD paragraphs as articles (the oldest added are withdrawn, so the archive stays about
the same size). Every request goes to 127.0.0.1 only, and the run stops by itself.

Reports requests, errors (any 5xx, a status the request could not expect, or a broken
connection), p50/p99 per route over the first and the last tenth of the run, and the
server's resident memory after warm-up, every 30 seconds and at the end, with its growth
over the whole run and over the last two thirds (after the bounded stores have filled).
Goals for 30 minutes: 0 errors, RSS growth < 10 %, p99 drift < 20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval" / "squad-v1.1-dev-tune.json"
sys.path.insert(0, str(ROOT))

from tests.service.seed_questions import ANSWERABLE  # noqa: E402

FOLLOW_UPS = ("Who said that?", "And before that?", "What about the regime?", "Why?")
# What each kind of request may answer; anything else counts as an error.
EXPECTED = {
    "ask": {200},
    "follow-up": {200, 404},  # a conversation may have expired or been evicted
    "conversation": {200, 404},
    "article": {200, 404},  # a withdrawn article is a 404
    "list": {200},
    "add": {202},
    "delete": {202, 404},
    "job": {200, 404},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _paragraphs() -> list[dict]:
    data = json.loads(EVAL.read_text(encoding="utf-8"))["data"]
    out = []
    for entry in data:
        for i, p in enumerate(entry["paragraphs"]):
            out.append(
                {
                    "title": f"{entry['title'].replace('_', ' ')} ({i + 1})",
                    "text": p["context"],
                    "questions": [qa["question"] for qa in p["qas"]],
                    "source": "SQuAD",
                }
            )
    return out


class Soak:
    """The traffic, its measurements and the articles it added."""

    def __init__(self, base: str, token: str, seconds: float, seed: int) -> None:
        self.base, self.token = base, token
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.paragraphs = _paragraphs()
        self.added: list[tuple[str, list[str]]] = []  # (id, its questions)
        self.conversations: list[str] = []
        self.samples: list[tuple[float, str, float]] = []  # (t, kind, ms)
        self.errors: list[str] = []
        self.requests = 0
        self.counter = 0

    def run(self, clients: int) -> None:
        threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _client(self, n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while time.monotonic() < self.deadline:
                kind = rng.choices(
                    ["ask", "follow-up", "conversation", "article", "list", "add", "delete"],
                    # Adds and deletes at one rate: past 40 added articles each delete
                    # withdraws the oldest, so the archive stays about the same size.
                    weights=[45, 15, 10, 10, 6, 7, 7],
                )[0]
                try:
                    self._one(http, kind, rng)
                except httpx.HTTPError as exc:
                    self._error(f"{kind}: {type(exc).__name__}: {exc}")

    def _timed(
        self, http: httpx.Client, kind: str, method: str, url: str, **kw: object
    ) -> httpx.Response:
        started = time.perf_counter()
        r = http.request(method, url, **kw)  # type: ignore[arg-type]
        ms = (time.perf_counter() - started) * 1000
        with self.lock:
            self.requests += 1
            self.samples.append((time.monotonic() - self.started, kind, ms))
        if r.status_code not in EXPECTED[kind]:
            self._error(f"{kind} {method} {url}: {r.status_code} {r.text[:200]}")
        return r

    def _error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def _one(self, http: httpx.Client, kind: str, rng: random.Random) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        if kind == "ask":
            with self.lock:
                added = list(self.added[-50:])
            if added and rng.random() < 0.5:
                question = rng.choice(rng.choice(added)[1])
            else:
                question = rng.choice(ANSWERABLE)[0]
            r = self._timed(http, "ask", "POST", "/ask", json={"question": question})
            if r.status_code == 200:
                with self.lock:
                    self.conversations = [*self.conversations[-200:], r.json()["conversation_id"]]
        elif kind == "follow-up":
            with self.lock:
                cid = rng.choice(self.conversations) if self.conversations else None
            if cid:
                body = {"question": rng.choice(FOLLOW_UPS), "conversation_id": cid}
                self._timed(http, "follow-up", "POST", "/ask", json=body)
        elif kind == "conversation":
            with self.lock:
                cid = rng.choice(self.conversations) if self.conversations else None
            if cid:
                self._timed(http, "conversation", "GET", f"/conversations/{cid}")
        elif kind == "article":
            with self.lock:
                ids = [a for a, _ in self.added[-20:]] or ["2014-06-23-isis-deir-ez-zor"]
            self._timed(http, "article", "GET", f"/articles/{rng.choice(ids)}")
        elif kind == "list":
            self._timed(http, "list", "GET", "/articles", params={"limit": 20})
        elif kind == "add":
            with self.lock:
                self.counter += 1
                n = self.counter
            p = self.paragraphs[n % len(self.paragraphs)]
            aid = f"soak-{n}"
            article = {"id": aid, "title": p["title"], "text": p["text"], "source": p["source"]}
            r = self._timed(http, "add", "POST", "/articles", json=article, headers=auth)
            if r.status_code == 202:
                with self.lock:
                    self.added.append((aid, p["questions"]))
        elif kind == "delete":
            with self.lock:
                victim = self.added.pop(0) if len(self.added) > 40 else None
            if victim:
                self._timed(http, "delete", "DELETE", f"/articles/{victim[0]}", headers=auth)

    def report(self) -> dict:
        window = self.seconds / 10
        end = max((t for t, _, _ in self.samples), default=0.0)
        routes: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
        for name, lo, hi in (("start", 0.0, window), ("end", end - window, end + 1)):
            by_kind: dict[str, list[float]] = defaultdict(list)
            for t, kind, ms in self.samples:
                if lo <= t <= hi:
                    by_kind[kind].append(ms)
            for kind, values in sorted(by_kind.items()):
                values.sort()
                routes[kind][name] = {
                    "n": len(values),
                    "p50_ms": round(statistics.median(values), 1),
                    "p99_ms": round(values[min(len(values) - 1, int(0.99 * len(values)))], 1),
                }
        return {
            "requests": self.requests,
            "errors": len(self.errors),
            "error_examples": self.errors[:10],
            "routes": routes,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.minutes <= 0 or not 1 <= args.clients <= 64:
        parser.error("--minutes must be positive and --clients 1 to 64")
    port, token = _free_port(), secrets.token_urlsafe(24)
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="briefing-soak-") as data:
        env = dict(
            os.environ,
            BRIEFING_DATA_DIR=data,
            BRIEFING_ADMIN_TOKEN=token,
            BRIEFING_LOG_LEVEL="warning",
            HF_HUB_OFFLINE="1",
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not become ready")
                time.sleep(0.5)
            print(f"server ready on {base}; warming up", file=sys.stderr, flush=True)
            Soak(base, token, min(30.0, args.minutes * 6), args.seed + 1).run(args.clients)
            rss_start = _rss_mb(server.pid)
            print(
                f"soaking {args.minutes:g} min with {args.clients} clients "
                f"(RSS {rss_start:.0f} MB after warm-up)",
                file=sys.stderr,
                flush=True,
            )
            soak = Soak(base, token, args.minutes * 60, args.seed)
            series: list[tuple[float, float]] = [(0.0, rss_start)]  # (minutes, RSS MB)
            progress = threading.Thread(
                target=_progress, args=(soak, server.pid, series), daemon=True
            )
            progress.start()
            soak.run(args.clients)
            rss_end = _rss_mb(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
    report = soak.report()
    report.update(
        minutes=args.minutes,
        clients=args.clients,
        rss_start_mb=round(rss_start),
        rss_end_mb=round(rss_end),
        rss_growth_pct=round(100 * (rss_end - rss_start) / rss_start, 1),
        rss_series_mb=[(round(m, 1), round(mb)) for m, mb in series],
    )
    # Bounded stores (conversations up to BRIEFING_MAX_CONVERSATIONS, allocator arenas)
    # fill during the first minutes; a leak shows as growth after that.
    third = next((mb for m, mb in series if m >= args.minutes / 3), None)
    if third:
        report["rss_growth_last_two_thirds_pct"] = round(100 * (rss_end - third) / third, 1)
    for values in report["routes"].values():
        if "start" in values and "end" in values:
            values["p99_drift_pct"] = round(
                100 * (values["end"]["p99_ms"] / values["start"]["p99_ms"] - 1), 1
            )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 1 if report["errors"] else 0


def _progress(soak: Soak, pid: int, series: list[tuple[float, float]]) -> None:
    while time.monotonic() < soak.deadline:
        time.sleep(30)
        left = max(0.0, soak.deadline - time.monotonic())
        rss = _rss_mb(pid)
        series.append(((time.monotonic() - soak.started) / 60, rss))
        print(
            f"  {soak.requests} requests, {len(soak.errors)} errors, RSS {rss:.0f} MB, "
            f"{left / 60:.1f} min left",
            file=sys.stderr,
            flush=True,
        )


def _print(report: dict) -> None:
    print(
        f"{report['requests']} requests in {report['minutes']:g} min from "
        f"{report['clients']} clients, {report['errors']} errors; server RSS "
        f"{report['rss_start_mb']} -> {report['rss_end_mb']} MB ({report['rss_growth_pct']:+}%; "
        f"{report.get('rss_growth_last_two_thirds_pct', '-')}% over the last two thirds)"
    )
    print(f"{'route':14s} {'start p50/p99 ms':>18s} {'end p50/p99 ms':>18s} {'p99 drift':>10s}")
    for kind, v in report["routes"].items():
        s, e = v.get("start", {}), v.get("end", {})
        print(
            f"{kind:14s} {s.get('p50_ms', '-'):>8}/{s.get('p99_ms', '-'):<9} "
            f"{e.get('p50_ms', '-'):>8}/{e.get('p99_ms', '-'):<9} "
            f"{str(v.get('p99_drift_pct', '-')) + '%':>10s}"
        )
    for example in report["error_examples"]:
        print(f"error: {example}")


if __name__ == "__main__":
    sys.exit(main())
