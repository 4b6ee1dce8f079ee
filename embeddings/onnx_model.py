"""The sentence encoder as an ONNX Runtime session, exported offline from the bundled weights.

On first use the safetensors model is exported once (torch's ONNX exporter; the graph takes
one text's token ids, and mean pooling and L2 normalisation are inside it), its attention,
layer norms and GELUs fused by ONNX Runtime's transformer optimiser, and its weights
quantised to int8 per output channel (dynamic quantisation: activations are quantised per
run). Residual additions are left beside their layer norms rather than fused into ONNX
Runtime's ``SkipLayerNormalization``, whose CPU kernel is slower than the ``Add`` and
``LayerNormalization`` it fuses (apart, the int8 encoder runs a quarter faster). Every
matrix product is int8, and the int8 graph computes GELU
by its tanh approximation: the vectors stay at mean cosine 0.994 from the fp32 model's and
no ``briefing eval`` figure falls more than 0.25 points below fp32's (SQuAD v1.1, v2.0
and the news set, measured with exact GELU, which the tanh form matches at mean cosine
0.9937 to fp32 either way; ``bench/encoder_variants.py`` measures every alternative;
README, "Archive scale"). It is the default's question encoder (``Encoder.encode_query``).
The result is written atomically into a cache folder with a record of its SHA-256, checked at
every load. Texts are tokenised by the model's own fast tokenizer and run one at a time (see
``OnnxBackend``), so no time goes to padding.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.errors import ModelError
from embeddings.exports import cached_export

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
EXPORT_FORMAT = 3
# ONNX Runtime's own fusion of Add + LayerNormalization, switched off in every session (the
# export leaves them apart for the same reason: see the module's docstring).
UNFUSED = ["SkipLayerNormFusion"]
MAX_TOKENS = 256  # the model's max_seq_length
# Part of the model id of int8 vectors: bumped whenever what the export or the way it is run
# changes the vectors, so cached vectors of another variant are never mixed in.
INT8_TAG = "onnx-int8-4"
BATCH = 512  # texts tokenised at a time in a bulk run
BULK_MIN = 32  # from this many texts, one single-threaded session per core


def exported_model(source: Path, weights_sha256: str, cache_dir: Path, *, int8: bool) -> Path:
    """Folder holding the ONNX export of ``source`` (made now if missing), verified."""
    kind = "int8" if int8 else "fp32"

    def make(staging: Path) -> dict[str, Any]:
        check_exportable(source)
        torch_export(source, staging / "raw.onnx")
        config = json.loads((source / "config.json").read_text("utf-8"))
        convert(staging / "raw.onnx", staging / ONNX_FILE, config, int8=int8)
        (staging / "raw.onnx").unlink()
        return {"int8": int8}

    return cached_export(
        cache_dir / f"{weights_sha256[:16]}-{kind}-v{EXPORT_FORMAT}",
        [ONNX_FILE],
        source=source,
        weights_sha256=weights_sha256,
        export_format=EXPORT_FORMAT,
        make=make,
        what=f"the {kind} ONNX export",
    )


def open_session(model: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session on ``model`` with ``threads`` intra-op threads and every
    optimisation but ``UNFUSED``; a file it cannot load is a ``ModelError``.

    The session's helper threads sleep as soon as a run ends: by default they spin for a
    while, and the searches that follow a question's encoding lost a core to them (at 10M
    sentences, 28.5 against 22.0 ms for encoding and searches, one-off probe)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"], disabled_optimizers=UNFUSED
        )
    except Exception as exc:  # onnxruntime raises its own types for a bad file
        raise ModelError(f"{model}: cannot load the ONNX model ({exc})") from exc


def check_exportable(source: Path) -> None:
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


def convert(
    raw: Path,
    out: Path,
    config: dict[str, Any],
    *,
    int8: bool,
    skip_layer_norm: bool = False,
    fp32_nodes: Sequence[str] = (),
    tanh_gelu: bool | None = None,
) -> None:
    """Fuse the raw export ``raw`` (and quantise it when ``int8``) into ``out``.

    The defaults are the shipped encoder; ``skip_layer_norm`` (fuse residual additions into
    ``SkipLayerNormalization``), ``fp32_nodes`` (matrix products left in fp32) and
    ``tanh_gelu`` (GELU by its tanh approximation; by default only in int8, where it is 3 %
    faster and moves no vector measurably, while fp32 stays equal to sentence-transformers)
    are the variants measured against it by ``bench/encoder_variants.py``.
    """
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    fusions = FusionOptions("bert")
    fusions.enable_skip_layer_norm = fusions.enable_bias_skip_layer_norm = skip_layer_norm
    fusions.enable_gelu_approximation = int8 if tanh_gelu is None else tanh_gelu
    fused = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,
        optimization_options=fusions,
    )
    if not int8:
        fused.save_model_to_file(str(out))
        return
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fused_path = out.with_name(out.stem + ".fused.onnx")
    fused.save_model_to_file(str(fused_path))
    try:
        quantize_dynamic(
            str(fused_path),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=list(fp32_nodes),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        fused_path.unlink(missing_ok=True)


def torch_export(source: Path, out: Path, *, mask: bool = False) -> None:
    """Export ``source`` with mean pooling and normalisation to the fp32 ONNX file ``out``.

    Without ``mask`` the graph takes token ids alone: a run holds one text, or texts of one
    token length, and every token is attended to and pooled. With ``mask`` it also takes an
    attention mask (1 for a text's tokens, 0 for padding), so texts padded to one length run
    together (OpenVINO's bulk path); padding is neither attended to nor pooled.
    """
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any = None) -> Any:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            hidden = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            if not mask:
                return torch.nn.functional.normalize(hidden.mean(1), dim=-1)
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1)
            return torch.nn.functional.normalize(pooled, dim=-1)

    ids = torch.randint(1000, 2000, (1, 20))
    inputs = ["input_ids", "attention_mask"] if mask else ["input_ids"]
    torch.onnx.export(
        Pooled(),
        (ids, torch.ones_like(ids)) if mask else (ids,),
        str(out),
        input_names=inputs,
        output_names=["embedding"],
        dynamic_axes={
            **{name: {0: "batch", 1: "tokens"} for name in inputs},
            "embedding": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )


class OnnxBackend:
    """Runs the exported model, one text per run.

    Dynamic quantisation scales activations per run, so texts run together would shape each
    other's vectors (and padding would too): each text runs alone, and a text's vector is
    the same whether it is a query or part of a bulk build. A few texts (a question, an
    article's sentences) run on one single-threaded session: one text gained nothing from a
    second thread (2.40 ms on one, 2.28 on two spinning, 2.70 on two not; one-off probe), and the
    searches after a question keep both cores. Many texts are shared among one
    single-threaded session per core (ONNX Runtime releases the GIL while it runs), made on
    first bulk use.
    """

    def __init__(self, folder: Path, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self._folder = folder
        self._cores = threads or min(2, os.cpu_count() or 1)
        self._session = self._open(1)
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
        return open_session(self._folder / ONNX_FILE, threads)

    def _run(self, session: Any, ids: list[int]) -> np.ndarray:
        (vectors,) = session.run(None, {"input_ids": np.array([ids], dtype=np.int64)})
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
            for lo in range(0, len(texts), batch_size):
                encoded = self._tokenizer.encode_batch(list(texts[lo : lo + batch_size]))
                # Each session takes the next text when it is free (a fixed split would leave
                # one core idle while the other finishes its longer texts). itertools.count
                # hands out numbers atomically under the GIL.
                claims = itertools.count()

                def work(session: Any, base: int, batch: list[Any], claim: Any) -> None:
                    while (r := next(claim)) < len(batch):
                        out[base + r] = self._run(session, batch[r].ids)

                n = len(sessions)
                list(pool.map(work, sessions, [lo] * n, [encoded] * n, [claims] * n))
                bar.update(len(encoded))
        return out
