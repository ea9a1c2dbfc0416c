"""Identifiers with a shape: phone numbers, e-mails, URLs, record numbers, addresses, ages.

Phone numbers are found by Google's libphonenumber (the `phonenumbers` port, offline: its
metadata ships in the wheel), at its VALID leniency for US and international numbers,
plus a regex for North-American shapes it rejects (555 numbers in unused area codes,
typos). The rest are regular expressions written for clinical text: an identifier behind
a label ("MRN:", "Address:") is taken whatever its shape; without a label only shapes that
are rarely anything else are (7+ digit numbers, "MR1234567", street addresses with a
street suffix, "City, ST 55414").

Not caught: identifiers in shapes listed nowhere here (a bare 6-digit record number, a
street without a suffix word, a city named alone, a vehicle or device serial number).
"""

from __future__ import annotations

import re

import phonenumbers

from cancerllm.data.deid.spans import Span

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]*\w@\w[\w-]*(?:\.[\w-]+)+")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+", re.I)

_PHONE_LABEL = r"(?:phone|tel|telephone|cell|mobile|fax|pager|beeper|contact|home|work|ph)"
NANP = re.compile(r"(?<![\w/.-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
                  r"(?:\s*(?:x|ext\.?)\s*\d{1,5})?(?![\w/-]|\.\d)", re.I)
PHONE_LABELLED = re.compile(_PHONE_LABEL + r"\b\s*(?:#|no\.?|number)?\s*[:#]?\s*(?P<v>\+?[\d(][\d()\s.-]{6,}\d)", re.I)

_MRN_LABEL = (r"(?:MRN|MR\s?#|MR\s?No\.?|Med(?:ical)?\.?\s*Rec(?:ord)?s?\.?\s*(?:Number|No\.?|#)?|"
              r"Record\s*(?:Number|No\.?|#)|Patient\s*(?:ID|No\.?|#)|Pt\.?\s*(?:ID|#)|"
              r"Hospital\s*(?:Number|No\.?|#)|Acc(?:oun)?t\.?\s*(?:Number|No\.?|#)|Chart\s*(?:Number|No\.?|#))")
MRN_LABELLED = re.compile(r"\b" + _MRN_LABEL + r"\s*[:#]?\s*#?\s*(?P<v>[A-Z]{0,4}[-\s]?\d[\dA-Z-]*\d|\d{3,})\b", re.I)
MRN_SHAPES = re.compile(r"\bMR\d{5,}\b|(?<![\w.,/-])\d{7,}(?![\w/-]|[.,]\d)|\b\d{3}-\d{2}-\d{3}\b")
ID_SHAPES = re.compile(
    r"\b\d{3}-\d{2}-\d{4}\b"                                  # social security number
    r"|\b[A-Z]{1,3}\d{2}-\d{3,7}\b"                           # pathology accession (S23-12345)
    r"|\b(?:SSN|Social\s+Security(?:\s+(?:Number|No\.?|#))?|Accession\s*(?:Number|No\.?|#)?|Case\s*(?:Number|No\.?|#))"
    r"\s*[:#]?\s*(?P<v>[A-Z]{0,3}[-\s]?\d[\dA-Z-]{3,})", re.I)

STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
          "NC ND OH OK OR PA PR RI SC SD TN TX UT VT VA WA WV WI WY").split()
_STATE = r"(?:" + "|".join(STATES) + r")"
_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Court|Ct|Boulevard|Blvd|Way|Place|Pl|Parkway|Pkwy|"
           r"Highway|Hwy|Circle|Cir|Terrace|Ter|Trail|Trl|Square|Sq|Loop|Row|Alley|Pike|Crossing|Xing)")
