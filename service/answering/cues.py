"""Cues read from the words alone, without a tagger.

Question types: a "how many" question wants a number, a "when" question a date; a sentence
that holds what the question asks for earns a bonus in the fused score. Back-references: a
sentence that opens by pointing back ("They will reopen…", "The company said…") needs the
sentence before it to be understood on its own.
"""

from __future__ import annotations

import re
from typing import Literal

AnswerType = Literal["number", "date"]

_NUMBER_Q = re.compile(
    r"\b(how\s+(many|much|long|far|old|big|large|tall|high|often|deep|wide)|"
    r"what\s+(percentage|percent|proportion|number|amount|size|population)|"
    r"(at|by)\s+what\s+(rate|margin|age))\b",
    re.I,
)
_DATE_Q = re.compile(
    r"(^|\b)(when|what\s+(year|date|day|month|century|decade|time|period|era)|"
    r"(in|since|by|until)\s+(what|which)\s+(year|century|decade|month|date))\b",
    re.I,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundreds?|thousands?|millions?|billions?|dozens?|half|quarter|once|twice)\b",
    re.I,
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DATE = re.compile(
    rf"\b(1\d{{3}}|20\d{{2}}|\d{{1,2}}(st|nd|rd|th)?\s+({_MONTHS})|({_MONTHS})|"
    r"(mon|tues|wednes|thurs|fri|satur|sun)day|centur(y|ies)|decades?|yesterday|"
    r"(last|next|this|that)\s+(week|month|year|night|spring|summer|autumn|fall|winter)|"
    r"\d{1,2}(:\d{2})?\s*(a\.?m\.?|p\.?m\.?)|\d{4}s)\b",
    re.I,
)


def answer_type(question: str) -> AnswerType | None:
    """What kind of answer the question asks for, if a cue says so."""
    if _DATE_Q.search(question):
        return "date"
    if _NUMBER_Q.search(question):
        return "number"
    return None


def holds(kind: AnswerType, sentence: str) -> bool:
    """Whether ``sentence`` contains an expression of the wanted kind."""
    return bool((_DATE if kind == "date" else _NUMBER).search(sentence))


# A sentence opening (after an optional connective) with a personal or demonstrative
# pronoun or a definite description that names no one ("the group", "the company").
_POINTS_BACK = re.compile(
    r"^[\"“‘']?(?:(?:but|and|yet|so|still|however|instead|meanwhile|now|then|later|"
    r"there|here),?\s+)?"
    r"(?:he|she|it|they|him|her|them|his|its|their|theirs|this|that|these|those|such|"
    r"both|the\s+(?:group|company|firm|council|move|decision|deal|agreement|plan|"
    r"organi[sz]ation|ministry|agency|official|officials|spokes(?:man|woman|person)|"
    r"man|woman|two|pair|latter|former))\b(?!\s*[:\-–—])",
    re.I,
)


def points_back(sentence: str) -> bool:
    """Whether ``sentence`` opens by referring to something named before it."""
    return bool(_POINTS_BACK.match(sentence.lstrip()))
