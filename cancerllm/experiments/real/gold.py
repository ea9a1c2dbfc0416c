"""The gold-label policy of the real-data report: registry gold and mention-aware gold.

Gold variants. The labels are registry values, not annotations of the text:
- `registry`: the registry value wherever the registry has one (N for 205 of the 207
  test reports, M for 182; ER/PR/HER2 only on breast reports);
- `mention`: the same, except that a field the text never mentions counts as NR
  ("not reported"). A field is mentioned when the rule-based extractor found any
  candidate for it (including NR-valued ones such as "MX" or "pending"), OR the mention
  detector `MENTION_PATTERNS` below matches. The detector is deliberately lenient (a
  keyword list, not a parser): it errs towards keeping the registry value. T counts as
  mentioned only by an explicit T category (pT2, T2N0, "Pathological T") - a tumour size
  alone does not state T; N by an N category or any lymph-node wording (a node count
  states N); M by an M category or "distant metastasis"; ER/PR/HER2 by the marker's
  name or abbreviation.
Heads are trained on the registry labels (what a hospital would have), on train only.
"""

from __future__ import annotations

import re

from cancerllm.schema.staging import NR

RECEPTOR_FIELDS = ("ER", "PR", "HER2")
BREAST = "BRCA"


# A T (N) category may run on into the next one: "T2N0M0", "pT2pN1a".
_T = r"(?<![A-Za-z0-9])(?:[yra]?p|y|c)?T\s?(?:[0-4]|is|x)(?:mi|[a-d])?(?![A-LOQ-Za-loq-z0-9])"
_N = r"(?<![A-Za-z])(?:[yra]?p|y|c)?N\s?(?:[0-3]|x)(?:mi|[a-c])?(?![A-LN-OQ-Za-ln-oq-z0-9])"
_M = r"(?:(?<![A-Za-z])|(?<=N[0-3][a-c]))(?:[yra]?p|c)?M\s?(?:[01]|x)[a-c]?(?![A-Za-z0-9])"
# field -> [(pattern, flags)]; see the module docstring for what counts as a mention.
MENTION_PATTERNS: dict[str, list[tuple[str, int]]] = {
    "pT": [(_T, re.I), (r"(?<![A-Za-z])p?T[lIO](?![A-Za-z0-9])", 0),          # OCR: pTl, TO
           (r"primary\s+tumou?r\s*\(\s*p?T\s*\)|\bpT\s*(?:category|stage)|\bT\s*(?:category|stage)\b"
            r"|patholog\w*\s+T\b|\btumou?r\s+stage\b", re.I)],
    "pN": [(_N, re.I), (r"(?<![A-Za-z])p?N[O](?![A-Za-z0-9])", 0),
           (r"lymph\s*-?\s*nod|\bnod(?:e|es|al)\b|\bLNs?\b|sentinel|\bp?N\s*(?:category|stage)\b", re.I)],
    "M": [(_M, re.I), (r"(?<![A-Za-z])[pc]?M[O](?![A-Za-z0-9])", 0),
          (r"distant\s+metasta|\bpM\b|\bM\s*(?:category|stage)\b", re.I)],
    "ER": [(r"o?estrogen|\bER\b|\bER[+-]|\bE\.R\.", 0), (r"o?estrogen", re.I)],
    "PR": [(r"progesterone|\bPR\b|\bPR[+-]|\bPgR\b|\bP\.R\.", 0), (r"progesterone", re.I)],
    "HER2": [(r"\bher\s*-?\s*2|\bneu\b|erb\s*-?\s*b\s*-?\s*2|herceptest|c-erb", re.I)],
    "grade": [(r"\bgrade\b|differentiat|nottingham|\bG[1-4X]\b", re.I)],
}
_MENTION_RES = {f: [re.compile(p, fl) for p, fl in pats] for f, pats in MENTION_PATTERNS.items()}


def mentions(field: str, text: str) -> bool:
    """True when the mention detector finds the field named in `text` (module docstring)."""
    return any(rx.search(text) for rx in _MENTION_RES[field])


def mention_aware_gold(gold: dict, text: str, rules_result=None) -> dict:
    """Registry gold with every field that the text never mentions set to NR.

    A field is mentioned when the rule-based extractor found a candidate for it or the
    mention detector matches; unlabelled fields (None) stay None, NR stays NR.
    """
    if rules_result is None:
        from cancerllm.baselines.staging_rules import extract_staging
        rules_result = extract_staging(text)
    found = {c.field for c in rules_result.candidates}
    return {f: (NR if g is not None and g != NR and f not in found and not mentions(f, text) else g)
            for f, g in gold.items()}


def registry_gold(record: dict, fields: list[str]) -> dict:
    """Labels where the registry has a value; None (unlabelled) elsewhere and for
    ER/PR/HER2 outside breast reports."""
    out = {}
    for f in fields:
        labelled = record["label_sources"].get(f) is not None
        if f in RECEPTOR_FIELDS and record["cancer_type"] != BREAST:
            labelled = False
        out[f] = record["labels"][f] if labelled else None
    return out


def fields_for(record: dict, fields: list[str]) -> list[str]:
    """The fields scored on a report: receptors only on breast reports."""
    return [f for f in fields if f not in RECEPTOR_FIELDS or record["cancer_type"] == BREAST]
