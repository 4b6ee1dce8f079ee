"""Hybrid retrieval: score every candidate sentence with its own and its passage's evidence.

Candidates are the union of the dense (FAISS) and BM25 top sentences and all sentences of
the top passages. Each gets four signals: cosine similarity of the sentence and of its
passage to the question, and BM25 of each normalised by the best BM25 score for the query.
The fused score is their weighted sum, plus bonuses for a sentence holding the kind of
answer the question asks for and for the opening sentence of a matching interview answer;
``rerank`` may then re-order the head with a cross-encoder. The absolute signals also feed
the confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from corpus.article import QUOTABLE_ROLES
from embeddings.index import SearchIndex
from embeddings.sparse import tokenize
from service.answering.cues import answer_type, holds


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some articles. Dates are inclusive ISO dates."""

    source: str | None = None
    published_after: str | None = None
    published_before: str | None = None
    article_ids: tuple[str, ...] | None = None

    def active(self) -> bool:
        """Whether any filter is set."""
        return any(
            v is not None
            for v in (self.source, self.published_after, self.published_before, self.article_ids)
        )


@dataclass(frozen=True)
class Weights:
    """Weights of the fused score (see module docstring); fitted by bench/tune.py."""

    sentence_dense: float = 0.3
    sentence_bm25: float = 0.2
    passage_dense: float = 0.5
    passage_bm25: float = 0.3
    # An interview answer's opening sentence is its direct answer: it earns this weight
    # times the similarity of the question to the interviewer's question.
    interview_lead: float = 0.2
    # A sentence holding the kind of answer the question asks for (a number, a date).
    answer_type: float = 0.2
    # A follow-up's sentence from an article that answered the turn before it.
    conversation: float = 0.1
    # A follow-up's sentence that already answered the turn before (a penalty).
    repeat: float = 0.1


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
    cross: float = 0.0  # reranker logit; 0.0 when not reranked


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
    ) -> None:
        self.index = index
        self.weights = weights or Weights()
        self.sentence_pool = sentence_pool
        self.passage_pool = passage_pool
        # Term coverage (a confidence signal) is computed for this many best candidates:
        # at least as many as a reranker may promote to first place.
        self.detailed = detailed
        # Stemmed terms of each passage, filled as queries need them (the index never changes).
        self._passage_terms: dict[int, frozenset[str]] = {}
        self._quotable = np.array([s.role in QUOTABLE_ROLES for s in index.sentences], dtype=bool)
        self._sentence_article = np.array([s.article for s in index.sentences], dtype=np.int64)
        self._sentence_passage = np.array([s.passage for s in index.sentences], dtype=np.int64)
        self._passage_article = np.array([p.article for p in index.passages], dtype=np.int64)
        self._passage_sentences: dict[int, list[int]] = {}
        for i, s in enumerate(index.sentences):
            self._passage_sentences.setdefault(s.passage, []).append(i)
        # For the first sentence of an interview answer: the passage row of its question.
        self._lead_question = np.full(len(index.sentences), -1, dtype=np.int64)
        for i, s in enumerate(index.sentences):
            p = index.passages[s.passage]
            if s.role == "answer" and p.question is not None:
                answer_start = p.question + 1
                if s.passage == answer_start and self._passage_sentences[s.passage][0] == i:
                    self._lead_question[i] = p.question

    def allowed_articles(self, filters: Filters) -> np.ndarray | None:
        """Boolean mask over articles, or None when no filter is set."""
        if not filters.active():
            return None
        wanted = set(filters.article_ids) if filters.article_ids is not None else None
        source = filters.source.casefold() if filters.source else None
        mask = np.zeros(len(self.index.articles), dtype=bool)
        for i, a in enumerate(self.index.articles):
            if wanted is not None and a.id not in wanted:
                continue
            if source is not None and (a.source or "").casefold() != source:
                continue
            if filters.published_after or filters.published_before:
                if a.published is None:
                    continue
                if filters.published_after and a.published < filters.published_after:
                    continue
                if filters.published_before and a.published > filters.published_before:
                    continue
            mask[i] = True
        return mask

    def retrieve(
        self,
        question: str,
        vector: np.ndarray,
        filters: Filters | None = None,
        prefer_articles: Sequence[str] = (),
        answered_before: Sequence[tuple[str, int]] = (),
        *,
        pools: tuple[int, int] | None = None,
    ) -> Retrieval:
        """Candidates for ``question`` (whose embedding is ``vector``), best first.

        ``pools`` overrides how many sentences and passages each search contributes (a
        briefing casts a wider net than a question).

        For a follow-up, sentences of ``prefer_articles`` (the articles that answered the
        turn before) earn a bonus, and the sentences that answered it, given as
        ``(article id, start offset)``, a penalty: a follow-up asks for something new.
        """
        idx = self.index
        terms = tokenize([question])[0]
        article_mask = self.allowed_articles(filters or Filters())
        s_mask = self._quotable.copy()
        p_allowed = None
        if article_mask is not None:
            s_mask &= article_mask[self._sentence_article]
            p_mask = article_mask[self._passage_article]
            p_allowed = np.flatnonzero(p_mask)
            if not s_mask.any():
                return Retrieval([], terms)
        s_allowed = np.flatnonzero(s_mask)

        s_bm25 = idx.sentence_level.sparse.scores(terms)
        p_bm25 = idx.passage_level.sparse.scores(terms)
        if article_mask is not None:
            p_bm25 = p_bm25 * p_mask
        s_bm25 = np.where(s_mask, s_bm25, 0.0)
        s_bm25_norm = s_bm25 / s_bm25.max() if s_bm25.max() > 0 else s_bm25
        p_bm25_norm = p_bm25 / p_bm25.max() if p_bm25.max() > 0 else p_bm25

        s_pool, p_pool = pools or (self.sentence_pool, self.passage_pool)
        dense_ids, _ = idx.sentence_level.dense_search(vector, s_pool, s_allowed)
        p_dense_ids, _ = idx.passage_level.dense_search(vector, p_pool, p_allowed)
        pool = set(dense_ids.tolist())
        pool.update(_top(s_bm25, s_pool))
        passages = set(p_dense_ids.tolist()) | set(_top(p_bm25, p_pool))
        for p in passages:
            pool.update(self._passage_sentences.get(p, ()))
        ids = np.array(sorted(i for i in pool if s_mask[i]), dtype=np.int64)
        if ids.size == 0:
            return Retrieval([], terms)

        p_ids = self._sentence_passage[ids]
        s_dense = idx.sentence_level.vectors[ids] @ vector
        p_dense = idx.passage_level.vectors[p_ids] @ vector
        w = self.weights
        fused = (
            w.sentence_dense * s_dense
            + w.sentence_bm25 * s_bm25_norm[ids]
            + w.passage_dense * p_dense
            + w.passage_bm25 * p_bm25_norm[p_ids]
        )
        lead_q = self._lead_question[ids]
        has_lead = lead_q >= 0
        if has_lead.any():
            q_dense = idx.passage_level.vectors[lead_q[has_lead]] @ vector
            fused[has_lead] += w.interview_lead * np.clip(q_dense, 0.0, None)
        if prefer_articles and w.conversation:
            preferred = [r for r in map(idx.article_row, prefer_articles) if r is not None]
            fused += w.conversation * np.isin(self._sentence_article[ids], preferred)
        if answered_before and w.repeat:
            seen = {(idx.article_row(a), start) for a, start in answered_before}
            repeated = [
                (int(self._sentence_article[i]), idx.sentences[i].start) in seen for i in ids
            ]
            fused -= w.repeat * np.array(repeated, dtype=np.float32)
        kind = answer_type(question)
        type_match = np.zeros(len(ids), dtype=np.float32)
        if kind is not None:
            type_match = np.array(
                [holds(kind, idx.sentences[i].text) for i in ids], dtype=np.float32
            )
            fused += w.answer_type * type_match
        order = np.argsort(-fused, kind="stable")
        query_set = set(terms)
        candidates: list[Candidate] = []
        for j in order:
            i = int(ids[j])
            candidates.append(
                Candidate(
                    sentence=i,
                    score=float(fused[j]),
                    sentence_dense=float(s_dense[j]),
                    sentence_bm25=float(s_bm25_norm[i]),
                    passage_dense=float(p_dense[j]),
                    passage_bm25=float(p_bm25_norm[p_ids[j]]),
                    coverage=self._coverage(query_set, i)
                    if len(candidates) < self.detailed
                    else 0.0,
                    type_match=float(type_match[j]),
                )
            )
        return Retrieval(candidates, terms)

    def with_coverage(self, candidate: Candidate, query_terms: set[str]) -> Candidate:
        """``candidate`` with its term coverage computed (it is 0.0 past ``detailed``)."""
        if candidate.coverage:
            return candidate
        return replace(candidate, coverage=self._coverage(query_terms, candidate.sentence))

    def _coverage(self, query_terms: set[str], sentence: int) -> float:
        """Share of query terms found in the sentence, its passage or its article title."""
        if not query_terms:
            return 0.0
        s = self.index.sentences[sentence]
        question = self.index.passages[s.passage].question
        found = self._terms_of(s.passage)
        if question is not None:
            found = found | self._terms_of(question)
        return len(query_terms & found) / len(query_terms)

    def _terms_of(self, passage: int) -> frozenset[str]:
        """Terms of a passage and of its article's title (the sentence's are among them)."""
        terms = self._passage_terms.get(passage)
        if terms is None:
            p = self.index.passages[passage]
            words = [self.index.articles[p.article].title]
            words += [
                self.index.sentences[i].text for i in self._passage_sentences.get(passage, ())
            ]
            terms = frozenset(tokenize([" ".join(words)])[0])
            self._passage_terms[passage] = terms
        return terms


