"""The body of a pathology report: specimen parts, gross and microscopic description.

The diagnostic parts (final diagnosis, synoptic block, biomarkers, addendum) are in
`path_diagnosis.py`; this module lays out the report around them.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from cancerllm.data.synth import phrases as P
from cancerllm.data.synth.case import Case
from cancerllm.data.synth.course import Course
from cancerllm.data.synth.text import Doc, Ent, Lit, cap, fill

_MICRO = {
    "dcis": ["Sections show ducts distended by atypical epithelial cells with central comedo necrosis.",
             "No stromal invasion is identified on multiple levels."],
    "ductal": ["Sections show infiltrating carcinoma arranged in nests, cords and glands within a desmoplastic stroma.",
               "The tumor cells have moderate amounts of eosinophilic cytoplasm and vesicular nuclei."],
    "lobular": ["Sections show discohesive tumor cells infiltrating in a single-file pattern.",
                "Loss of E-cadherin expression is confirmed by immunohistochemistry."],
    "adeno": ["Sections show malignant glands lined by atypical columnar cells with dirty necrosis.",
              "The neoplastic glands infiltrate the surrounding stroma."],
    "squamous": ["Sections show nests of atypical squamous cells with keratin pearl formation.",
                 "Intercellular bridges are readily identified."],
    "urothelial": ["Sections show nests of atypical urothelial cells invading the lamina propria and beyond."],
    "melanoma": ["Sections show a proliferation of atypical melanocytes with pagetoid spread.",
                 "Dermal mitoses are identified."],
    "renal": ["Sections show nests of tumor cells with clear cytoplasm separated by a delicate vascular network."],
    "glioma": ["Sections show a hypercellular glial neoplasm with microvascular proliferation and necrosis."],
    "small": ["Sections show sheets of small cells with scant cytoplasm, nuclear molding and crush artifact."],
    "thyroid": ["Sections show papillae lined by cells with nuclear clearing, grooves and pseudoinclusions."],
    "other": ["Sections show an infiltrating malignant neoplasm.", "The tumor shows a solid and glandular pattern."],
    "lymphoma": ["Sections show effacement of the nodal architecture by a diffuse or nodular lymphoid infiltrate.",
                 "Immunohistochemical stains were performed with appropriate controls."],
    "leukemia": ["The aspirate smears are cellular with increased immature cells.",
                 "The core biopsy shows a hypercellular marrow for age with decreased trilineage hematopoiesis."],
}
_GENERIC_MICRO = ["Perineural invasion is not identified.", "Microcalcifications are not identified.",
                  "Tumor-infiltrating lymphocytes are sparse.", "The background tissue shows no other significant abnormality.",
                  "Immunohistochemical controls stained appropriately.", "Tumor necrosis is not identified."]


@dataclass
class Report:
    case: Case
    course: Course
    rng: random.Random
    kind: str                           # biopsy | resection | metastasis | heme
    doc: Doc
    age: int
    date: dt.date
    labels: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    t: str = ""                         # stated T / N (no prefix), "" = not stated
    n: str = ""
    prefix: str = ""
    mods: dict = field(default_factory=dict)
    m_text: str = ""
    grade: int | None = None
    er: int | None = None
    pr: int | None = None
    her2: tuple | None = None           # (IHC score, ISH result)
    amend: str | None = None            # her2 | er_pr | pN | grade
    synoptic: bool = False
    words: bool = False
    noisy: bool = False
    words_used: bool = False
    noisy_used: bool = False
    parts: list = field(default_factory=list)   # (fragments naming the part, kind)

    def attr(self, fld: str, **values) -> None:
        """Record attributes of a field under the names of `schema.ATTRIBUTES`."""
        self.attrs.setdefault(fld, {}).update(values)


def micro_family(case: Case) -> str:
    h = case.hist[0]
    for key, family in (("in situ", "dcis"), ("lobular", "lobular"), ("ductal carcinoma", "ductal"), ("mammary", "ductal"),
                        ("squamous", "squamous"), ("urothelial", "urothelial"), ("melanoma", "melanoma"),
                        ("renal", "renal"), ("glio", "glioma"), ("astro", "glioma"), ("small cell", "small"),
                        ("thyroid", "thyroid"), ("papillary carcinoma", "thyroid"), ("adenocarcinoma", "adeno")):
        if key in h:
            return family
    return "other"


def operation(course: Course) -> str:
    op = course.surgery.split(" with ")[0]
    for prefix in ("robotic-assisted ", "robotic ", "VATS ", "laparoscopic ", "transoral robotic "):
        op = op.replace(prefix, "")
    return op


# Resection specimens named by the organ removed (the tumour's subsite is in the synoptic).
_RESECTED = {"prostate": ("Prostate", " and seminal vesicles"), "endometrial": ("Uterus", ", cervix, bilateral tubes and ovaries"),
             "cervical": ("Uterus", " and cervix"), "bladder": ("Urinary bladder", ""), "gastric": ("Stomach", ""),
             "pancreatic": ("Pancreas", ""), "ovarian": ("Ovaries", ", uterus and omentum"), "brain": ("Brain", ", tumor")}
_ORGAN_FIRST = ("prostate", "stomach", "bladder", "brain")   # biopsies written "Prostate, apex"
_SINGULAR = {"bones": "bone", "lungs": "lung", "adrenal glands": "adrenal gland", "lymph nodes": "lymph node"}


def _site(r: Report, resection: bool) -> list:
    case, rng = r.case, r.rng
    if resection and case.key in _RESECTED:
        organ, rest = _RESECTED[case.key]
        return [Ent("tumor_site", organ)] + ([Lit(rest)] if rest else [])
    if case.cancer.organ in _ORGAN_FIRST and case.subsite and case.cancer.organ[:6] not in case.subsite:
        return [Ent("tumor_site", case.cancer.organ.capitalize()), Lit(", "), Ent("tumor_site", case.subsite)]
    return cap(P.site(case, rng, organ_only=rng.random() < .6))


def specimen_parts(r: Report) -> list:
    case, rng = r.case, r.rng
    if r.kind == "heme":
        where = "Bone marrow" if case.key == "leukemia" else "Lymph node"
        proc = "posterior iliac crest, aspirate and core biopsy" if case.key == "leukemia" else "excisional biopsy"
        return [([Ent("tumor_site", where), Lit(", " + proc)], "heme")]
    if r.kind == "metastasis":
        met = _SINGULAR.get(case.mets[0], case.mets[0]) if case.mets else "liver"
        return [(fill("{s}, {p}", s=[Ent("tumor_site", met.capitalize())], p="core needle biopsy"), "met")]
    if r.kind == "biopsy":
        return [(_site(r, False) + [Lit(", " + rng.choice(["core needle biopsy", "biopsy", "needle core biopsies"]))],
                 "primary")]
    parts = [(_site(r, True) + [Lit(", " + operation(r.course))], "primary")]
    if rng.random() < .5 and r.n not in ("", "NX"):
        lat = [P.lat(case, rng), Lit(" ")] if case.lat and case.key == "breast" else []
        nodes = "axillary sentinel lymph node" if r.mods.get("sn") else "regional lymph nodes"
        parts.append((cap(lat + [Lit(nodes + ", excision")]), "nodes"))
    if rng.random() < .3:
        parts.append(([Lit(rng.choice(["Additional superior margin", "New deep margin", "Additional lateral margin"]))],
                      "margin"))
    return parts


def part_label(i: int, style: int) -> str:
    letter = "ABCDEFG"[i]
    return [f"{letter}. ", f"Part {i + 1}: ", f"Specimen {letter}: ", f"({letter}) "][style]


def specimens(r: Report, style: int) -> None:
    r.doc.write(r.rng.choice(["SPECIMEN(S):\n", "Specimens Submitted:\n", "SPECIMEN:\n"]))
    r.doc.fresh()
    for i, (frags, _) in enumerate(r.parts):
        r.doc.add([Lit(part_label(i, style))] + frags, sep="\n")
    r.doc.write("\n\n")


def gross(r: Report) -> None:
    case, rng, doc = r.case, r.rng, r.doc
    doc.write(rng.choice(["GROSS DESCRIPTION:\n", "Gross Description: ", "GROSS:\n"]))
    doc.fresh()
    if r.kind == "heme":
        doc.add([rng.choice([f"Received in formalin is a lymph node measuring {rng.uniform(1.5, 4):.1f} cm.",
                             f"Received is a {rng.uniform(1.0, 2.2):.1f} cm core biopsy with aspirate smears."])])
    elif r.kind in ("biopsy", "metastasis"):
        doc.add(fill("Received in formalin are {n} cores of tan-pink tissue measuring up to {x} cm in length.",
                     n=str(rng.randint(2, 6)), x=f"{rng.uniform(.8, 2.0):.1f}"), sep="")
    else:
        doc.add(fill("Received {f} is a {w} g specimen measuring {a} x {b} x {c} cm.", f=rng.choice(["fresh", "in formalin"]),
                     w=str(rng.randrange(20, 400)), a=f"{rng.uniform(6, 15):.1f}", b=f"{rng.uniform(4, 10):.1f}",
                     c=f"{rng.uniform(2, 6):.1f}"), sep="")
        if r.course.path_t == "T0":
            doc.add(["Sectioning reveals a ", Lit(f"{rng.uniform(.8, 3):.1f} cm"), " area of fibrosis at the biopsy site."],
                    pheno=False)
        elif r.course.path_size:
            doc.add(fill(rng.choice(["Sectioning reveals a firm tan-white mass measuring {z}.",
                                     "Cut surface shows an ill-defined lesion, {z} in greatest dimension."]),
                         z=P.size(r.course.path_size, rng, dims=True)))
        doc.add(fill("The lesion is located {d} cm from the nearest margin.", d=f"{rng.uniform(.1, 2):.1f}"))
    doc.add([f"Representative sections are submitted in {rng.randint(2, 12)} cassettes."])
    doc.write("\n\n")


def microscopic(r: Report) -> None:
    rng = r.rng
    r.doc.write(rng.choice(["MICROSCOPIC DESCRIPTION:\n", "Microscopic: ", "MICROSCOPIC:\n"]))
    r.doc.fresh()
    if r.kind == "heme":
        lines = _MICRO["leukemia" if r.case.key == "leukemia" else "lymphoma"]
    else:
        lines = _MICRO[micro_family(r.case)] + rng.sample(_GENERIC_MICRO, 2)
    for line in lines:
        r.doc.add([line])
    r.doc.write("\n\n")


def write_body(r: Report) -> None:
    from cancerllm.data.synth import path_diagnosis as D
    r.parts = specimen_parts(r)
    style = r.rng.randrange(4)
    diagnosis_first = r.rng.random() < .4
    if diagnosis_first:
        D.final_diagnosis(r, style)
    specimens(r, style)
    gross(r)
    microscopic(r)
    if not diagnosis_first:
        D.final_diagnosis(r, style)
    if r.synoptic:
        D.synoptic(r)
    elif r.er is not None or r.her2:
        D.biomarkers(r)
    D.addendum(r)
