"""Text plumbing for the rule-based staging extractor: normalise, section, segment, context.

The field rules (staging_tnm, staging_grade, staging_receptors) run on a *normalised* copy
of the report, so they need not know about Unicode dashes, OCR look-alikes ("pTlc",
"pNO", "MO") or hyphenated line breaks. Normalisation keeps a map back to the original
characters, so every evidence span the extractor returns indexes the text the user gave.

Which part of the report a match sits in comes from
`cancerllm.data.sections.find_report_sections` (beside the other header parsers): clinical
history and pre-operative diagnosis are dropped (they restate old or clinical values); an
addendum or amendment supersedes the original; synoptic summaries outrank narrative.

Also here, because every field needs them:
- `find_specimens`: specimen headers ("A.", "Part 2", "Specimen B:"), so a needle-biopsy
  value can lose to the definitive resection's value.
- `context_of`: ConText-style look-back within the sentence for hypothetical ("if",
  "would be"), historical ("history of", "prior") and clinical ("clinical T2") mentions.
- `Candidate`: one value found for one field, with its evidence and ranking keys.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cancerllm.data.sections import ReportSection

# ---------------------------------------------------------------------------------------
# Normalisation with an offset map
# ---------------------------------------------------------------------------------------

_CHAR_MAP = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u00ad": "", "\u2265": ">=", "\u2264": "<=", "\u207a": "+", "\u207b": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2007": " ", "\uff05": "%",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b1": "+/-",
}

# A TNM category token (any prefix), used as left context for the bare "NO" / "MO" fixes.
_T_LEFT = r"(?:\b[yraYRA]?[pcPC]?T\s?(?:is|[0-4xX])(?:mic?|[a-d]\d?)?(?:\s?\([^()\s]{1,6}\))*)"
_N_LEFT = r"(?:\b[yr]?[pc]?N\s?[0-3xX](?:mic?|[a-c])?(?:iii|ii|iv|i)?(?:\s?\([^()]{1,8}\))*[\s,;.]{0,3})"

# OCR look-alikes inside TNM tokens, fixed in place (same length, so offsets are kept).
# Each entry: (pattern, group whose text is replaced, replacement digit).
_OCR_FIXES: list[tuple[re.Pattern, str, str]] = [
    # pTlc, pTIa, ypTl -> 1 ; pTO -> 0
    (re.compile(r"(?<![A-Za-z0-9])(?:\(y\)|y|r|a)?[pc]T(?P<x>[lI])(?=mic?|[a-d]|\b|\(|[pc]?N)"), "x", "1"),
    (re.compile(r"(?<![A-Za-z0-9])(?:\(y\)|y|r|a)?[pc]T(?P<x>O)(?![A-Za-z])"), "x", "0"),
    # pNO, pNo, ypNl, pNIa -> digits (p/c prefix makes it unambiguous)
    (re.compile(r"(?:(?<![A-Za-z])|(?<=T[0-4][a-d]))(?:y|r)?[pcPC]N(?P<x>[Oo])(?=\(|[^A-Za-z]|$|[LVRGM][0-9OoXx])"),
     "x", "0"),
    (re.compile(r"(?<![A-Za-z])(?:y|r)?[pcPC]N(?P<x>[lI])(?=(?:mic?|[a-c])?(?:iii|ii|iv|i)?(?:\(|[^A-Za-z]|$))"), "x", "1"),
    # bare "NO" right after a T token: glued ("T1NO"), or followed by punctuation, M token or a count
    (re.compile(_T_LEFT + r"N(?P<x>[Oo])(?=[^A-Za-z]|$|[LVRGM][0-9OoXx])"), "x", "0"),
    (re.compile(_T_LEFT + r"[\s,;.]{1,3}N(?P<x>[Oo])(?=\s*(?:[,.;)(]|$|[pc]?M[0-9OoXx1]|[LVRG][0-9OoXx]\b))"), "x", "0"),
    (re.compile(_T_LEFT + r"[\s,;.]{0,3}N(?P<x>[lI])(?=(?:mi|[a-c])?[\s,.;(]|$)"), "x", "1"),
    # pMO, cMO ; bare MO/mo right after an N token
    (re.compile(r"(?<![A-Za-z])[pcPC]M(?P<x>[Oo])(?![A-Za-z])"), "x", "0"),
    (re.compile(_N_LEFT + r"[Mm](?P<x>[Oo])(?![A-Za-z])", re.IGNORECASE), "x", "0"),
]

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_HYPHEN_BREAK = re.compile(r"(?<=[a-z])-[ \t]*\r?\n[ \t]*(?=[a-z])")


@dataclass(frozen=True)
class Normalised:
    """The normalised text and, for each of its characters, the index in the original."""

    text: str
    offsets: list[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the normalised text back to a span of the original text."""
        if end <= start:
            o = self.offsets[start] if start < len(self.offsets) else (self.offsets[-1] + 1 if self.offsets else 0)
            return o, o
        return self.offsets[start], self.offsets[end - 1] + 1


