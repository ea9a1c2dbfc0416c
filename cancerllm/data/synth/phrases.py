"""Facts of a case written as tagged fragments, each in many surface forms.

Annotation convention (the phenotype gold follows it everywhere):
- tumor_site: where the tumour is, as a location ("upper outer quadrant", "breast" in
  "mass in the left breast", "sigmoid colon", "RUL"); an organ inside a disease name
  ("breast cancer", "lung adenocarcinoma") is not a site.
- tumor_laterality: "left", "right", "bilateral" (and "L"/"R"/"lt"/"rt") of the tumour.
- hormone_receptor_type / _status: ER, PR, HER2 (and spelt-out forms) / positive,
  negative, equivocal, low positive, "+", "-". PD-L1, EGFR and other markers are not
  hormone receptors and are left untagged.
- cancer_stage: a stage group ("stage IIA", "extensive-stage") or a TNM category; a glued
  string ("pT2N1aM0") is one span, spaced categories are one span each.
- cancer_grade: an explicit grade ("grade 2", "G3", "Nottingham grade 2", "poorly
  differentiated", "Gleason 4+3=7", "WHO grade 4").
Left untagged on purpose (hard negatives): sides of operations ("right hemicolectomy",
"bilateral salpingo-oophorectomy"), margin distances and specimen dimensions, toxicity
grades ("grade 1 neuropathy"), gene names inside measurements ("HER2/CEP17 ratio"),
and statuses of non-hormone markers ("CD20 positive", "p16 positive").
"""

from __future__ import annotations

import random

from cancerllm.data.synth.case import Case
from cancerllm.data.synth.text import Ent, Lit, fill

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
DIFF = {1: "well differentiated", 2: "moderately differentiated", 3: "poorly differentiated"}
_PLURAL = {"breast": "breasts", "ovary": "ovaries", "kidney": "kidneys"}
_LOBE_ABBR = {"upper lobe": "UL", "lower lobe": "LL", "middle lobe": "ML"}


def name(case: Case, rng: random.Random) -> str:
    """A disease name that fits the case ("rectal cancer" only for a rectal primary)."""
    names = case.cancer.names
    if case.key == "colorectal":
        rectal = case.subsite == "rectum"
        names = tuple(n for n in names if ("rect" in n) == rectal or n in ("CRC", "colorectal cancer"))
    return rng.choice(names)


def lat(case: Case, rng: random.Random, short: bool = False) -> Ent:
    value = case.lat or "left"
    if short and value != "bilateral":
        value = rng.choice([value[0].upper(), value[0].upper(), "lt" if value == "left" else "rt"])
    return Ent("tumor_laterality", value)


def site(case: Case, rng: random.Random, organ_only: bool = False) -> list:
    """Where the tumour is, with laterality when the organ has sides."""
    c, sub = case.cancer, case.subsite
    L = lambda: lat(case, rng)  # noqa: E731
    S = lambda text: Ent("tumor_site", text)  # noqa: E731
    if c.site_form == "organ_lat" or (c.site_form == "organ_sub" and (organ_only or not sub or case.lat == "bilateral")):
        organ = _PLURAL.get(c.organ, c.organ) if case.lat == "bilateral" else c.organ
        return [L(), Lit(" "), S(organ)]
    if c.site_form == "organ_sub":
        form = rng.randrange(4 if "o'clock" in sub or ":00" in sub else 3)
        if form == 0:
            return fill("{s} of the {l} {o}", s=S(sub), l=L(), o=S(c.organ))
        if form == 1:
            return fill("{l} {o}, {s}", s=S(sub), l=L(), o=S(c.organ))
        if form == 2:
            return [L(), Lit(" "), S(c.organ)]
        return fill("{l} {o} at {s}", s=S(sub.replace(" position", "")), l=L(), o=S(c.organ))
    if c.site_form == "lat_sub" and case.lat:
        if c.organ == "lung" and rng.random() < .3:
            return [S(case.lat[0].upper() + _LOBE_ABBR.get(sub, "UL"))]
        if c.organ == "lung" and rng.random() < .3:
            return fill("{s} of the {l} lung", s=S(sub), l=L())
        return [L(), Lit(" "), S(sub)]
    return [S(sub or c.organ)]


