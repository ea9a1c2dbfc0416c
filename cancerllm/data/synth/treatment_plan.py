"""The plan section: what happens next, following from the diagnosis and the assessment.

Items are chosen by visit type and course (regimen with doses, radiation dose and
fractions, referrals, supportive care, follow-up) and written as a numbered list, a dash
list or prose, with several phrasings per item.
"""

from __future__ import annotations

import datetime as dt

from cancerllm.data.synth import phrases as P
from cancerllm.data.synth.context import Visit
from cancerllm.data.synth.note_history import oral_or_endocrine
from cancerllm.data.synth.people import date_frag
from cancerllm.data.synth.regimens import Regimen
from cancerllm.data.synth.text import Lit, fill
from cancerllm.data.synth.vocab import FOLLOW_UP, IMAGING, SUPPORTIVE


def _doses(reg: Regimen, v: Visit) -> list:
    return [Lit("; ".join(reg.agents) if v.rng.random() < .6 else ", ".join(reg.agents))]


def _start(reg: Regimen, v: Visit, what: str = "") -> list:
    rng = v.rng
    cycles = f" x {reg.cycles} cycles" if reg.cycles > 1 else ""
    t = rng.choice(["Start {w}{r}{c}: {d}, {s}.", "Recommend {w}{r} ({l}){c}.", "Plan {w}{r}{c} - {d}.",
                    "Will begin {w}{r}{c}, {s}.", "Proceed with {w}{r}{c}; {d}."])
    return fill(t, w=what, r=reg.name, l=reg.long, c=cycles, d=_doses(reg, v), s=reg.schedule)


def _interval(reg: Regimen, v: Visit) -> int:
    """Weeks to the next visit, from the regimen's schedule."""
    for key, weeks in (("14 days", 2), ("21 days", 3), ("3 weeks", 3), ("28 days", 4), ("4 weeks", 4), ("6 weeks", 6)):
        if key in reg.schedule:
            return weeks
    return v.rng.choice([4, 8, 12])


def _named(reg: Regimen, v: Visit) -> list:
    """"tamoxifen 20 mg PO daily" for a single agent named like the regimen, else "name (doses)"."""
    if len(reg.agents) == 1 and reg.agents[0].startswith(reg.name):
        return [Lit(reg.agents[0])]
    return [Lit(reg.name + " (")] + _doses(reg, v) + [Lit(")")]


def _follow_up(v: Visit, weeks: int) -> list:
    text = v.rng.choice(FOLLOW_UP).format(n=weeks)
    if weeks == 1:
        text = text.replace("weeks", "week").replace("wks", "wk")
    return [text + v.rng.choice([".", " with labs.", " with CBC/CMP."])]


def _rt(v: Visit, verb: str) -> list:
    rt = v.course.radiation
    return fill("{v} {t} RT, {g} Gy in {f} fractions ({p} Gy/fx, {x}).", v=verb, t=rt.target, g=f"{rt.dose_gy:g}",
                f=str(rt.fractions), p=rt.per_fx, x=rt.technique)


def consult_items(v: Visit) -> list[list]:
    case, c, rng = v.case, v.course, v.rng
    items: list[list] = []
    if c.watchful:
        items.append([rng.choice(["Active surveillance; no treatment indicated at this time.",
                                  "Observation with serial labs and imaging."])])
    elif c.neoadjuvant:
        items.append(_start(c.neoadjuvant, v, "neoadjuvant "))
        items.append(fill("Followed by {s}.", s=c.surgery))
    elif c.first_line:
        items.append(_start(c.first_line, v))
    elif c.surgery:
        side = [P.lat(case, rng), Lit(" ")] if case.lat and case.cancer.organ in ("breast", "lung", "kidney") else ""
        items.append(fill(rng.choice(["Refer to surgical oncology for {l}{s}.", "Proceed with {l}{s}.",
                                      "Surgery consult: {l}{s}."]), l=side, s=c.surgery))
    elif c.radiation:
        with_chemo = f" with concurrent {c.concurrent.name}" if c.concurrent else ""
        items.append(_rt(v, "Definitive" + with_chemo + ":"))
    items += workup_items(v)
    items.append(_follow_up(v, rng.choice([1, 2, 3])))
    return items


def workup_items(v: Visit) -> list[list]:
    case, c, rng = v.case, v.course, v.rng
    pool = [[f"{rng.choice(IMAGING[case.key])} for staging."], ["Chemo teaching with RN."],
            ["Port placement with IR."], ["Social work referral."]]
    if case.key in ("breast", "ovarian", "pancreatic", "prostate") or case.age < 45:
        pool.append(["Genetic counseling referral."])
    if case.her2_positive or (c.neoadjuvant and "AC" in c.neoadjuvant.name):
        pool.append(["Baseline echocardiogram prior to therapy."])
    if case.cancer.heme:
        pool += [["TLS prophylaxis: allopurinol 300 mg PO daily."], ["Hepatitis B/C serologies prior to therapy."]]
    if case.key == "head_neck":
        pool.append(["Dental evaluation prior to RT."])
    if case.age < 40:
        pool.append(["Discussed fertility preservation."])
    return rng.sample(pool, min(len(pool), rng.randint(1, 3)))


