"""Diagnosis, assessment and plan: the sections the generation tasks predict.

The diagnosis restates what the history and labs show; the assessment adds the
clinician's reading (tolerance, response, indication) and the plan acts on both (hold a
cycle for a low ANC, switch line on progression, adjuvant radiation after lumpectomy).
"""

from __future__ import annotations

from cancerllm.data.synth import phrases as P
from cancerllm.data.synth.case import marker_text
from cancerllm.data.synth.context import SYSTEMIC, Visit
from cancerllm.data.synth.note_history import dx_phrase, mets, stage
from cancerllm.data.synth.people import age_frags
from cancerllm.data.synth.text import Lit, fill

PROBLEMS = {
    "consult": ["Encounter for oncology consultation", "Cancer-related fatigue", "Anxiety"],
    "radiation": ["Radiation dermatitis, grade 1", "Encounter for antineoplastic radiation therapy", "Fatigue"],
    "surveillance": ["Personal history of malignancy", "Encounter for surveillance", "Osteopenia"],
    "post_op": ["Postoperative state", "Surgical aftercare"],
    "systemic": ["Encounter for antineoplastic chemotherapy", "Chemotherapy-induced nausea", "Anemia due to chemotherapy",
                 "Peripheral neuropathy due to chemotherapy", "Neutropenia"],
}


ICD10 = {"breast": "C50.9", "lung": "C34.9", "sclc": "C34.9", "prostate": "C61", "colorectal": "C18.9",
         "pancreatic": "C25.9", "melanoma": "C43.9", "lymphoma": "C85.90", "leukemia": "C95.90", "ovarian": "C56.9",
         "endometrial": "C54.1", "cervical": "C53.9", "bladder": "C67.9", "kidney": "C64.9", "thyroid": "C73",
         "head_neck": "C10.9", "gastric": "C16.9", "liver": "C22.0", "brain": "C71.9"}


def _words(frags: list) -> int:
    return len("".join(f if isinstance(f, str) else f.text for f in frags).split())


# Diagnosis heads and the facts (entity labels) the input must have told for each.
_HEADS = [("{h} of the {s}", {"histological_type", "tumor_site"}), ("{so} {h}", {"histological_type", "tumor_site"}),
          ("{N}: {h}", {"histological_type"}), ("Malignant neoplasm of {s} ({h})", {"histological_type", "tumor_site"}),
          ("{n} ({h})", {"histological_type"}), ("{N}", set())]


def _dx_main(v: Visit) -> list:
    """The diagnosis head: histology and site as far as the note's input told them."""
    case, rng = v.case, v.rng
    told = v.extras.get("told", set())
    name = P.name(case, rng)
    heads = [t for t, needs in _HEADS if needs <= told and not (case.cancer.heme and "{s" in t)]
    templ = rng.choice(heads[:-1] or heads)
    return fill(templ, h=P.hist(case, rng, lower="{so}" in templ), s=P.site(case, rng),
                so=P.site(case, rng, organ_only=True), n=name, N=name[0].upper() + name[1:])


def _dx_extras(v: Visit) -> list[list]:
    """Further facts (stage, grade, receptors, markers, spread, status), each only if the input told it."""
    case, rng, c = v.case, v.rng, v.course
    told = v.extras.get("told", set())
    extras = []
    if "cancer_stage" in told and stage(v):
        extras.append([Lit(", ")] + stage(v))
    if "cancer_grade" in told and (case.grade or case.gleason or case.who_grade):
        extras.append([Lit(", ")] + P.grade(case, rng))
    if "hormone_receptor_type" in told and (case.er is not None or case.her2_ihc is not None):
        extras.append([Lit(", ")] + P.receptors(case, rng))
    if "biomarkers" in told:
        extras.append([Lit(", " + marker_text(case))])
    if "mets" in told:
        extras.append([Lit(" ")] + mets(v))
    if v.operated and c.surgery:
        extras.append([Lit(f", s/p {c.surgery.split(' with ')[0]}")])
    elif v.kind in SYSTEMIC or v.kind == "restaging":
        extras.append([Lit(f" - on {v.regimen.name}")])
    status = {"consult": ", newly diagnosed", "surveillance": ", currently NED" if not c.watchful else
              ", on active surveillance", "radiation": ", receiving radiation"}.get(v.kind)
    if status:
        extras.append([Lit(status)])
    return extras


