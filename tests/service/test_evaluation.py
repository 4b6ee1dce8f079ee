"""The evaluation harness: metric code on hand-made cases, and a small end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embeddings.encoder import Encoder
from embeddings.reader import Reader
from service.evaluation.metrics import (
    Outcome,
    QuoteSpan,
    contains_answer,
    normalize_answer,
    percentile,
    summarize,
)
from service.evaluation.runner import format_table, run_eval
from service.evaluation.squad import load_squad, paragraph_spans
from service.settings import Settings


def test_normalisation_follows_squad() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("“Theatre” — then") == "theatre then"
    assert contains_answer("In 2016, the Denver Broncos won.", ["Denver Broncos"])
    assert contains_answer("won in 2016", ["", "2016."])
    assert not contains_answer("Carolina won.", ["Denver Broncos", ""])
    assert not contains_answer("anything", [])


def _q(
    quotes: list[tuple[str, int, int]], golds: tuple[str, ...], abstained: bool = False
) -> Outcome:
    spans = tuple(QuoteSpan("a", s, e, t) for t, s, e in quotes)
    return Outcome(golds, "a", (100, 200), spans, abstained, 10.0)


def test_hits_recall_and_quote_length() -> None:
    outcomes = [
        _q([("Denver won.", 110, 121), ("x", 0, 1)], ("Denver",)),  # first hit, in passage
        _q([("Nothing here.", 0, 13), ("Denver won.", 120, 131)], ("Denver",)),  # top-3 hit
        _q([("Nope.", 300, 305)] * 5, ("Denver",)),  # miss
        _q([], ("Denver",), abstained=True),  # abstained on an answerable question
    ]
    m = summarize(outcomes)
    assert m["answer_in_first_quote"] == 0.25
    assert m["answer_in_top3_quotes"] == 0.5
    assert m["passage_recall_at_1"] == 0.25
    assert m["passage_recall_at_5"] == 0.5
    assert m["mean_first_quote_chars"] == round((11 + 13 + 5) / 3, 1)
    assert "abstain_precision" not in m  # no unanswerable questions


def test_abstention_counts() -> None:
    outcomes = [
        _q([], (), abstained=True),  # correct abstention
        _q([], (), abstained=True),  # correct abstention
        _q([("Some quote.", 0, 11)], ()),  # answered an unanswerable question
        _q([], ("Denver",), abstained=True),  # wrong abstention
        _q([("Denver won.", 110, 121)], ("Denver",)),
    ]
    m = summarize(outcomes)
    assert m["unanswerable"] == 3 and m["answerable"] == 2
    assert m["abstain_precision"] == round(2 / 3, 4)
    assert m["abstain_recall"] == round(2 / 3, 4)
    assert m["answerable_abstained"] == 0.5
    assert m["answer_in_first_quote"] == 0.5


def test_percentile() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 95) == 95


def test_paragraph_spans_find_paragraphs_in_order() -> None:
    text = "Alpha one.\n\nBeta two.\n\nAlpha one."
    assert paragraph_spans(text, ["Alpha one.", "Beta two.", "Alpha one."]) == [
        (0, 10),
        (12, 21),
        (23, 33),
    ]
    assert paragraph_spans(text, ["Gone."]) == [None]


SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Harbour_town",
            "paragraphs": [
                {
                    "context": "The northern harbour reopened on Monday after repairs to the "
                    "sea wall. Repairs cost 4.2 million euros, the port authority said.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "How much did the harbour repairs cost?",
                            "answers": [{"text": "4.2 million euros", "answer_start": 87}],
                        },
                        {
                            "id": "q2",
                            "question": "What is the recipe for chocolate cake?",
                            "answers": [],
                            "is_impossible": True,
                        },
                    ],
                },
                {
                    "context": "Fishing boats returned to the harbour within hours. The mayor "
                    "Anna Berg opened a new fish market in 2019.",
                    "qas": [
                        {
                            "id": "q3",
                            "question": "Who opened the new fish market?",
                            "answers": [{"text": "Anna Berg", "answer_start": 62}],
                        }
                    ],
                },
            ],
        },
        {
            "title": "Map_library",
            "paragraphs": [
                {
                    "context": "The city library has scanned 12,000 historical maps. The oldest "
                    "map dates from 1602 and shows the river delta.",
                    "qas": [
                        {
                            "id": "q4",
                            "question": "When was the oldest map made?",
                            "answers": [{"text": "1602", "answer_start": 83}],
                        }
                    ],
                }
            ],
        },
    ],
}


def test_load_squad(tmp_path: Path) -> None:
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    squad = load_squad([path])
    assert [a.id for a in squad.articles] == ["Harbour_town", "Map_library"]
    assert squad.articles[0].title == "Harbour town"
    assert [q.golds for q in squad.questions] == [
        ("4.2 million euros",),
        (),
        ("Anna Berg",),
        ("1602",),
    ]
    assert squad.questions[2].paragraph == 1


def test_eval_end_to_end(tmp_path: Path, encoder: Encoder, reranker: Reader) -> None:
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data")
    report = run_eval([path], settings, encoder=encoder, reranker=reranker, ablation=True)
    assert report["corpus"]["articles"] == 2 and report["corpus"]["paragraphs"] == 3
    assert report["corpus"]["paragraphs_dropped_by_cleaning"] == 0
    assert set(report["systems"]) == {"briefing", "bm25", "dense", "rrf"}
    ours = report["systems"]["briefing"]
    assert ours["questions"] == 4 and ours["answerable"] == 3 and ours["unanswerable"] == 1
    assert ours["answer_in_first_quote"] == 1.0
    assert ours["passage_recall_at_1"] == 1.0
    assert ours["abstain_recall"] == 1.0 and ours["abstain_precision"] == 1.0
    assert ours["ask_latency_ms_p50"] > 0
    assert "abstain_recall" in report["systems"]["bm25"]  # baselines never abstain
    assert report["systems"]["bm25"]["abstain_recall"] == 0.0
    assert set(report["ablation"]) == {
        "without reader",
        "without passage context",
        "without answer-type cue",
        "without unit cue",
        "without place cue",
        "without interviewer's-words cue",
        "without lead continuation",
        "sentence fusion only",
    }
    assert report["ablation"]["without reader"]["questions"] == 4
    # Neither article is one the reader was trained on: every question is held out.
    held = report["held_out_from_reader"]
    assert held["questions"] == held["of"] == 4
    assert held["briefing"] == {k: v for k, v in ours.items() if k != "off_topic_abstained"}
    assert held["without reader"] == report["ablation"]["without reader"]
    table = format_table(report)
    assert "answer_in_first_quote" in table and "rrf" in table
    assert "held out from the reader's training: 4 of 4 questions" in table


def test_eval_cli_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["eval", "--squad", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    assert main(["eval", "--squad", str(bad), "--data-dir", str(tmp_path / "d")]) == 2
    assert "not a SQuAD-format JSON file" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert main(["eval", "--squad", str(bad), "--data-dir", str(busy)]) == 2
    assert "is not empty" in capsys.readouterr().err


@pytest.mark.parametrize("limit", [1, 3])
def test_eval_sample_is_seeded(
    tmp_path: Path, encoder: Encoder, reranker: Reader, limit: int
) -> None:
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data")
    report = run_eval([path], settings, limit=limit, seed=3, encoder=encoder, reranker=reranker)
    assert report["sample"] == {"questions": limit, "of": 4, "seed": 3}
    assert report["systems"]["briefing"]["questions"] == limit
