"""Robustness tests. `clinical_sentences` makes the large, varied, seeded sample of
note-like sentences the misspelling and normaliser tests measure rates on."""

from __future__ import annotations

import random

_TEMPLATES = [
    "Pt is a {age} yo {sex} with {hist} carcinoma of the {side} {site}, diagnosed in {year}.",
    "Pathology showed {grade} {hist} carcinoma measuring {size} cm with {nodes} of {total} lymph nodes positive.",
    "ER {pct}% positive, PR {status}, HER2 {her2} by IHC; Ki-67 {ki}%.",
    "She completed {cycles} cycles of {drug} and {drug2} and tolerated treatment well without neutropenia.",
    "Reason for visit: follow-up after {proc} of the {side} {site} on {date}.",
    "CT chest/abdomen/pelvis on {date} showed no evidence of metastatic disease; CEA {cea} ng/mL.",
    "Plan: continue {drug} {dose} mg daily, repeat imaging in {months} months, "
    "return to clinic for toxicity assessment.",
    "The patient reports mild fatigue, intermittent nausea and peripheral neuropathy, "
    "denies fever or shortness of breath.",
    "Assessment: stage {stage} {hist} carcinoma, status post {proc}, currently receiving adjuvant {drug}.",
    "Discussed the risks and benefits of radiation therapy to the {side} {site}, {gy} Gy in {fx} fractions.",
    "Labs: WBC {wbc}, hemoglobin {hgb}, platelets {plt}, creatinine {cr}, bilirubin within normal limits.",
    "Surgical margins were negative, the closest margin {margin} mm, with lymphovascular invasion {lvi}.",
    "Recommend genetic counseling and testing given family history of breast and ovarian cancer.",
    "Physical examination revealed a palpable {size} cm mass in the {side} {site} without axillary lymphadenopathy.",
    "PSA {psa} ng/mL, Gleason score {g1}+{g2}={gs}, prostate biopsy with perineural invasion.",
]
_FILL = {
    "sex": ["female", "male", "woman", "man"],
    "hist": ["invasive ductal", "invasive lobular", "squamous cell", "mucinous", "papillary", "medullary",
             "urothelial", "hepatocellular", "renal cell", "small cell", "poorly differentiated"],
    "side": ["left", "right", "bilateral"],
    "site": ["breast", "lung", "kidney", "ovary", "colon", "upper outer quadrant", "axilla", "prostate"],
    "grade": ["well differentiated", "moderately differentiated", "poorly differentiated", "high grade", "low grade"],
    "status": ["negative", "positive", "weakly positive"],
    "her2": ["negative (1+)", "equivocal (2+)", "positive (3+)"],
    "drug": ["letrozole", "anastrozole", "tamoxifen", "trastuzumab", "pertuzumab", "paclitaxel", "docetaxel",
             "carboplatin", "cisplatin", "pembrolizumab", "nivolumab", "capecitabine", "oxaliplatin"],
    "proc": ["lumpectomy", "mastectomy", "sentinel lymph node biopsy", "lobectomy", "nephrectomy",
             "colectomy", "prostatectomy", "hysterectomy"],
    "stage": ["IA", "IIB", "IIIA", "IV", "pT2N1M0"],
}


def _value(key: str, rng: random.Random) -> str:
    if key in _FILL:
        return rng.choice(_FILL[key])
    if key == "drug2":
        return rng.choice(_FILL["drug"])
    if key == "date":
        return f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/20{rng.randint(10, 24)}"
    if key in {"size", "cea", "psa", "cr", "hgb"}:
        return f"{rng.uniform(0.2, 9.9):.1f}"
    return str(rng.randint(1, 99))


def clinical_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` note-like sentences (numbers, abbreviations, headers, drug names), seeded."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        template = rng.choice(_TEMPLATES)
        out.append(template.format_map(_Lazy(rng)))
    return out


class _Lazy(dict):
    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        return _value(key, self.rng)
