"""Pathology reports with gold staging labels (pT, pN, M, grade, ER, PR, HER2).

A report first decides what it states (and how: synoptic or narrative, words, OCR noise,
a pending result completed by an addendum, an amended value); the gold label is then the
final stated value, "NR" when the report does not state the field. Nothing is inferred
from absence. Solid tumours get a diagnostic biopsy and/or the resection; haematologic
cancers get a lymph node or bone marrow report with every staging field NR.
"""

from __future__ import annotations

import datetime as dt
import random

from cancerllm.data.synth import path_values as V
from cancerllm.data.synth import phrases as P
from cancerllm.data.synth.case import Case
from cancerllm.data.synth.course import Course
from cancerllm.data.synth.path_sections import Report, write_body
from cancerllm.data.synth.people import Person, age_frags, date_frag, doctor_frag, name_frag
from cancerllm.data.synth.text import Doc, Phi, fill
from cancerllm.schema.staging import FIELDS, NR, validate_labels


def _plan_values(r: Report) -> None:
    """Decide which values this report states, and so its gold labels."""
    case, course, rng = r.case, r.course, r.rng
    if r.kind == "resection" and course.path_t:
        if rng.random() < .96:
            r.t, r.n = course.path_t, course.path_n
            r.prefix = course.prefix
            r.mods = {"m": case.key == "breast" and rng.random() < .12 and course.path_t not in ("T0", "Tis"),
                      "sn": "sentinel" in course.surgery or "SLNB" in course.surgery}
            r.m_text, r.labels["M"] = rng.choices([("", NR), ("cM0", "M0"), ("MX", NR), ("pM0", NR), ("M0", "M0")],
                                                  [.7, .14, .07, .03, .06])[0]
    if r.kind == "metastasis" and rng.random() < .6:
        r.m_text, r.labels["M"] = rng.choice(["pM1", "pM1", "cM1"]), "M1"
    pcr = r.kind == "resection" and course.path_t == "T0"
    grade = case.who_grade or case.grade
    if grade and case.cancer.grade != "gleason" and not pcr and r.kind != "metastasis":
        r.grade = grade if rng.random() < .93 else None
    receptors_here = r.kind == "biopsy" or (r.kind == "resection" and not pcr and (course.prefix or rng.random() < .35))
    if receptors_here and case.er is not None:
        r.er, r.pr = case.er, case.pr
    if receptors_here and case.her2_ihc is not None:
        r.her2 = (case.her2_ihc, case.her2_ish)
    _plan_amendment(r)


def _plan_amendment(r: Report) -> None:
    rng = r.rng
    options = []
    if r.her2 and r.her2[0] == "2+":
        options += ["her2", "her2"]
    if r.er is not None:
        options.append("er_pr")
    if r.n == "N1mi":
        options.append("pN")
    if r.grade and r.case.cancer.grade in ("nottingham", "diff", "isup"):
        options.append("grade")
    if options and rng.random() < .3:
        r.amend = rng.choice(options)
    elif r.her2 and r.her2[0] == "2+" and rng.random() < .1:
        r.her2 = ("2+", None)  # FISH still pending at sign-out: equivocal


def _labels(r: Report) -> None:
    for fld, stated in (("pT", r.t), ("pN", r.n)):
        if stated:
            r.labels[fld] = V.fine_label(fld, stated)
            r.attr(fld, prefix=r.prefix or "p", stated=r.prefix + "p" + stated)
            if r.labels[fld] != stated:
                r.attr(fld, substage=stated[len(r.labels[fld]):])
    if r.mods.get("m") and r.t:
        r.attr("pT", multiplicity="m")
    if r.mods.get("sn") and r.n and r.n != "NX":
        r.attr("pN", sentinel="sn")
    if r.m_text in ("MX", "pM0"):
        r.attr("M", invalid_category=r.m_text)
    elif r.m_text:
        r.attr("M", stated=r.m_text)
    if r.grade:
        r.labels["grade"] = str(min(r.grade, 3))
    if r.er is not None:
        r.labels["ER"] = "positive" if r.er >= 1 else "negative"
        r.labels["PR"] = "positive" if r.pr >= 1 else "negative"
    if r.her2:
        ihc, ish = r.her2
        r.labels["HER2"] = ("positive" if ihc == "3+" or ish == "amplified" else "negative" if ihc in ("0", "1+") or ish
                            else "equivocal")


