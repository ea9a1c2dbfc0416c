"""Histologic grade candidates (Nottingham / Elston-Ellis and the G1-G3 of other sites).

Rules, strongest first: an explicit grade ("Nottingham grade 3 (3+3+2=8)", "grade II",
"grade 2 of 3", "G2"), a total score ("total score 7/9", "3+3+2=8"), the three component
scores summed when no total is given, then words ("high grade", "poorly differentiated"),
which carry the `inferred` flag (CAP reports state the grade; a word is a weaker reading).

Exclusions: DCIS / in-situ nuclear grade and any "nuclear grade" that is not Fuhrman/ISUP
(nuclear grade is not histologic grade), Gleason patterns and grade groups, dysplasia,
PIN, SIL and tumour regression grades. "G2" counts only as a whole token next to staging
descriptors (so not in gene or antibody names, block keys or "G2/M").

Policies (docs/staging.md): a range ("grade 2-3", "well to moderately differentiated")
takes the higher grade (flag `range`), as for multiple foci; G4 / undifferentiated has no
class in the three-tier schema and maps to "3" (flag `collapsed_g4`); "cannot be assessed"
and "GX" give NR with the `not_assessable` flag.
"""

from __future__ import annotations

import re

from cancerllm.baselines.staging_text import (
    NUMBER_WORDS, TIER_NARRATIVE, TIER_STATEMENT, TIER_SYNOPTIC, Candidate, sentence_start, small_number,
)
from cancerllm.schema.staging import NR

_NUM = rf"(?:[1-4]|IV|I{{1,3}}|{NUMBER_WORDS})"
_SYSTEM = (r"(?:nottingham|elston(?:[\s-]+ellis)?|(?:modified\s+)?(?:scarff[\s.-]+)?bloom[\s-]+richardson|"
           r"S\.?B\.?R\.?|NHG|histologic(?:al)?|histo|overall|combined|tumou?r|WHO|fuhrman|ISUP)")

GRADE_RULES: list[tuple[str, re.Pattern]] = [
    # "Nottingham grade 3", "Histologic grade: II", "grade 2 of 3", "Grade, Histologic: 3", "NHG3"
    ("grade.explicit", re.compile(
        rf"(?:\b{_SYSTEM}[\s:,-]*(?:histologic(?:al)?\s+)?)?\bgrade(?P<qual>\s*/\s*differentiation|,\s*\w+\b)?"
        rf"(?:\s*\([^)]{{0,60}}\))?\s*[:.=-]?\s*(?:grade\s+|G|(?<![A-Za-z]))(?P<g>{_NUM}|X)(?![0-9+A-Za-z])"
        rf"(?:\s*(?:-|to)\s*(?P<g2>[1-4]|I{{1,3}}|IV)(?![0-9+/]))?"
        r"(?:\s*(?:of|/|out\s+of)\s*(?P<of>3|III|three|4|IV)\b)?", re.IGNORECASE)),
    ("grade.nhg", re.compile(r"\bNHG\s?(?P<g>[1-3])\b")),
    # standalone G1-G4 / GX (validated against its neighbourhood below)
    ("grade.g_token", re.compile(r"(?<![A-Za-z0-9/+-])G(?P<g>[1-4]|X)(?![A-Za-z0-9/+-])")),
]
# "3+3+2=8", "(3+3+2)", "total score 7/9", "score 7 of 9", "Nottingham score: 8"
SCORE_RULES: list[tuple[str, re.Pattern]] = [
    ("grade.sum", re.compile(r"(?<![\d+])(?P<a>[1-3])\s*\+\s*(?P<b>[1-3])\s*\+\s*(?P<c>[1-3])(?:\s*=\s*(?P<t>[3-9]))?(?![\d+])")),
    ("grade.total_score", re.compile(
        rf"(?:\b(?:total|nottingham|S\.?B\.?R\.?|bloom[\s-]+richardson|combined|overall)(?:\s+histologic)?\s+score"
        rf"\s*(?:of\s*)?[:.=]?\s*(?P<s>[3-9]|{NUMBER_WORDS})(?:\s*(?:/|of|out\s+of)\s*(?:9|nine))?"
        rf"|\bscore\s*(?:of\s*)?[:=]?\s*(?P<s2>[3-9])\s*(?:/|of|out\s+of)\s*9)\b", re.IGNORECASE)),
]
COMPONENT_RULES: dict[str, re.Pattern] = {
    "tubules": re.compile(r"\b(?:tubul\w*|glandular|acinar|architectural)(?:[\s/()]+\w+){0,3}?(?:\s+score)?"
                          r"\s*[:=-]?\s*(?:score\s*[:=]?\s*)?(?P<v>[1-3])\b", re.IGNORECASE),
    "pleomorphism": re.compile(r"\bnuclear\s+(?:pleomorphism|score|grade|atypia)(?:\s+score)?\s*[:=-]?\s*"
                               r"(?:score\s*[:=]?\s*)?(?P<v>[1-3])\b", re.IGNORECASE),
    "mitoses": re.compile(r"\bmito(?:tic|ses|sis)(?:\s+(?:rate|count|score|index|activity|figures))?(?:\s+score)?"
                          r"(?:\s*\([^)]{0,20}\))?\s*[:=-]?\s*(?:score\s*[:=]?\s*)?(?P<v>[1-3])\b(?!\s*(?:/|per|mitos))",
                          re.IGNORECASE),
}
COMPONENT_WINDOW = 400

