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
# Pagers and extensions: short numbers, so only behind their word ("Pager 4-1234",
# "beeper 32145", "page ... at x4321") or written as "x4321" / "ext. 42".
PAGER = re.compile(r"\b(?:pager|beeper|pgr|bleep|page[ \t]+(?:\w+[ \t]+){0,3}?at)\b"
                   r"[ \t]*(?:#|no\.?|number)?[ \t]*[:#]?[ \t]*(?P<v>x?\d[\d-]{2,8}\d)\b", re.I)
EXTENSION = re.compile(r"(?<![\w.])x\d{3,5}\b|\bext(?:ension|\.)?[ \t]*(?P<v>\d{2,5})\b", re.I)

_MRN_LABEL = (r"(?:MRN|MR\s?#|MR\s?No\.?|Med(?:ical)?\.?\s*Rec(?:ord)?s?\.?\s*(?:Number|No\.?|#)?|"
              r"Record\s*(?:Number|No\.?|#)|Patient\s*(?:ID|No\.?|#)|Pt\.?\s*(?:ID|#)|"
              r"Hospital\s*(?:Number|No\.?|#)|Acc(?:oun)?t\.?\s*(?:Number|No\.?|#)|Chart\s*(?:Number|No\.?|#))")
MRN_LABELLED = re.compile(r"\b" + _MRN_LABEL + r"\s*[:#]?\s*#?\s*(?P<v>[A-Z]{0,4}[-\s]?\d[\dA-Z-]*\d|\d{3,})\b", re.I)
MRN_SHAPES = re.compile(r"\bMR\d{5,}\b|(?<![\w.,/-])\d{7,}(?![\w/-]|[.,]\d)|\b\d{3}-\d{2}-\d{3}\b")
ID_SHAPES = re.compile(
    r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3}\.\d{2}\.\d{4}\b"             # social security number
    r"|\b[A-Z]{1,3}\d{2}-\d{3,7}\b"                           # pathology accession (S23-12345)
    r"|\b(?:Accession\s*(?:Number|No\.?|#)?|Case\s*(?:Number|No\.?|#))"
    r"\s*[:#]?\s*(?P<v>[A-Z]{0,3}[-\s]?\d[\dA-Z-]{3,})", re.I)
# A social security number behind its label, in any spacing: "SSN 123 45 6789", "SS# 123.45.6789".
SSN_LABELLED = re.compile(r"\b(?:SSN|SS\s?#|SS\s?No\.?|Social[\s-]+Security(?:\s+(?:Number|No\.?|#))?)\s*[:#]?\s*"
                          r"(?P<v>\d(?:[\s.-]*\d){8})(?!\d)", re.I)
# Numbers behind the labels of the other Safe Harbor identifiers: encounter and visit
# numbers, health plan / member / policy numbers, licence and DEA / NPI numbers, device,
# serial and lot numbers, vehicle plates and VINs. The value must hold a digit, so a
# label followed by words ("license to practice", "policy of the clinic") is left alone,
# and so is one with fewer than four digits ("Reason for visit: C8D1", "mg/dL CA 15-3").
_NO = r"(?:\s*(?:id|number|num|no\.?|#)\b\.?|\s*#)?"
_VALUE = r"(?P<v>(?=[\w-]*\d)[A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9])){3,})"
LABELLED_IDS = re.compile(
    r"\b(?:encounter|enc|visit|admission|csn|fin"                                       # encounters
    r"|member|subscriber|insurance|insured|policy|group|medicaid|medicare|beneficiary|health\s+plan"
    r"|dea|npi|upin|licen[cs]e|lic|dl(?=\s*[#:])|driver'?s?\s+licen[cs]e"              # licences
    r"|serial|s/n|sn|lot|model|device|vin|plate|licen[cs]e\s+plate|tag)"
    + _NO + r"\s*[:#]?\s*#?\s*(?:(?-i:[A-Z]{2})\s+(?=\d))?" + _VALUE + r"\b", re.I)
_MIN_ID_DIGITS = 4   # "C8D1" (cycle 8 day 1), "cT1aN0M1", "15-3" behind a label word are not ids
_LABEL_PREFIXED = re.compile(r"(?:SN|LOT)[\s-]?(?=[A-Z0-9]*\d)", re.I)

# IP addresses (v4 and v6), validated by the standard library.
_IP_CANDIDATE = re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|(?=[0-9a-f:]*:[0-9a-f:]*:)[0-9a-f:]{2,39})"
                           r"(?![\w:]|\.\d)", re.I)

STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
          "NC ND OH OK OR PA PR RI SC SD TN TX UT VT VA WA WV WI WY").split()
_STATE = r"(?:" + "|".join(STATES) + r")"
_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Court|Ct|Boulevard|Blvd|Way|Place|Pl|Parkway|Pkwy|"
           r"Highway|Hwy|Circle|Cir|Terrace|Ter|Trail|Trl|Square|Sq|Loop|Row|Alley|Pike|Crossing|Xing)")