def _header(r: Report, person: Person, date: dt.date, accession: str) -> None:
    doc, rng = r.doc, r.rng
    doc.write(rng.choice(["SURGICAL PATHOLOGY REPORT", "Surgical Pathology", "PATHOLOGY REPORT"]) + "\n")
    doc.add(fill("Patient: {n}   MRN: {m}", n=name_frag(person, rng, False), m=Phi("MRN", person.mrn)), sep="", pheno=False)
    doc.add(fill(rng.choice(["DOB: {b}   Age/Sex: {a}/{s}", "DOB {b} ({a}{s})"]), b=date_frag(person.dob, rng),
                 a=Phi("AGE", str(r.age)), s=person.sex), sep="\n", pheno=False)
    doc.add(fill("Accession #: {x}   Collected: {c}   Received: {d}", x=Phi("MRN", accession),
                 c=date_frag(date, rng), d=date_frag(date + dt.timedelta(days=rng.randrange(0, 2)), rng)),
            sep="\n", pheno=False)
    doc.add(fill(rng.choice(["Ordering physician: {d}", "Submitting provider: {d}"]), d=doctor_frag(rng)),
            sep="\n", pheno=False)
    doc.write("\n\n")


def _clinical_history(r: Report) -> None:
    rng, case = r.rng, r.case
    r.doc.write(rng.choice(["CLINICAL HISTORY:\n", "Clinical History: ", "CLINICAL INFORMATION:\n"]))
    what = P.name(case, rng)
    extra = " s/p neoadjuvant therapy" if r.prefix else ""
    r.doc.add(fill("{a} {s} with {w}{e}.", a=age_frags(r.age, rng), s="woman" if case.sex == "F" else "man", w=what,
                   e=extra), sep="", pheno=False)
    r.doc.write("\n\n")


def _difficulties(r: Report) -> list[str]:
    flags = {"synoptic": r.synoptic, "narrative": not r.synoptic, "ypT": r.prefix == "y" and bool(r.t),
             "multiple_specimens": len(r.parts) > 1, "addendum_amends": bool(r.amend), "words_only": r.words_used,
             "ocr_noise": r.noisy_used}
    return [k for k, v in flags.items() if v]


def write_report(case: Case, course: Course, person: Person, kind: str, date: dt.date, rng: random.Random,
                 report_id: str, patient_id: str) -> tuple[dict, Doc]:
    r = Report(case, course, rng, kind, Doc(rng), age=case.age, date=date)
    r.labels = {f: NR for f in FIELDS}
    if not case.cancer.heme:
        _plan_values(r)
    r.synoptic = kind == "resection" and rng.random() < .55 or kind == "biopsy" and rng.random() < .15
    r.words = not r.synoptic and rng.random() < .3
    r.noisy = rng.random() < .1
    _header(r, person, date, f"S{date.year % 100:02d}-{rng.randrange(1000, 99999)}")
    _clinical_history(r)
    write_body(r)
    r.doc.write("\n\n")
    r.doc.add(fill(rng.choice(["Electronically signed out by {d} on {t}", "Pathologist: {d}   Signed {t}"]),
                   d=doctor_frag(rng), t=date_frag(date + dt.timedelta(days=rng.randrange(1, 5)), rng)),
              sep="", pheno=False)
    _labels(r)
    validate_labels(r.labels)
    record = {"id": report_id, "patient_id": patient_id, "cancer_type": case.key, "date": date.isoformat(),
              "note_type": "pathology_report", "report_type": kind, "text": r.doc.text, "labels": r.labels,
              "attributes": r.attrs, "difficulties": _difficulties(r), "phi": r.doc.phi}
    return record, r.doc


def write_reports(case: Case, course: Course, person: Person, dates: dict, rng: random.Random,
                  patient_id: str) -> list[tuple[dict, Doc]]:
    """One or two reports: diagnostic biopsy and/or resection (haematologic: node or marrow)."""
    kinds = []
    if case.cancer.heme:
        kinds = ["heme"] + (["heme"] if rng.random() < .2 else [])
    else:
        if not course.surgery or rng.random() < .6:
            kinds.append("metastasis" if case.metastatic and rng.random() < .5 else "biopsy")
        if course.surgery:
            kinds.append("resection")
    out = []
    for k, kind in enumerate(kinds, 1):
        when = dates["surgery"] if kind == "resection" and "surgery" in dates else dates["diagnosis"]
        if kind == "resection" and "surgery" not in dates:
            when = dates["diagnosis"] + dt.timedelta(days=rng.randrange(30, 120))
        out.append(write_report(case, course, person, kind, when, rng, f"{patient_id}-R{k}", patient_id))
    return out

