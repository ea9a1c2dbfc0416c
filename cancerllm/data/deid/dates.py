"""Find dates in clinical text and shift them by a number of days, keeping their format.

Formats found (US order; day-first when the first number cannot be a month):
  03/14/2023  3/14/23  3-14-2023  3.14.2023   2023-03-14  2023/03/14
  March 14, 2023  Mar. 14th 2023  14 March 2023  14-Mar-2023  14-MAR-23
  March 2023  03/2023 (month and year)   March 14 (no year)   on 3/14 (no year, after
  "on/since/from/until/through/dated/by/starting")
A shifted date is written back in the same shape: zero padding, two- or four-digit
year, month name or abbreviation and its case, ordinal suffix. A date without a day
(March 2023) is shifted as its 15th; one without a year as a day of the leap year 2000.

  3rd of May  14th March (no year: an ordinal)   March the 9th
  fourth of July, 2021  twenty-first of October  May third  March the ninth (days in words)
Not found: a year alone (Safe Harbor keeps years), a day and month without year in
numeric form outside the contexts above ("3/14" may be a ratio: "3/14 nodes"), holidays
("Christmas Day"), seasons, weekday names, times of day, years in words.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from cancerllm.data.deid.spans import Span

MONTHS = [calendar.month_name[i] for i in range(1, 13)]
_MON = (r"(?P<mon>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
        r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_ORD = r"(?P<ord>st|nd|rd|th)?"
_ORDINAL_WORDS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
                  "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth").split()
ORDINAL_WORDS = _ORDINAL_WORDS + [f"twenty-{w}" for w in _ORDINAL_WORDS[:9]] + ["thirtieth", "thirty-first"]
# Longest first, so "twenty-first" is not read as "twenty"; a space may stand for the hyphen.
_DW = r"(?P<dw>" + "|".join(w.replace("-", "[- ]") for w in sorted(ORDINAL_WORDS, key=len, reverse=True)) + r")"
_YEAR_OPT = r"(?:,?\s+(?P<y>\d{4}))?"
_NUM_L, _NUM_R = r"(?<![\w/.:-])", r"(?![\w/-]|[.:]\d)"
PATTERNS = [re.compile(p, re.I) for p in (
    _NUM_L + r"(?P<date>(?P<m>\d{1,2})(?P<s>[/-])(?P<d>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2}))" + _NUM_R,
    _NUM_L + r"(?P<date>(?P<m>\d{1,2})\.(?P<d>\d{1,2})\.(?P<y>\d{4}))" + _NUM_R,
    _NUM_L + r"(?P<date>(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2}))" + _NUM_R,
    r"\b(?P<date>" + _MON + r"\.?\s+(?P<d>\d{1,2})" + _ORD + r",?\s+(?P<y>\d{4}))\b",
    r"\b(?P<date>(?P<d>\d{1,2})" + _ORD + r"(?:\s+|-|\s+of\s+)" + _MON + r"\.?(?:,?\s+|-)(?P<y>\d{4}|\d{2}))\b",
    r"\b(?P<date>" + _MON + r"\.?,?\s+(?P<y>\d{4}))\b",
    r"\b(?P<date>" + _MON + r"\.?\s+(?P<d>\d{1,2})" + _ORD + r")\b(?!,?\s*\d)",
    _NUM_L + r"(?P<date>(?P<m>\d{1,2})/(?P<y>\d{4}))" + _NUM_R,
    r"\b(?:on|since|from|until|till|through|thru|dated|by|starting|started|beginning)\s+"
    r"(?P<date>(?P<m>\d{1,2})/(?P<d>\d{1,2}))" + _NUM_R,
    # without a year: "3rd of May", "14th March" (the ordinal says it is a day: "2 of May" is not)
    r"\b(?P<date>(?P<d>\d{1,2})(?P<ord>st|nd|rd|th)\s+(?:of\s+)?" + _MON + r")\b\.?(?![\s,-]*\d)",
    # "March the 9th", "May the 3rd, 2021"
    r"\b(?P<date>" + _MON + r"\.?\s+the\s+(?P<d>\d{1,2})" + _ORD + _YEAR_OPT + r")\b",
    # days in words: "fourth of July, 2021", "twenty-first of October", "May third", "March the 9th"
    r"\b(?P<date>" + _DW + r"\s+(?:day\s+)?of\s+" + _MON + r"\.?" + _YEAR_OPT + r")\b",
    r"\b(?P<date>" + _MON + r"\.?\s+(?:the\s+)?" + _DW + _YEAR_OPT + r")\b",
)]


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 4:
        return y
    this = dt.date.today().year
    return 2000 + y if 2000 + y <= this + 10 else 1900 + y


def _month_number(name: str) -> int:
    return next(i for i, m in enumerate(MONTHS, 1) if m.lower().startswith(name.lower()[:3]))


def _parts(m: re.Match) -> dict | None:
    """{role: (start, end)} for y, m or mon, d, ord, plus the parsed date; None if not a date."""
    roles = {k: m.span(k) for k in ("y", "m", "mon", "d", "dw", "ord") if k in m.re.groupindex and m.group(k)}
    if "mon" in roles and not m.group("mon")[0].isupper():
        return None  # "may 5" is a verb, "May 5" a date
    month = _month_number(m.group("mon")) if "mon" in roles else int(m.group("m"))
    if "dw" in roles:
        day = ORDINAL_WORDS.index(m.group("dw").lower().replace(" ", "-")) + 1
    else:
        day = int(m.group("d")) if "d" in roles else 15
    if "m" in roles and "d" in roles and month > 12 and day <= 12:
        month, day = day, month
        roles["m"], roles["d"] = roles["d"], roles["m"]
    year = _year(m.group("y")) if "y" in roles else 2000
    if not 1900 <= year <= 2100:
        return None
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None
    return {"roles": roles, "date": date}


def find_dates(text: str) -> list[Span]:
    """Date spans of `text`; each `Span.value` holds what `shift` needs to rewrite it."""
    out = []
    for pattern in PATTERNS:
        for m in pattern.finditer(text):
            parts = _parts(m)
            if parts is not None:
                start = m.start("date")
                parts["roles"] = {k: (a - start, b - start) for k, (a, b) in parts["roles"].items()}
                out.append(Span(start, m.end("date"), "DATE", parts))
    return out


def _case_like(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    return word if like[0].isupper() else word.lower()


def _ordinal(day: int) -> str:
    return "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def shift(original: str, parts: dict, days: int) -> str:
    """`original` (the date's text) moved by `days`, written in the same format."""
    new = parts["date"] + dt.timedelta(days=days)
    roles = parts["roles"]
    numbers = [original[a:b] for r, (a, b) in roles.items() if r in ("m", "d")]
    # Zero padding: "03/14" and "12/14" pad, "3/14" and "March 4" do not, "04-Feb" does.
    pad = any(n.startswith("0") for n in numbers) or ("mon" not in roles and all(len(n) == 2 for n in numbers))
    values = {}
    for role, (a, b) in roles.items():
        old = original[a:b]
        if role == "y":
            values[role] = f"{new.year:04d}" if len(old) == 4 else f"{new.year % 100:02d}"
        elif role == "m":
            values[role] = f"{new.month:02d}" if pad else str(new.month)
        elif role == "d":
            values[role] = f"{new.day:02d}" if pad else str(new.day)
        elif role == "ord":
            values[role] = _case_like(_ordinal(new.day), old)
        elif role == "dw":
            values[role] = _case_like(ORDINAL_WORDS[new.day - 1], old)
        else:  # month name: full or abbreviated as the original ("Sept" stays 4 letters)
            full = MONTHS[new.month - 1]
            name = full if len(old) > 4 or old.lower() in ("may", "june", "july") else full[:len(old)]
            if len(old) == 4 and old.lower() == "sept" and new.month != 9:
                name = full[:3]
            values[role] = _case_like(name, old)
    out = original
    for role, (a, b) in sorted(parts["roles"].items(), key=lambda kv: -kv[1][0]):
        out = out[:a] + values[role] + out[b:]
    return out
