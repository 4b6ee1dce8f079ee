"""Answer-sentence reranker: a cross-encoder reading the question and a sentence together.

The bi-encoder embeds question and sentence apart, so it cannot see that "previously in
control" answers "who held it before"; a cross-encoder attends across both. Briefing ships
one trained by ``bench/train_reranker.py`` (MiniLM-L6 initialised from all-MiniLM-L6-v2,
float16 safetensors, checksum verified on load), used on the few best candidates only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.encoder import verified_weights
from embeddings.errors import ModelError

log = logging.getLogger(__name__)

BUNDLED_RERANKER_DIR = Path(__file__).resolve().parent / "models" / "reranker"
BUNDLED_RERANKER_SHA256 = "3755586d77a5ba08d337826492d9dbda0ce4ee99740b6aef8471600fe94d70c2"
MAX_LENGTH = 96


class Reranker:
    """Scores (question, sentence) pairs; higher means more likely to answer."""

    def __init__(self, model: object, tokenizer: object, model_id: str) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._lock = threading.Lock()
        self.model_id = model_id

    @classmethod
    def load(cls, path: Path | None = None) -> Reranker:
        """Load the bundled reranker (checksum verified) or a compatible one at ``path``."""
        bundled = path is None
        folder = BUNDLED_RERANKER_DIR if path is None else Path(path)
        digest = verified_weights(
            folder,
            BUNDLED_RERANKER_SHA256 if bundled else None,
            "restore embeddings/models/reranker from the repository",
        )
        started = time.perf_counter()
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                str(folder), local_files_only=True, dtype=torch.float32
            )
        except Exception as exc:  # the library raises many types for a bad folder
            raise ModelError(f"{folder}: cannot load the reranker ({exc})") from exc
        model.eval()
        log.info("loaded reranker in %.1fs", time.perf_counter() - started)
        return cls(model, tokenizer, f"{folder.name}@{digest[:16]}")

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One logit per text."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        import torch

        with self._lock, torch.inference_mode():
            enc = self._tokenizer(  # type: ignore[operator]
                [question] * len(texts),
                list(texts),
                truncation=True,
                max_length=MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            logits = self._model(**enc).logits  # type: ignore[operator]
        return np.asarray(logits.view(-1).float().numpy(), dtype=np.float32)
