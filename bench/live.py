"""Incremental add versus full rebuild on a large archive (the issue's 100,000 sentences).

    python bench/live.py [--sentences 100000] [--adds 3] [--rebuilds 2]

Builds a synthetic archive of SQuAD sentences (articles of 20 sentences drawn from the
tune files, so no two are near-duplicates), then times, in the same run:

- a full ``rebuild`` (every article re-read, all vectors from the cache, FAISS and BM25
  built from scratch, the version written and verified);
- adding one new article with ``update_index`` (only its sentences are embedded, by the
  real model), and the time a running server takes to load that version.

Embedding 100,000 sentences with the real model would take about 12 minutes and is the
same for both paths, so the bulk archive's vectors are put in the vector cache by a
stand-in encoder with the real model's id (random unit vectors); the timed steps use the
real model. Medians are reported; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from corpus.article import Article
from embeddings.build import build_index
from embeddings.cache import VectorCache
from embeddings.encoder import Encoder
from service.ops.engine import Engine
from service.settings import Settings

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


class StandIn:
    """Random unit vectors under the real model's id: fills the cache for the bulk corpus."""

    def __init__(self, real: Encoder) -> None:
        self.model_id, self.dim = real.model_id, real.dim
        self._rng = np.random.default_rng(0)

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        v = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _sentences() -> list[str]:
    import syntok.segmenter as segmenter

    out = []
    for name in ("squad-v1.1-dev-tune.json", "squad-v2.0-dev-tune.json"):
        for entry in json.loads((EVAL / name).read_text(encoding="utf-8"))["data"]:
            for p in entry["paragraphs"]:
                for para in segmenter.analyze(p["context"]):
                    for s in para:
                        text = "".join(t.spacing + t.value for t in s).strip()
                        if len(text) > 30:
                            out.append(text)
    return sorted(set(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--adds", type=int, default=3)
    parser.add_argument("--rebuilds", type=int, default=2)
    args = parser.parse_args()
    pool = _sentences()
    rng = random.Random(0)
    rng.shuffle(pool)
    # New articles use sentences the bulk archive never saw, so their vectors are real.
    held_out, pool = pool[:2000], pool[2000:]
    per_article = 20
    articles = []
    for n in range(args.sentences // per_article):
        picked = rng.sample(pool, per_article)
        paragraphs = [" ".join(picked[i : i + 5]) for i in range(0, per_article, 5)]
        articles.append(Article(f"bulk-{n}", f"Bulk article {n}", "\n\n".join(paragraphs), "Bench"))
    with tempfile.TemporaryDirectory(prefix="briefing-live-") as tmp:
        engine = Engine(Settings(data_dir=Path(tmp)))
        real = engine.encoder
        t = time.perf_counter()
        engine.ingest_articles(articles)
        ingest_s = time.perf_counter() - t
        print(f"stored {len(articles)} articles in {ingest_s:.1f}s", file=sys.stderr)
        t = time.perf_counter()
        build_index(  # fills the vector cache only
            engine.store.iter_stored(),
            StandIn(real),  # type: ignore[arg-type]
            VectorCache(engine.data.cache_path),
            version="warm",
            corpus_digest="",
        )
        print(f"cache filled in {time.perf_counter() - t:.1f}s", file=sys.stderr)

        full = []
        for _ in range(args.rebuilds):
            t = time.perf_counter()
            stats = engine.rebuild()
            full.append(time.perf_counter() - t)
        sentences = stats.sentences
        adds, loads, embedded = [], [], []
        reader = Engine(Settings(data_dir=Path(tmp)), encoder=real)
        reader.load_live()
        for k in range(args.adds):
            picked = held_out[k * per_article : (k + 1) * per_article]
            text = "\n\n".join(" ".join(picked[i : i + 5]) for i in range(0, per_article, 5))
            engine.ingest_articles([Article(f"new-{k}", f"New article {k}", text, "Bench")])
            t = time.perf_counter()
            update = engine.update_index()
            adds.append(time.perf_counter() - t)
            assert update is not None
            embedded.append(update.embedded)
            t = time.perf_counter()
            assert reader.follow_published()
            loads.append(time.perf_counter() - t)
        answer = reader.ask(text.split(". ")[0]).answer
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        reader.close()
        engine.close()
    report = {
        "sentences": sentences,
        "articles": len(articles) + args.adds,
        "full_rebuild_s_median": round(statistics.median(full), 2),
        "incremental_add_s_median": round(statistics.median(adds), 2),
        "server_load_new_version_s_median": round(statistics.median(loads), 2),
        "texts_embedded_per_add": embedded,
        "full_over_incremental": round(statistics.median(full) / statistics.median(adds), 1),
        "new_article_answerable": answer.answered
        and answer.quotes[0].article_id.startswith("new-"),
        "peak_rss_mb": round(peak_mb),
        "store_ingest_s": round(ingest_s, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
