"""The README stays true: configuration table, CLI commands and the /ask example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from service.cli import _parser
from service.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`BRIEFING_{name.upper()}`" in README, name


def test_documented_defaults_of_switches_and_numbers_are_the_code_s() -> None:
    checked = 0
    for name, field in Settings.model_fields.items():
        default = field.default
        if not isinstance(default, bool | int | float):
            continue  # paths and unset values are described in words
        row = re.search(rf"^\| `BRIEFING_{name.upper()}` \| `([^`]*)`", README, re.MULTILINE)
        assert row is not None, name
        shown = row.group(1)
        if isinstance(default, bool):
            assert shown == str(default).lower(), (name, shown)
        else:
            assert float(shown.replace("_", "")) == float(default), (name, shown, default)
        checked += 1
    assert checked >= 10


def test_every_cli_command_is_documented() -> None:
    subparsers = next(a for a in _parser()._actions if a.dest == "command")
    for command in subparsers.choices:  # type: ignore[union-attr]
        assert f"briefing {command}" in README, command


def test_ask_example_is_a_real_response(seed_http: httpx.Client) -> None:
    request = re.search(r"-d '(\{\"question\": \"Is the regime[^']*)'", README)
    assert request is not None
    example = re.search(r"A real response[^\n]*\n\n```json\n(.*?)\n```", README, re.S)
    assert example is not None
    documented = json.loads(example.group(1))
    actual = seed_http.post("/ask", json=json.loads(request.group(1))).json()
    for volatile in ("conversation_id", "index_version"):
        documented.pop(volatile)
        actual.pop(volatile)
    # Floats may differ in the last digit on another CPU; everything else must be equal.
    assert abs(actual.pop("confidence") - documented.pop("confidence")) < 1e-3
    for got, doc in zip(actual["quotes"], documented["quotes"], strict=True):
        assert abs(got.pop("score") - doc.pop("score")) < 1e-3
    assert actual == documented


def test_brief_example_is_a_real_response(seed_http: httpx.Client) -> None:
    request = re.search(r"/brief -H [^\n]*\n\s*-d '(\{[^']*)'", README)
    assert request is not None
    example = re.search(
        r"A real response on the default corpus[^`]*`[^\n]*\n[^\n]*\n\n```json\n(.*?)\n```",
        README,
        re.S,
    )
    assert example is not None
    documented = json.loads(example.group(1))
    actual = seed_http.post("/brief", json=json.loads(request.group(1))).json()
    documented.pop("index_version")
    actual.pop("index_version")
    for got, doc in zip(actual["points"], documented["points"], strict=True):
        assert abs(got.pop("score") - doc.pop("score")) < 1e-3
    assert actual == documented
