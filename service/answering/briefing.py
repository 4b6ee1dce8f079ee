"""Briefings: "brief me on X" answered with a short digest of distinct, dated quotes.

No generative model writes the digest: every point is a verbatim sentence of an article.
Points are chosen by maximal marginal relevance over the candidates of a wide retrieval:
each next point is the most relevant candidate that says least of what the chosen ones
already say (cosine similarity of sentence vectors; a sentence of a paragraph already
quoted counts as saying much the same). When several articles cover the topic, more
recent reporting earns a bonus. The chosen points are then put in the order a reader can
follow: by the article's publication date, oldest first, so the digest reads as the
story's timeline and ends with the latest; within one article, in the article's own
order. Undated articles come last.

A briefing request is recognised by its wording ("brief me on…", "catch me up on…",
"what's the latest on…", "give me an overview of…", "summarise…"), and a follow-up to a
briefing narrows it: "And since Monday?" bounds the dates, "What about the regime?" adds
to the topic.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

import numpy as np

from corpus.dates import parse_date
from embeddings.index import SearchIndex
from service.answering.answer import PLAIN, Answer, Citation, Quote, cut_quotes, quoted
from service.answering.live import ArticleLookup, Live
from service.answering.retrieve import Candidate
from service.answering.search import Filters

DEFAULT_POINTS = 5
MAX_POINTS = 12
# MMR: weight of relevance against novelty.
LAMBDA = 0.6
# A candidate is a point only if its fused score is within this of the best one.
RELEVANCE_MARGIN = 0.5
# The least calibrated confidence (see ``answer.Calibration``) a point may have.
POINT_FLOOR = PLAIN.threshold
# Bonus for the newest article among those covering the topic (linear in date).
RECENCY = 0.1
# Similarity charged between two sentences of the same paragraph, at the least.
SAME_PARAGRAPH = 1.0
# Candidates read: sentences and passages from each search.
POOLS = (100, 24)
NOTHING = "The archive has nothing on this topic"

_REQUEST = re.compile(
    r"^\s*(?:please\s+|can\s+you\s+|could\s+you\s+)?"
    r"(?:brief\s+me\s+(?:on|about)|catch\s+me\s+up\s+(?:on|with|about)|"
    r"bring\s+me\s+up\s+to\s+(?:speed|date)\s+on|fill\s+me\s+in\s+on|update\s+me\s+on|"
    r"(?:give\s+me\s+|i\s+(?:want|need)\s+)?(?:an?\s+)?(?:overview|briefing|summary|"
    r"rundown|update)\s+(?:of|on|about)|"
    r"what(?:'s|’s|\s+is)\s+(?:the\s+)?(?:latest|new)\s+(?:on|with|about|in)|"
    r"summari[sz]e(?:\s+the\s+(?:news|coverage|story)\s+(?:on|about|of))?)"
    r"\s+(?P<topic>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_SINCE = re.compile(
    r"^\s*(?:and|but|so)?\s*(?:what\s+about\s+|what\s+happened\s+|anything\s+)?"
    r"(?P<kind>since|after|before|until)\s+(?P<when>.+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_NARROW = re.compile(
    r"^\s*(?:and\s+|but\s+)?(?:what|how)\s+about\s+(?P<x>.+?)\s*[?.!]*\s*$"
    r"|^\s*and\s+(?P<y>(?!since|after|before|until).+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class BriefingRequest:
    """What to brief on: a topic, optionally bounded by publication dates (inclusive)."""

    topic: str
    max_points: int = DEFAULT_POINTS
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class Briefing:
    """The digest: points in reading order, their citations, or a message when empty."""

    request: BriefingRequest
    points: list[Quote]
    citations: list[Citation]
    confidence: float
    message: str | None
    index_version: str

    def as_answer(self) -> Answer:
        """The briefing as an ``/ask`` answer (``mode`` "briefing")."""
        if not self.points:
            return Answer(False, self.confidence, self.message or NOTHING, [], [], "briefing")
        dates = {c.n: c.article.published for c in self.citations}
        lines = [
            f"• {quoted(p.text)} [{p.citation}]"
            + (f" ({dates[p.citation]})" if dates.get(p.citation) else "")
            for p in self.points
        ]
        return Answer(
            True, self.confidence, "\n".join(lines), self.points, self.citations, "briefing"
        )


def briefing_request(question: str) -> BriefingRequest | None:
    """The briefing a question asks for, if its wording asks to be briefed."""
    m = _REQUEST.match(question)
    if m is None:
        return None
    topic = re.sub(r"^(?:the\s+)?(?:news|coverage|story)\s+(?:on|about|of)\s+", "", m["topic"])
    return BriefingRequest(topic.strip()) if topic.strip() else None


def narrow(
    previous: BriefingRequest, question: str, today: dt.date | None = None
) -> BriefingRequest | None:
    """A follow-up to a briefing as a narrower briefing, or None if it is not one:
    "And since Monday?" bounds the dates; "What about the regime?" adds to the topic."""
    m = _SINCE.match(question)
    if m is not None:
        when = resolve_date(m["when"], today or dt.date.today())
        if when is None:
            return None
        if m["kind"].lower() in ("since", "after"):
            return replace(previous, since=when)
        return replace(previous, until=when)
    m = _NARROW.match(question)
    if m is not None:
        extra = (m["x"] or m["y"]).strip()
        return replace(previous, topic=f"{previous.topic}: {extra}")
    return None


def resolve_date(text: str, today: dt.date) -> str | None:
    """A date expression as ``YYYY-MM-DD``: a date, a weekday (the last one before today),
    "yesterday", "last week/month", or a month and day (this year, or last if still ahead)."""
    words = text.strip().casefold().rstrip("?.! ")
    words = re.sub(
        r"^(?:last|this|the)\s+(?=(?:mon|tues|wednes|thurs|fri|satur|sun)day)", "", words
    )
    if words in _WEEKDAYS:
        back = (today.weekday() - _WEEKDAYS.index(words)) % 7 or 7
        return (today - dt.timedelta(days=back)).isoformat()
    relative = {"yesterday": 1, "last week": 7, "a week ago": 7, "last month": 30}
    if words in relative:
        return (today - dt.timedelta(days=relative[words])).isoformat()
    iso = parse_date(text)
    if iso is not None:
        return iso
    with_year = parse_date(f"{text.strip()} {today.year}")
    if with_year is not None and with_year > today.isoformat():
        with_year = parse_date(f"{text.strip()} {today.year - 1}")
    return with_year


def bounded(filters: Filters | None, request: BriefingRequest) -> Filters:
    """``filters`` further bounded by the request's dates."""
    f = filters or Filters()
    afters = [d for d in (f.published_after, request.since) if d]
    befores = [d for d in (f.published_before, request.until) if d]
    return replace(
        f,
        published_after=max(afters) if afters else None,
        published_before=min(befores) if befores else None,
    )


