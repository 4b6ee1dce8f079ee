"""``briefing eval --conversations``: multi-turn conversations, follow-up resolution on and off.

Every turn is asked through ``Engine.converse``, the code path of ``POST /ask``. With
resolution on, the turns of a conversation share one conversation; with it off, each
question is asked exactly as written; "by hand" asks each follow-up as rewritten by a person
to stand alone (the ceiling for automatic resolution with this retrieval). The figure that
matters is the first-quote hit rate of the follow-ups (every turn after the first).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from corpus.article import Article
from embeddings.encoder import Encoder
from service.evaluation.metrics import contains_answer, normalize_answer
from service.ops.engine import Engine
from service.settings import Settings


class ConversationSetError(ValueError):
    """The conversation file is missing, malformed or names answers nowhere in the corpus."""


@dataclass(frozen=True)
class ScriptedTurn:
    """A question and the answers its first quote may contain."""

    question: str
    answers: tuple[str, ...]
    standalone: str | None = None  # the follow-up rewritten by hand to stand alone


@dataclass(frozen=True)
class Script:
    """A conversation to replay."""

    id: str
    turns: tuple[ScriptedTurn, ...]


def load_scripts(path: Path) -> list[Script]:
    """Read a conversation file (see bench/conversations.json)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        scripts = [
            Script(
                str(c["id"]),
                tuple(
                    ScriptedTurn(t["question"], tuple(t["answers"]), t.get("standalone"))
                    for t in c["turns"]
                ),
            )
            for c in data["conversations"]
        ]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConversationSetError(f"{path}: not a conversation file ({exc})") from exc
    for s in scripts:
        if len(s.turns) < 2 or any(not t.answers for t in s.turns):
            raise ConversationSetError(f"{path}: {s.id} needs 2+ turns, each with answers")
    return scripts


def check_answers_exist(scripts: list[Script], articles: list[Article]) -> None:
    """Every turn's answers must be findable in the corpus, or the set measures nothing."""
    corpus = normalize_answer(" ".join(a.text for a in articles))
    missing = [
        f"{s.id}: {t.question!r}"
        for s in scripts
        for t in s.turns
        if not any(normalize_answer(a) in corpus for a in t.answers)
    ]
    if missing:
        raise ConversationSetError("answers not in the corpus for " + "; ".join(missing))


# Each ablation changes one part of follow-up resolution (given the engine's set-up).
ABLATIONS: dict[str, Callable[[Engine], dict[str, Any]]] = {
    "likeliest reading only": lambda e: {"reading_margin": float("inf")},
    "most confident reading": lambda e: {"reading_margin": 0.0},
    "without repeat penalty": lambda e: {"weights": replace(e.weights, repeat=0.0)},
    "without article bonus": lambda e: {"weights": replace(e.weights, conversation=0.0)},
}


