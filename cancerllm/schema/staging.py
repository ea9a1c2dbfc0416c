"""Label schema for pathology reports: AJCC 8th edition pTNM, Nottingham grade, ASCO/CAP receptors.

Each field (one classification head) has *fine* classes and a fixed fine -> *coarse* map;
both are evaluated, the coarse set is the headline. Every field has an explicit "NR"
(not reported) class: absence is never read as a negative. Modifiers that do not change
the category (y/r prefix, (m), (sn), percentages, HER2 IHC score / ISH result) are kept as
attributes beside the label, not as classes (ATTRIBUTES lists them). Full rationale:
docs/staging-schema.md; the package's own page is docs/staging.md.

Labelling policies (the rule-based baseline and the TCGA loader apply them; any other
producer of labels should, so scores compare): "MX" and "pM0" are not AJCC categories
and map to NR; sub-stages without a class collapse to their parent (T2a -> T2, N2c ->
N2); a range ("pT1-2", "grade 2-3") takes the higher class; grade 4 / undifferentiated
maps to "3" (there is no 4 in the three-tier Nottingham scale); HER2 IHC 2+ with ISH not
amplified is negative, with ISH pending or not done equivocal.
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


# Kefeli et al.'s T14 task (and the TCGA loader's coarse T): only these four classes.
KEFELI_T_CLASSES = ["T1", "T2", "T3", "T4"]

# The attributes kept beside the labels (flags, not classes), per field. Producers may add
# others; these names are the ones the rule-based baseline and the synthetic generator share.
ATTRIBUTES: dict[str, dict[str, str]] = {
    "pT": {"prefix": "classification prefix: p (default), y (post-neoadjuvant), r, a, c",
           "multiplicity": "'m' when multiple invasive foci ((m), (n), (2) or several T values)",
           "substage": "sub-stage text the schema has no class for (T2a -> 'a', T1b1 -> 'b1')",
           "range": "the range text when a range was resolved to the higher class",
           "spelling": "'T1mic' when the older-edition spelling was used"},
    "pN": {"prefix": "as for pT", "sentinel": "'sn' (sentinel) or 'f' (FNA / core only)",
           "nodes_positive": "positive nodes (int)", "nodes_examined": "nodes examined (int)",
           "itc": "'i-', 'mol+' or 'mol-' modifier kept on N0"},
    "M": {"invalid_category": "'MX' or 'pM0': not AJCC categories, label NR",
          "not_applicable": "the report says pM is not applicable / cannot be determined"},
    "grade": {"inferred": "read from words (well/moderately/poorly differentiated, low/high grade) "
                          "or summed components, not a stated grade",
              "total_score": "Nottingham total (3-9)", "components": "[tubules, pleomorphism, mitoses]",
              "not_assessable": "the report says grade cannot be assessed (label NR)",
              "collapsed_g4": "grade 4 / undifferentiated mapped to 3"},
    "ER": {"percent": "percent of nuclei staining", "low_positive": "1-10 % (ER Low Positive)",
           "allred": "Allred score 0-8", "h_score": "H-score 0-300", "intensity": "weak / moderate / strong",
           "pending": "result pending / not performed (label NR)", "conflict": "words disagree with the percent",
           "from_prior_specimen": "result reported from an earlier specimen"},
    "PR": {"percent": "as for ER", "allred": "as for ER", "pending": "as for ER",
           "from_prior_specimen": "as for ER"},
    "HER2": {"ihc": "IHC score '0', '1+', '2+', '3+'",
             "ish": "amplified / not_amplified / equivocal (legacy) / pending / not_performed",
             "ratio": "HER2/CEP17 ratio", "copy_number": "mean HER2 copies per cell",
             "her2_low": "IHC 1+, or 2+ with ISH not amplified", "status": "status word as written"},
}


def to_coarse_labels(labels: dict[str, str]) -> dict[str, str]:
    """Coarse classes of a {field: fine label} dict (fields outside the schema are dropped)."""
    return {f: to_coarse(f, v) for f, v in labels.items() if f in COARSE_MAP}
