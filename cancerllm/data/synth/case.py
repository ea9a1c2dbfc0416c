"""One patient's clinical truth, sampled once; notes and reports are all written from it.

Keeping the facts in one place is what makes the tasks learnable: the diagnosis a note
states is the one its history and labs describe, and the plan follows from it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cancerllm.data.synth.cancers import CANCERS, Cancer

_MIDLINE = ("upper back", "scalp", "larynx", "floor of mouth")
_T_RANK = {"Tis": 0, "T1mi": 1, "T1a": 1, "T1b": 2, "T1c": 3, "T1": 2, "T2": 4, "T2a": 4, "T2b": 5,
           "T3": 6, "T3a": 6, "T3b": 7, "T3c": 7, "T4": 8, "T4a": 8, "T4b": 8, "T4c": 9, "T4d": 9}
# Size range (cm) a T category implies, for organs whose T is mostly size.
_T_SIZE = {"Tis": (0.3, 2.5), "T1mi": (0.05, 0.1), "T1a": (0.2, 0.5), "T1b": (0.6, 1.0), "T1c": (1.1, 2.0),
           "T1": (0.5, 2.0), "T2": (2.1, 5.0), "T2a": (3.1, 4.0), "T2b": (4.1, 5.0), "T3": (5.1, 7.0),
           "T3a": (4.0, 8.0), "T3b": (4.0, 8.0), "T3c": (5.0, 10.0), "T4": (3.0, 9.0), "T4a": (3.0, 8.0),
           "T4b": (3.0, 8.0), "T4c": (4.0, 9.0), "T4d": (4.0, 10.0)}
_LUNG_SIZE = {"T1a": (0.5, 1.0), "T1b": (1.1, 2.0), "T1c": (2.1, 3.0), "T2a": (3.1, 4.0), "T2b": (4.1, 5.0),
              "T3": (5.1, 7.0), "T4": (7.1, 9.5)}
_KIDNEY_SIZE = {"T1a": (1.5, 4.0), "T1b": (4.1, 7.0), "T2a": (7.1, 10.0), "T3a": (5.0, 11.0), "T4": (8.0, 14.0)}


@dataclass
class Case:
    cancer: Cancer
    hist: tuple[str, ...]           # histology variants, [0] the full name
    sex: str
    age: int
    lat: str | None                 # left | right | bilateral
    subsite: str | None
    size_cm: float | None
    ct: str                         # clinical T ("T2"), "" when not staged by TNM
    cn: str
    m: str                          # "M0" | "M1"
    stage: str                      # stage group ("IIA", "IV", "limited", "")
    grade: int | None = None        # 1-3 (Nottingham, G, ISUP); WHO CNS grade in who_grade
    who_grade: int | None = None
    gleason: tuple[int, int] | None = None
    er: int | None = None           # percent of nuclei staining
    pr: int | None = None
    her2_ihc: str | None = None     # "0", "1+", "2+", "3+"
    her2_ish: str | None = None     # "amplified" | "not amplified" | None
    biomarkers: list[tuple[str, str]] = field(default_factory=list)
    mets: list[str] = field(default_factory=list)
    menopausal: bool = True

    @property
    def key(self) -> str:
        return self.cancer.key

    @property
    def her2_positive(self) -> bool:
        return self.her2_ihc == "3+" or self.her2_ish == "amplified"

    @property
    def hr_positive(self) -> bool:
        return (self.er or 0) >= 1 or (self.pr or 0) >= 1

    @property
    def insitu(self) -> bool:
        return self.ct == "Tis"

    @property
    def metastatic(self) -> bool:
        return self.m == "M1"


def _pick(rng: random.Random, weighted) -> str:
    values, weights = zip(*weighted)
    return rng.choices(values, weights)[0]


def t_rank(t: str) -> int:
    return _T_RANK.get(t, 4)


def size_for(cancer: Cancer, t: str, rng: random.Random) -> float:
    table = _LUNG_SIZE if cancer.organ == "lung" else _KIDNEY_SIZE if cancer.key == "kidney" else _T_SIZE
    lo, hi = table.get(t, (1.0, 6.0))
    return round(rng.uniform(lo, hi), 1) if hi >= 0.2 else round(rng.uniform(lo, hi), 2)


def stage_group(cancer: Cancer, t: str, n: str, m: str) -> str:
    """A simplified AJCC 8th anatomic stage group; exact for the common breast cases."""
    if m == "M1":
        return "IV"
    if t == "Tis":
        return "0"
    tr, nn = t_rank(t), n[:2]
    if cancer.key == "breast":
        if nn == "N3":
            return "IIIC"
        if tr >= 8:
            return "IIIB"
        if nn == "N2" or (nn == "N1" and tr >= 6):
            return "IIIA"
        if (nn == "N1" and tr >= 4) or (nn == "N0" and tr >= 6):
            return "IIB"
        if (nn == "N1" and n != "N1mi") or (nn == "N0" and tr >= 4):
            return "IIA"
        return "IB" if n == "N1mi" else "IA"
    if nn in ("N2", "N3"):
        return "IIIC" if tr >= 6 else "IIIB"
    if nn == "N1":
        return "IIIB" if tr >= 6 else "IIIA"
    if tr >= 8:
        return "IIIA"
    if tr >= 6:
        return "IIB" if tr >= 7 else "IIA"
    return "II" if tr >= 4 else ("IA" if tr <= 2 else "IB")


def _receptors(case: Case, rng: random.Random) -> None:
    if "ER" in case.cancer.receptors:
        subtype = rng.choices(["hr+her2-", "her2+", "tnbc"], [.72, .15, .13])[0]
        if subtype == "tnbc":
            case.er, case.pr = 0, 0
        elif subtype == "her2+" and rng.random() < .4:
            case.er, case.pr = 0, 0
        else:
            case.er = rng.choice([95, 90, 100, 80, 70, 60, 99, 85, 5, 40])
            case.pr = rng.choice([0, 5, 10, 20, 40, 60, 80, 90, 1])
        if case.insitu and rng.random() < .7:
            return  # HER2 is usually not done on DCIS
        if subtype == "her2+":
            case.her2_ihc, case.her2_ish = rng.choice([("3+", None), ("3+", None), ("2+", "amplified")])
        else:
            case.her2_ihc = rng.choice(["0", "1+", "1+", "2+"])
            case.her2_ish = "not amplified" if case.her2_ihc == "2+" else None
    elif "HER2" in case.cancer.receptors:
        pos = rng.random() < .2
        case.her2_ihc, case.her2_ish = (rng.choice([("3+", None), ("2+", "amplified")]) if pos else
                                        rng.choice([("0", None), ("1+", None), ("2+", "not amplified")]))


def _grade(case: Case, rng: random.Random) -> None:
    system = case.cancer.grade
    h = case.hist[0]
    if system == "two_tier":
        case.grade = (3 if "high" in h or (case.key == "bladder" and rng.random() < .9) else 1 if "low" in h or
                      case.key == "bladder" else None if "clear cell" in h else rng.choice([1, 2, 3]))
    elif system in ("nottingham", "diff", "isup") and not case.insitu:
        case.grade = rng.choices([1, 2, 3], [.2, .45, .35])[0]
    elif system == "gleason":
        case.gleason = rng.choice([(3, 3), (3, 4), (3, 4), (4, 3), (4, 4), (4, 5), (5, 4)])
    elif system == "who":
        case.who_grade = 4 if "glioblastoma" in h else 2 if "oligo" in h else rng.choice([2, 3])


def _biomarkers(case: Case, rng: random.Random) -> list[tuple[str, str]]:
    """Molecular results that steer treatment (drivers, MMR, PD-L1, ...), as (name, value)."""
    key, r = case.key, rng.random()
    if key == "lung" and "squamous" not in case.hist[0]:
        driver = ("EGFR", rng.choice(["exon 19 deletion", "L858R mutation"])) if r < .15 else (
            ("ALK", "rearrangement detected") if r < .2 else ("KRAS", "G12C mutation") if r < .33 else None)
        pdl1 = ("PD-L1", f"TPS {rng.choice([0, 0, 5, 20, 40, 50, 60, 80, 90])}%")
        return [driver, pdl1] if driver else [("EGFR/ALK/ROS1", "negative"), pdl1]
    if key == "lung":
        return [("PD-L1", f"TPS {rng.choice([0, 1, 10, 30, 50, 70, 95])}%")]
    if key == "colorectal":
        mmr = ("MMR", "deficient (MSI-H)") if r < .12 else ("MMR", "proficient (MSS)")
        ras = ("KRAS", rng.choice(["G12D mutation", "wild-type", "wild-type", "G13D mutation"]))
        return [mmr, ras]
    if key == "melanoma":
        return [("BRAF", "V600E mutation" if r < .45 else "wild-type")]
    if key == "ovarian":
        return [("BRCA1/2", "germline BRCA1 mutation" if r < .15 else "negative")]
    if key == "endometrial":
        return [("MMR", "deficient (loss of MLH1/PMS2)" if r < .28 else "proficient")]
    if key == "head_neck":
        return [("p16", "positive" if "HPV" in case.hist[0] else "negative")]
    if key == "gastric":
        return [("PD-L1", f"CPS {rng.choice([0, 1, 3, 5, 10, 20])}")]
    if key == "brain":
        return [("MGMT promoter", "methylated" if r < .45 else "unmethylated")]
    if key == "thyroid":
        return [("BRAF", "V600E mutation" if r < .6 else "wild-type")]
    if key == "leukemia" and case.hist[1] == "AML":
        return [("FLT3-ITD", "positive" if r < .3 else "negative"), ("NPM1", rng.choice(["mutated", "wild-type"]))]
    if key == "leukemia" and case.hist[1] == "CML":
        return [("BCR-ABL1", "p210 transcript detected")]
    if key == "lymphoma":
        return [("CD20", "negative" if "Hodgkin" in case.hist[0] else "positive")]
    return []


def marker_text(case: Case) -> str:
    """The molecular results as a clinician lists them ("PD-L1 TPS 80%; KRAS G12C mutation")."""
    return "; ".join(v if k.split("/")[0] in v else f"{k} {v}" for k, v in case.biomarkers)


def biomarker(case: Case, name: str) -> str | None:
    for key, value in case.biomarkers:
        if key == name:
            return value
    return None


def sample_case(rng: random.Random) -> Case:
    cancer = rng.choices(CANCERS, [c.weight for c in CANCERS])[0]
    hist = _pick(rng, cancer.histologies)
    sex = cancer.sex or rng.choice("FM")
    mean, sd = cancer.age
    age = max(19, min(97, int(rng.gauss(mean, sd))))
    if rng.random() < .03:
        age = rng.randrange(90, 99)  # ages over 89 are identifiers under HIPAA
    subsite = rng.choice(cancer.subsites) if cancer.subsites else None
    lateral = cancer.site_form in ("organ_sub", "lat_sub", "organ_lat") and subsite not in _MIDLINE
    lat = rng.choice(["left", "right"]) if lateral else None
    if lat and cancer.organ in ("breast", "ovary") and rng.random() < .04:
        lat = "bilateral"
    if subsite == "middle lobe":
        lat = "right"
    ct = cn = stage = ""
    m = "M0"
    if cancer.staging == "tnm":
        ct, cn = _pick(rng, cancer.t), _pick(rng, cancer.n)
        if hist[0] == "ductal carcinoma in situ":
            ct, cn = "Tis", "N0"
        m = "M1" if rng.random() < cancer.m1 and ct != "Tis" else "M0"
        stage = stage_group(cancer, ct, cn, m)
    elif cancer.staging == "ann_arbor":
        stage = rng.choice(["I", "II", "II", "III", "IV", "IV"]) + rng.choice(["A", "A", "B"])
        m = "M1" if stage.startswith("IV") else "M0"
    size = size_for(cancer, ct, rng) if ct else (round(rng.uniform(1.5, 6.5), 1) if not cancer.heme else None)
    case = Case(cancer, hist, sex, age, lat, subsite, size, ct, cn, m, stage,
                menopausal=age >= 52 or rng.random() < .2)
    _grade(case, rng)
    _receptors(case, rng)
    if case.metastatic and cancer.staging == "tnm":
        k = rng.choice([1, 1, 2])
        case.mets = rng.sample(list(cancer.met_sites), min(k, len(cancer.met_sites)))
    case.biomarkers = _biomarkers(case, rng)
    return case