def hist(case: Case, rng: random.Random, full: bool = False, lower: bool = False) -> Ent:
    variants = case.hist
    text = variants[0] if full or len(variants) == 1 or rng.random() < .5 else rng.choice(variants[1:])
    if lower and text.isupper() and rng.random() < .5:
        text = text.lower()  # "idc", "nsclc" as typed in quick notes
    return Ent("histological_type", text)


def size(cm: float, rng: random.Random, dims: bool = False) -> Ent:
    style = rng.randrange(5)
    if cm < 0.2 or style == 0:
        text = f"{round(cm * 10, 1):g} mm".replace(" mm", rng.choice([" mm", "mm"]))
    elif dims and style == 1:
        text = f"{cm:.1f} x {max(0.1, cm * rng.uniform(.5, .9)):.1f} cm"
    elif dims and style == 2:
        text = f"{cm:.1f} x {cm * rng.uniform(.5, .9):.1f} x {cm * rng.uniform(.3, .8):.1f} cm"
    else:
        text = f"{cm:.1f}" + rng.choice([" cm", " cm", "cm"])
    return Ent("tumor_size", text)


def grade(case: Case, rng: random.Random) -> list:
    """The grade as a tagged span, or [] when this cancer has none."""
    G = lambda text: [Ent("cancer_grade", text)]  # noqa: E731
    if case.gleason:
        p, s = case.gleason
        gg = {6: 1, 7: 2 if p == 3 else 3, 8: 4}.get(p + s, 5)
        return G(rng.choice([f"Gleason {p}+{s}={p + s}", f"Gleason score {p + s} ({p}+{s})",
                             f"Gleason {p + s}", f"Grade Group {gg}", f"GG{gg}"]))
    if case.who_grade:
        return G(rng.choice([f"WHO grade {case.who_grade}", f"CNS WHO grade {case.who_grade}",
                             f"grade {ROMAN[case.who_grade]}"]))
    g = case.grade
    if not g:
        return []
    if case.cancer.grade == "two_tier":
        return G({1: rng.choice(["low grade", "low-grade"]), 2: "grade 2",
                  3: rng.choice(["high grade", "high-grade"])}[g])
    if case.cancer.grade == "isup":
        return G(rng.choice([f"ISUP grade {g}", f"WHO/ISUP grade {g}", f"Fuhrman grade {g}", f"grade {g}"]))
    forms = [f"grade {g}", f"grade {ROMAN[g]}", f"G{g}", f"grade {g}/3", f"grade {g} of 3"]
    if case.cancer.grade == "nottingham":
        forms += [f"Nottingham grade {g}", f"Nottingham grade {ROMAN[g]}", f"grade {WORDS[g]}"]
    else:
        forms += [DIFF[g], DIFF[g].replace(" ", "-"), DIFF[g]]
    return G(rng.choice(forms))


def stage_group(case: Case, rng: random.Random) -> list:
    if case.key == "sclc":
        text = "extensive-stage" if case.metastatic else "limited-stage"
        return [Ent("cancer_stage", text if rng.random() < .5 else text.replace("-", " "))]
    if not case.stage:
        return []
    st = case.stage
    if rng.random() < .15 and st[:-1] in ROMAN.values() and st[-1] in "ABC":
        st = str({v: k for k, v in ROMAN.items()}[st[:-1]]) + st[-1]  # "stage 2A"
    return [Ent("cancer_stage", rng.choice(["stage ", "stage ", "Stage ", "clinical stage "]) + st)]


def tnm(t: str, n: str, m: str, prefix: str, rng: random.Random, glued: bool | None = None) -> list:
    """"cT2N0M0" (one span) or "cT2 cN0 M0" (three spans); empty parts are left out."""
    parts = [prefix + x for x in (t, n) if x] + ([m] if m else [])
    if glued is None:
        glued = rng.random() < .5
    if glued:
        return [Ent("cancer_stage", prefix + t + n + m)]
    out: list = []
    for i, p in enumerate(parts):
        if i:
            out.append(Lit(" "))
        out.append(Ent("cancer_stage", p))
    return out


def clinical_stage(case: Case, rng: random.Random) -> list:
    """Stage as a clinician writes it: group, TNM, or both."""
    if case.cancer.staging != "tnm" or case.key == "sclc":
        return stage_group(case, rng)
    style = rng.randrange(4)
    m = case.m if rng.random() < .6 or case.metastatic else ""
    if style == 0:
        return stage_group(case, rng)
    if style == 1:
        return tnm(case.ct, case.cn, m, rng.choice(["c", ""]), rng)
    if style == 2:
        return stage_group(case, rng) + [Lit(" (")] + tnm(case.ct, case.cn, m, "c", rng) + [Lit(")")]
    return tnm(case.ct, case.cn, m, "c", rng, glued=True) + [Lit(", ")] + stage_group(case, rng)