def normalise(text: str) -> Normalised:
    """Unicode clean-up, hyphenated line breaks joined and OCR look-alikes fixed in TNM tokens."""
    out: list[str] = []
    offsets: list[int] = []
    done = 0
    for m in _NON_ASCII.finditer(text):  # ASCII runs are copied as they are
        i, ch = m.start(), m.group(0)
        out.append(text[done:i])
        offsets.extend(range(done, i))
        rep = _CHAR_MAP.get(ch)
        if rep is None:
            rep = unicodedata.normalize("NFKC", ch)
        out.append(rep)
        offsets.extend([i] * len(rep))
        done = i + 1
    out.append(text[done:])
    offsets.extend(range(done, len(text)))
    norm = "".join(out)
    # join "carci-\nnoma" (removes characters, so rebuild the offsets around each match)
    if "-" in norm and "\n" in norm:
        keep = [True] * len(norm)
        for m in _HYPHEN_BREAK.finditer(norm):
            for j in range(m.start(), m.end()):
                keep[j] = False
        norm = "".join(c for c, k in zip(norm, keep) if k)
        offsets = [o for o, k in zip(offsets, keep) if k]
    chars = list(norm)
    for pattern, group, digit in _OCR_FIXES:
        for m in pattern.finditer("".join(chars)):
            chars[m.start(group)] = digit
    return Normalised("".join(chars), offsets)


# ---------------------------------------------------------------------------------------
# Specimens
# ---------------------------------------------------------------------------------------

_SPECIMEN_RE = re.compile(
    r"(?:^|(?<=\n)|(?<=\.\s))[ \t]*(?:part\s+(?:\d{1,2}|[A-Z])|specimen\s+(?:#\s?)?[A-Z0-9]{1,2}|[A-Z]|\d{1,2})"
    r"[.):]\s*[:-]?\s*(?P<desc>[^:\n]{3,100})",
    re.IGNORECASE,
)
_BIOPSY = re.compile(r"\b(?:biops(?:y|ies)|core|needle|fna|fine\s+needle|bx)\b", re.IGNORECASE)
_RESECTION = re.compile(r"(?:ectomy|resection|excision|lumpectomy|\bwide\s+local|\bdissection)", re.IGNORECASE)


def find_specimens(text: str) -> list[tuple[int, int]]:
    """(start, rank) of each specimen header: rank 0 = biopsy only, 1 = resection or unknown.

    Only a biopsy is demoted: segmentation of running text is noisy, so a header that is
    not clearly a biopsy must not outrank anything.
    """
    out = []
    for m in _SPECIMEN_RE.finditer(text):
        desc = m.group("desc")
        rank = 0 if _BIOPSY.search(desc) and not _RESECTION.search(desc) else 1
        out.append((m.start(), rank))
    return out


