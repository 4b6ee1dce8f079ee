"""Cues read from the words alone, without a tagger.

Question types: a "how many" question wants a number, a "when" question a date, a "where"
question a place; a sentence that holds what the question asks for earns a bonus in the
fused score. Units: a quantity question often names what is counted or measured ("how many
votes", "how much did it cost", "how old", "what share"); a sentence holding a number of
that unit earns a further bonus, so "Mr Nowak received 1,842 votes" beats a sentence
sharing the question's words with some other number in it; people are counted by any word
counting people or by a population ("a pre-war population of 200,000"). A date question
naming its precision ("In what year…?", "On what date…?", "In which century…?") has that
precision as its unit: "He died in 1546." holds a year, not a date. Back-references: a
sentence that opens by pointing back ("They will reopen…", "The company said…") needs the
sentence before it to be understood on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
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
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
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


_NUM = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|hundred|a\s+dozen|a\s+few|several)"
)
_UNIT_PATTERNS = {
    "money": re.compile(
        r"[£$€]\s?\d|\d[\d,.]*\s*(?:(?:million|billion|thousand|m|bn|k)\s+)?"
        r"(?:pounds|dollars|euros|pence|cents|"
        r"francs|yen)\b",
        re.I,
    ),
    "percent": re.compile(r"\d\s*(?:%|percent\b|per\s+cent\b)", re.I),
    "age": re.compile(
        rf"\b{_NUM}[-\s]years?[-\s]old\b|\baged\s+\d{{1,3}}\b|,\s\d{{1,3}},|"
        r"\b(?:was|is|were|are)\s+\d{1,3}\s*[.,;]",
        re.I,
    ),
    "duration": re.compile(
        rf"\b{_NUM}[-\s](?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|"
        r"centur(?:y|ies)|nights?)\b",
        re.I,
    ),
    "length": re.compile(
        r"\d[\d,.]*[-\s]?(?:metres?|meters?|m\b|kilometres?|kilometers?|km\b|miles?|feet|"
        r"foot|ft\b|inches|cm\b|centimetres?|millimetres?|mm\b)",
        re.I,
    ),
}
# "How long": a duration ("jailed for four years") or a length ("1,230 km long").
_UNIT_PATTERNS["extent"] = re.compile(
    f"{_UNIT_PATTERNS['duration'].pattern}|{_UNIT_PATTERNS['length'].pattern}", re.I
)
# Dates by the precision a question names ("In what year…?", "On what date…?"). Month and
# weekday names count only capitalised ("may" is a verb).
_MONTH_NAME = "|".join(m.capitalize() for m in _MONTHS.split("|"))
_WEEKDAY_NAME = "|".join(d.capitalize() for d in _WEEKDAYS.split("|"))
_DAY_OF_MONTH = (
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH_NAME})\b|"
    rf"\b(?:{_MONTH_NAME})\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
)
_ORDINAL = (
    r"(?:\d{1,2}(?:st|nd|rd|th)|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|"
    r"tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|"
    r"eighteenth|nineteenth|twentieth|twenty-first)"
)
_UNIT_PATTERNS |= {
    "year": re.compile(r"\b(?:1\d{3}|20\d{2})s?\b|\b\d{1,4}\s*(?:BC|BCE|AD|CE)\b|\bAD\s*\d{1,4}\b"),
    "date": re.compile(_DAY_OF_MONTH),
    "day": re.compile(
        rf"{_DAY_OF_MONTH}|\b(?:{_WEEKDAY_NAME})s?\b|"
        r"\b(?:Christmas|New\s+Year's|Easter)\s+(?:Eve|Day|Sunday|Monday)\b"
    ),
    "month": re.compile(rf"\b(?:{_MONTH_NAME})\b"),
    "century": re.compile(rf"\b{_ORDINAL}[\s-]+centur(?:y|ies)\b", re.I),
    "decade": re.compile(
        r"\b(?:1\d|20)\d0s\b|['’]\d0s\b|\b(?:twenties|thirties|forties|fifties|sixties|"
        r"seventies|eighties|nineties)\b",
        re.I,
    ),
}
_DATE_UNIT_Q = re.compile(r"\b(?:what|which)\s+(year|date|day|month|century|decade)\b", re.I)
_NUMBER_TOKEN = re.compile(_NUM, re.I)
_MONEY_Q = re.compile(
    r"[£$€]|\b(money|cost|costs|costing|pay|paid|paying|spend|spent|worth|fine|fined|price|"
    r"raise|raised|compensation|fund|budget|salary|bonus|fee|fees|fare|fares|bill|bills|"
    r"steal|stole|stolen|lose|lost|charge|charged|claims?|dollars|pounds|euros|revenue|profit|loss|"
    r"sales|invest|invested|investment|donate|donated)\b",
    re.I,
)
_SHARE_Q = re.compile(
    r"\b(what|which)\s+(share|percentage|percent|proportion|portion|fraction)\b|"
    r"\bturnout\b|\bhow\s+many\s+percent\b|\bhow\s+much\s+of\b",
    re.I,
)
_COUNTED = re.compile(r"\bhow\s+(?:many|much)\s+((?:[a-z][\w'-]*\s*){1,3})", re.I)
# Words after "how many" that are not what is counted.
_NOT_COUNTED = frozenset(
    {
        "more",
        "less",
        "longer",
        "further",
        "extra",
        "other",
        "different",
        "separate",
        "individual",
        "new",
        "old",
        "of",
        "money",
        "did",
        "do",
        "does",
        "are",
        "were",
        "will",
        "would",
        "have",
        "has",
        "had",
        "is",
        "was",
        "can",
        "could",
        "should",
        "may",
        "might",
        "must",
        "in",
        "on",
        "at",
        "for",
        "to",
        "from",
        "per",
        "a",
        "an",
        "the",
    }
)


# Words counting people: any of them counts for another ("How many people live there?":
# "12,000 residents"), and so does a population of a number ("a pre-war population of
# 200,000"; not a number before the word: "in 1665, reducing its population").
_PEOPLE = frozenset({"people", "person", "resident", "inhabitant", "citizen"})


@dataclass(frozen=True)
class Unit:
    """What a quantity question measures: a unit family, or the words naming what it
    counts (the first few after "how many", one of them the counted noun)."""

    family: str | None = None
    nouns: tuple[str, ...] = ()

    @cached_property
    def counted(self) -> frozenset[str]:
        """Words that count what it counts, read once for all of a question's sentences:
        its nouns, and every word counting people when one of them does."""
        nouns = frozenset(self.nouns)
        return nouns | _PEOPLE if nouns & _PEOPLE else nouns


def _singular(word: str) -> str:
    word = word.lower().strip(".,;:'’\"“”()")
    if word.endswith("'s") or word.endswith("’s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def unit_of(question: str) -> Unit | None:
    """The unit a quantity question names, or the precision a date question asks for
    ("what year", "what date", "what day", "which month", "what century", "what decade"),
    if it names one."""
    low = question.lower()
    when = _DATE_UNIT_Q.search(question)
    if when:
        return Unit(when.group(1).lower())
    if _SHARE_Q.search(question):
        return Unit("percent")
    if re.search(r"\bhow\s+old\b", low):
        return Unit("age")
    if re.search(r"\bhow\s+(far|high|tall|deep|wide)\b", low):
        return Unit("length")
    if re.search(r"\bhow\s+long\b", low):
        return Unit("extent")
    if re.search(r"\bhow\s+much\b", low) and _MONEY_Q.search(question):
        return Unit("money")
    m = _COUNTED.search(question)
    if m:
        nouns: list[str] = []
        for word in m.group(1).split():
            if word.lower() in _NOT_COUNTED:
                if nouns:
                    break
                continue
            nouns.append(_singular(word))
        if nouns:
            return Unit(nouns=tuple(nouns))
    return None


_POPULATION = re.compile(
    r"\bpopulations?\s+(?:of|was|is|stood\s+at|reached|had\s+reached|rose\s+to|fell\s+to)"
    r"\s+(?:about\s+|around\s+|nearly\s+|almost\s+|some\s+|over\s+|just\s+over\s+|"
    r"more\s+than\s+|fewer\s+than\s+|less\s+than\s+|roughly\s+|approximately\s+|"
    rf"an\s+estimated\s+)?{_NUM}",
    re.I,
)


def holds_unit(unit: Unit, sentence: str) -> bool:
    """Whether ``sentence`` holds a quantity of ``unit``: a number of that family, or a
    number followed within four words by one of the counted words (for people, by any word
    counting people, or a population of a number)."""
    if unit.family is not None:
        return bool(_UNIT_PATTERNS[unit.family].search(sentence))
    if unit.counted >= _PEOPLE and _POPULATION.search(sentence):
        return True
    tokens = sentence.split()
    for i, token in enumerate(tokens):
        if _NUMBER_TOKEN.fullmatch(token.strip(".,;:()")) and any(
            _singular(w) in unit.counted for w in tokens[i + 1 : i + 5]
        ):
            return True
    return False


def holds(kind: AnswerType, sentence: str) -> bool:
    """Whether ``sentence`` contains an expression of the wanted kind."""
    return bool((_DATE if kind == "date" else _NUMBER).search(sentence))


# "Where …?", "In which city …?": the question asks for a place.
_PLACE_Q = re.compile(
    r"\bwhere\b|\b(?:in|at|from|to|near)\s+(?:what|which)\s+(?:city|country|state|town|"
    r"place|region|area|county|province|continent|location|building|stadium|venue|street|"
    r"neighbou?rhood|district|island|river|village)\b",
    re.I,
)
# A place as sentences name one: a preposition, then a capitalised name ("at Levi's
# Stadium", "in the San Francisco Bay Area", "near Chur"), or a few words and "of" before
# it ("in the arid plains of Central Asia", "on the banks of the Rhine").
_PLACE = re.compile(
    r"\b(?:in|at|near|from|to|into|outside|inside|across|between|within|throughout|on)\s+"
    r"(?:the\s+)?(?:(?:[a-z]+\s+){1,3}?of\s+(?:the\s+)?)?"
    r"([A-Z][\w'’.-]*(?:\s+(?:of\s+|de\s+)?[A-Z][\w'’.-]*)*)"
)
# Month and weekday names: capitalised, but never places (nor the names follow-ups refer to).
CALENDAR_WORDS = frozenset(f"{_MONTHS}|{_WEEKDAYS}".split("|"))
_WORD = re.compile(r"[\w'’-]+")


def asks_place(question: str) -> bool:
    """Whether ``question`` asks where something is or happened."""
    return bool(_PLACE_Q.search(question))


@lru_cache(maxsize=64)
def _words_of(question: str) -> frozenset[str]:
    """The question's words, lower-cased (read once for all of its candidates)."""
    return frozenset(w.lower() for w in _WORD.findall(question))


def holds_place(question: str, sentence: str) -> bool:
    """Whether ``sentence`` names a place the question does not: a preposition followed by
    a capitalised name, or by a few words and "of" before one ("in the arid plains of
    Central Asia"), that is not a month or a weekday ("on Monday", "in June") and holds a
    word the question lacks ("Where was Super Bowl 50 played?": "at Levi's Stadium", not
    "in Super Bowl 50")."""
    asked = _words_of(question)
    for m in _PLACE.finditer(sentence):
        words = [w.lower().strip(".") for w in _WORD.findall(m.group(1))]
        if words[0] in CALENDAR_WORDS:
            continue
        if any(w not in asked for w in words):
            return True
    return False


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
