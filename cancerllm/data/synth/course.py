"""A patient's treatment course, chosen from the case the way a tumour board would.

The course fixes which visits the clinic notes describe (consult, neoadjuvant therapy,
post-op, radiation, surveillance, ...) and which pathology reports exist, so each plan
follows from the diagnosis and assessment before it (HER2+ -> trastuzumab, PD-L1 high
-> pembrolizumab, lumpectomy -> whole-breast radiation, ...).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cancerllm.data.synth.case import Case, biomarker, size_for, stage_group, t_rank
from cancerllm.data.synth.regimens import RADIATION, REGIMENS, Radiation, Regimen


@dataclass
class Course:
    surgery: str | None = None
    neoadjuvant: Regimen | None = None
    adjuvant: Regimen | None = None
    concurrent: Regimen | None = None      # given with the radiation
    radiation: Radiation | None = None
    maintenance: Regimen | None = None     # endocrine, maintenance or consolidation
    first_line: Regimen | None = None      # advanced / metastatic / haematologic
    second_line: Regimen | None = None
    watchful: bool = False
    path_t: str = ""                       # pathologic T/N after surgery ("" = not operated)
    path_n: str = ""
    prefix: str = ""                       # "y" after neoadjuvant therapy
    path_size: float | None = None         # size (cm) of the resected tumour, consistent with path_t
    visits: list[str] = field(default_factory=list)


def R(name: str) -> Regimen:
    return REGIMENS[name]


def _breast(case: Case, c: Course, rng: random.Random) -> None:
    if case.metastatic:
        c.first_line = R("THP") if case.her2_positive else R("letrozole + palbociclib") if case.hr_positive else \
            R("pembrolizumab + nab-paclitaxel")
        c.second_line = R("T-DXd") if case.her2_positive else R("fulvestrant + ribociclib") if case.hr_positive else \
            R("sacituzumab govitecan")
        return
    big = t_rank(case.ct) >= 4 or case.cn not in ("N0", "N0(i+)", "N1mi")
    if not case.insitu and (case.her2_positive or not case.hr_positive) and big or t_rank(case.ct) >= 8:
        c.neoadjuvant = R("TCHP") if case.her2_positive else R("ddAC-T") if case.hr_positive else R("KEYNOTE-522")
    mastectomy = t_rank(case.ct) >= 6 or case.cn[:2] in ("N2", "N3") or rng.random() < .2
    c.surgery = ("mastectomy with axillary lymph node dissection" if mastectomy and case.cn != "N0" else
                 "total mastectomy with sentinel lymph node biopsy" if mastectomy else
                 rng.choice(["lumpectomy with sentinel lymph node biopsy", "partial mastectomy with SLNB"]))
    if case.her2_positive:
        c.adjuvant = R("trastuzumab") if c.neoadjuvant else R("TCHP")
    elif not c.neoadjuvant and not case.insitu and (case.cn != "N0" or case.grade == 3 or not case.hr_positive):
        c.adjuvant = R(rng.choice(["TC", "ddAC-T"]))
    if "mastectomy" not in c.surgery or (mastectomy and case.cn != "N0"):
        c.radiation = RADIATION["pmrt" if mastectomy else "whole_breast"]
    if case.hr_positive:
        c.maintenance = R("tamoxifen") if not case.menopausal or case.insitu else R(rng.choice(["letrozole", "anastrozole"]))


def _lung(case: Case, c: Course, rng: random.Random) -> None:
    pdl1 = int((biomarker(case, "PD-L1") or "TPS 0%").split()[1].rstrip("%"))
    if case.key == "sclc":
        if case.metastatic:
            c.first_line, c.second_line = R("carboplatin/etoposide/atezolizumab"), R("lurbinectedin")
        else:
            c.concurrent, c.radiation, c.maintenance = R("cisplatin/etoposide"), RADIATION["sclc_bid"], None
        return
    if case.metastatic:
        egfr, alk = biomarker(case, "EGFR"), biomarker(case, "ALK")
        c.first_line = (R("osimertinib") if egfr else R("alectinib") if alk else R("pembrolizumab") if pdl1 >= 50
                        else R("carboplatin/paclitaxel/pembrolizumab") if "squamous" in case.hist[0]
                        else R("carboplatin/pemetrexed/pembrolizumab"))
        c.second_line = R("sotorasib") if biomarker(case, "KRAS") else R("docetaxel/ramucirumab")
    elif case.cn[:2] in ("N2", "N3") or t_rank(case.ct) >= 8:
        c.concurrent, c.radiation = R("weekly carboplatin/paclitaxel"), RADIATION["lung_crt"]
        c.maintenance = R("osimertinib") if biomarker(case, "EGFR") else R("durvalumab")
    elif case.age >= 82 and case.cn == "N0":
        c.radiation = RADIATION["lung_sbrt"]
    else:
        c.surgery = rng.choice(["VATS lobectomy with mediastinal lymph node dissection",
                                "robotic-assisted lobectomy with lymph node dissection"])
        if case.stage not in ("IA", "IB"):
            c.adjuvant = R("osimertinib") if biomarker(case, "EGFR") else R("cisplatin/pemetrexed")


def _prostate(case: Case, c: Course, rng: random.Random) -> None:
    g = sum(case.gleason)
    if case.metastatic or case.cn == "N1":
        c.first_line, c.second_line = R("ADT + abiraterone"), R("docetaxel")
    elif g == 6 and case.ct == "T2":
        c.watchful = True
    elif g >= 8 or t_rank(case.ct) >= 6 or rng.random() < .4:
        c.radiation, c.maintenance = RADIATION["prostate"], R("ADT")
    else:
        c.surgery = "robotic-assisted radical prostatectomy with pelvic lymph node dissection"
        if case.ct in ("T3a", "T3b"):
            c.radiation = RADIATION["prostate_bed"]


def _colorectal(case: Case, c: Course, rng: random.Random) -> None:
    if case.metastatic:
        msi = "MSI-H" in (biomarker(case, "MMR") or "")
        wt = "wild-type" in (biomarker(case, "KRAS") or "")
        c.first_line = R("pembrolizumab") if msi else R("FOLFIRI + cetuximab") if wt else R("FOLFOX + bevacizumab")
        c.second_line = R("FOLFIRI + bevacizumab") if c.first_line.name != "FOLFIRI + cetuximab" else R("FOLFOX + bevacizumab")
        return
    rectal = case.subsite == "rectum"
    if rectal and (t_rank(case.ct) >= 6 or case.cn != "N0"):
        c.neoadjuvant, c.concurrent, c.radiation = R("FOLFOX"), R("capecitabine with radiation"), RADIATION["rectum"]
    c.surgery = ("low anterior resection" if rectal else "right hemicolectomy" if case.subsite in (
        "cecum", "ascending colon", "hepatic flexure") else rng.choice(["laparoscopic sigmoid colectomy", "segmental colectomy"]))
    if case.cn != "N0" or case.ct == "T4b":
        c.adjuvant = R(rng.choice(["FOLFOX", "CAPOX"]))


def _pancreatic(case: Case, c: Course, rng: random.Random) -> None:
    if case.metastatic or case.ct == "T4":
        c.first_line = R(rng.choice(["mFOLFIRINOX", "gemcitabine/nab-paclitaxel"]))
        c.second_line = R("gemcitabine/nab-paclitaxel") if c.first_line.name == "mFOLFIRINOX" else R("FOLFOX")
        return
    if case.cn != "N0" and rng.random() < .5:
        c.neoadjuvant = R("mFOLFIRINOX")
    c.surgery = ("pancreaticoduodenectomy (Whipple procedure)" if "head" in case.subsite or "uncinate" in case.subsite
                 else "distal pancreatectomy with splenectomy")
    c.adjuvant = R("mFOLFIRINOX")


def _melanoma(case: Case, c: Course, rng: random.Random) -> None:
    if case.metastatic:
        braf = "V600E" in (biomarker(case, "BRAF") or "")
        c.first_line = R("ipilimumab/nivolumab")
        c.second_line = R("dabrafenib/trametinib") if braf else R("pembrolizumab")
        return
    c.surgery = "wide local excision with sentinel lymph node biopsy"
    if case.cn != "N0" or case.ct in ("T3a", "T4b"):
        c.adjuvant = R("nivolumab")


def _lymphoma(case: Case, c: Course, rng: random.Random) -> None:
    h = case.hist[0]
    c.first_line = R("ABVD") if "Hodgkin" in h else R("BR") if ("follicular" in h or "mantle" in h) else R("R-CHOP")
    c.second_line = R("R-ICE")
    if case.stage[:2] in ("I", "IA", "IB", "II") and rng.random() < .5:
        c.radiation = RADIATION["lymphoma_isrt"]


def _leukemia(case: Case, c: Course, rng: random.Random) -> None:
    abbr = case.hist[1]
    if abbr == "AML":
        flt3 = biomarker(case, "FLT3-ITD") == "positive"
        c.first_line = R("venetoclax/azacitidine") if case.age >= 75 else R("7+3 + midostaurin") if flt3 else R("7+3")
        c.second_line = R("venetoclax/azacitidine") if case.age >= 75 else R("HiDAC")
    elif abbr == "CLL":
        if rng.random() < .35:
            c.watchful = True
        c.first_line = R(rng.choice(["acalabrutinib", "venetoclax/obinutuzumab"]))
        c.second_line = R("venetoclax/obinutuzumab") if c.first_line.name == "acalabrutinib" else R("acalabrutinib")
    elif abbr == "CML":
        c.first_line, c.second_line = R("imatinib"), R("dasatinib")
    else:
        c.first_line, c.second_line = R("hyper-CVAD"), R("hyper-CVAD")


def _gyn(case: Case, c: Course, rng: random.Random) -> None:
    key = case.key
    if key == "ovarian":
        if case.metastatic or (case.ct == "T3c" and rng.random() < .4):
            c.neoadjuvant = R("carboplatin/paclitaxel")
        c.surgery = "total abdominal hysterectomy, bilateral salpingo-oophorectomy, omentectomy and tumor debulking"
        c.adjuvant = R("carboplatin/paclitaxel")
        c.maintenance = R("olaparib") if "BRCA1 mutation" in (biomarker(case, "BRCA1/2") or "") else R("niraparib")
        return
    dmmr = "deficient" in (biomarker(case, "MMR") or "")
    if case.metastatic:
        c.first_line = R("carboplatin/paclitaxel/dostarlimab" if key == "endometrial" or dmmr else
                         "carboplatin/paclitaxel/pembrolizumab/bevacizumab")
        c.second_line = R("pembrolizumab/lenvatinib") if key == "endometrial" else R("pembrolizumab")
    elif key == "endometrial":
        c.surgery = "total laparoscopic hysterectomy, bilateral salpingo-oophorectomy and sentinel lymph node mapping"
        if case.ct != "T1a" or case.cn != "N0" or case.grade == 3:
            c.adjuvant = R("carboplatin/paclitaxel/dostarlimab") if dmmr else R("carboplatin/paclitaxel")
            c.radiation = RADIATION["pelvis"] if case.cn != "N0" else RADIATION["endometrium_vbt"]
        elif rng.random() < .5:
            c.radiation = RADIATION["endometrium_vbt"]
    elif case.ct == "T1b" and case.cn == "N0":
        c.surgery = "radical hysterectomy with pelvic lymphadenectomy"
    else:
        c.concurrent, c.radiation = R("weekly cisplatin"), RADIATION["pelvis"]


def _urologic(case: Case, c: Course, rng: random.Random) -> None:
    if case.key == "bladder":
        if case.metastatic:
            c.first_line, c.second_line = R("enfortumab vedotin/pembrolizumab"), R("gemcitabine/cisplatin")
        elif case.ct == "T1":
            c.surgery, c.maintenance = "transurethral resection of bladder tumor (TURBT)", R("BCG")
        else:
            c.neoadjuvant, c.surgery = R("gemcitabine/cisplatin"), "radical cystectomy with ileal conduit"
        return
    if case.metastatic:
        c.first_line = R(rng.choice(["ipilimumab/nivolumab", "axitinib/pembrolizumab"]))
        c.second_line = R("cabozantinib")
        return
    c.surgery = "robotic partial nephrectomy" if case.ct == "T1a" else "radical nephrectomy"
    if t_rank(case.ct) >= 6 or case.cn != "N0":
        c.adjuvant = R("adjuvant pembrolizumab")


def _head_neck(case: Case, c: Course, rng: random.Random) -> None:
    if case.key == "thyroid":
        c.surgery, c.maintenance = "total thyroidectomy with central neck dissection", R("levothyroxine")
        return
    if case.metastatic:
        c.first_line, c.second_line = R("pembrolizumab"), R("carboplatin/paclitaxel")
    elif t_rank(case.ct) <= 4 and case.cn == "N0":
        c.surgery = "transoral robotic surgery with neck dissection"
    else:
        c.concurrent, c.radiation = R(rng.choice(["cisplatin q3w", "weekly cisplatin"])), RADIATION["head_neck"]


def _gi(case: Case, c: Course, rng: random.Random) -> None:
    if case.key == "gastric":
        if case.metastatic:
            c.first_line = R("CAPOX + trastuzumab") if case.her2_positive else R("FOLFOX + nivolumab")
            c.second_line = R("ramucirumab/paclitaxel")
        else:
            c.neoadjuvant, c.adjuvant = R("FLOT"), R("FLOT")
            c.surgery = "total gastrectomy with D2 lymphadenectomy" if case.subsite in (
                "gastric body", "gastroesophageal junction", "cardia") else "subtotal gastrectomy with D2 lymphadenectomy"
        return
    if case.metastatic or t_rank(case.ct) >= 6:
        c.first_line, c.second_line = R("atezolizumab/bevacizumab"), R("lenvatinib")
    else:
        c.surgery = rng.choice(["partial hepatectomy", "laparoscopic segmentectomy"])


def _brain(case: Case, c: Course, rng: random.Random) -> None:
    c.surgery = "craniotomy with maximal safe resection"
    c.concurrent, c.radiation = R("temozolomide with RT"), RADIATION["brain"]
    c.maintenance, c.second_line = R("temozolomide"), None


_PLANNERS = {"breast": _breast, "lung": _lung, "sclc": _lung, "prostate": _prostate, "colorectal": _colorectal,
             "pancreatic": _pancreatic, "melanoma": _melanoma, "lymphoma": _lymphoma, "leukemia": _leukemia,
             "ovarian": _gyn, "endometrial": _gyn, "cervical": _gyn, "bladder": _urologic, "kidney": _urologic,
             "thyroid": _head_neck, "head_neck": _head_neck, "gastric": _gi, "liver": _gi, "brain": _brain}


def _downstage(case: Case, rng: random.Random) -> tuple[str, str]:
    """ypT/ypN after neoadjuvant therapy: a complete response or a smaller residual tumour."""
    if rng.random() < .25:
        return "T0", "N0"
    smaller = [t for t, _ in case.cancer.t if t_rank(t) <= t_rank(case.ct)] or [case.ct]
    n = "N0" if case.cn == "N0" or rng.random() < .45 else case.cn
    return rng.choice(smaller), n


def _pathologic(case: Case, c: Course, rng: random.Random) -> None:
    c.path_size = case.size_cm
    if not c.surgery or case.cancer.staging != "tnm":
        return
    _pathologic_tn(case, c, rng)
    if c.path_t == "T0":
        c.path_size = None
    elif c.path_t != case.ct:
        c.path_size = size_for(case.cancer, c.path_t, rng)


def _pathologic_tn(case: Case, c: Course, rng: random.Random) -> None:
    if c.neoadjuvant:
        c.prefix = "y"
        c.path_t, c.path_n = _downstage(case, rng)
        return
    c.path_t, c.path_n = case.ct, case.cn
    if rng.random() < .2:
        near = [t for t, _ in case.cancer.t if abs(t_rank(t) - t_rank(case.ct)) <= 2 and t != "Tis"]
        c.path_t = rng.choice(near) if near and case.ct != "Tis" else case.ct
    if case.cn == "N0" and rng.random() < .15 and case.ct != "Tis":
        c.path_n = rng.choice(["N1mi", "N1a"]) if case.key == "breast" else "N1"
    if case.ct == "Tis" and rng.random() < .5 or c.surgery.startswith("transurethral"):
        c.path_n = "NX"


def _after_neoadjuvant(case: Case, c: Course) -> None:
    """Residual disease after neoadjuvant therapy escalates adjuvant therapy (KATHERINE, CREATE-X)."""
    if case.key != "breast" or not c.neoadjuvant or c.path_t in ("T0", ""):
        return
    if case.her2_positive:
        c.adjuvant = R("T-DM1")
    elif not case.hr_positive:
        c.adjuvant = R("capecitabine")


def _after_upfront_surgery(case: Case, c: Course, rng: random.Random) -> None:
    """Adjuvant therapy read from the pathologic stage (node-positive colon -> FOLFOX/CAPOX, ...)."""
    if not c.surgery or c.neoadjuvant or case.metastatic or not c.path_t:
        return
    nodes = c.path_n not in ("N0", "NX", "N0(i+)", "N1mi")
    if case.key == "colorectal":
        c.adjuvant = R(rng.choice(["FOLFOX", "CAPOX"])) if nodes or c.path_t == "T4b" else None
    elif case.key == "melanoma":
        c.adjuvant = R("nivolumab") if nodes or t_rank(c.path_t) >= 6 else None
    elif case.key == "kidney":
        c.adjuvant = R("adjuvant pembrolizumab") if nodes or t_rank(c.path_t) >= 6 else None
    elif case.key == "lung":
        early = stage_group(case.cancer, c.path_t, c.path_n, "M0") in ("IA", "IB")
        c.adjuvant = None if early else R("osimertinib") if biomarker(case, "EGFR") else R("cisplatin/pemetrexed")
    elif case.key == "breast" and nodes and not c.adjuvant and not case.insitu:
        c.adjuvant = R(rng.choice(["TC", "ddAC-T"]))


def _visits(c: Course, rng: random.Random) -> list[str]:
    if c.watchful:
        return ["consult", "surveillance", "first_line" if c.first_line else "surveillance"]
    if c.first_line:
        last = "second_line" if c.second_line and rng.random() < .5 else "first_line"
        return ["consult", "first_line", "restaging", last]
    visits = ["consult"]
    for kind in ("neoadjuvant", "post_op", "adjuvant", "radiation", "maintenance"):
        present = c.surgery if kind == "post_op" else getattr(c, kind)
        if present:
            visits.append(kind)
    return visits + ["surveillance"]


def plan_course(case: Case, rng: random.Random) -> Course:
    c = Course()
    _PLANNERS[case.key](case, c, rng)
    _pathologic(case, c, rng)
    _after_neoadjuvant(case, c)
    _after_upfront_surgery(case, c, rng)
    c.visits = _visits(c, rng)
    return c


def visits_written(course: Course, rng: random.Random) -> list[str]:
    """The 2-4 consecutive visits this patient has notes for (most start at the consult)."""
    start = 0 if rng.random() < .7 or len(course.visits) < 3 else 1
    n = min(rng.randint(2, 4), len(course.visits) - start)
    return course.visits[start:start + n]