def systemic_items(v: Visit) -> list[list]:
    reg, rng, k = v.regimen, v.rng, v.cycle
    tol = v.extras["tolerance"]
    if tol == "hold":
        items = [fill(rng.choice(["Hold C{k} of {r} for neutropenia; repeat CBC in 1 week.",
                                  "Delay cycle {k} {r} by one week for low ANC."]), k=str(k), r=reg.name),
                 ["Add pegfilgrastim support with next cycle."]]
    elif tol == "reduce":
        items = [fill(rng.choice(["Proceed with C{k} {r} with 20% dose reduction for neuropathy.",
                                  "Cycle {k} {r} today, dose reduced 20% for grade 2 neuropathy."]),
                      k=str(k), r=reg.name), ["Duloxetine 30 mg PO daily for neuropathy."]]
    elif oral_or_endocrine(reg):
        items = [fill(rng.choice(["Continue {r}.", "Continue {r}; refills sent.", "No change: {r}."]), r=_named(reg, v))]
    else:
        items = [fill(rng.choice(["Proceed with C{k}D1 {r} today.", "OK to treat: cycle {k} of {r}.",
                                  "Proceed with cycle {k} {r}: {d}."]), k=str(k), r=reg.name, d=_doses(reg, v))]
    if reg.kind in ("chemo", "immuno") and not oral_or_endocrine(reg):
        items += [[s + "."] for s in rng.sample(SUPPORTIVE, rng.randint(0, 2))]
    if reg.kind == "immuno":
        items.append(["TSH and cortisol every cycle while on immunotherapy."])
    if "trastuzumab" in " ".join(reg.agents) or "T-DXd" in reg.name:
        items.append(["Echo every 3 months while on HER2-directed therapy."])
    if "letrozole" in reg.name or "anastrozole" in reg.name:
        items.append(["DEXA scan; calcium and vitamin D supplementation."])
    items.append(_follow_up(v, 1 if tol == "hold" else _interval(reg, v)))
    return items


def post_op_items(v: Visit) -> list[list]:
    c, rng = v.course, v.rng
    items: list[list] = []
    if c.adjuvant:
        what = "adjuvant " if "adjuvant" not in c.adjuvant.long else ""
        items.append(_start(c.adjuvant, v, what))
    if c.radiation:
        items.append(_rt(v, rng.choice(["Refer to radiation oncology for", "Adjuvant"])))
    if c.maintenance:
        items.append(fill(rng.choice(["Then {m}.", "Start {m} after completion of adjuvant therapy.",
                                      "Plan {m} to follow."]), m=_named(c.maintenance, v)))
    if not items:
        test = v.case.cancer.markers[0] if v.case.cancer.markers else rng.choice(IMAGING[v.case.key])
        items.append([f"Surveillance: {test} every {rng.choice([3, 6])} months."])
    items.append(_follow_up(v, rng.choice([2, 3, 4])))
    return items


def radiation_items(v: Visit) -> list[list]:
    c, rng = v.course, v.rng
    rt = c.radiation
    left = max(rt.fractions - v.cycle, 0)
    items = [fill("Continue RT to the {t}, {g} Gy in {f} fx; {n} remaining.", t=rt.target,
                  g=f"{rt.dose_gy:g}", f=str(rt.fractions), n=f"{left} fraction" + ("s" if left != 1 else ""))]
    items.append([rng.choice(["Reviewed routine skin care; Aquaphor BID.", "Skin care reviewed, avoid sun exposure.",
                              "Continue calendula cream to treatment field."])])
    if c.concurrent:
        items.append(fill("Continue concurrent {r} ({d}) with weekly CBC.", r=c.concurrent.name, d=_doses(c.concurrent, v)))
    end = v.date + dt.timedelta(days=int(left * 7 / 5) + 1)
    items.append(fill(rng.choice(["EOTV on {d}.", "Anticipated completion {d}.", "Last fraction planned {d}."]),
                      d=date_frag(end, rng)))
    return items


def surveillance_items(v: Visit) -> list[list]:
    c, rng, case = v.course, v.rng, v.case
    items = []
    if c.maintenance:
        items.append(fill(rng.choice(["Continue {m}.", "Remain on {m}.", "Continue adjuvant {m}."]),
                          m=_named(c.maintenance, v)))
    items.append([f"{rng.choice(IMAGING[case.key])} every {rng.choice([3, 6, 12])} months."])
    if case.cancer.markers:
        items.append([f"{case.cancer.markers[0]} every {rng.choice([3, 6])} months."])
    if case.key == "breast":
        items.append(["Annual diagnostic mammogram."])
    items.append(_follow_up(v, rng.choice([12, 16, 24, 26])))
    return items


def restaging_items(v: Visit) -> list[list]:
    c, rng = v.course, v.rng
    if not v.progression:
        return [fill("Continue {r}; next restaging in {n} months.", r=c.first_line.name, n=str(rng.choice([2, 3]))),
                _follow_up(v, 3)]
    items = [fill("Discontinue {r} given progression.", r=c.first_line.name)]
    if c.second_line:
        items.append(_start(c.second_line, v, "second-line "))
    items.append([rng.choice(["Clinical trial screening.", "Palliative care referral.", "Discussed goals of care."])])
    return items + [_follow_up(v, 2)]


_ITEMS = {"consult": consult_items, "post_op": post_op_items, "radiation": radiation_items,
          "surveillance": surveillance_items, "restaging": restaging_items}


def plan(v: Visit) -> tuple[list[list], str]:
    """Plan sentences and the separator that lays them out (list or prose)."""
    items = (_ITEMS.get(v.kind) or systemic_items)(v)
    style = v.rng.randrange(5)
    if style == 4:
        return items, " "
    marks = ["{i}. ", "{i}) ", "- ", "#{i} "][style]
    return [[Lit(marks.format(i=i))] + item for i, item in enumerate(items, 1)], "\n"
