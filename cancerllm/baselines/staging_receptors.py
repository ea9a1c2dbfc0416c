"""ER, PR and HER2 candidates (ASCO/CAP 2020 for ER/PR, 2018/2023 for HER2).

Each receptor mention ("ER", "estrogen receptor", "ER/PR", "PgR", "HER2", "HER-2/neu",
"c-erbB-2", "FISH") opens a short window that ends at the next marker mention, at the
next labelled field or after WINDOW_CHARS; the window is read for a result:

- ER/PR: a percentage wins over words (flag `conflict` when they disagree): <1 % is
  negative, 1-10 % positive with `low_positive`, >10 % positive; then an Allred score
  (<=2 negative); then words ("positive", "low positive", "negative"); then a compact sign
  ("ER+", "PR-"). "pending", "not performed", "see addendum" give NR (flag `pending`).
  "negative for estrogen receptor" and "triple negative" are read too; "hormone receptor
  positive" alone is left NR (it does not say which receptor).
- HER2: an IHC score (0, 1+, 2+, 3+; never the digits of a "3+3+2" grade sum), an ISH
  result ("not amplified" is tested before "amplified"; else the HER2/CEP17 ratio and
  mean copy number, or the ISH group), and status words. The report-level value is
  combined from all HER2 and ISH statements: IHC 3+ or ISH amplified -> positive, ISH not
  amplified -> negative (so "2+ equivocal, FISH not amplified" is negative), a stated
  status, IHC 0/1+ -> negative, IHC 2+ without ISH -> equivocal (`her2_decision`).

"positive control", "known amplified control tissue" and reference-range text
("Negative 0-1+, Equivocal 2+, Positive 3+", "defined as an Allred score of >2") are
masked or skipped: they describe the assay, not this tumour.
"""

from __future__ import annotations

import re

from cancerllm.baselines.staging_text import (
    NUMBER_WORDS, TIER_NARRATIVE, TIER_STATEMENT, TIER_SYNOPTIC, Candidate, sentence_start, word_to_number,
)
from cancerllm.schema.staging import NR

WINDOW_CHARS = 100
HER2_WINDOW_CHARS = 160

_I = re.IGNORECASE
MENTIONS: list[tuple[str, re.Pattern]] = [  # joint forms first: they win over their parts
    ("ER/PR", re.compile(r"\bER\s?(?:/|&|,|\band\b)\s?(?:PR|PgR|PGR)\b(?!\s?/\s?HER)")),
    ("ER/PR", re.compile(r"\bo?estrogen\s+(?:and|&|/)\s+progesterone\s+receptors?(?:\s*\(ER\s?/\s?P[Rg]R?\))?", _I)),
    ("ER", re.compile(r"\bo?estrogen[\s-]+receptors?(?:\s*\((?:ER|ERα)\))?(?:\s+status)?", _I)),
    ("ER", re.compile(r"\bER(?:α|-?alpha)?\b(?!-[A-Z])")),
    ("PR", re.compile(r"\bprogesterone[\s-]+receptors?(?:\s*\((?:PR|PgR|PGR)\))?(?:\s+status)?", _I)),
    ("PR", re.compile(r"\b(?:PR|PgR|PGR)\b(?!-[A-Z])")),
    ("HER2", re.compile(r"\bHER[\s-]?2(?:\s?[/-]\s?neu)?\b|\bc-?erb-?B-?2\b|\bERBB2\b|\bhercep-?test\b", _I)),
    ("ISH", re.compile(r"\b(?:FISH|SISH|CISH|DDISH|ISH)\b|\bin[\s-]situ\s+hybridi[sz]ation\b|\bdual[\s-]probe\b|"
                       r"\bpathvysion\b", _I)),
    ("STOP", re.compile(r"\bKi-?67\b|\bMIB-?1\b|\bandrogen\s+receptor|\bp53\b|\bE-?cadherin\b|\bEGFR\b|\bPD-?L1\b|"
                        r"\bp63\b|\bGATA-?3\b|\bCK\s?\d+|\bcytokeratin|\bALK\b|\bROS1\b|\bMDM2\b|\bMYC\b", _I)),
    ("STOP", re.compile(r"\bAR\b")),
]
# a window ends at the next "Label:" field (". Tumor size:") or a blank line
_FIELD_STOP = re.compile(r"\.\s+[A-Z][\w /()-]{1,40}:|\n\s*\n")

