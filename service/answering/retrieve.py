"""Hybrid retrieval: score every candidate sentence with its own and its passage's evidence.

Candidates are the union of the dense (FAISS) and BM25 top sentences and all sentences of
the top passages (``service.answering.search``: over the index, or merged from its shards).
Each gets four signals: cosine similarity of the sentence and of its passage to the
question, and BM25 of each normalised by the best BM25 score for the query. The fused score
is their weighted sum, plus bonuses for a sentence holding the kind of answer the question
asks for (a number, a date, a place) and a quantity of the unit it names, for the opening
sentence of a matching interview answer, and for every sentence of a reply whose
interviewer asked in the user's words; ``rerank`` then re-orders the head with the reader
(a cross-encoder) on a close call. The absolute signals also feed the confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from embeddings.index import SearchIndex
from embeddings.reader import SENTENCE_INPUT, TITLE_INPUT
from embeddings.sparse import idf, tokenize
from service.answering.cues import (
    answer_type,
    asks_place,
    holds,
    holds_place,
    holds_unit,
    unit_of,
)
from service.answering.search import Filters, IndexSearcher, Query, Searcher


@dataclass(frozen=True)
class Weights:
    """Weights of the fused score (see module docstring): the four signals' fitted by
    bench/tune.py, the cues' swept by bench/cue_sweep.py; and one margin (``continuation``)
    on it, swept the same way."""

    sentence_dense: float = 0.3
    sentence_bm25: float = 0.2
    passage_dense: float = 0.5
    passage_bm25: float = 0.3
    # An interview answer's opening sentence is its direct answer: it earns this weight
    # times the similarity of the question to the interviewer's question.
    interview_lead: float = 0.2
    # Every sentence of an interview reply: this weight times the share of the question's
    # terms that the interviewer's question holds.
    interview_terms: float = 0.1  # bench/cue_sweep.py: news 0.795 -> 0.804, seed unchanged
    # A sentence holding the kind of answer the question asks for (a number, a date).
    answer_type: float = 0.2
    # A sentence holding a quantity of the unit the question names (votes, pounds, years).
    unit: float = 0.15  # bench/cue_sweep.py: news first quote 0.759 -> 0.804, SQuAD 0.722 -> 0.727
    # A sentence naming a place the question does not, for a "where" question.
    place: float = 0.1  # bench/cue_sweep.py --only '\bwhere\b': v1.1 0.678 -> 0.695
    # A follow-up's sentence from an article that answered the turn before it.
    conversation: float = 0.1
    # A follow-up's sentence that already answered the turn before (a penalty).
    repeat: float = 0.1
    # Not a weight but a margin on the fused score: the sentence after the lead that points
    # back to it ("It was commissioned by Odo…" after the sentence naming the Bayeux
    # Tapestry) is quoted first, taking the lead in, when it scores within this of the lead
    # (``service.answering.answer.continue_lead``); 0 turns it off.
    continuation: float = 0.2


@dataclass(frozen=True)
class Candidate:
    """A quotable sentence with the signals that ranked it."""

    sentence: int
    score: float
    sentence_dense: float
    sentence_bm25: float
    passage_dense: float
    passage_bm25: float
    coverage: float
    type_match: float = 0.0
    unit_match: float = 0.0
    place_match: float = 0.0
    cross: float = 0.0  # the reader's logit; 0.0 when not read

    @property
    def cues(self) -> float:
        """How many of the question's cues it matches (answer type, unit, place)."""
        return self.type_match + self.unit_match + self.place_match


@dataclass(frozen=True)
class Retrieval:
    """Ranked candidates (best first) for one question."""

    candidates: list[Candidate]
    query_terms: list[str]