WORD_RULES: list[tuple[str, re.Pattern]] = [
    ("grade.differentiation", re.compile(
        r"\b(?P<w>well|moderately|poorly|un)(?:\s*(?:to|-|and)\s*(?P<w2>moderately|poorly))?[\s-]*differentiated\b",
        re.IGNORECASE)),
    ("grade.words", re.compile(
        r"\b(?P<w>low|intermediate|high)(?:\s*(?:to|-)\s*(?P<w2>intermediate|high))?[\s-]+grade\b(?!\s*(?:/|:))"
        r"|\bgrade\s*[:.]?\s*(?P<w3>low|intermediate|high)\b", re.IGNORECASE)),
]
_WORD_GRADE = {"well": 1, "moderately": 2, "poorly": 3, "un": 4, "low": 1, "intermediate": 2, "high": 3}

NOT_ASSESSABLE = re.compile(
    r"\b(?:histologic(?:al)?\s+|nottingham\s+|overall\s+)grade\s*(?:\([^)]{0,60}\))?\s*[:.]?\s*"
    r"(?:cannot\s+be\s+(?:assessed|determined)|not\s+applicable|GX\b|not\s+assessable)", re.IGNORECASE)

# Context that disqualifies a grade mention (looked for in the clause before and just after).
_EXCLUDE_BEFORE = re.compile(
    r"(?:\bnuclear(?:\s+grade)?\s*$|gleason|grade\s+group|dcis|in[\s-]situ|intraductal|dysplasia|"
    r"\bPIN\b|intraepithelial|\bSIL\b|regression|\bbudding|\bTRG\b|\bblocks?\b|\bslides?\b|\bcassettes?\b|"
    r"\bCNS\s+(?:WHO\s+)?$)",
    re.IGNORECASE)
_EXCLUDE_AFTER = re.compile(
    r"[\s,-]*(?:nuclear|dysplasia|PIN\b|squamous\s+intraepithelial|intraepithelial|SIL\b|dcis|ductal\s+carcinoma\s+in"
    r"|carcinoma\s+in\s+situ|in[\s-]situ|urothelial\s+carcinoma\s+in\s+situ|gleason|group"
    # tumour-type names, not grades: "high-grade serous carcinoma", "low-grade fibromyxoid sarcoma"
    r"|serous|fibromyxoid|glioma|appendiceal\s+mucinous|mucinous\s+neoplasm)", re.IGNORECASE)
_NUCLEAR_OK = re.compile(r"fuhrman|isup|\bWHO\b(?!\s+grade\s+[1-4]\b)", re.IGNORECASE)
# a standalone "G2" must sit next to staging descriptors or a grade label
_G_CONTEXT = re.compile(r"\bp?T[0-4]|\bp?N[0-3X]|\b[LVR][0-2]\b|grade|differentiat|carcinoma|sarcoma|noma\b",
                        re.IGNORECASE)


def _grade_label(value: int, attrs: dict) -> str:
    if value >= 4:
        attrs["collapsed_g4"] = True
        return "3"
    return str(value)


def _grade_from_total(total: int) -> str:
    return "1" if total <= 5 else "2" if total <= 7 else "3"


_REINSTATE = re.compile(r"nottingham|histologic|bloom|S\.?B\.?R|elston|overall|invasive|infiltrating", re.IGNORECASE)


def _excluded(text: str, start: int, end: int) -> bool:
    """DCIS / nuclear / Gleason / dysplasia context just before or after the grade mention.

    An exclusion word earlier in the clause is overridden when a histologic-grade word
    ("Nottingham", "invasive") comes after it: "... with DCIS; invasive carcinoma, grade 2".
    """
    clause = text[sentence_start(text, start, 60):start]
    if _NUCLEAR_OK.search(clause):
        return False
    hits = list(_EXCLUDE_BEFORE.finditer(clause))
    if hits and not _REINSTATE.search(clause, hits[-1].end()):
        return True
    return bool(_EXCLUDE_AFTER.match(text, end))


def _tier(text: str, start: int) -> int:
    """A labelled line ('Histologic Grade: G3', 'Overall grade: 2') counts as synoptic."""
    clause = text[sentence_start(text, start, 60):start + 40]
    return TIER_SYNOPTIC if re.search(r"(?:histologic(?:al)?|overall|nottingham)[^:]{0,40}grade[^:]{0,60}:",
                                      clause, re.IGNORECASE) else TIER_STATEMENT


