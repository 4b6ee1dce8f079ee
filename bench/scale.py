"""Archive scale: /ask latency, add-to-answerable, reload, memory and disk at N sentences.

    python bench/scale.py --sentences 1000000 [--json] [--questions 200] [--keep DIR [--reuse]]

Builds an archive as ``bench/live.py`` does (articles of 20 SQuAD sentences, four
paragraphs of five), stores it, and indexes it with stand-in vectors for the bulk only:
each bulk sentence gets the real model's vector of its text (the pool has ~11k distinct
sentences, embedded once), each paragraph the normalised mean of its sentences' vectors.
Random vectors would make the ANN benchmark meaningless (no neighbourhood structure);
these keep the structure of real text. Everything timed uses the real encoder.

The serving side is a separate process (``--reader``), as in production: it loads the
published version, answers the questions, and follows new versions. Reported (``--json``):

- ``ask_ms_p50/p95``: ``Engine.ask`` (default configuration) on ``--questions`` SQuAD
  questions after warm-up; ``retrieval_ms_p50``: the same less the time encoding that
  question takes (measured just before it);
- ``add_to_answerable_s``: one new 20-sentence article stored → indexed and published →
  the reader (polling every 10 ms) loads that version → the article's text answers a
  question; median of 3. ``reload_s``: the reader's load of that version (median);
- ``cold_load_s``: the reader's first load (every segment verified by checksum);
- ``server_rss_mb``: the reader's resident memory after loading and answering;
  ``peak_rss_mb``: peak of the writer plus peak of the reader while serving and adding;
  ``bulk_build_peak_rss_mb``: peak of the bulk build (its own process, as `briefing
  rebuild`); ``add_indexed_s``: the writer's part of an add; ``index_disk_mb``;
- ``ann_recall``: share of the exact top-50 dense neighbours (over every live sentence,
  ties counted) that the index's search returns, over the questions;
- ``bulk_embed_sentences_per_s`` (the configured encoder) and ``st_fp32_sentences_per_s``
  (plain sentence-transformers), on the same 2,000 held-out SQuAD sentences, same run, each
  after embedding 2,000 other sentences.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from live import _sentences as live_sentences  # bench/live.py, beside this file

from corpus.article import Article
from embeddings.encoder import Encoder
from service.ops.engine import Engine
from service.settings import Settings

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
PER_ARTICLE = 20


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pool() -> tuple[list[str], list[tuple[str, str]]]:
    """Distinct SQuAD sentences (as ``bench/live.py`` draws them), and (question, context)."""
    questions = [
        (qa["question"], p["context"])
        for name in ("squad-v1.1-dev-tune.json", "squad-v2.0-dev-tune.json")
        for entry in json.loads((EVAL / name).read_text(encoding="utf-8"))["data"]
        for p in entry["paragraphs"]
        for qa in p["qas"]
        if qa.get("answers")
    ]
    return live_sentences(), questions


class StandIn:
    """Vectors for the bulk archive: real vectors of known sentences, means for paragraphs."""

    def __init__(self, real: Encoder, sentences: dict[str, np.ndarray]) -> None:
        self.model_id, self.dim = real.model_id, real.dim
        self.sentences = sentences
        # A paragraph's text (by its hash: millions of them at 10M sentences) → its sentences.
        self.paragraphs: dict[int, tuple[str, ...]] = {}

    def paragraph(self, picked: list[str]) -> str:
        text = " ".join(picked)
        self.paragraphs[hash(text)] = tuple(picked)
        return text

    def _paragraph_vector(self, text: str) -> np.ndarray | None:
        picked = self.paragraphs.get(hash(text))
        if picked is None:
            return None
        v = np.mean([self.sentences[s] for s in picked], axis=0)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rng = np.random.default_rng(len(texts))
        for i, t in enumerate(texts):
            v = self.sentences.get(t)
            if v is None:
                v = self._paragraph_vector(t.split("\n")[-1])
            if v is None:
                v = rng.standard_normal(self.dim).astype(np.float32)
                v /= np.linalg.norm(v)
            out[i] = v
        return out


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's peak at fork time.
    return _status_mb("VmHWM")


# --- the serving side ---------------------------------------------------------------------


def reader(data: Path) -> None:
    """Serve commands from stdin (one JSON object a line), answer on stdout."""
    engine = Engine(Settings(data_dir=data))
    _ = engine.encoder
    for line in sys.stdin:
        cmd = json.loads(line)
        out: dict[str, Any] = {}
        if cmd["op"] == "load":
            t = time.perf_counter()
            engine.load_live()
            out = {"cold_load_s": time.perf_counter() - t}
        elif cmd["op"] == "ask":
            out = _ask_all(engine, cmd["questions"], cmd["warmup"])
        elif cmd["op"] == "follow":
            t = time.perf_counter()
            reload_s = 0.0
            while True:
                t_load = time.perf_counter()
                if engine.follow_published():
                    reload_s = time.perf_counter() - t_load
                    break
                time.sleep(0.01)
            result = engine.ask(cmd["question"])
            quotes = result.answer.quotes
            out = {
                "answerable_s": time.perf_counter() - t,
                "reload_s": reload_s,
                "answered_from_new": bool(quotes) and quotes[0].article_id == cmd["article_id"],
            }
        out["rss_mb"], out["peak_mb"] = _rss_mb(), _peak_mb()
        print(json.dumps(out), flush=True)


def time_asks(
    engine: Engine, questions: list[str], warmup: int
) -> tuple[list[float], list[float], list[np.ndarray], list[list[tuple[str, int, int]]]]:
    """``Engine.ask`` timed per question (ms) after ``warmup`` questions, and the same less
    the time encoding that question takes just before (retrieval, quotes and confidence);
    with each question's vector and its quotes (article, offsets). The retrieval figure
    is not a second run of the same question, whose rows would then be in the page cache."""
    live = engine.live
    assert live is not None
    for q in questions[:warmup]:
        engine.ask(q)
    ask_ms, retrieval_ms, vectors, answers = [], [], [], []
    for q in questions:
        t = time.perf_counter()
        vector = engine.encoder.encode_query(q)
        encoded = time.perf_counter()
        result = engine.ask(q)
        ask_ms.append((time.perf_counter() - encoded) * 1000)
        retrieval_ms.append(ask_ms[-1] - (encoded - t) * 1000)
        answers.append([(x.article_id, x.start, x.end) for x in result.answer.quotes])
        vectors.append(vector)
    return ask_ms, retrieval_ms, vectors, answers


def _ask_all(engine: Engine, questions: list[str], warmup: int) -> dict[str, Any]:
    live = engine.live
    assert live is not None
    ask_ms, retrieval_ms, vectors, _ = time_asks(engine, questions, warmup)
    rss = _rss_mb()  # before the exact search below reads every vector
    return {
        "ask_ms_p50": statistics.median(ask_ms),
        "ask_ms_p95": float(np.percentile(ask_ms, 95)),
        "retrieval_ms_p50": statistics.median(retrieval_ms),
        "ann_recall": _recall(live.index, np.stack(vectors), 50),
        "rss_after_asking_mb": rss,
    }


def _recall(index: Any, queries: np.ndarray, k: int) -> float:
    """Share of the exact top-k (ties at the k-th score count) the index's search returns.

    The exact scores come from one pass over every live sentence vector, read in blocks
    into ordinary memory (not mapped, so the reader's RSS is not inflated by it).
    """
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    for s, seg in enumerate(index.segments):
        ok = index._allowed("sentences", s, None)
        n = seg.counts["sentences"]
        for lo in range(0, n, 65_536):
            rows = np.arange(lo, min(n, lo + 65_536))
            dense = seg.sentence_dense
            hi = min(n, lo + 65_536)
            block = (
                dense.reader.read_range(lo, hi) if dense.reader else np.array(dense.vectors[lo:hi])
            )
            scores = queries @ block.T
            if ok is not None:
                scores[:, ~ok[rows]] = -np.inf
            both = np.concatenate([best, scores], axis=1)
            best = np.partition(both, both.shape[1] - k, axis=1)[:, -k:]
            del block
    kth = best.min(axis=1)
    found = []
    for q, v in enumerate(queries):
        rows, _ = index.dense("sentences", v, k)
        true = index.vectors("sentences", rows) @ v
        found.append(float(np.sum(true >= kth[q] - 1e-5) / k))
    return float(np.mean(found))


# --- the orchestrator ---------------------------------------------------------------------


def _embed_rates(real: Encoder, texts: list[str], warm: list[str]) -> dict[str, float]:
    # Both encoders first embed ``warm`` (other sentences): a bulk run embeds millions, so
    # one-off costs (OpenVINO prepares its kernels for each new batch shape) are not its rate.
    real.encode(warm)
    t = time.perf_counter()
    real.encode(texts)
    ours = len(texts) / (time.perf_counter() - t)
    st = Encoder.load(backend="torch")
    st.encode(warm)
    t = time.perf_counter()
    st.encode(texts)
    theirs = len(texts) / (time.perf_counter() - t)
    return {"bulk_embed_sentences_per_s": ours, "st_fp32_sentences_per_s": theirs}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--adds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--keep", type=Path, help="build in this folder and keep it (a second run reuses its store)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: measure the archive a previous run built there, without building",
    )
    parser.add_argument("--reader", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reader:
        reader(args.reader)
        return
    pool, qa = _pool()
    rng = random.Random(0)
    rng.shuffle(pool)
    held_out, pool = pool[:2000], pool[2000:]
    if args.build:
        print(json.dumps(_build(args, args.build, pool, rng)))
        return
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="briefing-scale-"))
    data = tmp / "data"
    try:
        report = _run(args, data, held_out, qa, pool[:2000])
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:32} {v}")


def _build(
    args: argparse.Namespace, data: Path, pool: list[str], rng: random.Random
) -> dict[str, Any]:
    """Store the bulk archive and index it with stand-in vectors (in its own process, as
    `briefing rebuild` would be, so its peak memory is not the writer's)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    engine = Engine(Settings(data_dir=data))
    real = engine.encoder
    t = time.perf_counter()
    standin = StandIn(real, dict(zip(pool, real.encode(pool, progress=True), strict=True)))
    _log(f"embedded the pool of {len(pool)} sentences in {time.perf_counter() - t:.0f}s")
    count = args.sentences // PER_ARTICLE

    def articles() -> Iterator[Article]:  # streamed: 10M sentences do not fit in a list
        for n in range(count):
            picked = rng.sample(pool, PER_ARTICLE)
            paragraphs = [standin.paragraph(picked[i : i + 5]) for i in range(0, PER_ARTICLE, 5)]
            if n and n % 10_000 == 0:
                _log(f"storing: {n:,} of {count:,} articles, {time.perf_counter() - t:.0f}s")
            yield Article(f"bulk-{n}", f"Bulk article {n}", "\n\n".join(paragraphs), "Bench")

    t = time.perf_counter()
    engine.withdraw([f"new-{k}" for k in range(args.adds)])  # left by an earlier --keep run
    if engine.store.count() != count:  # a kept folder already holds them
        engine.ingest_articles(articles(), workers=os.cpu_count() or 1)
    else:
        for _ in articles():  # the stand-in vectors still need the paragraphs
            pass
    _log(f"stored {count} articles in {time.perf_counter() - t:.0f}s")
    engine.close()
    bulk = Engine(Settings(data_dir=data), encoder=standin)  # type: ignore[arg-type]
    t = time.perf_counter()
    stats = bulk.rebuild(progress=True)
    build_s = time.perf_counter() - t
    bulk.close()
    _log(f"indexed {stats.sentences} sentences in {build_s:.0f}s")
    return {"sentences": stats.sentences, "build_s": build_s, "build_peak_mb": _peak_mb()}


def _run(
    args: argparse.Namespace,
    data: Path,
    held_out: list[str],
    qa: list[tuple[str, str]],
    warm: list[str],
) -> dict[str, Any]:
    if args.reuse and (data / "index" / "CURRENT").exists():
        built: dict[str, Any] = {"sentences": None, "build_s": None, "build_peak_mb": None}
        # The vector cache holds the added articles' vectors from the earlier run: an add
        # must embed its text, as it would the first time.
        for path in data.glob("vectors.sqlite3*"):
            path.unlink()
    else:
        command = [
            sys.executable,
            __file__,
            "--build",
            str(data),
            "--sentences",
            str(args.sentences),
        ]
        built = json.loads(
            subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
        )
    writer = Engine(Settings(data_dir=data))
    real = writer.encoder
    writer.load_live()  # as a server's own job worker has it
    if built["sentences"] is None:  # reused: drop the articles an earlier run added
        writer.withdraw([f"new-{k}" for k in range(args.adds)])
        writer.update_index()
        assert writer.live is not None
        built["sentences"] = writer.live.index.live_counts["sentences"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--reader", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )

    def call(**cmd: Any) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()
        return dict(json.loads(proc.stdout.readline()))

    loaded = call(op="load")
    questions = [q for q, _ in qa]
    random.Random(1).shuffle(questions)
    asked = call(op="ask", questions=questions[: args.questions], warmup=20)
    _log(f"asked: {asked}")
    adds, indexing, reloads, answered = [], [], [], []
    for k in range(args.adds):
        picked = held_out[k * PER_ARTICLE : (k + 1) * PER_ARTICLE]
        text = "\n\n".join(" ".join(picked[i : i + 5]) for i in range(0, PER_ARTICLE, 5))
        article = Article(f"new-{k}", f"New article {k}", text, "Bench")
        t = time.perf_counter()
        writer.ingest_articles([article])
        writer.update_index()
        indexing.append(time.perf_counter() - t)
        followed = call(op="follow", question=picked[7], article_id=article.id)
        adds.append(time.perf_counter() - t)
        _log(f"add {k}: indexed in {indexing[-1]:.3f}s, answerable in {adds[-1]:.3f}s")
        reloads.append(followed["reload_s"])
        answered.append(followed["answered_from_new"])
    final = call(op="ask", questions=questions[:20], warmup=0)
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()
    writer_peak = _peak_mb()
    rates = _embed_rates(real, held_out, warm)
    disk = sum(f.stat().st_size for f in (data / "index").rglob("*") if f.is_file())
    writer.close()
    return {
        "sentences": built["sentences"],
        "segments": len(writer.live.index.segments) if writer.live else None,
        "ask_ms_p50": round(asked["ask_ms_p50"], 2),
        "ask_ms_p95": round(asked["ask_ms_p95"], 2),
        "retrieval_ms_p50": round(asked["retrieval_ms_p50"], 2),
        "add_to_answerable_s": round(statistics.median(adds), 3),
        "add_indexed_s": round(statistics.median(indexing), 3),
        "new_article_answered": all(answered),
        "reload_s": round(statistics.median(reloads), 3),
        "cold_load_s": round(loaded["cold_load_s"], 2),
        "server_rss_mb": round(final["rss_mb"]),
        "peak_rss_mb": round(writer_peak + final["peak_mb"]),
        "bulk_build_peak_rss_mb": built["build_peak_mb"] and round(built["build_peak_mb"]),
        "index_disk_mb": round(disk / 2**20),
        "ann_recall": round(asked["ann_recall"], 4),
        "bulk_embed_sentences_per_s": round(rates["bulk_embed_sentences_per_s"], 1),
        "st_fp32_sentences_per_s": round(rates["st_fp32_sentences_per_s"], 1),
        "embed_speedup": round(
            rates["bulk_embed_sentences_per_s"] / rates["st_fp32_sentences_per_s"], 2
        ),
        "build_s": built["build_s"] and round(built["build_s"], 1),
    }


if __name__ == "__main__":
    main()