_PERCENT = re.compile(
    r"(?P<cmp><\s?=?|>\s?=?|less\s+than|greater\s+than|under|over|approx(?:imately|\.)?)?\s*"
    r"(?P<lo>\d{1,3}(?:\.\d+)?)\s*(?:%|percent|per\s?cent)?\s*(?:-|to)\s*(?P<hi>\d{1,3}(?:\.\d+)?)\s*(?:%|percent|per\s?cent)"
    r"|(?P<cmp1><\s?=?|>\s?=?|less\s+than|greater\s+than|under|over)?\s*(?P<one>\d{1,3}(?:\.\d+)?)\s*(?:%|percent|per\s?cent)"
    rf"|(?P<w>{NUMBER_WORDS})\s*(?:%|percent|per\s?cent)", _I)
_ALLRED = re.compile(r"allred(?:\s+score)?\s*(?:of\s*)?[:=]?\s*(?P<a>\d)(?:\s*/\s*8)?", _I)
_HSCORE = re.compile(r"\bH-?\s?score\s*(?:of\s*)?[:=]?\s*(?P<h>\d{1,3})", _I)
_INTENSITY = re.compile(r"\b(?P<i>weak|moderate|strong)\b", _I)
# "... and negative for HER2": that word belongs to the next mention (but "negative for
# overexpression" still belongs to this one)
_NOT_FOR_NEXT = r"(?!\s+for\s+(?!(?:over-?)?expression|amplification|staining|protein|immuno))"
_WORDS = re.compile(
    r"(?:(?P<low>low[\s-]+positive|weak(?:ly)?[\s-]+positive)|(?P<pos>positive|\bpos\b)|(?P<neg>negative|\bneg\b))"
    + _NOT_FOR_NEXT, _I)
_PENDING = re.compile(
    r"pending|to\s+follow|will\s+be\s+(?:reported|performed|issued|sent|done|repeated)|see\s+addendum|in\s+progress|"
    r"sent\s+out|deferred|\bordered\b|requested|not\s+(?:been\s+)?(?:performed|done|ordered|available|tested|"
    r"requested|indicated|evaluated)|repeated", _I)
_SIGN = re.compile(r"^\s?(?:(?P<pos>\+|\(\+\))|(?P<neg>-|\(-\)))(?![\w])")
_BEFORE_STATUS = re.compile(r"(?P<s>positive|negative|pos|neg)(?:\s+(?:staining|immunoreactivity))?\s+for\s+"
                            r"(?:both\s+)?(?:the\s+)?$|\bno\s+(?:(?:nuclear\s+)?(?:staining|expression|"
                            r"immunoreactivity)\s+(?:for|of)\s+)?(?P<no>)$", _I)
_TRIPLE_NEG = re.compile(r"\btriple[\s-]+negative\b", _I)
_TRIPLE_JOINT = re.compile(r"\bER\s?/\s?PR\s?/\s?HER-?2(?:/neu)?\s*(?:status\s*)?[:=]?\s*(?:all\s+)?"
                           r"(?P<s>positive|negative)\b", _I)
_PRIOR = re.compile(r"(?:prior|previous|outside|earlier)\s+(?:biopsy|specimen|case|core|report)|"
                    r"performed\s+on\s+(?:case|specimen|prior|previous|outside|[A-Z]{1,3}\d)", _I)
_CONTROL = re.compile(r"\b(?:positive|negative|amplified|non-?amplified|known\s+\w+|external|internal|in-house|"
                      r"appropriate|adequate)\s+(?:\w+\s+){0,3}?controls?(?:\s+tissues?)?\b", _I)
_DEFINITION = re.compile(r"defined\s+as|is\s+defined|reference\s+range|are\s+considered|is\s+considered|cut-?\s?off|"
                         r"criteria|scoring\s+range|guideline|interpreted\s+as\s+follows|\blevels?\s*:\s*[<>]", _I)
_CATEGORY_WITH_NUMBER = re.compile(r"\b(?:positive|negative|equivocal)\s*[:(]?\s*(?:[<>]\s?=?|/=)?\s*\d", _I)

# HER2
_IHC = re.compile(r"(?<![\d+.])(?P<s>[0-3])\s?\+(?![\d+])|"
                  r"(?:^|\bscore|\bIHC\)?|\bintensity|hercep-?test\)?)\s*(?:of\s*)?[:=]?\s*\(?\s*(?P<z>0)(?![\d.,%+])", _I)