def run_conversation_eval(
    scripts: list[Script],
    articles: list[Article],
    settings: Settings,
    *,
    encoder: Encoder | None = None,
    progress: bool = False,
    ablation: bool = False,
) -> dict[str, Any]:
    """Replay ``scripts`` over ``articles`` with resolution on and off; return hit rates.

    ``settings.data_dir`` must be a fresh directory. With ``ablation``, the follow-ups are
    replayed again with each part of resolution changed in turn.
    """
    check_answers_exist(scripts, articles)
    engine = Engine(settings, encoder=encoder)
    try:
        engine.ingest_articles(articles)
        engine.rebuild(progress=progress)
        rows: list[dict[str, Any]] = []
        for script in tqdm(scripts, desc="conversations", unit="conv", disable=not progress):
            conversation_id = None
            for n, turn in enumerate(script.turns):
                on = engine.converse(turn.question, conversation_id=conversation_id, top_k=3)
                conversation_id = on.conversation_id
                off = engine.converse(turn.question, top_k=3, resolve_follow_ups=False)
                by_hand = engine.converse(
                    turn.standalone or turn.question, top_k=3, resolve_follow_ups=False
                )
                rows.append(
                    {
                        "conversation": script.id,
                        "turn": n + 1,
                        "question": turn.question,
                        "resolved_question": on.resolution.resolved,
                        "detected": on.resolution.follow_up,
                        "on": _hits(on.result.answer.quotes, turn.answers),
                        "off": _hits(off.result.answer.quotes, turn.answers),
                        "by_hand": _hits(by_hand.result.answer.quotes, turn.answers),
                    }
                )
        ablations: dict[str, dict[str, float]] = {}
        if ablation:
            for variant, change in ABLATIONS.items():
                full = (engine.weights, engine.reading_margin)
                engine.configure(**change(engine))
                ablations[variant] = _rates(_replay_follow_ups(engine, scripts), "on")
                engine.configure(weights=full[0], reading_margin=full[1])
    finally:
        engine.close()
    follow_ups = [r for r in rows if r["turn"] > 1]
    first_turns = [r for r in rows if r["turn"] == 1]
    return {
        "conversations": len(scripts),
        "follow_ups": len(follow_ups),
        "follow_ups_detected": sum(r["detected"] for r in follow_ups),
        "first_turns_left_alone": sum(not r["detected"] for r in first_turns),
        "first_turns": len(first_turns),
        "resolution_on": _rates(follow_ups, "on"),
        "resolution_off": _rates(follow_ups, "off"),
        "resolved_by_hand": _rates(follow_ups, "by_hand"),
        "first_turn": _rates(first_turns, "on"),
        "turns": rows,
        **({"ablation": ablations} if ablation else {}),
    }


def _replay_follow_ups(engine: Engine, scripts: list[Script]) -> list[dict[str, Any]]:
    """Each conversation again with resolution on; the follow-ups' hits."""
    rows = []
    for script in scripts:
        conversation_id = None
        for n, turn in enumerate(script.turns):
            on = engine.converse(turn.question, conversation_id=conversation_id, top_k=3)
            conversation_id = on.conversation_id
            if n:
                rows.append({"on": _hits(on.result.answer.quotes, turn.answers)})
    return rows


def _hits(quotes: list[Any], answers: tuple[str, ...]) -> dict[str, bool]:
    texts = [q.text for q in quotes]
    return {
        "first": bool(texts) and contains_answer(texts[0], answers),
        "top3": any(contains_answer(t, answers) for t in texts[:3]),
    }


def _rates(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    n = len(rows) or 1
    return {
        "answer_in_first_quote": round(sum(r[key]["first"] for r in rows) / n, 3),
        "answer_in_top3_quotes": round(sum(r[key]["top3"] for r in rows) / n, 3),
    }


def format_conversation_table(report: dict[str, Any]) -> str:
    """Plain-text summary: follow-up hit rates with resolution on and off, then each miss."""
    on, off, hand = report["resolution_on"], report["resolution_off"], report["resolved_by_hand"]
    lines = [
        f"{report['conversations']} conversations, {report['follow_ups']} follow-ups "
        f"({report['follow_ups_detected']} detected as follow-ups); "
        f"{report['first_turns_left_alone']}/{report['first_turns']} opening questions "
        "left as asked",
        f"{'follow-ups':26s}{'resolution on':>16s}{'resolution off':>16s}{'by hand':>16s}",
        *(
            f"{metric:26s}{on[metric]:>16}{off[metric]:>16}{hand[metric]:>16}"
            for metric in ("answer_in_first_quote", "answer_in_top3_quotes")
        ),
        f"opening questions: first quote {report['first_turn']['answer_in_first_quote']}, "
        f"top-3 {report['first_turn']['answer_in_top3_quotes']}",
    ]
    for variant, rates in report.get("ablation", {}).items():
        lines.append(
            f"ablation {variant:24s} first {rates['answer_in_first_quote']}  "
            f"top3 {rates['answer_in_top3_quotes']}"
        )
    for r in report["turns"]:
        if r["turn"] > 1 and not r["on"]["first"]:
            lines.append(f"  miss {r['conversation']}#{r['turn']}: {r['resolved_question']}")
    return "\n".join(lines)
