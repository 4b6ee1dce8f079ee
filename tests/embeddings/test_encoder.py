"""The bundled model loads offline, is verified, and embeds into unit vectors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import encoder as encoder_module
from embeddings.cache import VectorCache, encode_cached
from embeddings.encoder import (
    BUNDLED_WEIGHTS_SHA256,
    Backend,
    Encoder,
    bundled_model_path,
    default_cache_dir,
    file_sha256,
)
from embeddings.errors import ModelError


def test_bundled_weights_match_the_published_checksum() -> None:
    weights = bundled_model_path() / "model.safetensors"
    assert file_sha256(weights) == BUNDLED_WEIGHTS_SHA256


def test_vectors_are_unit_length_and_semantic(encoder: Encoder) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    vectors = encoder.encode(
        ["ISIS captured the bridge.", "The militants seized the bridge.", "I like pancakes."]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_a_tampered_bundled_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # We cannot corrupt the installed package, so we change the checksum it must match.
    monkeypatch.setattr(encoder_module, "BUNDLED_WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="does not match"):
        Encoder.load()


def test_a_model_folder_without_safetensors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle would run code")
    with pytest.raises(ModelError, match="safetensors"):
        Encoder.load(tmp_path)


def test_a_model_can_be_configured_by_path(tmp_path: Path, encoder: Encoder) -> None:
    copy = tmp_path / "my-model"
    shutil.copytree(bundled_model_path(), copy)
    other = Encoder.load(copy)
    assert other.model_id.startswith("my-model@")
    text = ["The harbour reopened."]
    assert np.allclose(other.encode(text), encoder.encode(text), atol=1e-5)


def test_cache_embeds_each_text_once(tmp_path: Path, encoder: Encoder) -> None:
    cache = VectorCache(tmp_path / "v.sqlite3")
    first, embedded = encode_cached(encoder, cache, ["alpha text", "beta text", "alpha text"])
    assert embedded == 2
    again, embedded = encode_cached(encoder, cache, ["beta text", "gamma text", "alpha text"])
    assert embedded == 1
    assert np.allclose(again[0], first[1]) and np.allclose(again[2], first[0])
    cache.close()


TEXTS = [
    "ISIS captured the bridge on Monday.",
    "Who held the al-Qaim border crossing before that?",
    "The library scanned 12,000 historical maps and put them online.",
    "x",
    "A much longer sentence about the council budget, " * 12,
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """Plain sentence-transformers fp32 vectors of ``TEXTS``."""
    return Encoder.load(backend="torch").encode(TEXTS)


def _same_alone_and_in_bulk(encoder: Encoder) -> None:
    # A text's vector does not depend on the texts embedded with it: 80 texts take the
    # bulk path (batched by length in OpenVINO; one text per run in ONNX Runtime).
    one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert np.array_equal(one_by_one, encoder.encode(TEXTS))
    bulk = encoder.encode(TEXTS[:2] * 40 + TEXTS[2:])
    assert np.array_equal(one_by_one, bulk[[0, 41, 80, 81, 82]])


def test_the_default_int8_openvino_encoder_stays_close_to_fp32(
    encoder: Encoder, reference: np.ndarray
) -> None:
    from embeddings.openvino_model import TAG

    assert encoder.model_id.endswith("+" + TAG)  # the default backend
    fp32 = Encoder.load(backend="onnx")
    # fp32 ONNX and sentence-transformers make the same vectors, so they share a model id.
    assert fp32.model_id == encoder.model_id.removesuffix("+" + TAG)
    assert np.allclose(fp32.encode(TEXTS), reference, atol=1e-4)
    cosine = np.sum(encoder.encode(TEXTS) * reference, axis=1)
    assert cosine.min() > 0.98 and cosine.mean() > 0.99
    _same_alone_and_in_bulk(encoder)


def test_openvino_runs_each_text_padded_alike_and_padding_moves_only_rounding(
    encoder: Encoder,
) -> None:
    from embeddings import openvino_model

    # A text runs at the next multiple of PAD tokens, in a batch filled to a power of two,
    # so a bulk run meets few input shapes (each new one costs OpenVINO a preparation).
    assert [openvino_model.padded_length(n, 8) for n in (1, 8, 9, 17)] == [8, 8, 16, 24]
    assert [openvino_model.filled_batch(n) for n in (1, 3, 33, 64)] == [1, 4, 64, 64]
    ids, mask = openvino_model.inputs([[5, 6, 7], [8]], 8, 4).values()
    assert ids.shape == mask.shape == (4, 8)
    assert ids[1].tolist() == [8, 0, 0, 0, 0, 0, 0, 0] and ids[3].tolist() == ids[0].tolist()
    assert mask.sum(axis=1).tolist() == [3, 1, 3, 3]
    # Padding is neither attended to nor pooled: the same texts run unpadded give the same
    # vectors but for rounding ("x", three tokens with its markers, runs with five of padding).
    suffix = f"-openvino-int8-v{openvino_model.EXPORT_FORMAT}"
    (folder,) = [p for p in default_cache_dir().iterdir() if p.name.endswith(suffix)]
    unpadded = openvino_model.OpenVinoBackend(folder, pad=1)
    texts = TEXTS * 8  # the bulk path
    cosine = np.sum(encoder.encode(texts) * unpadded.encode(texts, progress=False), axis=1)
    assert cosine.min() > 0.999


FREED_BACKENDS = """
from embeddings import openvino_model
from embeddings.encoder import BUNDLED_WEIGHTS_SHA256, bundled_model_path, default_cache_dir
folder = openvino_model.exported_model(
    bundled_model_path(), BUNDLED_WEIGHTS_SHA256, default_cache_dir()
)
for _ in range(4):
    backend = openvino_model.OpenVinoBackend(folder)
    backend.encode(["A sentence.", "Another, a little longer, sentence."] * 20)
    del backend