_WORD = r"[A-Z][A-Za-z'.-]*"
_CITY_STATE_ZIP = rf"{_WORD}(?:\s+{_WORD}){{0,2}},?\s+{_STATE}\b\.?(?:,?\s+\d{{5}}(?:-\d{{4}})?)?"
ADDRESS = re.compile(
    rf"\b\d{{1,6}}[A-Z]?\s+(?:{_WORD}\s+){{0,3}}{_SUFFIX}\b\.?(?:\s+\d{{1,5}}\b)?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    rf"(?:,?\s+(?:Apt|Apartment|Unit|Suite|Ste|#)\.?\s*#?\s*[\w-]+)?"
    rf"(?:,?\s+{_CITY_STATE_ZIP})?"
    rf"|\b{_WORD}(?:\s+{_WORD}){{0,2}},\s+{_STATE}\s+\d{{5}}(?:-\d{{4}})?\b"
    rf"|\b{_STATE}\s+\d{{5}}(?:-\d{{4}})?\b"
    r"|\bP\.?\s?O\.?\s+Box\s+\d+\b")
ADDRESS_LABELLED = re.compile(r"(?im)^[ \t]*(?:home\s+|street\s+|mailing\s+)?(?:address|addr\.?)[ \t]*:[ \t]*(?P<v>[^\n]*\S)")

# Ages: only over 89 are identifiers (HIPAA Safe Harbor); the span is the number alone.
AGE = re.compile(
    r"\b(?P<v>\d{2,3})(?:\s*-\s*|\s+)?(?:years?(?:[\s-]*old)?|yrs?(?:[\s-]*old)?|y/o|y\.o\.?|yo)(?![a-z])"
    r"|\b(?:age[sd]?|aged|age/sex|age/gender)\s*:?\s*(?P<w>\d{2,3})\b"
    r"|\b(?P<x>\d{2,3})\s?/?\s?(?-i:F|M)\b", re.I)
_MIN_AGE, _MAX_AGE = 90, 125


def _group_spans(regex: re.Pattern, text: str, kind: str, group: str | None = None) -> list[Span]:
    out = []
    for m in regex.finditer(text):
        g = group if group and m.group(group) is not None else 0
        out.append(Span(m.start(g), m.end(g), kind))
    return out


# Stretches that could hold a phone number (7+ digits among digits, spaces and ()+.-/x);
# libphonenumber looks only at these, which keeps it off every lab value and date.
_PHONE_CANDIDATE = re.compile(r"\+?\(?\d[\d\s().\-/x]{5,}\d")


def find_phones(text: str) -> list[Span]:
    out = []
    for c in _PHONE_CANDIDATE.finditer(text):
        if sum(ch.isdigit() for ch in c.group()) < 7:
            continue
        out += [Span(c.start() + m.start, c.start() + m.end, "PHONE") for m in
                phonenumbers.PhoneNumberMatcher(c.group(), "US", leniency=phonenumbers.Leniency.VALID)]
    out += _group_spans(NANP, text, "PHONE")
    out += _group_spans(PHONE_LABELLED, text, "PHONE", "v")
    return out


def find_ages(text: str) -> list[Span]:
    out = []
    for m in AGE.finditer(text):
        g = next(k for k in ("v", "w", "x") if m.group(k) is not None)
        if _MIN_AGE <= int(m.group(g)) <= _MAX_AGE:
            out.append(Span(m.start(g), m.end(g), "AGE"))
    return out


def find_shaped(text: str) -> list[Span]:
    """Every shaped identifier of `text` (overlaps allowed; `spans.merge` settles them)."""
    out = _group_spans(EMAIL, text, "EMAIL") + _group_spans(URL, text, "URL")
    out += find_phones(text)
    out += _group_spans(MRN_LABELLED, text, "MRN", "v") + _group_spans(MRN_SHAPES, text, "MRN")
    out += _group_spans(ID_SHAPES, text, "ID", "v")
    out += _group_spans(ADDRESS, text, "ADDRESS") + _group_spans(ADDRESS_LABELLED, text, "ADDRESS", "v")
    out += find_ages(text)
    return out
