"""The default sentence encoder: OpenVINO, int8 weights and int8 activations with fixed scales.

On first use the safetensors model is exported once to ONNX (as ``embeddings.onnx_model``
does: the graph takes token ids, mean pooling and L2 normalisation are inside it), read by
OpenVINO, and quantised by NNCF, OpenVINO's own post-training quantiser, with its
transformer preset: int8 weights per output channel, int8 activations whose scales are
calibrated once on ``calibration.txt`` (invented news, CC0) and then fixed. Fixed scales are
what make batching safe: a text's vector no longer depends on the texts run beside it, as it
did under ONNX Runtime's dynamic quantisation (scales per run), which had to run each text
alone. Questions do not come here (``Encoder.encode_query`` runs them through ONNX
Runtime's int8 export): OpenVINO pays about 1 ms whenever a run's input shape differs from
the last one's, which is every question.

Input shapes, not arithmetic, set the bulk rate: OpenVINO prepares its kernels the first
time it meets a shape (batch size × token length), which costs about as much again as the
run (one-off probe: 84 ms for a first run of 32 texts, 36 ms for the next of that shape).
So a text of n tokens always runs padded to ``padded_length(n)`` (the next multiple of
``PAD``; the graph takes an attention mask, and padding is neither attended to nor pooled),
texts of one padded length run together, and a run's batch is filled up to a power of two
(the spare rows repeat a text and are dropped): a few hundred shapes in all, met early in a
bulk run and then reused. Before (format 1), texts ran grouped by their exact length
unpadded, and batches of every size met new shapes throughout.

A text's vector depends only on the text: alone or in bulk, it runs at the same padded
length. Padding moves the last bits of some vectors (OpenVINO picks kernels by shape, and an
int8 activation rounding the other way shifts what follows): against the same texts run
unpadded, 62 of 2,000 SQuAD sentences differ, by at most 0.004 in one coordinate (cosine
≥ 0.9996), a hundredth of what separates these int8 vectors from fp32 (mean cosine 0.998).
The weights and scales are those of format 1 (the same calibration; unpadded, both give the
same vectors to 5e-8), so the vectors keep their model id, ``TAG``, and archives embedded
before keep theirs.

Measured here (README, "Archive scale"; ``bench/encoder_variants.py``): see the README for
the bulk rate against plain sentence-transformers fp32 in the same run.

The result is written atomically into a cache folder with a record of the SHA-256 of both
files, checked at every load.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.errors import ModelError
from embeddings.exports import cached_export
from embeddings.onnx_model import MAX_TOKENS, check_exportable, torch_export

log = logging.getLogger(__name__)

FILES = ("model.xml", "model.bin")
EXPORT_FORMAT = 2  # 2: the graph takes an attention mask
# Part of the model id of its vectors: bumped whenever the quantised model or the way it is
# run changes the vectors beyond rounding (see above), so cached vectors of another variant
# are never mixed in.
TAG = "openvino-int8-1"
CALIBRATION = Path(__file__).with_name("calibration.txt")
CHUNK = 4096  # texts tokenised and grouped by padded length at a time in a bulk run
GROUP = 64  # texts of one padded length run together at most (a power of two)
PAD = 8  # a text runs padded to a multiple of this many tokens
BULK_MIN = 32  # from this many texts, the bulk path (one stream per core)


def exported_model(source: Path, weights_sha256: str, cache_dir: Path) -> Path:
    """Folder holding the int8 OpenVINO model of ``source`` (made now if missing), verified."""
    return cached_export(
        cache_dir / f"{weights_sha256[:16]}-openvino-int8-v{EXPORT_FORMAT}",
        FILES,
        source=source,
        weights_sha256=weights_sha256,
        export_format=EXPORT_FORMAT,
        make=lambda staging: _quantise(source, staging),
        what="the int8 OpenVINO model",
    )


def calibration_texts() -> list[str]:
    """The texts whose activations set the int8 scales."""
    lines = CALIBRATION.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _quantise(source: Path, staging: Path) -> dict[str, Any]:
    check_exportable(source)
    torch_export(source, staging / "raw.onnx", mask=True)
    import openvino as ov

    tokenizer = _tokenizer(source / "tokenizer.json")
    # Calibrated unpadded, as format 1 was: the same scales.
    samples = [
        np.array([e.ids], dtype=np.int64) for e in tokenizer.encode_batch(calibration_texts())
    ]
    # NNCF logs and draws its progress on stdout, which is a CLI's --json output: both go
    # to stderr (its log handler takes sys.stdout when the module is first imported).
    with contextlib.redirect_stdout(sys.stderr):
        import nncf

        nncf.set_log_level(logging.WARNING)
        quantized = nncf.quantize(
            ov.Core().read_model(str(staging / "raw.onnx")),
            nncf.Dataset(
                samples, lambda ids: {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            ),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(samples),
        )
    ov.save_model(quantized, str(staging / FILES[0]), compress_to_fp16=False)
    (staging / "raw.onnx").unlink()
    return {"calibration_texts": len(samples)}


def _tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises its own types for a bad file
        raise ModelError(f"{path}: cannot load the tokenizer ({exc})") from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def padded_length(tokens: int, pad: int = PAD) -> int:
    """The token length a text of ``tokens`` tokens runs at: the next multiple of ``pad``."""
    return -(-tokens // pad) * pad


def filled_batch(texts: int) -> int:
    """The batch a run of ``texts`` texts is filled up to: the next power of two."""
    return 1 << (texts - 1).bit_length()


def inputs(token_ids: Sequence[Sequence[int]], length: int, size: int) -> dict[int, np.ndarray]:
    """One run's token ids and attention mask: each text padded to ``length`` tokens, and
    rows repeating the first text up to ``size`` (their vectors are not read)."""
    ids = np.zeros((size, length), dtype=np.int64)
    mask = np.zeros((size, length), dtype=np.int64)
    for row in range(size):
        text = token_ids[row if row < len(token_ids) else 0]
        ids[row, : len(text)] = text
        mask[row, : len(text)] = 1
    return {0: ids, 1: mask}


class OpenVinoBackend:
    """Runs the int8 model: a few texts one by one with every core, many one stream per core.

    Every text runs padded to ``padded_length`` of its tokens (``pad``; 1 runs it unpadded,
    for comparison). Below ``BULK_MIN`` texts (an article's sentences), each runs alone on a
    request of its thread's own (requests are not shared between threads). Many texts are
    grouped by padded length and each group runs as batches of at most ``GROUP``, filled up
    to a power of two, spread over one single-threaded stream per core. A text's vector is
    the same either way.
    """

    def __init__(self, folder: Path, threads: int = 0, pad: int = PAD) -> None:
        import openvino as ov

        self._cores = threads or min(2, os.cpu_count() or 1)
        self._pad = pad
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(folder / FILES[0]))
            self._single = self._compile(streams=1, threads=self._cores)
        except Exception as exc:  # openvino raises its own types for a bad file
            raise ModelError(f"{folder}: cannot load the OpenVINO model ({exc})") from exc
        self._bulk: Any = None
        self._requests: list[Any] = []
        self._bulk_lock = threading.Lock()
        self._local = threading.local()
        self._tokenizer = _tokenizer(folder / "tokenizer.json")
        self.dim = int(self._model.outputs[0].get_partial_shape()[-1].get_length())

    def _compile(self, *, streams: int, threads: int) -> Any:
        return self._core.compile_model(
            self._model,
            "CPU",
            {
                "INFERENCE_NUM_THREADS": threads,
                "NUM_STREAMS": streams,
                "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY",
                "INFERENCE_PRECISION_HINT": "f32",  # int8 where quantised, fp32 elsewhere
            },
        )

    def _one(self, ids: list[int]) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._single.create_infer_request()
        request.infer(inputs([ids], padded_length(len(ids), self._pad), 1))
        return np.array(request.get_output_tensor(0).data[0])

    def encode(
        self, texts: Sequence[str], *, batch_size: int = CHUNK, progress: bool = False
    ) -> np.ndarray:
        """Unit vectors of ``texts`` (``batch_size``: texts tokenised at a time)."""
        from tqdm import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) < BULK_MIN:
            for i, encoded in enumerate(self._tokenizer.encode_batch(list(texts))):
                out[i] = self._one(encoded.ids)
            return out
        with self._bulk_lock:
            if self._bulk is None:
                self._bulk = self._compile(streams=self._cores, threads=self._cores)
                self._requests = [self._bulk.create_infer_request() for _ in range(self._cores)]
            # One request per stream, used in turn; a request's vectors are copied out here,
            # on this thread, before it runs again. No Python callback runs on OpenVINO's
            # threads: one that waited for the GIL while a compiled model was being freed
            # (which joins those threads, GIL held) hung a test run.
            requests = self._requests
            pending: dict[int, list[int]] = {}  # a request's slot → the rows its run embeds

            def collect(slot: int) -> None:
                rows = pending.pop(slot, None)
                if rows is not None:
                    requests[slot].wait()
                    out[rows] = requests[slot].get_output_tensor(0).data[: len(rows)]

            slots = itertools.cycle(range(len(requests)))
            with tqdm(total=len(texts), disable=not progress, unit="text", desc="embedding") as bar:
                for slot, (rows, run) in zip(slots, self._runs(texts, batch_size), strict=False):
                    collect(slot)
                    requests[slot].start_async(run)
                    pending[slot] = rows
                    bar.update(len(rows))
                for slot in list(pending):
                    collect(slot)
        return out

    def _runs(
        self, texts: Sequence[str], chunk: int
    ) -> Iterator[tuple[list[int], dict[int, np.ndarray]]]:
        """The bulk runs of ``texts``: the rows each embeds and its inputs. Texts are
        tokenised ``chunk`` at a time and grouped by padded length, at most ``GROUP`` a run."""
        for lo in range(0, len(texts), chunk):
            encoded = self._tokenizer.encode_batch(list(texts[lo : lo + chunk]))
            by_length: dict[int, list[int]] = defaultdict(list)
            for r, e in enumerate(encoded):
                by_length[padded_length(len(e.ids), self._pad)].append(r)
            for length, group in by_length.items():
                for k in range(0, len(group), GROUP):
                    rows = group[k : k + GROUP]
                    ids = [encoded[r].ids for r in rows]
                    yield [lo + r for r in rows], inputs(ids, length, filled_batch(len(rows)))
