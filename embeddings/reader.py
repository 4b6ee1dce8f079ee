"""The reader: a small cross-encoder that reads the question with each shortlisted sentence.

The bi-encoder embeds question and sentence apart, so it cannot see that "previously in
control" answers "who held it before", or that of two sentences sharing the question's
words only one holds the number asked for; a cross-encoder attends across both. Briefing
ships one trained by ``bench/train_reader.py``: all-MiniLM-L6-v2, all six layers, with a
one-logit head, reading each sentence after its article's title, fine-tuned on SQuAD
questions, yes/no and quantity questions of articles it may train on and a news set written
for its training (``bench/reader_news``: quantities, dates, interview replies), exported to
ONNX with int8 weights (per channel) and verified by SHA-256 on load. One call scores the
whole shortlist as one batch, on every core.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.encoder import file_sha256
from embeddings.errors import ModelError
from embeddings.onnx_model import ONNX_FILE, open_session

log = logging.getLogger(__name__)

BUNDLED_READER_DIR = Path(__file__).resolve().parent / "models" / "reader"
BUNDLED_READER_SHA256 = "00a5eb4fa2fdfbee5a4f4896c32a300869ab811ac5dada0b7dc0a0e5fb67a483"
MODEL_FILE = ONNX_FILE
# Question and sentence together, in tokens, unless the reader's training.json says otherwise;
# what is cut is the start of the longer text (a sentence's title or context before it).
MAX_LENGTH = 64
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# training.json's "input": what a reader reads beside the question for a sentence (see
# service.answering.retrieve.reading): the sentence alone, the sentence after the one before
# it, or the sentence after its article's title.
SENTENCE_INPUT = "sentence"
CONTEXT_INPUT = "context + sentence"
TITLE_INPUT = "title + sentence"
INPUTS = (SENTENCE_INPUT, CONTEXT_INPUT, TITLE_INPUT)
# How much a logit counts beside the fused score, for a reader whose training.json names no
# weight (those trained apart from the fused score; bench/reader_sweep.py chose it).
DEFAULT_WEIGHT = 0.05


class Reader:
    """Scores (question, sentence) pairs; higher means more likely to hold the answer."""

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        trained_on: frozenset[str] = frozenset(),
        *,
        reads: str = SENTENCE_INPUT,
        weight: float = DEFAULT_WEIGHT,
    ) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._lock = threading.Lock()
        # Ids of the articles it was trained on (from its training.json), so evaluations
        # can report figures on the others apart.
        self.trained_on = trained_on
        # What it reads for a sentence (one of INPUTS; see retrieve.reading).
        self.reads = reads
        # How much its logit counts beside the fused score (a reader trained on Briefing's
        # own order, ``--residual``, learnt its logits at this weight).
        self.weight = weight

    @classmethod
    def load(cls, path: Path | None = None) -> Reader:
        """The shipped reader (checksum verified), or one made by ``bench/train_reader.py``
        in folder ``path``."""
        folder = BUNDLED_READER_DIR if path is None else Path(path)
        model = folder / MODEL_FILE
        if not model.is_file():
            raise ModelError(
                f"{folder}: no {MODEL_FILE} found; restore embeddings/models/reader from the "
                "repository, or point BRIEFING_RERANKER_PATH at a folder made by "
                "bench/train_reader.py"
            )
        digest = file_sha256(model)
        expected = BUNDLED_READER_SHA256 if path is None else None
        if expected is not None and digest != expected:
            raise ModelError(
                f"{model}: SHA-256 {digest} does not match the expected {expected}; restore "
                "embeddings/models/reader from the repository"
            )
        started = time.perf_counter()
        from tokenizers import Tokenizer

        session = open_session(model, min(2, os.cpu_count() or 1))
        try:
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises its own types for a bad file
            raise ModelError(f"{folder}: cannot load the reader's tokenizer ({exc})") from exc
        names = {i.name for i in session.get_inputs()}
        if names != set(_INPUTS):
            raise ModelError(
                f"{model}: takes inputs {sorted(names)}, not a cross-encoder's {list(_INPUTS)}"
            )
        record = _record(folder)
        reads = str(record.get("input", SENTENCE_INPUT))
        if reads not in INPUTS:
            raise ModelError(
                f"{folder}: training.json's input {reads!r} is none of {list(INPUTS)}; "
                "train the reader again with bench/train_reader.py"
            )
        tokenizer.enable_truncation(
            int(record.get("max_length", MAX_LENGTH)), strategy="longest_first", direction="left"
        )
        tokenizer.enable_padding()
        log.info("loaded the reader in %.2fs", time.perf_counter() - started)
        return cls(
            session,
            tokenizer,
            frozenset(str(a) for a in record.get("train_articles", ())),
            reads=reads,
            weight=float(record.get("weight", DEFAULT_WEIGHT)),
        )

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One logit per text, from one batched run."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        encoded = self._tokenizer.encode_batch([(question, t) for t in texts])
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        with self._lock:
            (logits,) = self._session.run(None, feed)
        return np.asarray(logits, dtype=np.float32).reshape(-1)


def _record(folder: Path) -> dict[str, Any]:
    """A reader's ``training.json`` (empty if it has none): its input, length, articles."""
    try:
        record = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: no readable training.json (%s); reading sentences alone", folder, exc)
        return {}
    return record if isinstance(record, dict) else {}
