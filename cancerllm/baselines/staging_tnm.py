"""pT, pN and M candidates: TNM tokens, combined strings and synoptic lines.

One token pattern reads every T/N/M category with its prefix and modifiers ("ypT1c(m)",
"pN1mi(sn)", "pN0(i+)", "cM0", "pMX"). A token written with a classification letter (p,
yp, rp, ap, c) is unambiguous and always kept. A *bare* token ("T2", "N1", "M0") is kept
only inside a chain ("T2N1M0", "T3 N0 MX") or after a staging label ("Pathological T.
T2b"), which is what rejects radiology ("T1-weighted", "T2 hyperintense"), "T4
(thyroxine)", nitrogen "N2", tissue-block keys ("T1-4") and "pTNM" headers.

Policies (docs/staging.md): "MX" and "pM0" are not AJCC categories and map to NR with a
flag; "pMn/a" and "Not applicable" are explicit NR; a range ("pT1-2", "pT1a/b") takes the
higher category (flag `range`), the same rule as for multiple foci; sub-stages the schema
does not carry (T2a, T3b, N2c, T1b1) collapse to the parent class (flag `substage`).
"""

from __future__ import annotations

import re

from cancerllm.baselines.staging_text import TIER_STATEMENT, TIER_SYNOPTIC, Candidate
from cancerllm.schema.staging import FINE, NR

T_ORDER = ["NR", "TX", "T0", "Tis", "T1", "T1mi", "T1a", "T1b", "T1c", "T2", "T3",
           "T4", "T4a", "T4b", "T4c", "T4d"]
N_ORDER = ["NR", "NX", "N0", "N0(i+)", "N1", "N1mi", "N1a", "N1b", "N1c", "N2", "N2a", "N2b",
           "N3", "N3a", "N3b", "N3c"]
M_ORDER = ["NR", "M0", "M1"]
SEVERITY = {"pT": T_ORDER, "pN": N_ORDER, "M": M_ORDER}

_PREFIX = r"(?:(?P<pre>\(y\)|y|r|a)(?=[pc]))?(?P<pc>[pc])?"
# A space between letter and category ("pT 1c") only after an upper-case T/N: "pt 2" is a patient
# and "cm 0.5" a size, so lower-case letters and M must be glued to their category.
_T = (r"(?:(?-i:T)(?:\s(?=[0-4]))?|t)(?P<t>is|x|[0-4])(?P<tsub>mic?|[a-d](?:[1-3](?![0-9]))?)?"
      r"(?P<tmod>(?:\s?\((?:m|n|\d{1,2}|mult|dcis|paget|lcis)\))*)")
_N = (r"(?:(?-i:N)(?:\s(?=[0-3]))?|n)(?P<n>x|[0-3])(?P<nsub>\(mic?\)|mic?|[a-c])?(?P<nrom>(?:iii|ii|iv|i)(?![+\-a-z]))?"
      r"(?P<nmod>(?:\s?\((?:sn|f|i\s?[+-]|mol\s?[+-]|mic?)\)|i[+-])*)"
      r"(?P<ncount>\s?\(\s?\d{1,2}\s?/\s?\d{1,3}\s?\))?")
_M = r"M(?:(?P<m>x|[01])(?P<msub>[a-d])?(?P<mmod>\s?\(i\+\))?|(?P<mna>n/?a\b))"
# what may follow a token: a non-alphanumeric, or the next token of a glued string
# (or a glued L/V/R/G descriptor: "pT2N0L0V0R0")
_AFTER = r"(?=[^A-Za-z0-9]|$|(?:\(y\)|y|r)?[pc]?[TNM]\s?[0-4xXi]|[LVRG][0-4XO])"

# N and M may be glued to the token before them ("T2N1M0", "pT1cN0(i-)").
_BEFORE = r"(?:(?<![A-Za-z0-9])|(?<=[0-9a-dxXsi)])(?=(?:y|r)?[pc]?[NM]))"

TOKEN = re.compile(rf"{_BEFORE}{_PREFIX}(?:{_T}|{_N}|{_M}){_AFTER}", re.IGNORECASE)

# separators allowed between the tokens of one combined string (node count after N)
_CHAIN_GAP = re.compile(r"[\s,;./]{0,3}(?:\(\s?\d{1,2}\s?/\s?\d{1,3}\s?\)[\s,;.]{0,3})?")
_RANGE_AFTER = re.compile(r"[-/](?:p?T)?(?P<cat>[0-4])(?P<sub>[a-d])?(?![0-9])|/(?P<only_sub>[a-d])\b",
                          re.IGNORECASE)