_NOT_AMPLIFIED = re.compile(r"\b(?:not|non|no|without|negative\s+for)[\s-]*(?:evidence\s+of\s+)?(?:gene\s+)?"
                            r"amplifi(?:ed|cation)|\bunamplified\b", _I)
_AMPLIFIED = re.compile(r"\bamplified\b|\bamplification\s+(?:is\s+|was\s+)?(?:present|detected|identified|seen|"
                        r"observed)|positive\s+for\s+(?:gene\s+)?amplification", _I)
_ISH_EQUIVOCAL = re.compile(r"\bequivocal\b|\bborderline\b", _I)
_RATIO = re.compile(r"\bratio[^0-9<>=/]{0,15}(?P<r>\d+(?:\.\d+)?)", _I)
_COPY = re.compile(r"(?:average|mean)\s+(?:HER-?2\s+)?(?:gene\s+)?(?:copy\s+number|signals?)"
                   r"(?:\s+per\s+(?:cell|nucleus))?[^0-9<>]{0,15}(?P<c>\d+(?:\.\d+)?)", _I)
_ISH_GROUP = re.compile(r"\bgroup\s*(?P<g>[1-5])\b", _I)
_HER2_STATUS = re.compile(r"(?:(?P<low>\blow\b)|(?P<eq>equivocal|borderline)|(?P<pos>positive|\bpos\b)|"
                          r"(?P<neg>negative|\bneg\b))" + _NOT_FOR_NEXT, _I)
_ISH_CONTEXT = re.compile(r"amplif|ratio|cep\s?17|copy\s+number|signals", _I)
_OTHER_GENE = re.compile(r"\bc?-?MET\b|CEP\s?(?!17)\d|\bALK\b|\bROS1\b|\bEGFR\b|\bMDM2\b|1p|19q|EWSR1|\bMYC\b|\bBCL|kappa|lambda|HPV|EBV|EBER",
                         _I)


