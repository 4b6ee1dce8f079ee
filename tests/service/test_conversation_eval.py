"""The conversation benchmark: its data file, its harness, and its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.defaults import DEFAULT_CORPUS_DIR
from corpus.readers import iter_files, read_path
from embeddings.encoder import Encoder
from service.answering.followup import is_follow_up
from service.cli import main
from service.evaluation.conversations import (
    ABLATIONS,
    ConversationSetError,
    Script,
    ScriptedTurn,
    check_answers_exist,
    format_conversation_table,
    load_scripts,
    run_conversation_eval,
)
from service.settings import Settings

SCRIPTS = Path(__file__).resolve().parents[2] / "bench" / "conversations.json"


def _seed_articles() -> list:
    return [a for f in iter_files([DEFAULT_CORPUS_DIR]) for a in read_path(f)]


def test_the_conversation_set_is_big_enough_and_well_formed() -> None:
    scripts = load_scripts(SCRIPTS)
    follow_ups = [t for s in scripts for t in s.turns[1:]]
    assert len(scripts) >= 30
    assert any(len(s.turns) == 3 for s in scripts) and any(len(s.turns) == 2 for s in scripts)
    assert all(t.standalone for t in follow_ups)
    # Openings stand alone; the hand-written rewrites of follow-ups do too.
    assert not any(is_follow_up(s.turns[0].question) for s in scripts)
    assert sum(is_follow_up(t.question) for t in follow_ups) >= 0.9 * len(follow_ups)
    seed = [s for s in scripts if s.id.startswith("seed-")]
    check_answers_exist(seed, _seed_articles())


def test_answers_missing_from_the_corpus_are_refused() -> None:
    script = Script("x", (ScriptedTurn("Who?", ("not in any article at all",)),) * 2)
    with pytest.raises(ConversationSetError, match="answers not in the corpus"):
        check_answers_exist([script], _seed_articles())


def test_resolution_beats_bare_follow_ups_on_the_seed_conversations(
    tmp_path: Path, encoder: Encoder
) -> None:
    seed = [s for s in load_scripts(SCRIPTS) if s.id.startswith("seed-")]
    report = run_conversation_eval(
        seed,
        _seed_articles(),
        Settings(data_dir=tmp_path / "data"),
        encoder=encoder,
        ablation=True,
    )
    on, off = report["resolution_on"], report["resolution_off"]
    assert report["follow_ups"] == sum(len(s.turns) - 1 for s in seed)
    assert on["answer_in_top3_quotes"] > off["answer_in_top3_quotes"]
    assert on["answer_in_first_quote"] >= off["answer_in_first_quote"]
    assert report["first_turns_left_alone"] == report["first_turns"] == len(seed)
    assert set(report["ablation"]) == set(ABLATIONS)
    # Switching the reading off changes the readings asked, so at least one variant differs.
    assert any(rates != on for rates in report["ablation"].values())
    table = format_conversation_table(report)
    assert "resolution on" in table and "by hand" in table


def test_cli_rejects_a_bad_conversation_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": []}))
    bad = tmp_path / "conv.json"
    bad.write_text(json.dumps({"conversations": [{"id": "a", "turns": []}]}))
    args = ["eval", "--squad", str(squad), "--data-dir", str(tmp_path / "d")]
    assert main([*args, "--conversations", str(bad)]) == 2
    assert "needs 2+ turns" in capsys.readouterr().err
    assert main([*args, "--conversations", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