print("freed")
"""


def test_freeing_an_openvino_backend_after_bulk_work_does_not_hang() -> None:
    # Freeing a compiled model joins OpenVINO's threads while holding the GIL: a Python
    # callback of the bulk path waiting for the GIL on one of them hung the process (the
    # second backend freed, in a one-off reproduction). In a process of its own, with a
    # deadline, so that a hang fails this test rather than the whole run.
    done = subprocess.run(
        [sys.executable, "-c", FREED_BACKENDS], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "freed"


def test_questions_run_through_the_onnx_runtime_int8_export(
    encoder: Encoder, reference: np.ndarray
) -> None:
    # OpenVINO embeds what is indexed; a question goes through ONNX Runtime's int8 export,
    # which has no cost for a new input shape. Both stay close to fp32 and to each other.
    onnx_int8 = Encoder.load(backend="onnx-int8")
    queries = np.stack([encoder.encode_query(t) for t in TEXTS])
    assert queries.shape == (len(TEXTS), encoder.dim) and queries.dtype == np.float32
    assert np.array_equal(queries, onnx_int8.encode(TEXTS))
    assert not np.array_equal(queries, encoder.encode(TEXTS))
    assert np.sum(queries * encoder.encode(TEXTS), axis=1).min() > 0.97
    assert np.sum(queries * reference, axis=1).min() > 0.97
    # Without a query model of its own, an encoder embeds questions as it embeds texts.
    torch = Encoder.load(backend="torch")
    assert np.array_equal(torch.encode_query(TEXTS[0]), torch.encode(TEXTS[:1])[0])


def test_a_question_is_encoded_on_one_thread_and_no_session_spins(encoder: Encoder) -> None:
    # A question's searches follow its encoding at once: a second encoder thread gained
    # nothing on one text, and a helper thread spinning after the run took a core from them.
    from embeddings.reader import Reader

    query_session = encoder._query_model._session
    for session in (query_session, Reader.load()._session):
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert query_session.get_session_options().intra_op_num_threads == 1


def test_the_int8_onnx_runtime_encoder_stays_close_to_fp32(
    encoder: Encoder, reference: np.ndarray
) -> None:
    from embeddings.onnx_model import INT8_TAG

    onnx_int8 = Encoder.load(backend="onnx-int8")
    assert onnx_int8.model_id.endswith("+" + INT8_TAG)
    assert onnx_int8.model_id != encoder.model_id  # other vectors, another id
    cosine = np.sum(onnx_int8.encode(TEXTS) * reference, axis=1)
    assert cosine.min() > 0.97 and cosine.mean() > 0.985
    _same_alone_and_in_bulk(onnx_int8)


@pytest.mark.parametrize(
    ("backend", "suffix", "damaged"),
    [("openvino-int8", "-openvino-int8-v", "model.bin"), ("onnx-int8", "-int8-v", "model.onnx")],
)
def test_a_tampered_export_is_refused(
    tmp_path: Path, backend: Backend, suffix: str, damaged: str
) -> None:
    from embeddings import onnx_model, openvino_model

    version = {"openvino-int8": openvino_model, "onnx-int8": onnx_model}[backend].EXPORT_FORMAT
    model_id = Encoder.load(backend=backend).model_id  # made the export if missing
    (exported,) = [
        p for p in default_cache_dir().iterdir() if p.name.endswith(f"{suffix}{version}")
    ]
    cache = tmp_path / "models"
    shutil.copytree(exported, cache / exported.name)
    assert Encoder.load(backend=backend, cache_dir=cache).model_id == model_id
    model = cache / exported.name / damaged
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the export record"):
        Encoder.load(backend=backend, cache_dir=cache)


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ModelError, match="unknown encoder backend"):
        Encoder.load(backend="tensorflow")  # type: ignore[arg-type]


def test_a_model_that_does_not_pool_by_mean_is_not_exported(tmp_path: Path) -> None:
    copy = tmp_path / "cls-model"
    shutil.copytree(bundled_model_path(), copy)
    pooling = copy / "1_Pooling" / "config.json"
    pooling.write_text(
        pooling.read_text()
        .replace('"pooling_mode_cls_token": false', '"pooling_mode_cls_token": true')
        .replace('"pooling_mode_mean_tokens": true', '"pooling_mode_mean_tokens": false')
    )
    (copy / "model.safetensors").write_bytes(b"other weights")  # another digest, no export yet
    with pytest.raises(ModelError, match="BRIEFING_ENCODER=torch"):
        Encoder.load(copy, cache_dir=tmp_path / "models")


def test_the_onnx_int8_export_quantises_every_product_and_keeps_layer_norms_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnx
    import onnxruntime as ort

    from embeddings.onnx_model import EXPORT_FORMAT, ONNX_FILE, UNFUSED

    onnx_int8 = Encoder.load(backend="onnx-int8")  # made the export if missing
    (exported,) = [
        p for p in default_cache_dir().iterdir() if p.name.endswith(f"-int8-v{EXPORT_FORMAT}")
    ]
    graph = onnx.load(str(exported / ONNX_FILE)).graph
    weights = {i.name for i in graph.initializer}
    kinds = {node.op_type for node in graph.node}
    float_products = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    assert float_products == [] and "MatMulInteger" in kinds and "QAttention" in kinds
    assert "SkipLayerNormalization" not in kinds and "LayerNormalization" in kinds
    # ONNX Runtime fuses Add + LayerNormalization itself when a session is made, unless the
    # fusion is switched off as the encoder's sessions do: the name must be the right one.
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    made = []
    real_session = ort.InferenceSession

    def session(*args: object, **kwargs: object) -> object:
        made.append(kwargs.get("disabled_optimizers"))
        return real_session(*args, **kwargs)  # type: ignore[arg-type]

    real_session(
        str(exported / ONNX_FILE), options, ["CPUExecutionProvider"], disabled_optimizers=UNFUSED
    )
    optimised = {n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node}
    assert "SkipLayerNormalization" not in optimised and "LayerNormalization" in optimised
    monkeypatch.setattr(ort, "InferenceSession", session)
    Encoder.load(backend="onnx-int8").encode(["The harbour reopened."])
    assert made and all(kinds == UNFUSED for kinds in made)
    assert onnx_int8.model_id
