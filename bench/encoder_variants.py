"""How the encoder's export was chosen: speed and fidelity of each variant, one run.

    python bench/encoder_variants.py [--texts 2000] [--rounds 3] [--json]

Exports the bundled model once (as ``embeddings.onnx_model`` does), converts it into each
ONNX Runtime variant below, and runs every variant through the encoder's own bulk path
(``OnnxBackend``: one text per run, one single-threaded session per core) on the same
held-out SQuAD sentences as ``bench/scale.py``, beside the shipped default (OpenVINO int8,
``embeddings.openvino_model``: texts of one padded length batched, one stream per core)
and plain sentence-transformers fp32 on the same texts.
Variants run in turn, ``--rounds`` times; each figure is the median over rounds, and every
speed is also given as a ratio to sentence-transformers measured in the same round.
Fidelity: cosine of each text's vector to sentence-transformers fp32's (mean and minimum).

Then one question at a time (300 SQuAD v1.1 tune questions, after 50 others): the default
encoder through OpenVINO (``encode``, as an article's few sentences run) and through
ONNX Runtime's int8 export (``encode_query``, as questions run), p50 milliseconds. Each
question's length differs from the last one's, which costs OpenVINO a change of shape.

Variants: fp32 and int8, with residual additions fused into ONNX Runtime's
``SkipLayerNormalization`` or left apart (the shipped export); int8 with the three
feed-forward down-projections of layers 0-2 kept in fp32 (as the export before, format 2,
which also fed the attention mask and token types); int8 with exact or tanh GELU.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from live import _sentences as live_sentences  # bench/live.py, beside this file

from embeddings.encoder import Encoder, bundled_model_path
from embeddings.onnx_model import ONNX_FILE, OnnxBackend, convert, torch_export

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
KEPT_FP32 = tuple(f"/model/encoder/layer.{i}/output/dense/MatMul" for i in (0, 1, 2))
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32, SkipLayerNormalization": {"int8": False, "skip_layer_norm": True},
    "fp32 (shipped as BRIEFING_ENCODER=onnx)": {"int8": False},
    "int8, SkipLayerNormalization, layers 0-2 down-projection fp32 (as format 2)": {
        "int8": True,
        "skip_layer_norm": True,
        "fp32_nodes": KEPT_FP32,
        "tanh_gelu": False,
    },
    "int8, layers 0-2 down-projection fp32": {
        "int8": True,
        "fp32_nodes": KEPT_FP32,
        "tanh_gelu": False,
    },
    "int8, every product, exact GELU": {"int8": True, "tanh_gelu": False},
    "int8, every product, tanh GELU (shipped as BRIEFING_ENCODER=onnx-int8)": {"int8": True},
}
DEFAULT = "OpenVINO int8, fixed activation scales (shipped default)"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rate(encode: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    encode(texts[:64])
    started = time.perf_counter()
    vectors = encode(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def _question_ms(encoder: Encoder) -> dict[str, float]:
    data = json.loads((EVAL / "squad-v1.1-dev-tune.json").read_text(encoding="utf-8"))["data"]
    questions = [qa["question"] for e in data for p in e["paragraphs"] for qa in p["qas"]]
    random.Random(1).shuffle(questions)
    times: dict[str, list[float]] = {"openvino": [], "onnx_runtime": []}
    for k, q in enumerate(questions[:350]):
        started = time.perf_counter()
        encoder.encode([q])
        middle = time.perf_counter()
        encoder.encode_query(q)
        if k >= 50:
            times["openvino"].append((middle - started) * 1000)
            times["onnx_runtime"].append((time.perf_counter() - middle) * 1000)
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    pool = live_sentences()
    random.Random(0).shuffle(pool)
    texts = pool[: args.texts]
    source = bundled_model_path()
    config = json.loads((source / "config.json").read_text("utf-8"))
    tmp = Path(tempfile.mkdtemp(prefix="briefing-variants-"))
    try:
        _log("exporting the bundled model")
        torch_export(source, tmp / "raw.onnx")
        backends: dict[str, Any] = {}
        for k, (name, options) in enumerate(VARIANTS.items()):
            folder = tmp / str(k)
            folder.mkdir()
            _log(f"converting: {name}")
            convert(tmp / "raw.onnx", folder / ONNX_FILE, config, **options)
            shutil.copy(source / "tokenizer.json", folder / "tokenizer.json")
            backends[name] = OnnxBackend(folder)
        backends[DEFAULT] = Encoder.load()
        reference = Encoder.load(backend="torch")
        rows: dict[str, dict[str, list[float]]] = {name: {} for name in backends}
        for r in range(args.rounds):
            st_rate, st_vectors = _rate(reference.encode, texts)
            _log(f"round {r + 1}: sentence-transformers fp32 {st_rate:.1f} texts/s")
            for name, backend in backends.items():
                rate, vectors = _rate(backend.encode, texts)
                cosine = np.sum(vectors * st_vectors, axis=1)
                row = rows[name]
                for key, value in (
                    ("texts_per_s", rate),
                    ("ratio_to_st_fp32", rate / st_rate),
                    ("cosine_mean", float(cosine.mean())),
                    ("cosine_min", float(cosine.min())),
                ):
                    row.setdefault(key, []).append(value)
                _log(f"round {r + 1}: {name}: {rate:.1f} texts/s ({rate / st_rate:.2f}×)")
            rows.setdefault("sentence-transformers fp32", {}).setdefault("texts_per_s", []).append(
                st_rate
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    asked = _question_ms(backends[DEFAULT])
    _log(f"one question, p50 ms: {asked}")
    report = {
        name: {key: round(statistics.median(values), 4) for key, values in row.items()}
        for name, row in rows.items()
    }
    if args.json:
        print(
            json.dumps(
                {
                    "texts": len(texts),
                    "rounds": args.rounds,
                    "variants": report,
                    "question_ms_p50": asked,
                }
            )
        )
        return
    print(f"{len(texts)} texts, median of {args.rounds} rounds")
    print("| variant | texts/s | × sentence-transformers fp32 | cosine mean | cosine min |")
    print("|---|---|---|---|---|")
    for name, row in report.items():
        cells = [row.get(k, "—") for k in ("ratio_to_st_fp32", "cosine_mean", "cosine_min")]
        print(f"| {name} | {row['texts_per_s']} | " + " | ".join(map(str, cells)) + " |")
    print(f"one question, p50 ms: {asked}")


if __name__ == "__main__":
    main()
