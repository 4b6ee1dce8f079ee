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