def brief(
    live: Live,
    request: BriefingRequest,
    vector: np.ndarray,
    lookup: ArticleLookup,
    filters: Filters | None = None,
) -> Briefing:
    """Up to ``request.max_points`` distinct, relevant, dated quotes about the topic."""
    index = live.index
    where = bounded(filters, request)
    after, before = where.published_after, where.published_before
    if after and before and after > before:
        return Briefing(request, [], [], 0.0, _nothing(request), index.version)
    retrieval = live.retriever.retrieve(
        request.topic, vector, where, pools=POOLS, interviewer_cue=False
    )
    candidates = retrieval.candidates
    if not candidates:
        return Briefing(request, [], [], 0.0, _nothing(request), index.version)
    confidence = round(PLAIN.confidence(candidates[0]), 4)
    if confidence < PLAIN.threshold:
        return Briefing(request, [], [], confidence, _nothing(request), index.version)
    # A point must be near the best in fused score and, on its own signals, as likely
    # relevant as an answer must be: no filler from articles that merely share a word.
    terms = set(retrieval.query_terms)
    eligible = [
        c
        for c in candidates
        if c.score >= candidates[0].score - RELEVANCE_MARGIN
        and PLAIN.confidence(live.retriever.with_coverage(c, terms)) >= POINT_FLOOR
    ]
    chosen = _select(index, eligible, request.max_points)
    points, citations = cut_quotes(
        index,
        _reading_order(index, chosen),
        lambda ref: lookup(ref.id, ref.content_hash),
        request.max_points,
    )
    if not points:
        return Briefing(request, [], [], confidence, _nothing(request), index.version)
    return Briefing(request, points, citations, confidence, None, index.version)


def _nothing(request: BriefingRequest) -> str:
    when = ""
    if request.since and request.until:
        when = f" between {request.since} and {request.until}"
    elif request.since:
        when = f" since {request.since}"
    elif request.until:
        when = f" until {request.until}"
    return f"{NOTHING} ({request.topic}){when}."


def _select(index: SearchIndex, candidates: list[Candidate], k: int) -> list[Candidate]:
    """Maximal marginal relevance, with a bonus for recent articles."""
    if not candidates:
        return []
    ids = np.array([c.sentence for c in candidates], dtype=np.int64)
    scores = np.array([c.score for c in candidates], dtype=np.float32)
    span = float(scores.max() - scores.min()) or 1.0
    relevance = (scores - scores.min()) / span
    relevance += RECENCY * _recency(index, ids)
    vectors = index.vectors("sentences", ids)
    similarity = vectors @ vectors.T
    passages = index.column("sentences", "passage", ids)
    same = passages[:, None] == passages[None, :]
    similarity = np.where(same, np.maximum(similarity, SAME_PARAGRAPH), similarity)
    chosen: list[int] = []
    redundancy = np.zeros(len(ids), dtype=np.float32)
    available = np.ones(len(ids), dtype=bool)
    while len(chosen) < k and available.any():
        mmr = LAMBDA * relevance - (1 - LAMBDA) * redundancy
        mmr[~available] = -np.inf
        j = int(np.argmax(mmr))
        chosen.append(j)
        available[j] = False
        redundancy = np.maximum(redundancy, similarity[j])
    return [candidates[j] for j in chosen]


def _recency(index: SearchIndex, ids: np.ndarray) -> np.ndarray:
    """0 for the oldest dated article among the candidates, 1 for the newest; 0 undated."""
    dates = [index.articles[int(a)].published for a in index.column("sentences", "article", ids)]
    days = np.array(
        [dt.date.fromisoformat(d).toordinal() if d else -1 for d in dates], dtype=np.float64
    )
    dated = days >= 0
    if dated.sum() < 2 or days[dated].max() == days[dated].min():
        return np.zeros(len(ids), dtype=np.float32)
    lo, hi = days[dated].min(), days[dated].max()
    return np.where(dated, (days - lo) / (hi - lo), 0.0).astype(np.float32)


def _reading_order(index: SearchIndex, chosen: list[Candidate]) -> list[Candidate]:
    """Oldest article first (undated last), each article's points in text order."""

    def key(c: Candidate) -> tuple[int, str, str, int]:
        s = index.sentences[c.sentence]
        ref = index.articles[s.article]
        return (ref.published is None, ref.published or "", ref.id, s.start)

    return sorted(chosen, key=key)
