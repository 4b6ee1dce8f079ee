"""The shipped answer reranker: verified on load, and it prefers the sentence that answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from embeddings import reranker as reranker_module
from embeddings.encoder import file_sha256
from embeddings.errors import ModelError
from embeddings.reranker import BUNDLED_RERANKER_DIR, BUNDLED_RERANKER_SHA256, Reranker


def test_shipped_weights_match_their_checksum() -> None:
    assert file_sha256(BUNDLED_RERANKER_DIR / "model.safetensors") == BUNDLED_RERANKER_SHA256


@pytest.mark.parametrize(
    ("question", "answer", "other"),
    [
        (
            "When did the harbour reopen?",
            "The harbour reopened on Monday after repairs.",
            "The harbour is the largest on the coast.",
        ),
        (
            "How much did the repairs cost?",
            "The repairs cost 4.2 million euros.",
            "The repairs took three months to finish.",
        ),
        (
            "Who opened the new fish market?",
            "The mayor, Anna Berg, opened the new fish market.",
            "The new fish market sells cod and herring.",
        ),
    ],
)
def test_answering_sentence_scores_higher(
    reranker: Reranker, question: str, answer: str, other: str
) -> None:
    good, bad = reranker.score(question, [answer, other])
    assert good > bad
    assert reranker.score(question, []).shape == (0,)


def test_tampered_reranker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shipped file cannot be corrupted safely in a test; the expected checksum can.
    monkeypatch.setattr(reranker_module, "BUNDLED_RERANKER_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="does not match"):
        Reranker.load()


def test_folder_without_safetensors_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="safetensors"):
        Reranker.load(tmp_path)