POS = ["positive", "positive", "+", "pos"]
NEG = ["negative", "negative", "-", "neg"]


def _status(value: bool | None, rng: random.Random, symbols: bool) -> Ent:
    if value is None:
        return Ent("hormone_receptor_status", "equivocal")
    if symbols:
        return Ent("hormone_receptor_status", "+" if value else "-")
    return Ent("hormone_receptor_status", rng.choice(POS[:2] if value else NEG[:2]))


def _rtype(name: str, rng: random.Random) -> Ent:
    long = {"ER": ["ER", "ER", "ER", "estrogen receptor", "ER"], "PR": ["PR", "PR", "PgR", "progesterone receptor"],
            "HER2": ["HER2", "HER2", "HER-2", "HER2/neu", "her2"]}[name]
    return Ent("hormone_receptor_type", rng.choice(long))


def her2_value(case: Case) -> bool | None:
    if case.her2_ihc is None:
        return None
    if case.her2_ihc == "2+" and case.her2_ish is None:
        return None
    return case.her2_positive


def receptors(case: Case, rng: random.Random) -> list:
    """ER/PR/HER2 status in one of several clinical shorthands ("ER+/PR+/HER2-", ...)."""
    has_er = case.er is not None
    has_her2 = case.her2_ihc is not None
    er, pr, her2 = (case.er or 0) >= 1, (case.pr or 0) >= 1, her2_value(case)
    style = rng.randrange(6) if has_er else 6
    T, St = lambda n: _rtype(n, rng), lambda v, sym=False: _status(v, rng, sym)  # noqa: E731
    low = rng.random() < .2   # "er/pr+, her2-" as typed in quick notes
    E = lambda text: Ent("hormone_receptor_type", text.lower() if low else text)  # noqa: E731
    if style == 0:  # ER+/PR+/HER2-
        out = [E("ER"), St(er, True), Lit("/"), E("PR"), St(pr, True)]
        if has_her2 and her2 is not None:
            out += [Lit("/"), E("HER2"), St(her2, True)]
        return out
    if style == 5 and er == pr and her2 is not None and her2 != er:  # positive for ER and PR, negative for HER2
        return [St(er), Lit(" for "), T("ER"), Lit(" and "), T("PR"), Lit(", "), St(her2), Lit(" for "), T("HER2")]
    if style == 1 and er == pr and er and her2 is not None and rng.random() < .5:  # er/pr+, her2-
        return [E("ER"), Lit("/"), E("PR"), St(er, True), Lit(", "), E("HER2"), St(her2, True)]
    if style == 1 and er == pr:  # ER/PR positive, HER2 negative
        out = [E("ER"), Lit("/"), E("PR"), Lit(" "), St(er)]
    elif style == 2 and er == pr:  # ER and PR positive
        out = [T("ER"), Lit(" and "), T("PR"), Lit(" "), St(er)]
    elif style == 3:  # ER positive (95%), PR positive (40%)
        out = [T("ER"), Lit(" "), St(er), Lit(f" ({case.er}%)"), Lit(", "), T("PR"), Lit(" "), St(pr), Lit(f" ({case.pr}%)")]
    else:
        out = [T("ER"), Lit(" "), St(er), Lit(", "), T("PR"), Lit(" "), St(pr)] if has_er else []
    if has_her2:
        out += _her2(case, her2, rng, bool(out))
    return out


def _her2(case: Case, her2: bool | None, rng: random.Random, after: bool) -> list:
    out = [Lit(rng.choice([", ", "; "]))] if after else []
    t = _rtype("HER2", rng)
    ish = f", {rng.choice(['FISH', 'ISH'])} {case.her2_ish}" if case.her2_ish else ""
    style = rng.randrange(3)
    if style == 0:
        return out + [t, Lit(" "), _status(her2, rng, False), Lit(f" (IHC {case.her2_ihc}{ish})")]
    if style == 1:
        return out + [t, Lit(f" {case.her2_ihc}"), Lit(" ("), _status(her2, rng, False), Lit(")")] + \
            ([Lit(ish.replace(", ", "; "))] if ish else [])
    return out + [t, Lit(" "), _status(her2, rng, False)]
