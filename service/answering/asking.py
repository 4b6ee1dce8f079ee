"""From a question to an answer: retrieve, rerank, fetch the articles, compose; and the
same as one turn of a conversation, with follow-ups resolved against the earlier turns.

Nothing here knows where the index or the articles come from: the engine passes them in.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from corpus.article import Article
from service.answering.answer import PLAIN, Answer, compose, continue_lead
from service.answering.briefing import BriefingRequest, briefing_request, narrow
from service.answering.conversation import (
    ConversationNotFoundError,
    ConversationStore,
    ConversationsUnavailableError,
    Turn,
)
from service.answering.followup import PriorTurn, Resolution, resolve
from service.answering.live import ArticleLookup, Live
from service.answering.retrieve import PairScorer, RerankPolicy, rerank
from service.answering.search import Filters

# A less likely reading of a follow-up replaces the likeliest only when its answer's
# confidence is higher by this much; `briefing eval --conversations … --ablation` measures
# the alternatives (always the most confident reading, never switching).
READING_MARGIN = 0.2


@dataclass(frozen=True)
class AskResult:
    """An answer plus what it was answered from."""

    answer: Answer
    index_version: str


@dataclass(frozen=True)
class Exchange:
    """One conversational turn: the conversation, how the question was read, the answer."""

    conversation_id: str
    resolution: Resolution
    result: AskResult


# Asks one reading of a question with a conversation's context (see ``Retriever.retrieve``).
Asker = Callable[[str, Sequence[str], Sequence[tuple[str, int]]], AskResult]
# Answers a briefing request.
Briefer = Callable[[BriefingRequest], AskResult]


def answer_question(
    live: Live,
    question: str,
    vector: np.ndarray,
    lookup: ArticleLookup,
    *,
    reranker: PairScorer | None,
    policy: RerankPolicy,
    top_k: int = 3,
    filters: Filters | None = None,
    prefer_articles: Sequence[str] = (),
    answered_before: Sequence[tuple[str, int]] = (),
) -> AskResult:
    """Answer ``question`` (embedded as ``vector``) from ``live`` with verbatim quotes.

    Quotes are cut only from articles ``lookup`` still holds unchanged, so an article
    edited or withdrawn after indexing is never quoted stale.
    """
    retrieval = live.retriever.retrieve(question, vector, filters, prefer_articles, answered_before)
    candidates = retrieval.candidates
    # Whether the archive holds an answer is judged on retrieval's best candidate; the
    # reader only chooses which of the best candidates is quoted first.
    lead = candidates[0] if candidates else None
    if reranker is not None and candidates:
        candidates = rerank(live.index, candidates, question, reranker, policy)
    candidates = continue_lead(live.index, candidates, live.retriever.weights.continuation)
    fetch: dict[str, Article | None] = {}
    for cand in candidates[: top_k * 4]:
        ref = live.index.articles[live.index.sentences[cand.sentence].article]
        if ref.id not in fetch:
            fetch[ref.id] = lookup(ref.id, ref.content_hash)
    answer = compose(live.index, candidates, fetch, top_k=top_k, calibration=PLAIN, lead=lead)
    return AskResult(answer, live.index.version)


def converse(
    conversations: ConversationStore,
    ask: Asker,
    question: str,
    *,
    brief: Briefer | None = None,
    conversation_id: str | None = None,
    resolve_follow_ups: bool = True,
    reading_margin: float = READING_MARGIN,
) -> Exchange:
    """Answer ``question`` as the next turn of a conversation (a new one without an id).

    A request to be briefed ("brief me on…") is answered by ``brief``, and a follow-up to
    a briefing ("And since Monday?") narrows it. Any other follow-up is resolved against
    the earlier turns before it is asked. Raises ``ConversationNotFoundError`` for an
    unknown or expired id.
    """
    if conversation_id is None:  # a new one has no turns to read (nor a store to reach)
        conversation_id = conversations.start().id
        turns: list[Turn] = []
    else:
        turns = conversations.history(conversation_id)
    if brief is not None:
        request = briefing_request(question)
        narrowed = False
        if request is None and turns and turns[-1].briefing is not None and resolve_follow_ups:
            request = narrow(turns[-1].briefing, question)
            narrowed = request is not None
        if request is not None:
            result = brief(request)
            shown = describe(request) if narrowed else question
            resolution = Resolution(question, (shown,), follow_up=narrowed)
            _keep(
                conversations,
                conversation_id,
                Turn(question, shown, result.answer, result.index_version, time.time(), request),
            )
            return Exchange(conversation_id, resolution, result)
    history = [_prior(t) for t in turns]
    resolution = (
        resolve(question, history)
        if resolve_follow_ups
        else Resolution(question, (question,), follow_up=False)
    )
    # Several readings (a pronoun with several possible referents): the likeliest,
    # unless the archive answers another with clearly more confidence.
    best: tuple[str, AskResult] | None = None
    for reading in resolution.readings:
        result = ask(reading, resolution.prefer_articles, resolution.answered_before)
        margin = 0.0 if best is None else reading_margin
        if best is None or result.answer.confidence > best[1].answer.confidence + margin:
            best = (reading, result)
    assert best is not None
    reading, result = best
    resolution = replace(resolution, readings=(reading,))
    _keep(
        conversations,
        conversation_id,
        Turn(question, reading, result.answer, result.index_version, time.time()),
    )
    return Exchange(conversation_id, resolution, result)


def describe(request: BriefingRequest) -> str:
    """A briefing request in words, as ``resolved_question`` shows it."""
    text = f"Brief me on {request.topic}"
    if request.since:
        text += f" since {request.since}"
    if request.until:
        text += f" until {request.until}"
    return text


def _keep(conversations: ConversationStore, conversation_id: str, turn: Turn) -> None:
    # A conversation that expired while answering (or whose shared store cannot be
    # reached) loses the turn; the answer stands.
    with contextlib.suppress(ConversationNotFoundError, ConversationsUnavailableError):
        conversations.add_turn(conversation_id, turn)


def _prior(turn: Turn) -> PriorTurn:
    """What follow-up resolution needs of an earlier turn."""
    quotes = turn.answer.quotes
    first = quotes[0] if quotes else None
    return PriorTurn(
        turn.resolved_question,
        tuple(dict.fromkeys(q.article_id for q in quotes)),
        first.text if first else "",
        (first.article_id, first.start) if first else None,
    )