def diagnosis(v: Visit) -> list[list]:
    """8-30 words: the head, then stage, grade, receptors, status ... until the facts are told."""
    rng = v.rng
    main = _dx_main(v)
    extras = _dx_extras(v)
    keep = [e for e in extras if rng.random() < .6]
    for e in extras:
        if _words(main) + sum(_words(k) for k in keep) >= 8:
            break
        if e not in keep:
            keep.append(e)
    for e in extras:
        if e in keep and _words(main) + _words(e) <= 30:
            main += e
    if rng.random() < .15:
        main += [Lit(f" ({ICD10[v.case.key]})")]
    if rng.random() < .25:
        problems = PROBLEMS["systemic" if v.kind in SYSTEMIC or v.kind == "restaging" else v.kind]
        return [[Lit("1. ")] + main, [Lit("2. " + rng.choice(problems))]]
    return [main]


def assessment(v: Visit) -> list[list]:
    case, rng, c, kind = v.case, v.rng, v.course, v.kind
    out = [fill(rng.choice(["{d}.", "Pt with {d}.", "{a} with {d}.", "Pt w/ {d}."]), d=dx_phrase(v, detail=False),
                a=age_frags(v.extras["age"], rng))]
    if kind == "consult":
        out.append([rationale(v)])
    elif kind == "post_op":
        if c.path_t == "T0":
            out.append(["Pathologic complete response to neoadjuvant therapy."])
        elif c.prefix:
            out.append(["Residual disease after neoadjuvant therapy."])
        out.append([rng.choice(["Recovering well from surgery.", "Surgical recovery uncomplicated."])])
    elif kind == "radiation":
        out.append([rng.choice(["Tolerating RT well with grade 1 dermatitis.", "Tolerating radiation with mild fatigue.",
                                "Expected skin changes; no moist desquamation."])])
    elif kind == "surveillance":
        out.append([rng.choice(["NED clinically.", "No evidence of recurrence on exam and labs.",
                                "Clinically without evidence of disease."])])
    elif kind == "restaging":
        out.append([rng.choice(["Restaging shows progression of disease.", "Imaging consistent with disease progression.",
                                "New lesions on restaging: progressive disease."]) if v.progression else
                    rng.choice(["Restaging shows partial response.", "Imaging shows stable disease.",
                                "Continued response to therapy on restaging."])])
    else:
        out.append([{"good": "Tolerating therapy well; labs adequate for treatment.",
                     "reduce": "Grade 2 neuropathy on current regimen.",
                     "hold": f"ANC {rng.uniform(.5, .99):.2f} today, below threshold for treatment."}[v.extras["tolerance"]]])
    return out


def rationale(v: Visit) -> str:
    """Why this course was chosen: the link from diagnosis to plan."""
    case, c, rng = v.case, v.course, v.rng
    if c.watchful:
        return "Low-risk disease; active surveillance is appropriate."
    if case.key == "breast" and c.neoadjuvant:
        return ("HER2-positive disease, candidate for neoadjuvant HER2-directed therapy." if case.her2_positive else
                "Triple-negative disease; neoadjuvant chemoimmunotherapy recommended." if not case.hr_positive else
                "Locally advanced disease; neoadjuvant chemotherapy recommended.")
    if c.first_line:
        m = dict(case.biomarkers)
        reason = ("EGFR-mutant disease; targeted therapy preferred." if "EGFR" in m else
                  "ALK-rearranged disease; alectinib preferred." if "ALK" in m else
                  f"PD-L1 {m['PD-L1']}, immunotherapy indicated." if "PD-L1" in m else
                  "Not a surgical candidate; systemic therapy indicated.")
        return reason if not case.cancer.heme else "Treatment indicated; discussed goals and risks."
    if c.neoadjuvant:
        return "Locally advanced disease; neoadjuvant therapy prior to surgery recommended."
    if c.surgery:
        return rng.choice(["Disease appears resectable.", "Surgical candidate.", "Localized, resectable disease."])
    return "Not a surgical candidate; definitive radiation recommended."
