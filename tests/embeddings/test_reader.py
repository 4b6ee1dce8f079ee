"""The shipped reader: verified on load, and it prefers the sentence that answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from embeddings import reader as reader_module
from embeddings.encoder import Encoder, default_cache_dir, file_sha256
from embeddings.errors import ModelError
from embeddings.onnx_model import EXPORT_FORMAT
from embeddings.reader import (
    BUNDLED_READER_DIR,
    BUNDLED_READER_SHA256,
    DEFAULT_WEIGHT,
    MODEL_FILE,
    SENTENCE_INPUT,
    TITLE_INPUT,
    Reader,
)
from service.evaluation.squad import load_squad

SHARED_EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval"


def test_shipped_reader_matches_its_checksum_and_record() -> None:
    digest = file_sha256(BUNDLED_READER_DIR / MODEL_FILE)
    assert digest == BUNDLED_READER_SHA256
    record = json.loads((BUNDLED_READER_DIR / "training.json").read_text("utf-8"))
    assert record["sha256"] == digest
    # Trained only on articles outside the v2.0 tune file, which is its validation, and on
    # the news set written for training (never the evaluated bench/news).
    assert record["news"]["set"] == "bench/reader_news"
    validation = load_squad([SHARED_EVAL / "squad-v2.0-dev-tune.json"]).articles
    assert record["train_articles"]
    assert not set(record["train_articles"]) & {a.id for a in validation}


@pytest.mark.parametrize(
    ("question", "answer", "other"),
    [
        (
            "How many passengers were on the ferry?",
            "The ferry was carrying 212 passengers and 14 crew when it capsized.",
            "Passengers on the ferry said the crossing had been rough for an hour.",
        ),
        (
            "Who won Super Bowl 50?",
            "The Denver Broncos defeated the Carolina Panthers 24–10 to win Super Bowl 50.",
            "Super Bowl 50 was played at Levi's Stadium in Santa Clara, California.",
        ),
        (
            "When will the bridge reopen?",
            "The council said the bridge would reopen on 3 March after repairs.",
            "The bridge was closed after inspectors found cracks in its deck.",
        ),
    ],
)
def test_reader_prefers_the_sentence_that_answers(
    reranker: Reader, question: str, answer: str, other: str
) -> None:
    good, bad = reranker.score(question, [answer, other])
    assert good > bad
    # One batched run scores each pair as it would alone, up to int8 rounding: dynamic
    # quantisation takes its scales from the whole batch, which moves a logit by up to
    # about 0.75 (both six-layer readers, these pairs with and without a title before them).
    (alone,) = reranker.score(question, [answer])
    assert abs(alone - good) < 1.0
    assert reranker.score(question, []).shape == (0,)


def test_a_reader_counts_at_the_weight_its_record_names(tmp_path: Path, reranker: Reader) -> None:
    # The shipped reader was trained apart from the fused score: the default weight.
    assert reranker.weight == DEFAULT_WEIGHT
    folder = tmp_path / "residual"
    shutil.copytree(BUNDLED_READER_DIR, folder)
    record = json.loads((folder / "training.json").read_text("utf-8"))
    (folder / "training.json").write_text(json.dumps({**record, "weight": 0.025}), "utf-8")
    assert Reader.load(folder).weight == 0.025  # as bench/train_reader.py --residual writes


def test_a_reader_reads_what_its_record_names(tmp_path: Path, reranker: Reader) -> None:
    assert reranker.reads == TITLE_INPUT  # the shipped reader reads a sentence after its title
    folder = tmp_path / "plain"
    shutil.copytree(BUNDLED_READER_DIR, folder)
    record = json.loads((folder / "training.json").read_text("utf-8"))
    (folder / "training.json").write_text(json.dumps({**record, "input": SENTENCE_INPUT}), "utf-8")
    assert Reader.load(folder).reads == SENTENCE_INPUT  # as bench/train_reader.py writes
    del record["input"]  # readers trained before the record named it read the sentence alone
    (folder / "training.json").write_text(json.dumps(record), "utf-8")
    assert Reader.load(folder).reads == SENTENCE_INPUT
    (folder / "training.json").write_text(json.dumps({**record, "input": "page"}), "utf-8")
    with pytest.raises(ModelError, match="input 'page' is none of"):
        Reader.load(folder)


def test_tampered_reader_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "BUNDLED_READER_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="does not match"):
        Reader.load()


def test_folder_without_a_reader_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model\.onnx"):
        Reader.load(tmp_path)


def test_folder_with_another_kind_of_model_is_refused(tmp_path: Path, encoder: Encoder) -> None:
    """The sentence encoder's ONNX export takes token ids only: not a cross-encoder."""
    encoder.encode_query("made on first use")
    export = next(
        p for p in default_cache_dir().iterdir() if p.name.endswith(f"-int8-v{EXPORT_FORMAT}")
    )
    shutil.copy(export / "model.onnx", tmp_path / MODEL_FILE)
    shutil.copy(BUNDLED_READER_DIR / "tokenizer.json", tmp_path / "tokenizer.json")
    with pytest.raises(ModelError, match="not a cross-encoder"):
        Reader.load(tmp_path)