_WORD = r"[A-Z][A-Za-z'.-]*"
_STREET_WORD = rf"(?:{_WORD}|\d{{1,3}}(?:st|nd|rd|th))"   # "Lake", "N.", "3rd", "57th"
_CITY_STATE_ZIP = rf"{_WORD}(?:\s+{_WORD}){{0,2}},?\s+{_STATE}\b\.?(?:,?\s+\d{{5}}(?:-\d{{4}})?)?"
ADDRESS = re.compile(
    rf"\b\d{{1,6}}[A-Z]?\s+(?:{_STREET_WORD}\s+){{0,3}}{_SUFFIX}\b\.?(?:\s+\d{{1,5}}\b)?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b\.?)?"
    rf"(?:,?\s+(?:Apt|Apartment|Unit|Suite|Ste|#)\.?\s*#?\s*[\w-]+)?"
    rf"(?:,?\s+{_CITY_STATE_ZIP})?"
    rf"|\b{_WORD}(?:\s+{_WORD}){{0,2}},\s+{_STATE}\s+\d{{5}}(?:-\d{{4}})?\b"
    rf"|\b{_STATE}\s+\d{{5}}(?:-\d{{4}})?\b"
    r"|\bP\.?\s?O\.?\s+Box\s+\d+\b")
ADDRESS_LABELLED = re.compile(r"(?im)^[ \t]*(?:home\s+|street\s+|mailing\s+)?(?:address|addr\.?)[ \t]*:[ \t]*(?P<v>[^\n]*\S)")
ZIP_LABELLED = re.compile(r"\b(?:zip|zip\s*code|postal\s+code)[ \t]*:?[ \t]*(?P<v>\d{5}(?:-\d{4})?)\b", re.I)

# Ages: only over 89 are identifiers (HIPAA Safe Harbor); the span is the number alone.
AGE = re.compile(
    r"\b(?P<v>\d{2,3})(?:\s*-\s*|\s+)?(?:years?(?:[\s-]*old)?|yrs?(?:[\s-]*old)?|y/o|y\.o\.?|yo)(?![a-z])"
    r"|\b(?:age[sd]?|aged|age/sex|age/gender)\s*:?\s*(?P<w>\d{2,3})\b"
    r"|\b(?P<x>\d{2,3})\s?/?\s?(?-i:F|M)\b", re.I)
_MIN_AGE, _MAX_AGE = 90, 125
_UNITS = "one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
# 90-125 in words: "ninety", "ninety-two", "one hundred", "a hundred and three".
_AGE_WORDS = (rf"ninety(?:[\s-](?:{'|'.join(_UNITS)}))?"
              rf"|(?:one|a)\s+hundred(?:\s+(?:and\s+)?(?:twenty(?:[\s-](?:one|two|three|four|five))?|"
              rf"{'|'.join(_TEENS[:-1])}|{'|'.join(_UNITS)}))?")
AGE_IN_WORDS = re.compile(
    rf"\b(?P<v>{_AGE_WORDS})(?:\s*-\s*|\s+)(?:years?(?:[\s-]*old)?|yrs?|y/o|yo)(?![a-z])"
    rf"|\b(?:age[sd]?|aged)\s*:?\s*(?P<w>{_AGE_WORDS})\b", re.I)


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
    for m in AGE_IN_WORDS.finditer(text):  # every age these words can spell is over 89
        g = "v" if m.group("v") is not None else "w"
        out.append(Span(m.start(g), m.end(g), "AGE"))
    return out


def find_ips(text: str) -> list[Span]:
    import ipaddress
    out = []
    for m in _IP_CANDIDATE.finditer(text):
        try:
            ipaddress.ip_address(m.group())
        except ValueError:
            continue
        out.append(Span(m.start(), m.end(), "IP"))
    return out


def find_labelled_ids(text: str) -> list[Span]:
    """Numbers behind an encounter, plan, licence or device label (`LABELLED_IDS`), dates
    excepted; a label-like prefix written into the value ("SN-44A92B") goes with it."""
    from cancerllm.data.deid.dates import find_dates
    out = []
    for m in LABELLED_IDS.finditer(text):
        if sum(c.isdigit() for c in m.group("v")) < _MIN_ID_DIGITS:
            continue
        if any(len(d) == len(m.group("v")) for d in find_dates(m.group("v"))):
            continue  # "Next visit 2023-06-11" is a date (shifted), not a visit number
        start = m.start("v")
        before = _LABEL_PREFIXED.search(text, max(0, start - 4), start)
        if before and before.end() == start:
            start = before.start()
        out.append(Span(start, m.end("v"), "ID"))
    return out


def find_shaped(text: str) -> list[Span]:
    """Every shaped identifier of `text` (overlaps allowed; `spans.merge` settles them)."""
    out = _group_spans(EMAIL, text, "EMAIL") + _group_spans(URL, text, "URL")
    out += find_phones(text)
    out += _group_spans(MRN_LABELLED, text, "MRN", "v") + _group_spans(MRN_SHAPES, text, "MRN")
    out += _group_spans(ID_SHAPES, text, "ID", "v") + _group_spans(SSN_LABELLED, text, "ID", "v")
    out += find_labelled_ids(text) + find_ips(text)
    out += _group_spans(PAGER, text, "PHONE", "v") + _group_spans(EXTENSION, text, "PHONE", "v")
    out += _group_spans(ADDRESS, text, "ADDRESS") + _group_spans(ADDRESS_LABELLED, text, "ADDRESS", "v")
    out += _group_spans(ZIP_LABELLED, text, "ADDRESS", "v")
    out += find_ages(text)
    return out