class Retriever:
    """Ranks the sentences of one index version for a question vector and text."""

    def __init__(
        self,
        index: SearchIndex,
        weights: Weights | None = None,
        *,
        sentence_pool: int = 50,
        passage_pool: int = 8,
        detailed: int = 16,
        searcher: Searcher | None = None,
    ) -> None:
        self.index = index
        # Runs the searches: over the index here, or over its shards (same results).
        self.searcher = searcher or IndexSearcher(index)
        self.weights = weights or Weights()
        self.sentence_pool = sentence_pool
        self.passage_pool = passage_pool
        # Term coverage (a confidence signal) is computed for this many best candidates:
        # at least as many as a reranker may promote to first place.
        self.detailed = detailed

    def retrieve(
        self,
        question: str,
        vector: np.ndarray,
        filters: Filters | None = None,
        prefer_articles: Sequence[str] = (),
        answered_before: Sequence[tuple[str, int]] = (),
        *,
        pools: tuple[int, int] | None = None,
        interviewer_cue: bool = True,
    ) -> Retrieval:
        """Candidates for ``question`` (whose embedding is ``vector``), best first.

        ``pools`` overrides how many sentences and passages each search contributes (a
        briefing casts a wider net than a question); a briefing's topic is not a question an
        interviewer may have asked, so it turns ``interviewer_cue`` off.

        For a follow-up, sentences of ``prefer_articles`` (the articles that answered the
        turn before) earn a bonus, and the sentences that answered it, given as
        ``(article id, start offset)``, a penalty: a follow-up asks for something new.
        """
        idx = self.index
        terms = tokenize([question])[0]
        s_pool, p_pool = pools or (self.sentence_pool, self.passage_pool)
        # Filters, tombstones and unquotable sentences are applied inside each search.
        hits = self.searcher.search(
            Query(tuple(dict.fromkeys(terms)), vector, filters or Filters(), s_pool, p_pool)
        )
        ids = hits.pool
        if ids.size == 0:
            return Retrieval([], terms)

        p_ids = idx.column("sentences", "passage", ids)
        s_article = idx.column("sentences", "article", ids)
        s_dense = idx.vectors("sentences", ids) @ vector
        p_dense = idx.vectors("passages", p_ids) @ vector
        s_bm25 = hits.pool_sentence_bm25 / (hits.sentence_max or 1.0)
        p_bm25 = hits.pool_passage_bm25 / (hits.passage_max or 1.0)
        w = self.weights
        fused = (
            w.sentence_dense * s_dense
            + w.sentence_bm25 * s_bm25
            + w.passage_dense * p_dense
            + w.passage_bm25 * p_bm25
        )
        lead_q = idx.column("sentences", "lead", ids)
        has_lead = lead_q >= 0
        if has_lead.any():
            q_dense = idx.vectors("passages", lead_q[has_lead]) @ vector
            fused[has_lead] += w.interview_lead * np.clip(q_dense, 0.0, None)

        asked_by = idx.column("passages", "question", p_ids)
        in_reply = asked_by >= 0
        if interviewer_cue and w.interview_terms and terms and in_reply.any():
            # An interviewer who asked in the user's words: every sentence of the reply
            # earns the share of the question's terms (weighted by rarity, so the story's
            # own names count little) that the interviewer's question holds.
            wanted = list(dict.fromkeys(terms))
            stats = idx.term_stats("sentences", wanted)
            rarity = {t: idf(stats.rows, df) for t, df in zip(wanted, stats.df, strict=True)}
            total = sum(rarity.values()) or 1.0
            share = {
                int(q): sum(rarity.get(x, 0.0) for x in set(self._terms_of_question(int(q))))
                / total
                for q in np.unique(asked_by[in_reply])
            }
            fused[in_reply] += w.interview_terms * np.array(
                [share[int(q)] for q in asked_by[in_reply]], dtype=np.float32
            )
        if prefer_articles and w.conversation:
            preferred = [r for r in map(idx.article_row, prefer_articles) if r is not None]
            fused += w.conversation * np.isin(s_article, preferred)
        texts = idx.texts(ids)
        if answered_before and w.repeat:
            seen = {(idx.article_row(a), start) for a, start in answered_before}
            starts = idx.column("sentences", "start", ids)
            repeated = [(int(a), int(st)) in seen for a, st in zip(s_article, starts, strict=True)]
            fused -= w.repeat * np.array(repeated, dtype=np.float32)
        kind = answer_type(question)
        type_match = np.zeros(len(ids), dtype=np.float32)
        if kind is not None:
            type_match = np.array([holds(kind, t) for t in texts], dtype=np.float32)
            fused += w.answer_type * type_match
        unit = unit_of(question)
        unit_match = np.zeros(len(ids), dtype=np.float32)
        if unit is not None and w.unit:
            unit_match = np.array([holds_unit(unit, t) for t in texts], dtype=np.float32)
            fused += w.unit * unit_match
        place_match = np.zeros(len(ids), dtype=np.float32)
        if w.place and asks_place(question):
            place_match = np.array([holds_place(question, t) for t in texts], dtype=np.float32)
            fused += w.place * place_match
        order = np.argsort(-fused, kind="stable")
        coverage = self._coverage(terms, p_ids[order[: self.detailed]]).tolist()
        candidates: list[Candidate] = []
        for j in order:
            i = int(ids[j])
            candidates.append(
                Candidate(
                    sentence=i,
                    score=float(fused[j]),
                    sentence_dense=float(s_dense[j]),
                    sentence_bm25=float(s_bm25[j]),
                    passage_dense=float(p_dense[j]),
                    passage_bm25=float(p_bm25[j]),
                    coverage=coverage[len(candidates)] if len(candidates) < len(coverage) else 0.0,
                    type_match=float(type_match[j]),
                    unit_match=float(unit_match[j]),
                    place_match=float(place_match[j]),
                )
            )
        return Retrieval(candidates, terms)

    def with_coverage(self, candidate: Candidate, query_terms: set[str]) -> Candidate:
        """``candidate`` with its term coverage computed (it is 0.0 past ``detailed``)."""
        if candidate.coverage:
            return candidate
        passage = self.index.column("sentences", "passage", np.array([candidate.sentence]))
        return replace(candidate, coverage=float(self._coverage(list(query_terms), passage)[0]))

    def _coverage(self, terms: Sequence[str], passages: np.ndarray) -> np.ndarray:
        """Share of the query's distinct terms that each passage holds, counting its
        article's title and, for an interview reply, the interviewer's question: the text a
        passage is BM25-indexed by (``embeddings.segment.passage_text``), so its postings
        tell, with no text read or analysed again."""
        wanted = list(dict.fromkeys(terms))
        if not wanted:
            return np.zeros(len(passages))
        held = self.index.holds("passages", wanted, np.asarray(passages, dtype=np.int64))
        return held.sum(axis=1) / len(wanted)

    def _terms_of_question(self, passage: int) -> list[str]:
        """Terms of an interviewer's question (a question passage's own text)."""
        return tokenize([" ".join(self.index.texts(self.index.passage_sentences(passage)))])[0]