def specimen_rank_at(specimens: list[tuple[int, int]], sections: list[ReportSection], pos: int) -> int:
    """Rank of the specimen a position belongs to; a section header ends a specimen block."""
    rank = 1
    sec_start = next((s.start for s in sections if s.start <= pos < s.end), 0)
    for start, r in specimens:
        if start > pos:
            break
        rank = r if start >= sec_start else 1
    return rank


# ---------------------------------------------------------------------------------------
# ConText-style look-back
# ---------------------------------------------------------------------------------------

_HYPOTHETICAL = re.compile(
    r"\b(?:if|would|should|could|consider(?:ed)?|recommend(?:ed)?|may\s+be|to\s+rule\s+out|r/o)\b",
    re.IGNORECASE)
_HISTORICAL = re.compile(
    r"\b(?:history\s+of|h/o|prior|previous(?:ly)?|recurrence\s+of)\b", re.IGNORECASE)
_CLINICAL = re.compile(r"\bclinical(?:ly)?\b|\bradiolog|\bimaging\b|\bMRI\b|\bCT\b", re.IGNORECASE)
LOOKBACK_CHARS = 80


def sentence_start(text: str, pos: int, limit: int = LOOKBACK_CHARS) -> int:
    lo = max(0, pos - limit)
    chunk = text[lo:pos]
    cut = max(chunk.rfind(". "), chunk.rfind("; "), chunk.rfind("\n"), chunk.rfind("? "))
    return lo + cut + 1 if cut >= 0 else lo


def context_of(text: str, pos: int) -> set[str]:
    """Flags from the words before `pos` in the same sentence: hypothetical, historical, clinical."""
    before = text[sentence_start(text, pos):pos]
    flags = set()
    if _HYPOTHETICAL.search(before):
        flags.add("hypothetical")
    if _HISTORICAL.search(before):
        flags.add("historical")
    if _CLINICAL.search(before):
        flags.add("clinical")
    return flags


# ---------------------------------------------------------------------------------------
# Numbers written as words ("two", "ninety-five percent")
# ---------------------------------------------------------------------------------------

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
NUMBER_WORDS = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[\s-](?:one|two|three|four|five|"
                r"six|seven|eight|nine))?|one\s+hundred|a\s+hundred|hundred|zero|one|two|three|four|five|six|seven|"
                r"eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)")


def word_to_number(words: str) -> int | None:
    """'ninety-five' -> 95, 'two' -> 2, 'one hundred' -> 100; None if not a number word."""
    w = words.lower().replace("-", " ").split()
    if not w:
        return None
    if w[-1] == "hundred":
        return 100
    if w[0] in _TENS:
        return _TENS[w[0]] + (_UNITS.get(w[1], 0) if len(w) > 1 else 0)
    return _UNITS.get(w[0])


ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


def small_number(token: str) -> int | None:
    """'2', 'II', 'two' -> 2 (grades and scores)."""
    t = token.strip().lower()
    if t.isdigit():
        return int(t)
    if t in ROMAN:
        return ROMAN[t]
    return word_to_number(t)


# ---------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------

TIER_SYNOPTIC, TIER_STATEMENT, TIER_NARRATIVE = 3, 2, 1


@dataclass
class Candidate:
    """One value for one field found in the report, before report-level resolution.

    `start`/`end` index the normalised text until the extractor maps them back. `kind`
    separates HER2 sub-results (ihc / ish / status); other fields use "value".
    """

    field: str
    label: str
    start: int
    end: int
    rule: str
    tier: int = TIER_STATEMENT
    kind: str = "value"
    attributes: dict[str, Any] = field(default_factory=dict)
    section: str = "body"
    specimen_rank: int = 1
    context: set[str] = field(default_factory=set)

    def rank_key(self) -> tuple:
        """Higher wins: addendum, not clinical (T/N only), not a biopsy, rule tier."""
        clinical = self.field in ("pT", "pN") and (
            "clinical" in self.context or self.attributes.get("prefix") == "c")
        return (self.section == "addendum", not clinical, self.specimen_rank, self.tier)
