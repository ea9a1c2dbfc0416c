"""Laboratory results in the layouts and unit systems real notes mix (US and SI units).

Values follow the visit: counts dip on chemotherapy, tumour markers are high at
diagnosis or progression and fall with response, which gives the diagnosis and
assessment something to be inferred from.
"""

from __future__ import annotations

import random

from cancerllm.data.synth.case import Case
from cancerllm.data.synth.text import Lit

# name: (abbreviation, normal low, normal high, unit variants as (unit, factor))
CBC = {
    "WBC": ("WBC", 4.0, 10.5, [("K/uL", 1), ("x10^9/L", 1), ("x10(9)/L", 1), ("", 1)]),
    "Hemoglobin": ("Hgb", 12.0, 15.5, [("g/dL", 1), ("g/L", 10), ("", 1)]),
    "Platelets": ("Plt", 150, 400, [("K/uL", 1), ("x10^9/L", 1), ("", 1)]),
    "ANC": ("ANC", 1.8, 7.0, [("K/uL", 1), ("x10^9/L", 1), ("", 1)]),
}
CMP = {
    "Sodium": ("Na", 136, 145, [("mmol/L", 1), ("mEq/L", 1)]),
    "Potassium": ("K", 3.5, 5.1, [("mmol/L", 1), ("mEq/L", 1)]),
    "Creatinine": ("Cr", 0.6, 1.1, [("mg/dL", 1), ("umol/L", 88.4)]),
    "BUN": ("BUN", 7, 20, [("mg/dL", 1)]),
    "Glucose": ("Glu", 70, 110, [("mg/dL", 1), ("mmol/L", 0.0555)]),
    "AST": ("AST", 10, 40, [("U/L", 1), ("IU/L", 1)]),
    "ALT": ("ALT", 7, 45, [("U/L", 1), ("IU/L", 1)]),
    "Alkaline phosphatase": ("Alk phos", 40, 130, [("U/L", 1)]),
    "Total bilirubin": ("T bili", 0.2, 1.2, [("mg/dL", 1), ("umol/L", 17.1)]),
    "Albumin": ("Alb", 3.5, 5.0, [("g/dL", 1), ("g/L", 10)]),
    "Calcium": ("Ca", 8.6, 10.3, [("mg/dL", 1), ("mmol/L", 0.25)]),
}
# marker: (normal high, unit variants)
MARKERS = {
    "CEA": (3.0, ["ng/mL", "ug/L"]), "CA-125": (35, ["U/mL", "kU/L"]), "PSA": (4.0, ["ng/mL"]),
    "CA 19-9": (37, ["U/mL"]), "AFP": (10, ["ng/mL", "IU/mL"]), "CA 15-3": (30, ["U/mL"]),
    "CA 27-29": (38, ["U/mL"]), "LDH": (250, ["U/L", "IU/L"]), "beta-2 microglobulin": (2.4, ["mg/L"]),
    "thyroglobulin": (1.0, ["ng/mL"]), "TSH": (4.5, ["mIU/L", "uIU/mL"]), "NSE": (16, ["ng/mL"]),
    "SCC antigen": (1.5, ["ng/mL"]), "uric acid": (7.0, ["mg/dL"]),
}
_PRIMARY_MARKERS = {"PSA", "CA-125", "AFP", "CA 19-9", "LDH"}   # often high at diagnosis even without metastases
ON_CHEMO = {"neoadjuvant", "adjuvant", "first_line", "second_line", "restaging"}


def _fmt(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def _cbc_value(name: str, lo: float, hi: float, case: Case, visit: str, rng: random.Random) -> float:
    x = rng.uniform(lo, hi)
    if visit in ON_CHEMO and name in ("WBC", "ANC", "Hemoglobin"):
        x *= rng.uniform(.55, .95)
    if case.key == "leukemia" and visit in ("consult", "first_line") and name == "WBC":
        x = rng.uniform(12, 90) if case.hist[1] != "AML" or rng.random() < .6 else rng.uniform(0.8, 3)
    return x


def _one(name: str, spec, case: Case, visit: str, rng: random.Random, style: int) -> str:
    abbr, lo, hi, units = spec
    unit, factor = rng.choice(units)
    value = _fmt(_cbc_value(name, lo, hi, case, visit, rng) * factor)
    label = name if style == 2 else abbr
    return f"{label}{':' if style == 2 else ''} {value}{' ' + unit if unit and style != 0 else ''}"


def panel(table: dict, case: Case, visit: str, rng: random.Random) -> list[str]:
    style = rng.randrange(3)  # 0: bare values, 1: with units, 2: one per line with units
    names = [n for n in table if rng.random() < .8] or list(table)[:2]
    return [_one(n, table[n], case, visit, rng, style) for n in names]


def marker_level(case: Case, visit: str, name: str, rng: random.Random) -> tuple[float, float]:
    """(current, previous) marker values: high when disease is active, falling with response."""
    normal = MARKERS[name][0]
    active = case.metastatic or visit in ("consult", "neoadjuvant", "first_line")
    p_high = .9 if case.metastatic else .7 if name in _PRIMARY_MARKERS else .15
    now = normal * (rng.uniform(1.5, 20) if active and rng.random() < p_high else rng.uniform(.2, .9))
    prev = now * (rng.uniform(1.2, 3) if visit in ("restaging", "first_line", "post_op", "surveillance") else
                  rng.uniform(.4, .9))
    return now, prev


def marker_sentences(case: Case, visit: str, rng: random.Random) -> list[list]:
    out = []
    for name in case.cancer.markers[:2]:
        if rng.random() < .25:
            continue
        unit = rng.choice(MARKERS[name][1])
        now, prev = marker_level(case, visit, name, rng)
        style = rng.randrange(3)
        if style == 0:
            out.append([Lit(f"{name} {_fmt(now)} {unit}")])
        elif style == 1:
            out.append([Lit(f"{name} {_fmt(now)} {unit}"), " (previously ", Lit(_fmt(prev)), ")"])
        else:
            trend = "down from" if now < prev else "up from"
            out.append([Lit(f"{name}: {_fmt(now)}"), f" {trend} ", Lit(f"{_fmt(prev)} {unit}")])
    return out


def lab_lines(case: Case, visit: str, rng: random.Random) -> tuple[list[list], str]:
    """The lines of a laboratory section and the separator to join them with."""
    if rng.random() < .05:
        return [[rng.choice(["No labs today.", "Labs pending at time of visit.", "None drawn today."])]], " "
    cbc = panel(CBC, case, visit, rng)
    cmp_ = panel(CMP, case, visit, rng) if rng.random() < .75 else []
    one_per_line = ":" in cbc[0] and rng.random() < .7
    if one_per_line:
        lines = [[Lit(x)] for x in cbc + cmp_]
        sep = "\n"
    else:
        lines = [[Lit("CBC: " if rng.random() < .5 else ""), Lit(", ".join(cbc))]]
        if cmp_:
            lines.append([Lit(rng.choice(["CMP: ", "BMP/LFTs: ", "Chem: ", ""])), Lit(", ".join(cmp_))])
        sep = rng.choice(["\n", "; ", ". "])
    lines += marker_sentences(case, visit, rng)
    if case.key == "leukemia" and visit in ("consult", "first_line"):
        lines.append([Lit(f"Peripheral blasts {rng.randrange(5, 80)}%")])
    return lines, sep