def find_mentions(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) mentions, joint forms taking precedence."""
    taken: list[tuple[int, int, str]] = []
    for kind, pattern in MENTIONS:
        for m in pattern.finditer(text):
            if not any(m.start() < e and s < m.end() for s, e, _ in taken):
                taken.append((m.start(), m.end(), kind))
    return sorted(taken)


def _window(text: str, mentions: list[tuple[int, int, str]], i: int, limit: int) -> tuple[int, str]:
    start = mentions[i][1]
    end = min(len(text), start + limit, mentions[i + 1][0] if i + 1 < len(mentions) else len(text))
    stop = _FIELD_STOP.search(text, start, end)
    if stop and stop.start() > start:
        end = stop.start()
    window = _CONTROL.sub(lambda m: " " * len(m.group(0)), text[start:end])
    return start, window


def _is_definition(window: str) -> bool:
    return bool(_DEFINITION.search(window)) or len(_CATEGORY_WITH_NUMBER.findall(window)) >= 2


def _percent(window: str) -> tuple[float | None, re.Match | None]:
    m = _PERCENT.search(window)
    if not m:
        return None, None
    if m.group("w"):
        value = word_to_number(m.group("w"))
        return (float(value) if value is not None else None), m
    cmp = (m.group("cmp") or m.group("cmp1") or "").replace(" ", "").lower()
    value = float(m.group("lo") or m.group("one"))
    if cmp.startswith("<") or cmp in ("lessthan", "under"):
        value -= 0.5 if value <= 1 else 0.0
    return value, m


def receptor_status(window: str, field: str) -> tuple[str | None, dict, int]:
    """(label or None, attributes, end of the evidence within the window) for ER or PR."""
    attrs: dict = {}
    if _is_definition(window):
        return None, attrs, 0
    pct, pm = _percent(window)
    allred = _ALLRED.search(window)
    words = _WORDS.search(window)
    pending = _PENDING.search(window)
    sign = _SIGN.match(window)
    if h := _HSCORE.search(window):
        attrs["h_score"] = int(h.group("h"))
    if i := _INTENSITY.search(window):
        attrs["intensity"] = i.group("i").lower()
    if allred:
        attrs["allred"] = int(allred.group("a"))
    word_label = None
    if words:
        word_label = "negative" if words.group("neg") else "positive"
        if words.group("low"):
            attrs["low_positive"] = True
    if pct is not None and pm is not None:
        attrs["percent"] = pct
        label = "negative" if pct < 1 else "positive"
        if label == "positive" and pct <= 10:
            attrs["low_positive"] = True
        if word_label and word_label != label:
            attrs["conflict"] = True
        return label, attrs, max(pm.end(), words.end() if words else 0)
    if allred:
        label = "negative" if attrs["allred"] <= 2 else "positive"
        if word_label and word_label != label:
            attrs["conflict"] = True
        return label, attrs, allred.end()
    if words and not (pending and pending.start() < words.start()):
        return word_label, attrs, words.end()
    if pending:
        attrs["pending"] = True
        return NR, attrs, pending.end()
    if sign:
        return ("positive" if sign.group("pos") else "negative"), attrs, sign.end()
    return None, attrs, 0


def _ish_result(window: str, attrs: dict) -> re.Match | None:
    """Fill attrs['ish'] (amplified / not_amplified / equivocal / pending / not_performed)."""
    if _OTHER_GENE.search(window):
        return None
    for name, pattern in (("not_amplified", _NOT_AMPLIFIED), ("amplified", _AMPLIFIED)):
        if m := pattern.search(window):
            attrs["ish"] = name
            return m
    ratio, copy, group = _RATIO.search(window), _COPY.search(window), _ISH_GROUP.search(window)
    if copy:
        attrs["copy_number"] = float(copy.group("c"))
    if ratio:
        attrs["ratio"] = r = float(ratio.group("r"))
        c = attrs.get("copy_number")
        if r >= 2.0:
            attrs["ish"] = "not_amplified" if c is not None and c < 4 else "amplified"
        elif c is None or c < 6:
            attrs["ish"] = "not_amplified"
        return ratio
    if group:
        g = int(group.group("g"))
        attrs["ish_group"] = g
        if g != 3:
            attrs["ish"] = "amplified" if g == 1 else "not_amplified"
        return group
    if m := _PENDING.search(window):
        attrs["ish"] = "not_performed" if re.match(r"not", m.group(0), _I) else "pending"
        return m
    if m := _ISH_EQUIVOCAL.search(window):
        attrs["ish"] = "equivocal"
        return m
    return None


def her2_status(window: str) -> tuple[dict, int]:
    """Attributes ihc / ish / status read from one HER2 window, and the evidence end."""
    attrs: dict = {}
    if _is_definition(window):
        return attrs, 0
    ends = [0]
    if m := _IHC.search(window):
        attrs["ihc"] = "0" if m.group("z") else f"{m.group('s')}+"
        ends.append(m.end())
    if m := _ish_result(window, attrs):
        if attrs["ish"] in ("amplified", "not_amplified") or _ISH_CONTEXT.search(window):
            ends.append(m.end())
        else:  # "HER2 2+ equivocal" / "HER2 pending": about the IHC, not an ISH result
            del attrs["ish"]
    if m := _HER2_STATUS.search(window):
        if m.group("low"):
            attrs["status"], attrs["her2_low"] = "negative", True
        else:
            attrs["status"] = "equivocal" if m.group("eq") else "positive" if m.group("pos") else "negative"
        ends.append(m.end())
    elif sign := _SIGN.match(window):
        attrs["status"] = "positive" if sign.group("pos") else "negative"
        ends.append(sign.end())
    elif (p := _PENDING.search(window)) and "ish" not in attrs:
        attrs["pending"] = True
        ends.append(p.end())
    if attrs.get("ihc") in ("1+",) or (attrs.get("ihc") == "2+" and attrs.get("ish") == "not_amplified"):
        attrs["her2_low"] = True
    return attrs, max(ends)


def _tier(text: str, start: int) -> int:
    """'Estrogen Receptor (ER): Positive' on its own labelled line reads as synoptic."""
    return TIER_SYNOPTIC if re.match(r"[^.\n]{0,40}?\)?\s*:", text[start:start + 50]) else TIER_STATEMENT


def _status_before(text: str, start: int) -> tuple[str, int] | None:
    """('positive' | 'negative', start of the phrase) for "negative for <mention>", "no <mention>"."""
    lo = max(0, start - 40)
    m = _BEFORE_STATUS.search(text[lo:start])
    if not m:
        return None
    negative = m.group("no") is not None or (m.group("s") or "").lower().startswith("neg")
    return ("negative" if negative else "positive"), lo + m.start()


def _er_pr_candidates(text: str, kind: str, start: int, wstart: int, window: str, tier: int) -> list[Candidate]:
    label, attrs, rel_end = receptor_status(window, kind)
    end = wstart + rel_end
    if label in (None, NR) and (before := _status_before(text, start)):
        (label, start), end = before, wstart
    if label is None:
        return []
    out = []
    for field in (("ER", "PR") if kind == "ER/PR" else (kind,)):
        a = dict(attrs)
        if field == "PR":
            a.pop("low_positive", None)  # no "low positive" reporting category for PR
        rule = f"{field}.joint" if kind == "ER/PR" else f"{field}.mention"
        out.append(Candidate(field, label, start, end, rule, tier, attributes=a))
    return out


def _her2_candidate(text: str, kind: str, start: int, wstart: int, window: str, tier: int) -> list[Candidate]:
    if kind == "ISH":
        attrs: dict = {}
        m = _ish_result(window, attrs)
        end = wstart + (m.end() if m else 0)
    else:
        attrs, rel_end = her2_status(window)
        end = wstart + rel_end
        if not {"status", "ihc", "ish"} & set(attrs) and (before := _status_before(text, start)):
            (attrs["status"], start), end = before, wstart
    if not attrs:
        return []
    label = her2_decision([Candidate("HER2", NR, start, end, "", attributes=attrs)])[0]
    return [Candidate("HER2", label, start, end, f"HER2.{kind.lower()}", tier, kind="her2", attributes=attrs)]


def _all_three_candidates(text: str) -> list[Candidate]:
    """'triple negative' and 'ER/PR/HER2: negative' set all three fields."""
    out = []
    for pattern, rule, tier in ((_TRIPLE_NEG, "receptor.triple_negative", TIER_NARRATIVE),
                                (_TRIPLE_JOINT, "receptor.joint_all", TIER_STATEMENT)):
        for m in pattern.finditer(text):
            status = m.groupdict().get("s", "negative").lower()
            for field in ("ER", "PR", "HER2"):
                her2 = field == "HER2"
                out.append(Candidate(field, status, m.start(), m.end(), rule, tier, kind="her2" if her2 else "value",
                                     attributes={"status": status} if her2 else {}))
    return out


def receptor_candidates(text: str) -> list[Candidate]:
    """ER, PR and HER2 candidates from every receptor mention's window."""
    mentions = find_mentions(text)
    out: list[Candidate] = []
    for i, (start, _, kind) in enumerate(mentions):
        if kind == "STOP":
            continue
        if _DEFINITION.search(text[sentence_start(text, start):start]):
            continue  # "... guideline: amplified HER-2/neu levels > 2.20" describes the assay
        limit = HER2_WINDOW_CHARS if kind in ("HER2", "ISH") else WINDOW_CHARS
        wstart, window = _window(text, mentions, i, limit)
        make = _er_pr_candidates if kind in ("ER", "PR", "ER/PR") else _her2_candidate
        found = make(text, kind, start, wstart, window, _tier(text, start))
        if found and _PRIOR.search(text[max(0, start - 60):wstart + len(window)]):
            for c in found:
                c.attributes["from_prior_specimen"] = True
        out += found
    return out + _all_three_candidates(text)


def her2_decision(cands: list[Candidate]) -> tuple[str, Candidate | None]:
    """Report-level HER2 status from HER2/ISH candidates ordered best first (ASCO/CAP 2018).

    IHC 3+ -> positive; else ISH amplified / not amplified decides; else a stated status;
    else IHC 0/1+ -> negative and IHC 2+ -> equivocal (ISH pending or not done); else NR.
    Returns the label and the candidate whose evidence decided it.
    """
    def first(test):
        return next((c for c in cands if test(c.attributes)), None)

    ihc = first(lambda a: "ihc" in a)
    if ihc and ihc.attributes["ihc"] == "3+":
        return "positive", ihc
    if ish := first(lambda a: a.get("ish") in ("amplified", "not_amplified")):
        return ("positive" if ish.attributes["ish"] == "amplified" else "negative"), ish
    if status := first(lambda a: a.get("status") in ("positive", "negative", "equivocal")):
        return status.attributes["status"], status
    if ihc:
        return ("equivocal" if ihc.attributes["ihc"] == "2+" else "negative"), ihc
    return NR, first(lambda a: a.get("pending") or "ish" in a)