# Staging labels after which a bare value (or an explicit "not applicable") counts.
_NA = r"(?P<na>not\s+applicable|n/a|cannot\s+be\s+(?:assessed|determined)|not\s+(?:assessed|identified|specified|reported|evaluated))"
_LABELS = {
    "pT": r"(?:primary\s+tumou?r(?:\s+stage)?(?:\s*\(p?T\))?|p?T\s+category|pathologic(?:al)?\s+T|"
          r"T\s+stage,?\s+pathologic|pT)",
    "pN": r"(?:regional\s+lymph\s+nodes?(?:\s*\(p?N\))?|p?N\s+category|pathologic(?:al)?\s+N|N\s+stage,?\s+pathologic|"
          r"lymph\s+node\s+stage|pN)",
    "M": r"(?:distant\s+metastas[ie]s(?:\s*\(p?M\))?|p?M\s+category|(?:pathologic(?:al)?|clinical)\s+M|M\s+stage,?\s+pathologic|pM)",
}
_VALUE = {
    "pT": r"(?P<v>(?:\(y\)|y|r)?[pc]?T\s?(?:is|x|[0-4lIO])(?:mic?|[a-d]\d?)?)",
    "pN": r"(?P<v>(?:y|r)?[pc]?N\s?(?:x|[0-3OoIl])(?:\(?mic?\)?|[a-c])?(?:\s?\((?:sn|f|i\s?[+-]|mol\s?[+-])\))*)",
    "M": r"(?P<v>[pc]?M\s?(?:x|[01Oo])[a-d]?(?:\s?\(i\+\))?)",
}
SYNOPTIC_RULES: dict[str, re.Pattern] = {
    field: re.compile(rf"\b{label}(?:\s*\((?:AJCC|[0-9]+(?:th|rd)\s+ed)[^)]{{0,25}}\))?\s*[:.]\s*"
                      rf"(?:{_VALUE[field]}(?![A-Za-z0-9])|{_NA})", re.IGNORECASE)
    for field, label in _LABELS.items()
}
_DESCRIPTOR_Y = re.compile(r"TNM\s+descriptors?\s*:\s*(?:[^.\n]{0,20}\b)?y\b", re.IGNORECASE)
_DESCRIPTOR_M = re.compile(r"(?:modified\s+classification|TNM\s+descriptors?)\s*:\s*[^.\n]{0,20}\(m\)", re.IGNORECASE)

_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1"})


def _field_of(m: re.Match) -> str:
    if m.group("t") is not None:
        return "pT"
    if m.group("n") is not None:
        return "pN"
    return "M"


def _prefix_attrs(m: re.Match) -> dict:
    attrs = {}
    pre, pc = (m.group("pre") or "").lower(), (m.group("pc") or "").lower()
    if pre:
        attrs["prefix"] = "y" if "y" in pre else pre
    elif pc:
        attrs["prefix"] = pc
    return attrs


def _t_label(m: re.Match, attrs: dict) -> str:
    cat, sub = m.group("t").lower(), (m.group("tsub") or "").lower()
    mods = (m.group("tmod") or "").lower()
    if "(m)" in mods or "(n)" in mods or "mult" in mods or re.search(r"\(\d", mods):
        attrs["multiplicity"] = "m"
    if cat == "is":
        if "paget" in mods:
            attrs["tis_type"] = "Paget"
        return "Tis"
    if cat in ("x", "0"):
        return "TX" if cat == "x" else "T0"
    if cat == "1" and sub.startswith("mi"):
        if sub == "mic":
            attrs["spelling"] = "T1mic"
        return "T1mi"
    if len(sub) > 1 or (sub and cat in "23"):
        attrs["substage"] = sub
    if cat in "14" and sub[:1] in ("a", "b", "c", "d") and not (cat == "1" and sub[:1] == "d"):
        return f"T{cat}{sub[0]}"
    return f"T{cat}"


def _n_label(m: re.Match, attrs: dict) -> str:
    cat = m.group("n").lower()
    sub = (m.group("nsub") or "").lower().strip("()")
    mods = re.sub(r"\s", "", (m.group("nmod") or "").lower())
    if "sn" in mods:
        attrs["sentinel"] = "sn"
    elif "(f)" in mods:
        attrs["sentinel"] = "f"
    if count := m.group("ncount"):
        pos, _, exam = count.strip(" ()").partition("/")
        attrs["nodes_positive"], attrs["nodes_examined"] = int(pos), int(exam)
    if m.group("nrom"):
        attrs["substage"] = sub + m.group("nrom").lower()
    if cat == "x":
        return "NX"
    if cat == "0":
        for flag in ("i-", "mol+", "mol-"):
            if flag in mods:
                attrs["itc"] = flag
        return "N0(i+)" if "i+" in mods else "N0"
    if cat == "1" and (sub.startswith("mi") or "mi" in mods):
        return "N1mi"
    if f"N{cat}{sub}" in FINE["pN"]:  # N1a-c, N2a-b, N3a-c
        return f"N{cat}{sub}"
    if sub:
        attrs["substage"] = sub
    return f"N{cat}"