def explicit_candidates(text: str) -> list[Candidate]:
    out = []
    for rule, pattern in GRADE_RULES:
        for m in pattern.finditer(text):
            qual = (m.groupdict().get("qual") or "").lower()
            if "nuclear" in qual or _excluded(text, m.start(), m.end()):
                continue
            g = m.group("g")
            attrs: dict = {}
            if g.upper() == "X":
                out.append(Candidate("grade", NR, m.start(), m.end(), rule, TIER_STATEMENT,
                                     attributes={"not_assessable": True}))
                continue
            if rule == "grade.g_token" and not _G_CONTEXT.search(text[max(0, m.start() - 40):m.end() + 40]
                                                                 .replace(m.group(0), " ")):
                continue
            value = small_number(g)
            if value is None or not 1 <= value <= 4:
                continue
            if m.groupdict().get("of") and small_number(m.group("of")) == 4 and value == 4:
                attrs["scale"] = "of 4"
            if m.groupdict().get("g2") and (v2 := small_number(m.group("g2"))) and 1 <= v2 <= 4:
                attrs["range"] = m.group(0)
                value = max(value, v2)
            out.append(Candidate("grade", _grade_label(value, attrs), m.start(), m.end(), rule,
                                 _tier(text, m.start()), attributes=attrs))
    return out


def score_candidates(text: str) -> list[Candidate]:
    out = []
    for rule, pattern in SCORE_RULES:
        for m in pattern.finditer(text):
            if rule == "grade.sum":
                # "3+3+2" must be a Nottingham sum, not HER2 or Gleason arithmetic
                near = text[max(0, m.start() - 80):m.start()]
                if not re.search(r"grade|score|nottingham|bloom|SBR|elston", near, re.IGNORECASE) or \
                        re.search(r"gleason|her-?2|\bneu\b", near, re.IGNORECASE):
                    continue
                parts = [int(m.group(k)) for k in "abc"]
                total = int(m.group("t")) if m.group("t") else sum(parts)
                attrs = {"components": parts, "total_score": total}
            else:
                if _excluded(text, m.start(), m.end()):
                    continue
                total = small_number(m.group("s") or m.group("s2"))
                if total is None or not 3 <= total <= 9:
                    continue
                attrs = {"total_score": total}
            out.append(Candidate("grade", _grade_from_total(total), m.start(), m.end(), rule, TIER_STATEMENT,
                                 attributes=attrs))
    return out


def component_candidates(text: str) -> list[Candidate]:
    """Tubules + pleomorphism + mitoses scores summed when all three sit close together."""
    def not_dcis(m: re.Match) -> bool:
        return not re.search(r"dcis|in\s+situ", text[max(0, m.start() - 40):m.start()], re.IGNORECASE)

    found = {name: [m for m in p.finditer(text) if not_dcis(m)] for name, p in COMPONENT_RULES.items()}
    out = []
    for mt in found["tubules"]:
        near = [min((m for m in found[k] if abs(m.start() - mt.start()) <= COMPONENT_WINDOW),
                    key=lambda m: abs(m.start() - mt.start()), default=None) for k in ("pleomorphism", "mitoses")]
        if None in near:
            continue
        parts = [int(mt.group("v"))] + [int(m.group("v")) for m in near]
        start = min(mt.start(), *(m.start() for m in near))
        end = max(mt.end(), *(m.end() for m in near))
        out.append(Candidate("grade", _grade_from_total(sum(parts)), start, end, "grade.components", TIER_STATEMENT,
                             attributes={"components": parts, "total_score": sum(parts), "inferred": True}))
    return out


def word_candidates(text: str) -> list[Candidate]:
    out = []
    for rule, pattern in WORD_RULES:
        for m in pattern.finditer(text):
            if _excluded(text, m.start(), m.end()):
                continue
            words = [w.lower() for w in (m.groupdict().get("w"), m.groupdict().get("w2"), m.groupdict().get("w3")) if w]
            attrs = {"inferred": True}
            if len(words) > 1:
                attrs["range"] = m.group(0)
            value = max(_WORD_GRADE[w] for w in words)
            out.append(Candidate("grade", _grade_label(value, attrs), m.start(), m.end(), rule,
                                 max(TIER_NARRATIVE, _tier(text, m.start()) - 1), attributes=attrs))
    return out


def not_assessable_candidates(text: str) -> list[Candidate]:
    return [Candidate("grade", NR, m.start(), m.end(), "grade.not_assessable", TIER_SYNOPTIC,
                      attributes={"not_assessable": True}) for m in NOT_ASSESSABLE.finditer(text)]


def grade_candidates(text: str) -> list[Candidate]:
    return (explicit_candidates(text) + score_candidates(text) + component_candidates(text)
            + word_candidates(text) + not_assessable_candidates(text))
