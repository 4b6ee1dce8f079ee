"""The sentence encoder as an ONNX Runtime session, exported offline from the bundled weights.

On first use the safetensors model is exported once (torch's ONNX exporter, mean pooling and
L2 normalisation inside the graph), its attention and layer norms fused by ONNX Runtime's
transformer optimiser, and its weights quantised to int8 per output channel (dynamic
quantisation: activations are quantised per run). Per-channel scales and the three most
sensitive layers left in fp32 (see ``FP32_NODES``) keep the vectors at cosine ≥ 0.99 (mean
0.996, on 600 SQuAD sentences and questions) from the fp32 model's; per-tensor int8 falls to
0.89.
The result is written atomically into a cache folder with a record of its SHA-256, checked at
every load. Texts are tokenised by the model's own fast tokenizer and run one at a time (see
``OnnxBackend``), so no time goes to padding.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.encoder import file_sha256
from embeddings.errors import ModelError

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
RECORD = "export.json"
EXPORT_FORMAT = 2
# Left in fp32: the feed-forward down-projections of the first three layers, whose inputs
# (after GELU) have the widest range. Quantising each alone costs the most cosine to the
# fp32 vectors (measured on 600 SQuAD sentences and questions: 1.2e-3, 0.5e-3, 0.6e-3 of
# mean 1 − cosine, against at most 0.6e-3 for any other layer); keeping them lifts the mean
# cosine from 0.9934 to 0.9958 for about 9 % of the int8 speed.
FP32_NODES = tuple(f"/model/encoder/layer.{i}/output/dense/MatMul" for i in (0, 1, 2))
MAX_TOKENS = 256  # the model's max_seq_length
# Part of the model id of int8 vectors: bumped whenever what the export or the way it is run
# changes the vectors, so cached vectors of another variant are never mixed in.
INT8_TAG = "onnx-int8-3"
BATCH = 64  # texts tokenised at a time in a bulk run
BULK_MIN = 32  # from this many texts, one single-threaded session per core


def default_cache_dir() -> Path:
    """Where exported models are kept: $XDG_CACHE_HOME/briefing/models (or ~/.cache/…)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "briefing" / "models"


def exported_model(source: Path, weights_sha256: str, cache_dir: Path, *, int8: bool) -> Path:
    """Folder holding the ONNX export of ``source`` (made now if missing), verified."""
    kind = "int8" if int8 else "fp32"
    folder = cache_dir / f"{weights_sha256[:16]}-{kind}-v{EXPORT_FORMAT}"
    if not (folder / RECORD).exists():
        _export(source, folder, int8=int8, weights_sha256=weights_sha256)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: unreadable export record ({exc}); delete the folder") from exc
    if record.get("source_sha256") != weights_sha256:
        raise ModelError(f"{folder}: exported from other weights; delete the folder")
    digest = file_sha256(folder / ONNX_FILE)
    if digest != record.get("onnx_sha256"):
        raise ModelError(
            f"{folder / ONNX_FILE}: SHA-256 {digest} does not match the export record; delete "
            "the folder and it is exported again"
        )
    return folder


