"""Indexing on a Ray cluster: segmentation as Ray tasks, embedding on encoder actors.

``briefing ingest --ray ADDRESS`` and ``briefing rebuild --ray ADDRESS`` connect to a
cluster (``local`` starts one in this process) and hand the two costly, pure steps to it:

- **segmentation and signatures** (``corpus.store.prepare``) as Ray tasks of
  ``PREPARE_CHUNK`` articles, retried by Ray if the worker running one dies;
- **embedding** on one encoder actor per CPU of the cluster, each loading the model once
  (checksum-verified, as locally) and answering chunks of 256–2,048 texts (see
  ``chunk_size``); an actor that dies is restarted by Ray and its chunk retried.

Everything else stays where it is: the writer lock, the SQLite store, tokenising, the ANN
training and the atomic publish run in the calling process, which writes the same segments
a local build writes. The int8 encoders' vectors do not depend on the texts embedded beside
them, so a text's vector does not depend on which actor or chunk embedded it: a cluster
build equals a local one.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.article import Article
from corpus.store import Prepared
from embeddings.encoder import Backend, Encoder

log = logging.getLogger(__name__)

PREPARE_CHUNK = 32
# Texts an encoder actor embeds at a time: a quarter of its share of the run, so the actors
# finish together, within bounds. Larger chunks let OpenVINO batch more texts of one length
# (`bench/cluster.py --texts 7000`: 263 → 439 texts/s with 256-text chunks, 297 → 488 with
# sized ones); an actor that dies costs at most one chunk again.
EMBED_CHUNK_MIN, EMBED_CHUNK_MAX = 256, 2048
CONNECT_TIMEOUT_S = 5.0


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached or used."""


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``host:port``), or start one here (``local``)."""
    import ray

    if ray.is_initialized():
        return
    if address != "local":
        _check_reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError …
        raise ClusterError(
            f"cannot join the Ray cluster at {address!r} ({exc}); start one with "
            "`ray start --head` and pass its address, or use --ray local"
        ) from exc
    cpus = int(ray.cluster_resources().get("CPU", 0))
    log.info("joined the Ray cluster at %s (%d CPUs)", address, cpus)


def _check_reachable(address: str) -> None:
    """Fail fast on a head that is not there: Ray itself retries for minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"{address!r} is not a Ray address like 10.0.0.5:6379 (or 'local')")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(
            f"cannot reach the Ray head at {address} ({exc.strerror or exc}); start one with "
            "`ray start --head --port PORT` and pass its host:PORT, or use --ray local"
        ) from None


def disconnect() -> None:
    """Leave the cluster (a ``local`` one stops)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _map_chunk(fn: Callable[[Article], Prepared], articles: list[Article]) -> list[Prepared]:
    return [fn(a) for a in articles]


class RayExecutor:
    """``map`` over Ray tasks of ``PREPARE_CHUNK`` items: what the bulk ingest's process
    pool does, on the cluster (``fn`` must be importable there, as ``prepare`` is)."""

    def __init__(self) -> None:
        import ray

        self._task = ray.remote(max_retries=5, retry_exceptions=False)(_map_chunk)

    def map(
        self, fn: Callable[[Article], Prepared], items: Iterable[Article], chunksize: int = 1
    ) -> Iterator[Prepared]:
        """Results in order; every chunk is submitted at once, collected as iterated."""
        import ray

        articles = list(items)
        refs = [
            self._task.remote(fn, articles[i : i + PREPARE_CHUNK])
            for i in range(0, len(articles), PREPARE_CHUNK)
        ]
        return (result for ref in refs for result in ray.get(ref))

    def shutdown(self, cancel_futures: bool = False) -> None:
        """Nothing to stop: the cluster outlives an ingest."""


@dataclass(frozen=True)
class EncoderSpec:
    """How every actor loads the model: as this process does."""

    model_path: Path | None
    backend: Backend
    cache_dir: Path | None


class _EncoderActor:
    """Holds one loaded encoder (one per CPU the actor is given)."""

    def __init__(self, spec: EncoderSpec) -> None:
        import ray

        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
        self.encoder = Encoder.load(spec.model_path, spec.backend, spec.cache_dir, threads=cpus)

    def model_id(self) -> str:
        return self.encoder.model_id

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)


class RayModel:
    """An ``Encoder`` model whose ``encode`` runs on encoder actors across the cluster.

    The actors live for one ``encode`` call: while they hold the cluster's CPUs no
    segmentation task could run, so they are started when there is text to embed (one per
    CPU, each loading the model once) and stopped when it is embedded.
    """

    def __init__(self, spec: EncoderSpec, model_id: str, dim: int, actors: int = 0) -> None:
        self.spec, self.model_id, self.dim, self.actors = spec, model_id, dim, actors

    def _start(self) -> list[Any]:
        import ray

        count = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(_EncoderActor)
        actors: list[Any] = [remote.remote(self.spec) for _ in range(count)]
        ids = set(ray.get([a.model_id.remote() for a in actors]))
        if ids != {self.model_id}:
            for actor in actors:
                ray.kill(actor)
            raise ClusterError(
                f"the cluster's encoders load {sorted(ids)}, not {self.model_id}: install "
                "the same Briefing and model on every node"
            )
        log.info("%d encoder actors ready on the cluster", count)
        return actors

    def encode(self, texts: Sequence[str], *, batch_size: int, progress: bool) -> np.ndarray:
        import ray
        from ray.util import ActorPool
        from tqdm import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        actors = self._start()
        size = chunk_size(len(texts), len(actors))
        chunks = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        try:
            bar = tqdm(total=len(texts), disable=not progress, unit="text", desc="embedding")
            with bar:
                done = 0
                pool = ActorPool(actors)
                for vectors in pool.map(lambda a, c: a.encode.remote(c), chunks):
                    out[done : done + len(vectors)] = vectors
                    done += len(vectors)
                    bar.update(len(vectors))
        finally:
            for actor in actors:
                ray.kill(actor)
        return out


def chunk_size(texts: int, actors: int) -> int:
    """Texts per chunk: four chunks an actor, between the bounds."""
    wanted = -(-texts // (4 * max(actors, 1)))
    return max(EMBED_CHUNK_MIN, min(EMBED_CHUNK_MAX, wanted))


def cluster_encoder(local: Encoder, spec: EncoderSpec, actors: int = 0) -> Encoder:
    """An encoder with ``local``'s model id whose bulk work runs on the cluster."""
    return local.for_bulk(RayModel(spec, local.model_id, local.dim, actors))