@dataclass(frozen=True)
class RerankPolicy:
    """How the cross-encoder's logit joins the fused score, and for how many candidates."""

    depth: int = 12
    weight: float = 0.05  # bench/tune.py: held-out answer-in-first-quote 0.745 -> 0.818


class PairScorer(Protocol):
    """Anything that scores (question, sentence) pairs, like ``embeddings.reranker``."""

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray: ...


def rerank(
    index: SearchIndex,
    candidates: list[Candidate],
    question: str,
    scorer: PairScorer,
    policy: RerankPolicy,
) -> list[Candidate]:
    """Re-order the first ``policy.depth`` candidates by fused score plus reranker logit."""
    head, tail = candidates[: policy.depth], candidates[policy.depth :]
    logits = scorer.score(question, [index.sentences[c.sentence].text for c in head])
    scored = [
        replace(c, cross=float(x), score=c.score + policy.weight * float(x))
        for c, x in zip(head, logits, strict=True)
    ]
    scored.sort(key=lambda c: -c.score)
    return scored + tail


def _top(scores: np.ndarray, k: int) -> list[int]:
    positive = np.flatnonzero(scores > 0)
    if positive.size <= k:
        return positive.tolist()
    best = np.argpartition(-scores[positive], k)[:k]
    return positive[best].tolist()
