"""Metrics of cited-answer quality, from per-question outcomes.

Answer matching follows SQuAD: lower-case, strip punctuation and the articles a/an/the,
collapse white space; a quote "contains" a gold answer when the normalised answer is a
substring of the normalised quote.
"""

from __future__ import annotations

import re
import statistics
import string
from collections.abc import Sequence
from dataclasses import dataclass

from service.answering.cues import points_back

_PUNCT = set(string.punctuation) | {"“", "”", "‘", "’", "–", "—", "…"}
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation (plus typographic quotes and dashes as punctuation)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains_answer(quote: str, golds: Sequence[str]) -> bool:
    """Whether ``quote`` holds any non-empty gold answer."""
    q = normalize_answer(quote)
    return any(g and g in q for g in (normalize_answer(x) for x in golds))


@dataclass(frozen=True)
class QuoteSpan:
    """Where a returned quote lies."""

    article_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Outcome:
    """What a system returned for one question, with what was expected."""

    golds: tuple[str, ...]  # empty for an unanswerable question
    gold_article: str
    gold_span: tuple[int, int] | None  # the gold paragraph's offsets, if known
    quotes: tuple[QuoteSpan, ...]
    abstained: bool
    latency_ms: float | None = None

    @property
    def answerable(self) -> bool:
        """Whether the question has a gold answer."""
        return bool(self.golds)

    def hit(self, k: int) -> bool:
        """A gold answer is in one of the first ``k`` quotes."""
        return any(contains_answer(q.text, self.golds) for q in self.quotes[:k])

    def in_gold_passage(self, k: int) -> bool:
        """One of the first ``k`` quotes lies inside the gold paragraph."""
        if self.gold_span is None:
            return False
        a, b = self.gold_span
        return any(
            q.article_id == self.gold_article and a <= q.start and q.end <= b
            for q in self.quotes[:k]
        )


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float | int | None]:
    """Quality metrics over outcomes (abstention metrics only when some are unanswerable)."""
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    n = len(answerable)

    def share(flags: list[bool]) -> float | None:
        return round(sum(flags) / len(flags), 4) if flags else None

    firsts = [o.quotes[0].text for o in outcomes if not o.abstained and o.quotes]
    answered_first = [len(text) for text in firsts]
    result: dict[str, float | int | None] = {
        "questions": len(outcomes),
        "answerable": n,
        "answer_in_first_quote": share([o.hit(1) for o in answerable]),
        "answer_in_top3_quotes": share([o.hit(3) for o in answerable]),
        "passage_recall_at_1": share([o.in_gold_passage(1) for o in answerable]),
        "passage_recall_at_5": share([o.in_gold_passage(5) for o in answerable]),
        "mean_first_quote_chars": round(statistics.fmean(answered_first), 1)
        if answered_first
        else None,
        # First quotes that open by pointing back to a sentence the reader does not see.
        "first_quote_points_back": share([points_back(text) for text in firsts]),
    }
    if unanswerable:
        abstained = [o for o in outcomes if o.abstained]
        correct = [o for o in abstained if not o.answerable]
        result["unanswerable"] = len(unanswerable)
        result["abstain_precision"] = round(len(correct) / len(abstained), 4) if abstained else None
        result["abstain_recall"] = round(len(correct) / len(unanswerable), 4)
        result["answerable_abstained"] = share([o.abstained for o in answerable])
    latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    if latencies:
        result["ask_latency_ms_p50"] = round(percentile(latencies, 50), 2)
        result["ask_latency_ms_p95"] = round(percentile(latencies, 95), 2)
    return result
