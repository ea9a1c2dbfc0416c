"""Assemble a clinic note: identifying preamble, the nine sections under varied headers,
and a signature.

Header style is drawn once per note (with or without colon, upper case, numbered
"1) ...", inline or on its own line) from `HEADER_VARIANTS`, so a section parser has to
cope with the spread real notes show. Typos go into free-text sections only.
"""

from __future__ import annotations

from cancerllm.data.section_names import HEADER_VARIANTS, SECTIONS
from cancerllm.data.synth import labs, note_history as H, note_plan as D
from cancerllm.data.synth.context import Visit
from cancerllm.data.synth.people import date_frag, doctor_frag, name_frag
from cancerllm.data.synth.text import Doc, Phi, fill
from cancerllm.data.synth.treatment_plan import plan

TYPO_RATE = 0.025                 # of words with 4+ letters, about 1.5 % of all words
TYPO_SECTIONS = {"subjective", "nursing_ros", "objective", "assessment"}
PHENO_SECTIONS = {"reason_for_visit", "treatment_site", "subjective", "nursing_ros", "objective", "diagnosis",
                  "assessment"}


def _told(doc: Doc, v: Visit) -> set[str]:
    """Facts the diagnosis-task input states, so the diagnosis says nothing the input lacks."""
    told = set(doc.labels)
    text = doc.text
    if v.case.biomarkers and all(k.split("/")[0] in text for k, _ in v.case.biomarkers):
        told.add("biomarkers")
    if v.case.mets and all(m in text for m in v.case.mets):
        told.add("mets")
    return told


def _sentences(key: str, v: Visit) -> tuple[list[list], str]:
    if key == "laboratory_results":
        return labs.lab_lines(v.case, v.kind, v.rng)
    if key == "plan":
        return plan(v)
    if key == "diagnosis":
        return D.diagnosis(v), "\n"
    if key == "nursing_ros":
        return H.nursing_ros(v), v.rng.choice(["\n", " "])
    fn = {"reason_for_visit": H.reason_for_visit, "treatment_site": H.treatment_site, "subjective": H.subjective,
          "objective": H.objective, "assessment": D.assessment}[key]
    return fn(v), " "


def _header(key: str, i: int, style: dict, v: Visit) -> str:
    name = v.rng.choice(HEADER_VARIANTS[key])
    short = len(name) <= 3          # "S", "PE", "CC": a colon keeps them from reading as words
    if style["upper"]:
        name = name.upper()
    if style["numbered"]:
        name = f"{i}) {name}" if style["numbered"] == 1 else f"{i}. {name}"
    colon = style["colon"] or short or style["inline"]
    # A SOAP letter followed by a digit ("A: 73 yo", "P: 88") reads as a value, so it gets its own line.
    inline = style["inline"] and len(name.split()[-1]) > 1
    return name + (":" if colon else "") + (" " if inline else "\n")


def _preamble(doc: Doc, v: Visit) -> None:
    rng, p = v.rng, v.person
    doc.add(fill(rng.choice(["Patient: {n}", "Name: {n}", "PATIENT NAME: {n}", "Pt: {n}"]), n=name_frag(p, rng, False)),
            sep="", pheno=False)
    ids = fill(rng.choice(["MRN: {m}", "MRN #{m}", "Med Rec No: {m}"]) + rng.choice(["   DOB: {b}", "\nDOB: {b}", " | DOB {b}"]),
               m=Phi("MRN", p.mrn), b=date_frag(p.dob, rng))
    doc.add(ids, sep="\n", pheno=False)
    doc.add(fill(rng.choice(["Date of service: {d}", "Visit date: {d}", "DOS: {d}", "Encounter date {d}"]),
                 d=date_frag(v.date, rng)), sep="\n", pheno=False)
    if rng.random() < .3:
        doc.add(fill(rng.choice(["Phone: {t}", "Contact: {t}", "Home phone {t}"]), t=Phi("PHONE", p.phone)),
                sep="\n", pheno=False)
    if rng.random() < .2:
        doc.add(fill("Address: {a}", a=Phi("ADDRESS", p.address)), sep="\n", pheno=False)
    if rng.random() < .15:
        doc.add(fill("Email: {e}", e=Phi("EMAIL", p.email)), sep="\n", pheno=False)
    doc.add(fill(rng.choice(["Provider: {d}", "Attending: {d}", "Seen by {d}"]), d=doctor_frag(rng)), sep="\n",
            pheno=False)
    doc.write("\n\n")


def write_note(v: Visit, note_id: str, patient_id: str) -> tuple[dict, Doc]:
    rng = v.rng
    doc = Doc(rng)
    style = {"upper": rng.random() < .15, "numbered": rng.choice([0, 0, 0, 0, 0, 1, 2]),
             "colon": rng.random() < .8, "inline": rng.random() < .45}
    gap = rng.choice(["\n\n", "\n", "\n\n"])
    _preamble(doc, v)
    for i, key in enumerate(SECTIONS, 1):
        if i > 1:
            doc.write(gap)
        doc.write(_header(key, i, style, v))
        if key == "diagnosis":
            v.extras["told"] = _told(doc, v)
        sentences, sep = _sentences(key, v)
        doc.typo_rate = TYPO_RATE if key in TYPO_SECTIONS else 0.0
        doc.pheno = key in PHENO_SECTIONS
        doc.begin(key)
        for s in sentences:
            doc.add(s, sep=sep)
        doc.end()
    doc.typo_rate, doc.pheno = 0.0, False
    doc.write("\n\n")
    doc.add(fill(rng.choice(["Electronically signed by {d} on {t}", "Signed: {d} {t}", "{d}, {t}"]),
                 d=doctor_frag(rng), t=date_frag(v.date, rng)),
            sep="")
    record = {"id": note_id, "patient_id": patient_id, "cancer_type": v.case.key, "date": v.date.isoformat(),
              "note_type": "clinic_note", "visit_type": v.kind, "text": doc.text, "sections": doc.section_bodies(),
              "phi": doc.phi}
    return record, doc
