"""The bundled model loads offline, is verified, and embeds into unit vectors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from embeddings import encoder as encoder_module
from embeddings.cache import VectorCache, encode_cached
from embeddings.encoder import BUNDLED_WEIGHTS_SHA256, Encoder, bundled_model_path, file_sha256
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


def test_the_int8_onnx_encoder_stays_close_to_fp32(encoder: Encoder) -> None:
    from embeddings.onnx_model import INT8_TAG

    assert encoder.model_id.endswith("+" + INT8_TAG)  # the default backend
    torch = Encoder.load(backend="torch")
    fp32 = Encoder.load(backend="onnx")
    # fp32 ONNX and sentence-transformers make the same vectors, so they share a model id.
    assert fp32.model_id == torch.model_id == encoder.model_id.removesuffix("+" + INT8_TAG)
    texts = [
        "ISIS captured the bridge on Monday.",
        "Who held the al-Qaim border crossing before that?",
        "The library scanned 12,000 historical maps and put them online.",
        "x",
        "A much longer sentence about the council budget, " * 12,
    ]
    reference = torch.encode(texts)
    assert np.allclose(fp32.encode(texts), reference, atol=1e-4)
    cosine = np.sum(encoder.encode(texts) * reference, axis=1)
    assert cosine.min() > 0.97 and cosine.mean() > 0.985
    # A text's vector does not depend on the texts embedded with it (activations are
    # quantised per batch, so each text is its own batch).
    one_by_one = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.array_equal(one_by_one, encoder.encode(texts))
    assert np.array_equal(one_by_one[:2], encoder.encode(texts[:2] * 40)[[0, 41]])


def test_a_tampered_onnx_export_is_refused(tmp_path: Path, encoder: Encoder) -> None:
    from embeddings.onnx_model import EXPORT_FORMAT, ONNX_FILE, default_cache_dir

    assert encoder.model_id  # the session fixture made the export
    suffix = f"-int8-v{EXPORT_FORMAT}"
    (exported,) = [p for p in default_cache_dir().iterdir() if p.name.endswith(suffix)]
    cache = tmp_path / "models"
    shutil.copytree(exported, cache / exported.name)
    assert Encoder.load(cache_dir=cache).model_id == encoder.model_id
    model = cache / exported.name / ONNX_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the export record"):
        Encoder.load(cache_dir=cache)


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
