"""Publication dates: parse the forms news articles use into ISO ``YYYY-MM-DD``."""

from __future__ import annotations

import re
from datetime import date, datetime

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
_MONTH = r"(?P<month>[A-Za-z]{3,9})\.?"
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
_FORMS = [
    re.compile(
        r"^(?P<year>\d{4})-(?P<m>\d{1,2})-(?P<day>\d{1,2})(?:[T ][0-9:.]+(?:Z|[+-][0-9:]+)?)?$"
    ),
    re.compile(
        rf"^{_WEEKDAY}{_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})$", re.I
    ),
    re.compile(
        rf"^{_WEEKDAY}(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(?P<year>\d{{4}})$", re.I
    ),
]
_PREFIX = re.compile(r"^(?:published|posted|updated|date)\s*(?:on)?\s*:?\s*", re.I)


def parse_date(value: str) -> str | None:
    """Return ``value`` as ``YYYY-MM-DD`` if it is a date (optionally with a time), else None."""
    text = _PREFIX.sub("", value.strip()).strip()
    for form in _FORMS:
        m = form.match(text)
        if not m:
            continue
        groups = m.groupdict()
        if "m" in groups and groups["m"] is not None:
            month = int(groups["m"])
        else:
            month_num = _MONTHS.get(groups["month"].lower())
            if month_num is None:
                return None
            month = month_num
        try:
            return date(int(groups["year"]), month, int(groups["day"])).isoformat()
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return None
