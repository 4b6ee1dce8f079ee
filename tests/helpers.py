"""Assertions shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx


def assert_verbatim(client: httpx.Client, body: dict[str, Any]) -> None:
    """Every quote equals the stored article's text[start:end], as GET /articles returns it."""
    texts: dict[str, str] = {}
    for quote in body["quotes"]:
        aid = quote["article_id"]
        if aid not in texts:
            r = client.get(f"/articles/{aid}")
            assert r.status_code == 200, r.text
            texts[aid] = r.json()["text"]
        assert texts[aid][quote["start"] : quote["end"]] == quote["text"]
    numbers = {c["n"] for c in body["citations"]}
    assert {q["citation"] for q in body["quotes"]} <= numbers
