"""Our tokenizer is bm25s's, token for token (the answer-quality figures depend on it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from embeddings.sparse import bm25s_tokenize, tokenize

SAMPLES = [
    "Who held the al-Qaim border crossing before that?",
    "The harbour's repairs cost 4.2 million euros; they ended in 2024.",
    "What WAS the name of the 1602 map?   Naïve café — déjà vu, 北京 2008",
    "",
    "a I x",
    "running runs ran, studies studying STUDIED",
]


def test_the_tokenizer_matches_bm25s_on_samples() -> None:
    assert tokenize(SAMPLES) == bm25s_tokenize(SAMPLES)
    assert tokenize([SAMPLES[0]])[0] == ["held", "al", "qaim", "border", "cross"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), max_size=4))
def test_the_tokenizer_matches_bm25s_on_any_text(texts: list[str]) -> None:
    assert tokenize(texts) == bm25s_tokenize(texts)
