"""A sharded index against one process: /ask latency, memory, and whether answers agree.

    python bench/shards.py --sentences 2000000 [--shards 2] [--questions 200] [--keep DIR] [--json]

Builds the archive ``bench/scale.py`` builds (stand-in vectors for the bulk; a bulk build
makes segments of 1M sentences, so 2M sentences are two segments, one per shard), then
serves it twice, each in a process of its own: plainly, and with ``--shards N`` shard actors
on a local Ray cluster (``ray.init`` in that process, the machine's cores). Each side asks
the same SQuAD questions after warm-up through ``Engine.ask`` (real query encoder) and
reports:

- ``ask_ms_p50/p95`` and ``retrieval_ms_p50`` (the same without encoding the question);
- ``api_rss_mb``: the API process's resident memory after answering (sharded, it opens
  versions without ANN indexes); ``shards_rss_mb``: the shard actors' together;
- ``same_answers``: share of questions whose quotes (article, offsets) are the same on both
  sides (the design says 1.0).

``--keep DIR`` builds in DIR once and reuses it.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scale import _pool, _rss_mb, time_asks  # bench/scale.py, beside this file

from service.ops.engine import Engine
from service.settings import Settings

HERE = Path(__file__).resolve().parent


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _shard_rss_mb() -> float:
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(
                b"ray::ShardActor"
            ):
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def side(data: Path, shards: int, questions: list[str]) -> dict[str, Any]:
    """Serve ``data`` (sharded when ``shards``) and answer ``questions``; one JSON report."""
    settings = Settings(data_dir=data, shards=shards, ray_address="local" if shards else None)
    engine = Engine(settings)
    t = time.perf_counter()
    engine.load_live()
    load_s = time.perf_counter() - t
    live = engine.live
    assert live is not None
    ask_ms, retrieval_ms, _, answers = time_asks(engine, questions, 20)
    report = {
        "segments": len(live.index.segments),
        "sentences": live.index.live_counts["sentences"],
        "load_s": round(load_s, 2),
        "ask_ms_p50": round(statistics.median(ask_ms), 2),
        "ask_ms_p95": round(float(np.percentile(ask_ms, 95)), 2),
        "retrieval_ms_p50": round(statistics.median(retrieval_ms), 2),
        "api_rss_mb": round(_rss_mb()),
        "shards_rss_mb": round(_shard_rss_mb()),
        "answers": answers,
    }
    engine.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=2_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="build in this folder once and reuse it")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--side", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _, qa = _pool()
    questions = [q for q, _ in qa]
    random.Random(1).shuffle(questions)
    questions = questions[: args.questions]
    if args.side is not None:
        print(json.dumps(side(args.data, args.side, questions)))
        return
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="briefing-shards-"))
    data = tmp / "data"
    try:
        if not (data / "index" / "CURRENT").exists():
            command = [sys.executable, str(HERE / "scale.py"), "--build", str(data)]
            subprocess.run([*command, "--sentences", str(args.sentences)], check=True)
        reports = {}
        for name, shards in (("plain", 0), ("sharded", args.shards)):
            _log(f"serving {name} …")
            command = [sys.executable, __file__, "--side", str(shards), "--data", str(data)]
            out = subprocess.run(
                [*command, "--questions", str(args.questions)],
                check=True,
                stdout=subprocess.PIPE,
                text=True,
            ).stdout
            reports[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    plain, sharded = reports["plain"], reports["sharded"]
    same = sum(a == b for a, b in zip(plain.pop("answers"), sharded.pop("answers"), strict=True))
    report = {
        "shards": args.shards,
        "plain": plain,
        "sharded": sharded,
        "same_answers": round(same / len(questions), 4),
        "ask_p50_sharded_over_plain": round(sharded["ask_ms_p50"] / plain["ask_ms_p50"], 2),
        "api_rss_sharded_over_plain": round(sharded["api_rss_mb"] / plain["api_rss_mb"], 2),
    }
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