@dataclass(frozen=True)
class RerankPolicy:
    """When the reader is asked, how its logit joins the fused score, and for how many
    candidates (README, "The reader")."""

    depth: int = 4
    # How much the logit counts beside the fused score; None: the reader's own weight (the
    # one it was trained at, from its training.json; README, "The reader").
    weight: float | None = None
    # The reader is asked only on a close call: when the fused scores of retrieval's best
    # candidate and of the best one with another text differ by less than this. A clear
    # lead is kept as retrieval ranked it (and no time is spent reading); math.inf asks it
    # on every question.
    margin: float = 0.05


class PairScorer(Protocol):
    """Anything that scores (question, sentence) pairs, like ``embeddings.reader``; ``reads``
    is what it reads for a sentence (``reading``); ``weight`` is how much its logit counts
    beside the fused score, unless the policy names one."""

    reads: str
    weight: float

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray: ...


def reading(index: SearchIndex, sentence: int, reads: str) -> str:
    """What a reader reads for ``sentence`` (``reads``, one of ``embeddings.reader.INPUTS``):
    the sentence alone; the sentence after its article's title ("Martin Luther: He died
    shortly afterwards …"); or with context, the sentence after the one before it in its
    paragraph ("It cost £31 million." needs the wing named before it), or, for the opening
    of an interview reply, after the interviewer's question."""
    s = index.sentences[sentence]
    text = s.text
    if reads == SENTENCE_INPUT:
        return text
    if reads == TITLE_INPUT:
        return f"{index.articles[s.article].title}: {text}"
    first = index.passage_sentences(s.passage).start
    if sentence > first:
        return f"{index.text(sentence - 1)} {text}"
    asked = index.passages[s.passage].question
    if asked is not None:
        return f"{' '.join(index.texts(index.passage_sentences(asked)))} {text}"
    return text


def rerank(
    index: SearchIndex,
    candidates: list[Candidate],
    question: str,
    scorer: PairScorer,
    policy: RerankPolicy,
) -> list[Candidate]:
    """Re-order the first ``policy.depth`` candidates by fused score plus the reader's logit,
    on a close call only (``RerankPolicy.margin``, between the lead and the best candidate
    whose text differs from it). Each distinct text is read once.

    Only candidates matching at least as many of the question's cues (``Candidate.cues``:
    the answer type it asks for, the unit it names, a place) as retrieval's best are read
    and move; the others keep their places: the reader re-orders sentences of one kind and
    does not overrule a cue (on the news set it had put a sentence without the fare above
    the one holding it, for "How much will a flight to Amsterdam from Marrowby cost?").
    """
    head, tail = candidates[: policy.depth], candidates[policy.depth :]
    # The best other text ranks at most as high as the second: a clear second lead needs
    # no text read.
    if len(head) < 2 or head[0].score - head[1].score >= policy.margin:
        return candidates
    # A close call is one between two different texts: copies of the lead's sentence (the
    # same line in several articles) read alike, so no reading can order them.
    plain = [index.text(c.sentence) for c in head]
    rival = next((i for i in range(1, len(head)) if plain[i] != plain[0]), None)
    if rival is None or head[0].score - head[rival].score >= policy.margin:
        return candidates
    texts = [reading(index, c.sentence, scorer.reads) for c in head]
    movable = [i for i, c in enumerate(head) if c.cues >= head[0].cues]
    distinct = list(dict.fromkeys(texts[i] for i in movable))
    if len(distinct) < 2:
        return candidates
    logit = dict(zip(distinct, scorer.score(question, distinct).tolist(), strict=True))
    weight = scorer.weight if policy.weight is None else policy.weight
    scored = [
        replace(head[i], cross=logit[texts[i]], score=head[i].score + weight * logit[texts[i]])
        for i in movable
    ]
    scored.sort(key=lambda c: -c.score)
    out = list(head)
    for i, c in zip(movable, scored, strict=True):
        out[i] = c
    return out + tail
