"""Follow-up questions: detect the ones that lean on earlier turns and resolve them.

No generative model is involved. A question is a follow-up when it refers back (a pronoun
before any name of its own, "there", "that" standing alone), is elliptical ("And the
regime?", "What about in French?") or is too short to stand alone ("Why?"). It is resolved
with what the previous turn was about:

- a pronoun is replaced by a name or noun phrase of the previous question, or a name in
  the quote that answered it ("Who held it before that?" → "Who held the al-Qaim border
  crossing before that?"); each candidate is a reading, likeliest first, and the engine
  asks them and keeps one (see ``_resolve_pronoun`` and ``Engine.converse``);
- an ellipsis replaces the parallel phrase of the previous question: the same preposition
  and what follows it ("And in French?"), the phrase ending in the same word ("And packet
  switching?" after "What is circuit switching characterized by?" → "What is packet
  switching characterized by?"), or else each of its phrases in turn, one reading each,
  its first (usually its subject) likeliest ("And the NFC?" after "Which team represented
  the AFC …?" → "Which team represented the NFC …?"); with no phrase at all it is asked
  together with the previous question;
- a question with nothing to substitute, a bare "And when?" included, carries the
  previous question's topic in brackets.

Retrieval also favours the articles that answered the previous turn and avoids repeating
the sentence that answered it (see ``Resolution``), unless every word of the follow-up's
own is in that sentence.
Self-contained questions are left exactly as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from embeddings.sparse import tokenize
from embeddings.stopwords import STOPWORDS_EN
from service.answering.cues import CALENDAR_WORDS


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_WORD = re.compile(r"[\w’'-]+", re.UNICODE)
# A question asking why, and words that give a reason in the sentence answering before.
_WHY = re.compile(r"\W*(?:and\s+|but\s+)?why\b", re.I)
_REASON = re.compile(
    r"\b(?:because|in\s+order\s+to|so\s+as\s+to|so\s+that|due\s+to|owing\s+to|"
    r"for\s+fear\s+of|as\s+a\s+result\s+of)\b",
    re.I,
)
_QUESTION_WORDS = _words(
    "what which who whom whose when where why how did does do is are was were has have had "
    "can could will would should may might"
)
_PERSONAL = _words("he she it they him them his her hers its their theirs")
_PERSON = _words("he she him his her hers")
_POSSESSIVE = _words("his her its their")
_DEMONSTRATIVE = _words("this that these those")
# After "that"/"this", these words show it stands alone ("before that", "that happened").
_AFTER_PRONOUN = _words("is was happen happened mean means did")
_ELLIPSIS = re.compile(
    r"^\s*(?:and|but|also|so)?\s*(?:what|how)\s+about\s+(?P<x>.+?)\s*\??\s*$"
    r"|^\s*(?:and|but|also)\s+(?P<y>.+?)\s*\??\s*$",
    re.IGNORECASE,
)
_PREPOSITIONS = _words(
    "in on at by for from to with during before after under around across near into towards "
    "toward inside outside behind beyond along among against within over through"
)
_ARTICLES = _words("the a an")
_NAME_GLUE = _words("of de del al el e la le von van der and")
# Adverbs that end a phrase opened by "the" ("does the regime still control" → "the regime").
_ADVERBS = _words(
    "still already also ever never now just really only even yet again currently once "
    "first later then too"
)
_IRREGULAR_PARTICIPLES = _words(
    "fought held built made won lost done born found led run begun seen known sold paid said "
    "told kept left brought bought thought caught taught sent spent put set cut hit shot struck "
    "hung met read heard sung shut split spread"
)
_DO_MODAL = _words("do does did can could will would should")
_BE_HAVE = _words("is are was were has have had")
_AUXILIARIES = _DO_MODAL | _BE_HAVE
_SINCE = _words("since until after before by from")
# Words capitalised at the start of a quote's sentence or as pronouns, never referents.
_NOT_REFERENTS = _words("i we you a an q the this that it he she they")
MAX_READINGS = 4
# Fewer content words than this and no name of its own: the question cannot stand alone.
_MIN_CONTENT = 2


@dataclass(frozen=True)
class PriorTurn:
    """What resolution needs from an earlier turn."""

    question: str  # the resolved question of that turn
    article_ids: tuple[str, ...]  # articles its quotes came from, best first
    answer: str = ""  # the first quote, empty when it abstained
    answered_at: tuple[str, int] | None = None  # the first quote's (article id, start)


@dataclass(frozen=True)
class Resolution:
    """A question as asked, its possible readings, and the articles retrieval should favour.

    ``readings`` has one entry for a self-contained question (the question itself) and,
    for a pronoun with several possible referents, one per referent, likeliest first; the
    engine asks each and keeps the likeliest unless the archive answers another with
    clearly more confidence.
    """

    question: str
    readings: tuple[str, ...]
    follow_up: bool
    prefer_articles: tuple[str, ...] = ()
    answered_before: tuple[tuple[str, int], ...] = ()

    @property
    def resolved(self) -> str:
        """The likeliest reading."""
        return self.readings[0]


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int

    @property
    def low(self) -> str:
        return self.text.casefold().replace("’", "'")

    @property
    def capitalised(self) -> bool:
        return any(ch.isupper() for ch in self.text) or self.text[:1].isdigit()


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _content(tokens: Sequence[_Token]) -> list[_Token]:
    return [t for t in tokens if _is_content(t)]


def _sentence_initial_word(text: str, toks: Sequence[_Token], i: int) -> bool:
    """A capitalised word opening a sentence ("Clashes may …") that is not plainly a name:
    not in capitals ("ISIS"), not possessive ("Rollo's contingents") and not followed by
    another capitalised word ("Nikola Tesla")."""
    t = toks[i]
    opens = i == 0 or text[: t.start].rstrip().endswith((".", "!", "?", ":", "“", '"'))
    if not opens or (t.text.isupper() and len(t.text) > 1) or t.low.endswith("'s"):
        return False  # capitals ("ISIS") and possessives ("Rollo's contingents") are names
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    return not (nxt is not None and nxt.capitalised and _joined(text, t, nxt))


def _verb_follows(auxiliary: _Token, last: _Token) -> bool:
    """Whether ``last`` is the verb that ``auxiliary`` asks for: any word after "do"/"can"
    ("did the program run"), a participle after "be"/"have" ("was the bridge captured")."""
    if auxiliary.low in _DO_MODAL:
        return True
    participle = last.low.endswith(("ed", "en")) or last.low in _IRREGULAR_PARTICIPLES
    return auxiliary.low in _BE_HAVE and participle


def _without_possessive(t: _Token) -> int:
    """End offset of ``t`` without a possessive "'s" ("Kenya’s" → "Kenya")."""
    return t.end - 2 if t.low.endswith("'s") and len(t.text) > 2 else t.end


def _joined(text: str, a: _Token, b: _Token) -> bool:
    """Whether only spaces lie between two tokens (no comma, bracket or full stop)."""
    return not text[a.end : b.start].strip()


def _phrases(text: str) -> list[tuple[int, int]]:
    """Spans of names ("Nikola Tesla", "War of Currents", "Super Bowl 50") and of noun
    phrases opened by "the" ("the regime", "the al-Qaim border crossing"), in order.

    A word capitalised only because it opens a sentence ("What", "Clashes may …") does not
    start a name.
    """
    toks = _tokens(text)
    spans: list[tuple[int, int]] = []
    i = 1 if toks and toks[0].low in _QUESTION_WORDS else 0
    while i < len(toks):
        t = toks[i]
        if t.low == "the" and i + 1 < len(toks) and _is_content(toks[i + 1]):
            j = i + 1
            while j < len(toks):
                tok = toks[j]
                if not _joined(text, toks[j - 1], tok):
                    break
                if (
                    tok.low in _PREPOSITIONS
                    or tok.low in _ADVERBS
                    or (j > i + 1 and tok.capitalised and not toks[j - 1].capitalised)
                ):
                    break  # "the regime around Deir e-Zor": two phrases
                if _is_content(tok) or (tok.capitalised and toks[j - 1].capitalised):
                    j += 1  # a name may hold a question word: "the Doctor Who revival"
                elif _glues(toks, j):
                    j += 2
                else:
                    break
            # "did the Apollo program run": after an auxiliary the phrase's last word is
            # the question's verb, not part of the phrase.
            if j - i > 2 and i > 0 and _verb_follows(toks[i - 1], toks[j - 1]):
                j -= 1
            spans.append((t.start, _without_possessive(toks[j - 1])))
            i = j
        elif (
            t.capitalised
            and not t.text[:1].isdigit()
            and t.low not in _QUESTION_WORDS
            and t.low not in _PERSONAL
            and not _sentence_initial_word(text, toks, i)
        ):
            j = i + 1
            while j < len(toks) and _joined(text, toks[j - 1], toks[j]):
                if toks[j].capitalised:
                    j += 1
                elif _glues(toks, j):
                    j += 2
                else:
                    break
            spans.append((t.start, _without_possessive(toks[j - 1])))
            i = j
        else:
            i += 1
    return spans


def _glues(toks: Sequence[_Token], j: int) -> bool:
    """Whether ``toks[j]`` joins two parts of a name ("War of Currents")."""
    return toks[j].low in _NAME_GLUE and j + 1 < len(toks) and toks[j + 1].capitalised


def _is_content(t: _Token) -> bool:
    return t.low not in STOPWORDS_EN and t.low not in _QUESTION_WORDS


def _referring(tokens: Sequence[_Token]) -> int | None:
    """Index of the first word that refers outside the question, if any.

    "he", "his", "its" … after a name of the question's own refer to that name.
    """
    named = False
    for i, t in enumerate(tokens):
        if i > 0 and t.capitalised and t.low not in _PERSONAL:
            named = True
        if t.low in _PERSONAL:
            if named and t.low in _PERSON | _POSSESSIVE:
                continue  # "Why has ISIS postponed its offensive?"
            return i
        if t.low == "there":
            before = tokens[i - 1].low if i else ""
            if before in _BE_HAVE:
                continue  # "were there …", existential
            after = tokens[i + 1].low if i + 1 < len(tokens) else ""
            if after in {"is", "are", "was", "were", "been"}:
                continue
            return i
        if t.low in _DEMONSTRATIVE:
            after = tokens[i + 1].low if i + 1 < len(tokens) else ""
            if not after or after in _AFTER_PRONOUN:
                return i
        if t.low == "then" and i and tokens[i - 1].low in _SINCE:
            return i
    return None


def is_follow_up(question: str) -> bool:
    """Whether ``question`` leans on earlier turns to be understood."""
    tokens = _tokens(question)
    if _ELLIPSIS.match(question):
        return True
    if _referring(tokens) is not None:
        return True
    has_name = any(t.capitalised for t in tokens[1:])
    return len(_content(tokens)) < _MIN_CONTENT and not has_name


def resolve(question: str, history: Sequence[PriorTurn]) -> Resolution:
    """Resolve ``question`` against the earlier turns (oldest first)."""
    if not history or not is_follow_up(question):
        return Resolution(question, (question,), follow_up=False)
    previous = history[-1]
    readings = (
        _resolve_ellipsis(question, previous)
        or _resolve_pronoun(question, history)
        or [_with_topic(question, previous.question, previous.answer)]
    )
    unique = tuple(dict.fromkeys(readings))[:MAX_READINGS]
    at = previous.answered_at
    return Resolution(
        question,
        unique,
        follow_up=True,
        prefer_articles=previous.article_ids,
        answered_before=() if at is None or _may_answer_again(question, previous.answer) else (at,),
    )


def _may_answer_again(question: str, answer: str) -> bool:
    """Whether the previous answer's sentence may answer this follow-up too, so retrieval
    should not steer away from it: every word of the follow-up's own is in it ("And packet
    switching?" after a sentence that says what each kind of switching is characterised
    by), or the follow-up asks why and the answer gives a reason ("Why?" after "The regime
    tried … to control al-Hawika neighborhood in order to reach the a-Siyasiya Bridge"). A
    follow-up that brings words the answer lacks ("Who held it before that?") asks for
    something else, and so, most often, does one with no words of its own ("Why did he do
    it?": the reason is seldom in the sentence that told what was done)."""
    if _WHY.match(question) and _REASON.search(answer):
        return True
    own = set(tokenize([question])[0])
    return bool(own) and own <= set(tokenize([answer])[0])


def _resolve_ellipsis(question: str, previous: PriorTurn) -> list[str]:
    before = previous.question
    m = _ELLIPSIS.match(question)
    if not m:
        return []
    x = (m.group("x") or m.group("y") or "").strip().rstrip("?").strip()
    x_tokens = _tokens(x)
    if not x_tokens:
        return []
    if x_tokens[0].low in _QUESTION_WORDS:
        # "And who leads them?": a question of its own after "and" (its pronoun resolved
        # as any other's); "And when?" is too short to stand alone and takes the topic.
        if _referring(x_tokens) is not None:
            return []
        rest = _sentence(x[0].upper() + x[1:])
        return [_with_topic(rest, before, previous.answer)] if is_follow_up(rest) else [rest]
    targets = _parallel(x, before)
    if not targets:
        return [f"{_sentence(before)} And {x}?"]
    return [before[:start] + x + before[end:] for start, end in targets]


def _parallel(x: str, before: str) -> list[tuple[int, int]]:
    """The spans of ``before`` that ``x`` may stand in for, matched by shape, likeliest
    first."""
    first = _tokens(x)[0].low
    # "of" is no phrase boundary in ``_phrases`` ("the capital of France" is one phrase),
    # but "And of Spain?" replaces "of France" as any preposition's phrase.
    if first in _PREPOSITIONS or first == "of":
        # "in French" replaces "in Dutch": the same preposition and what follows it.
        for t in _tokens(before):
            if t.low == first:
                rest = re.match(r"\s*[^?.!,;]*", before[t.end :])
                end = t.end + (rest.end() if rest else 0)
                return [(t.start, end)]
        return []
    # A phrase ending in the same word stands for the words before it that qualify that
    # word ("And packet switching?" after "What is circuit switching characterized by?").
    same_head = _same_head(x, before)
    if same_head is not None:
        return [same_head]
    # Otherwise the previous question's first phrase, usually its subject ("And the NFC?"
    # after "Which team represented the AFC …"), or any other ("How about Raqqa?" after
    # "When did ISIS capture al-Qaim?" may ask about the town): each a reading.
    return _phrases(before)


def _same_head(x: str, before: str) -> tuple[int, int] | None:
    """The span of ``before`` that ``x`` stands for when both end in the same word: the
    words qualifying it there ("circuit switching" for "packet switching"), as many as
    ``x`` has, with their article; None when no run of content words in ``before`` ends in
    that word after a word ``x`` does not hold (nothing to swap)."""
    x_tokens = _tokens(x)
    head = x_tokens[-1].low
    x_words = {u.low for u in x_tokens}
    toks = _tokens(before)
    for k, t in enumerate(toks):
        if t.low != head or not _is_content(t):
            continue
        i = k
        while i > 0 and _is_content(toks[i - 1]) and _joined(before, toks[i - 1], toks[i]):
            i -= 1
        if i < k and toks[i].low not in x_words:
            first = max(i, k - len(x_tokens) + 1)
            if first and x_tokens[0].low in _ARTICLES and toks[first - 1].low in _ARTICLES:
                first -= 1  # "And the new town?" stands for "the old town", article too
            return toks[first].start, t.end
    return None


def _resolve_pronoun(question: str, history: Sequence[PriorTurn]) -> list[str]:
    """One reading per thing the pronoun may stand for, the likeliest first.

    Candidates are the names and noun phrases of the previous question and the names in
    the quote that answered it. The likeliest is the previous question's subject (its
    first phrase: the subject preference of centering theory), whatever the pronoun's own
    role ("Is it fighting ISIS?", "Which forces helped it …?"); after a "Who …?" question
    the answer's names come first for a subject or a person's pronoun (the person is in
    the answer); anything the conversation mentioned more than once gains.
    """
    tokens = _tokens(question)
    at = _referring(tokens)
    if at is None:
        return []
    t = tokens[at]
    if t.low in _DEMONSTRATIVE or t.low == "then":
        return []  # "before that", "since then" refer to events: keep them, add the topic
    previous = history[-1]
    before = previous.question
    phrases = [before[a:b] for a, b in _phrases(before)]
    answer = previous.answer
    names = _names(answer)
    as_subject = at == 0 or tokens[at - 1].low in _AUXILIARIES
    asked_who = before.lstrip().lower().startswith("who")
    earlier = " ".join(h.question for h in history[:-1]).casefold()
    score: dict[str, float] = {}
    # After "Who …?" the person asked about is in the answer: a subject pronoun, or any
    # pronoun of a person ("Which countries did his people come from?"), refers to them.
    person_answered = asked_who and (as_subject or t.low in _PERSON)
    for n, phrase in enumerate(phrases):
        # Otherwise the previous question's subject, its first phrase, whatever the
        # pronoun's own role ("Which forces helped it take …?" after "Why has ISIS
        # delayed its offensive in Deir e-Zor?" asks about ISIS).
        score[phrase] = max(score.get(phrase, 0.0), 2.0 + (n == 0 and not person_answered))
    for n, name in enumerate(names[:MAX_READINGS]):
        score[name] = max(score.get(name, 0.0), (2.5 if asked_who else 1.0) - 0.1 * n)
    for phrase in score:
        score[phrase] += 0.5 * min(2, earlier.count(phrase.casefold()))
    referents = sorted(score, key=lambda r: -score[r])
    referents = [
        r
        for r in referents
        if r.casefold() not in _NOT_REFERENTS
        and r.split()[0].casefold() not in CALENDAR_WORDS
        and (t.low not in _PERSON or r[:1].isupper())  # a person is a name, not "the …"
    ]
    readings = []
    for referent in referents:
        if t.low == "there":
            replacement = f"in {referent}"
        elif t.low in _POSSESSIVE:
            replacement = f"{referent}’" if referent.endswith("s") else f"{referent}’s"
        else:
            replacement = referent
        readings.append(question[: t.start] + replacement + question[t.end :])
    return readings


def _with_topic(question: str, before: str, answer: str = "") -> str:
    """The question with the previous turn's topic in brackets: the content words of the
    previous question ``before`` and the first name its ``answer`` gave that the question
    lacked (after "Which other neighborhood did the regime try to take?", "Why?" asks about
    al-Hawika, the neighborhood the answer named)."""
    words = [t.text for t in _content(_tokens(before))]
    asked = before.casefold()
    # A name is new when the question's text does not hold it.
    new = [n for n in _names(answer) if n.casefold() not in asked]
    words += [n for n in new if n.casefold() not in _NOT_REFERENTS][:1]
    if not words:
        return question
    return f"{_sentence(question)} ({' '.join(words)})"


def _names(answer: str) -> list[str]:
    """The names in a quote, in order: its phrases but those opened by "the"."""
    return [answer[a:b] for a, b in _phrases(answer) if not answer[a:b].lower().startswith("the ")]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(("?", ".", "!")) else text + "?"