def _check_exportable(source: Path) -> None:
    """The graph pools by mean over tokens: refuse a model that pools otherwise."""
    try:
        modules = json.loads((source / "modules.json").read_text(encoding="utf-8"))
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((source / pooling_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise ModelError(
            f"{source}: cannot read its sentence-transformers pooling ({exc}); set "
            "BRIEFING_ENCODER=torch to run it with sentence-transformers"
        ) from exc
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ModelError(
            f"{source}: pools by {sorted(modes)}, but the ONNX export pools by the mean of "
            "tokens; set BRIEFING_ENCODER=torch to run it with sentence-transformers"
        )


def _export(source: Path, folder: Path, *, int8: bool, weights_sha256: str) -> None:
    _check_exportable(source)
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    try:
        raw = staging / "raw.onnx"
        _torch_export(source, raw)
        from onnxruntime.transformers import optimizer

        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
        fused = optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,
        )
        fused_path = staging / "fused.onnx"
        fused.save_model_to_file(str(fused_path))
        out = staging / ONNX_FILE
        if int8:
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(fused_path),
                str(out),
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=list(FP32_NODES),
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        else:
            fused_path.replace(out)
        for extra in ("raw.onnx", "fused.onnx"):
            (staging / extra).unlink(missing_ok=True)
        shutil.copy(source / "tokenizer.json", staging / "tokenizer.json")
        record = {
            "format": EXPORT_FORMAT,
            "source_sha256": weights_sha256,
            "onnx_sha256": file_sha256(out),
            "int8": int8,
        }
        (staging / RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
        try:
            os.rename(staging, folder)
        except OSError:  # another process exported it first: use theirs
            shutil.rmtree(staging, ignore_errors=True)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{source}: cannot export the model to ONNX ({exc})") from exc
    log.info(
        "exported %s to ONNX (%s) in %.1fs", source.name, folder.name, time.perf_counter() - started
    )


def _torch_export(source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    ids = torch.randint(1000, 2000, (3, 20))
    mask = torch.ones_like(ids)
    mask[0, 10:] = 0
    axes = {"input_ids": {0: "batch", 1: "tokens"}}
    axes["attention_mask"] = axes["token_type_ids"] = axes["input_ids"]
    torch.onnx.export(
        Pooled(),
        (ids, mask, torch.zeros_like(ids)),
        str(out),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["embedding"],
        dynamic_axes={**axes, "embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )


class OnnxBackend:
    """Runs the exported model, one text per run.

    Dynamic quantisation scales activations per run, so texts run together would shape each
    other's vectors (and padding would too): each text runs alone, and a text's vector is
    the same whether it is a query or part of a bulk build. A single text uses a session
    with every core; many texts are shared among one single-threaded session per core
    (ONNX Runtime releases the GIL while it runs), made on first bulk use.
    """

    def __init__(self, folder: Path, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self._folder = folder
        self._cores = threads or min(2, os.cpu_count() or 1)
        self._session = self._open(self._cores)
        self._bulk: list[Any] = []
        self._bulk_lock = threading.Lock()
        try:
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises its own types for a bad file
            raise ModelError(f"{folder}: cannot load the tokenizer ({exc})") from exc
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def _open(self, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(
                str(self._folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise ModelError(f"{self._folder}: cannot load the ONNX model ({exc})") from exc

    def _run(self, session: Any, ids: list[int]) -> np.ndarray:
        tokens = np.array([ids], dtype=np.int64)
        feed = {"input_ids": tokens, "attention_mask": np.ones_like(tokens)}
        (vectors,) = session.run(None, {**feed, "token_type_ids": np.zeros_like(tokens)})
        return np.asarray(vectors[0])

    def encode(
        self, texts: Sequence[str], *, batch_size: int = BATCH, progress: bool = False
    ) -> np.ndarray:
        """Unit vectors of ``texts`` (``batch_size``: texts tokenised at a time)."""
        from tqdm import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) < BULK_MIN or self._cores < 2:
            for i, text in enumerate(texts):
                out[i] = self._run(self._session, self._tokenizer.encode(text).ids)
            return out
        with self._bulk_lock:
            if not self._bulk:
                self._bulk = [self._open(1) for _ in range(self._cores)]
            sessions = list(self._bulk)
        with (
            tqdm(total=len(texts), disable=not progress, unit="text", desc="embedding") as bar,
            ThreadPoolExecutor(len(sessions)) as pool,
        ):
            for lo in range(0, len(texts), batch_size * len(sessions)):
                chunk = texts[lo : lo + batch_size * len(sessions)]
                encoded = self._tokenizer.encode_batch(list(chunk))
                parts = [range(k, len(chunk), len(sessions)) for k in range(len(sessions))]

                def work(session: Any, rows: range, base: int, batch: list[Any]) -> None:
                    for r in rows:
                        out[base + r] = self._run(session, batch[r].ids)

                n = len(sessions)
                list(pool.map(work, sessions, parts, [lo] * n, [encoded] * n))
                bar.update(len(chunk))
        return out
