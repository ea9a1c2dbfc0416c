"""Label schema for pathology reports: AJCC 8th edition pTNM, Nottingham grade, ASCO/CAP receptors.

Each field (one classification head) has *fine* classes and a fixed fine -> *coarse* map;
both are evaluated, the coarse set is the headline. Every field has an explicit "NR"
(not reported) class: absence is never read as a negative. Modifiers that do not change
the category (y/r prefix, (m), (sn), percentages, HER2 IHC score / ISH result) are kept as
attributes beside the label, not as classes. Full rationale: docs/staging-schema.md.
"""

from __future__ import annotations

NR = "NR"

FINE: dict[str, list[str]] = {
    "pT": ["TX", "T0", "Tis", "T1mi", "T1a", "T1b", "T1c", "T1", "T2", "T3",
           "T4a", "T4b", "T4c", "T4d", "T4", NR],
    "pN": ["NX", "N0", "N0(i+)", "N1mi", "N1a", "N1b", "N1c", "N1", "N2a", "N2b", "N2",
           "N3a", "N3b", "N3c", "N3", NR],
    "M": ["M0", "M1", NR],
    "grade": ["1", "2", "3", NR],
    "ER": ["positive", "negative", NR],
    "PR": ["positive", "negative", NR],
    "HER2": ["positive", "negative", "equivocal", NR],
}

FIELDS: list[str] = list(FINE)


def _coarse_tnm(label: str) -> str:
    if label in (NR, "TX", "T0", "Tis", "NX"):
        return label
    if label.startswith("N0"):
        return "N0"
    # T1mi, T1a..T1c, T1 -> T1; N1mi, N1a..c -> N1; T4a..d -> T4, ...
    return label[:2]


COARSE_MAP: dict[str, dict[str, str]] = {
    "pT": {f: _coarse_tnm(f) for f in FINE["pT"]},
    "pN": {f: _coarse_tnm(f) for f in FINE["pN"]},
    "M": {f: f for f in FINE["M"]},
    "grade": {f: f for f in FINE["grade"]},
    "ER": {f: f for f in FINE["ER"]},
    "PR": {f: f for f in FINE["PR"]},
    "HER2": {f: f for f in FINE["HER2"]},
}

COARSE: dict[str, list[str]] = {
    field: list(dict.fromkeys(COARSE_MAP[field][f] for f in FINE[field])) for field in FIELDS
}

# Headline = mean of per-field macro F1 over these; M is reported apart because it is
# dominated by NR and the rare M1 (see docs/staging-schema.md, section 2.4).
HEADLINE_FIELDS = ["pT", "pN", "grade", "ER", "PR", "HER2"]


def to_coarse(field: str, label: str) -> str:
    return COARSE_MAP[field][label]


def validate_labels(labels: dict[str, str]) -> None:
    for field, value in labels.items():
        if field not in FINE:
            raise ValueError(f"unknown staging field {field!r}")
        if value not in FINE[field]:
            raise ValueError(f"{field}: {value!r} is not one of {FINE[field]}")