def _m_label(m: re.Match, attrs: dict) -> str:
    if m.group("mna"):
        attrs["not_applicable"] = True
        return NR
    cat = m.group("m").lower()
    if cat == "x":
        attrs["invalid_category"] = "MX"
        return NR
    if cat == "0":
        if attrs.get("prefix") == "p":
            attrs["invalid_category"] = "pM0"
            return NR
        if m.group("mmod"):
            attrs["itc"] = "i+"
        return "M0"
    if m.group("msub"):
        attrs["substage"] = m.group("msub").lower()
    return "M1"


def _label(field: str, m: re.Match, attrs: dict) -> str:
    return {"pT": _t_label, "pN": _n_label, "M": _m_label}[field](m, attrs)


def _apply_range(text: str, m: re.Match, label: str, attrs: dict) -> str:
    """'pT1-2' -> T2, 'pT1a/b' -> T1b (flag range): the higher category, as for foci."""
    r = _RANGE_AFTER.match(text, m.end())
    if not r:
        return label
    if r.group("only_sub"):
        other = label[:2] + r.group("only_sub").lower() if label[:2] in ("T1", "T4") else label
    else:
        other = f"T{r.group('cat')}" + ((r.group("sub") or "").lower() if r.group("cat") in "14" else "")
    if other in T_ORDER:
        attrs["range"] = text[m.start():r.end()]
        return max(label, other, key=T_ORDER.index)
    return label


def _tokens(text: str) -> list[tuple[re.Match, str, bool]]:
    """(match, field, written with a classification letter) for every TNM-like token."""
    return [(m, _field_of(m), bool(m.group("pc"))) for m in TOKEN.finditer(text)]


def _chained(text: str, a: re.Match, b: re.Match) -> bool:
    gap = _CHAIN_GAP.fullmatch(text, a.end(), b.start())
    return gap is not None


def token_candidates(text: str) -> list[Candidate]:
    """Prefixed tokens anywhere, and bare tokens that sit in a T-N(-M) chain."""
    toks = _tokens(text)
    keep = [p for _, _, p in toks]
    order = {"pT": 0, "pN": 1, "M": 2}
    for i in range(len(toks) - 1):
        (a, fa, _), (b, fb, _) = toks[i], toks[i + 1]
        if order[fb] == order[fa] + 1 and _chained(text, a, b):
            # a bare N or M joins a chain only behind a kept (or chain-started) token
            if fa == "pT":
                keep[i] = True
            if keep[i]:
                keep[i + 1] = True
    out = []
    for (m, field, prefixed), k in zip(toks, keep):
        if not k:
            continue
        attrs = _prefix_attrs(m)
        label = _label(field, m, attrs)
        if field == "pT" and prefixed:
            label = _apply_range(text, m, label, attrs)
        rule = f"{field}.token" if prefixed else f"{field}.chain"
        out.append(Candidate(field, label, m.start(), m.end(), rule, TIER_STATEMENT, attributes=attrs))
    return out


def synoptic_candidates(text: str) -> list[Candidate]:
    """'Primary Tumor (pT): pT2', 'pN Category: pN0(i+)', 'Distant Metastasis (pM): Not applicable'."""
    out = []
    for field, pattern in SYNOPTIC_RULES.items():
        for m in pattern.finditer(text):
            if m.group("na"):
                na = m.group("na").lower()
                label = NR
                if "cannot" in na and field != "M":
                    label = "TX" if field == "pT" else "NX"
                out.append(Candidate(field, label, m.start(), m.end(), f"{field}.synoptic_na", TIER_SYNOPTIC,
                                     attributes={"not_applicable": label == NR}))
                continue
            value = m.group("v")
            head, cat = re.match(r"(.*?[TNM]\s?)(.*)", value, re.IGNORECASE).groups()
            fixed = head + cat[:1].translate(_OCR_DIGITS) + cat[1:]
            tm = TOKEN.fullmatch(fixed) or TOKEN.match(fixed)
            if not tm or _field_of(tm) != field:
                continue
            attrs = _prefix_attrs(tm)
            label = _label(field, tm, attrs)
            out.append(Candidate(field, label, m.start("v"), m.end("v"), f"{field}.synoptic", TIER_SYNOPTIC,
                                 attributes=attrs))
    return out


def tnm_candidates(text: str) -> list[Candidate]:
    return synoptic_candidates(text) + token_candidates(text)


def descriptor_attributes(text: str) -> dict:
    """Report-level 'TNM Descriptors: y (post-treatment)' / 'Modified Classification: (m)'."""
    attrs = {}
    if _DESCRIPTOR_Y.search(text):
        attrs["prefix"] = "y"
    if _DESCRIPTOR_M.search(text):
        attrs["multiplicity"] = "m"
    return attrs
