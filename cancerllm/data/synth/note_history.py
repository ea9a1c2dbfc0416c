"""The first five sections of a clinic note: reason for visit, treatment site, subjective,
nursing review of systems and objective.

Together with the labs they carry every fact the diagnosis states (cancer, site,
laterality, histology, stage cues, receptors), so the diagnosis task is learnable from
them. Each function returns sentences (lists of fragments).
"""

from __future__ import annotations

from cancerllm.data.synth import phrases as P
from cancerllm.data.synth.case import marker_text
from cancerllm.data.synth.context import Visit
from cancerllm.data.synth.people import age_frags, date_frag, doctor_frag, name_frag
from cancerllm.data.synth.text import Ent, Lit, cap, fill, join
from cancerllm.data.synth.vocab import BIOPSY, DENIES, EXAM, IMAGING, NURSING_EXTRA, PRESENTATION, ROS, SIDE_EFFECTS

_SIDED_OPS = ("breast", "lung", "kidney")      # operations written with the side ("left lumpectomy")
_EXAMINED = ("breast", "melanoma", "head_neck", "thyroid")   # tumour sites a clinic exam describes


def oral_or_endocrine(reg) -> bool:
    """Therapies given continuously (pills, depot injections): visits check tolerance, not cycles."""
    return reg.kind == "endocrine" or (reg.cycles == 0 and all(" PO " in a for a in reg.agents))


def stage(v: Visit) -> list:
    """Pathologic stage once operated, clinical stage before."""
    c, rng = v.course, v.rng
    if v.operated and c.path_t:
        return P.tnm(c.path_t, c.path_n, "", c.prefix + "p", rng)
    return P.clinical_stage(v.case, rng)


def mets(v: Visit) -> list:
    sites = [[Ent("tumor_site", m)] for m in v.case.mets]
    return fill(v.rng.choice(["with metastases to the {s}", "with {s} mets", "metastatic to the {s}"]),
                s=join(sites, ", ", " and "))


def dx_phrase(v: Visit, detail: bool = True) -> list:
    """The cancer as one noun phrase ("stage IIA IDC of the left breast, ER+/PR+/HER2-")."""
    case, rng = v.case, v.rng
    name = Lit(P.name(case, rng))
    st = stage(v)
    if case.cancer.heme:
        out = fill(rng.choice(["{st} {h}", "{h}", "{n} ({h})", "{h}, {st}"]) if st else rng.choice(["{h}", "{n} ({h})"]),
                   st=st, h=P.hist(case, rng), n=name)
    else:
        form = rng.randrange(5) if st else rng.randrange(2)
        templ = ["{h} of the {s}", "{so} {h}", "{st} {n}", "{n} ({h}), {st}", "{st} {h} of the {s}"][form]
        out = fill(templ, h=P.hist(case, rng, lower=form == 1), s=P.site(case, rng),
                   so=P.site(case, rng, organ_only=True), st=st or "", n=name)
        if case.metastatic and form != 1:
            out += [Lit(" ")] + mets(v)
    has_receptors = case.er is not None or case.her2_ihc is not None
    if detail and has_receptors and rng.random() < .7:
        out += [Lit(", ")] + P.receptors(case, rng)
    elif detail and case.biomarkers and rng.random() < .5:
        out += [Lit(", " + marker_text(case).split("; ")[0])]
    return out


def reason_for_visit(v: Visit) -> list[list]:
    rng, kind = v.rng, v.kind
    reg = v.regimen
    if kind == "consult":
        t = rng.choice(["New patient consultation for {d}", "Newly diagnosed {d}", "New pt eval - {d}",
                        "Establish care for {d}", "Initial oncology consult: {d}"])
    elif kind == "post_op":
        t = rng.choice(["Post-op f/u, discuss pathology", "Follow-up after surgery for {d}",
                        "Review surgical pathology", "s/p surgery for {d}, discuss adjuvant tx"])
    elif kind == "radiation":
        t = rng.choice(["On-treatment visit (OTV)", "Weekly OTV during RT for {d}", "Radiation f/u, fx {k}",
                        "Weekly radiation check"])
    elif kind == "surveillance":
        t = rng.choice(["Routine surveillance for hx of {d}", "{n}-month f/u", "Survivorship visit",
                        "Surveillance visit, {d}", "F/u {d}"])
    elif kind == "restaging":
        t = rng.choice(["Review restaging scans", "Discuss CT results", "Restaging after cycle {k} of {r}",
                        "Response assessment, {d}"])
    elif reg and oral_or_endocrine(reg):
        t = rng.choice(["f/u on {r}", "{r} follow-up", "Toxicity check on {r} for {d}", "Routine f/u, on {r}"])
    else:
        t = rng.choice(["C{k}D1 {r}", "Cycle {k} of {r} for {d}", "f/u on {r}", "Chemo visit - {r} C{k}",
                        "Treatment visit: {d} on {r}", "{r} cycle {k}"])
    d = dx_phrase(v, detail=False) if "{d}" in t else ""
    return [fill(t, d=d, k=str(v.cycle), r=reg.name if reg else "treatment", n=str(rng.choice([3, 6, 12])))]


def treatment_site(v: Visit) -> list[list]:
    case, rng, c = v.case, v.rng, v.course
    if v.kind == "radiation" and c.radiation:
        return [fill(rng.choice(["{t} ({s})", "{s}: {t}", "{t}"]), t=c.radiation.target, s=P.site(case, rng, True))]
    if case.cancer.heme or rng.random() < .35:
        return [[rng.choice(["Infusion center", "Medical oncology clinic", "Outpatient oncology", "Cancer clinic, room 4",
                             "N/A", "Clinic visit"])]]
    return [P.site(case, rng, organ_only=rng.random() < .5)]


def _intro(v: Visit) -> list:
    rng, p = v.rng, v.person
    sex = rng.choice(["female", "woman", "F"] if p.sex == "F" else ["male", "man", "M"])
    who = name_frag(p, rng) if rng.random() < .5 else [Lit(rng.choice(["Pt", "Patient", "This"]))]
    return fill("{w} is a {a} {x} " + rng.choice(["with", "with", "w/", "with hx of"]) + " {d}.", w=who, a=age_frags(v.extras["age"], rng), x=sex, d=dx_phrase(v))


def _diagnostic_story(v: Visit) -> list[list]:
    case, rng = v.case, v.rng
    out = [fill(rng.choice(["{S} presented with {p}.", "Initially presented with {p}.", "Hx notable for {p}."]),
                S=v.she.capitalize(), p=rng.choice(PRESENTATION[case.key]))]
    if case.size_cm and not case.cancer.heme:
        out.append(cap(fill(rng.choice(["{i} showed a {z} mass in the {s}.", "{i}: {z} lesion, {s}.",
                                        "{i} demonstrated a {z} mass in the {s}."]),
                            i=rng.choice(IMAGING[case.key]), z=P.size(case.size_cm, rng, dims=True),
                            s=P.site(case, rng))))
    path = [P.hist(case, rng)]
    g = P.grade(case, rng)
    if g:
        path = fill(rng.choice(["{g} {h}", "{h}, {g}"]), g=g, h=path)
    biopsy = cap(fill(rng.choice(["{b} on {dt} revealed {p}", "{b} ({dt}) showed {p}", "{b} {dt}: {p}"]),
                  b=rng.choice(BIOPSY[case.key]), dt=date_frag(v.dates["diagnosis"], rng), p=path))
    if case.er is not None or case.her2_ihc is not None:
        biopsy += [Lit(", ")] + P.receptors(case, rng)
    elif case.biomarkers:
        biopsy += fill("; {b}", b=marker_text(case))
    out.append(biopsy + ["."])
    st = P.clinical_stage(case, rng)
    if case.metastatic and case.mets:
        out.append(fill("Staging workup notable for disease {m}, consistent with {st}.", m=mets(v),
                        st=st or [Lit("advanced disease")]))
    elif st:
        out.append(fill(rng.choice(["Staging workup negative for distant disease; {st}.", "Clinical stage: {st}.",
                                    "Staged as {st}."]), st=st))
    return out


_RT_LOCAL = {"head_neck": ["dysphagia", "mucositis"], "lung": ["esophagitis"], "sclc": ["esophagitis"],
             "rectum": ["diarrhea"], "cervical": ["diarrhea", "urinary frequency"], "prostate": ["urinary frequency"]}


def _symptoms(v: Visit, kind: str) -> list[list]:
    rng = v.rng
    pool = SIDE_EFFECTS[kind] + (_RT_LOCAL.get(v.case.key, []) if kind == "radiation" else [])
    effects = rng.sample(pool, 2)
    since = "since last cycle" if kind not in ("radiation", "endocrine") else "this week"
    out = [fill(rng.choice(["Reports {a} and {b} " + since + ".", "Tolerating treatment with mild {a}.",
                            "Notes grade 1 {a}; otherwise doing well.", "Main complaint is {a}, also some {b}."]),
                a=effects[0], b=effects[1])]
    neg = rng.sample(DENIES, 3)
    out.append([rng.choice(["Denies ", "No ", "Pt denies "]) + f"{neg[0]}, {neg[1]} or {neg[2]}."])
    return out


def subjective(v: Visit) -> list[list]:
    rng, c, kind = v.rng, v.course, v.kind
    out = [_intro(v)]
    if kind == "consult":
        out += _diagnostic_story(v) + [[rng.choice(["Here with family to discuss treatment options.",
                                                    "Accompanied by daughter today.", "Here alone today."])]]
        return out + ([doctor_line(v)] if rng.random() < .3 else [])
    if v.operated and c.surgery:
        out.append(fill(rng.choice(["s/p {l}{s} on {d}.", "Underwent {l}{s} {d}.", "Status post {l}{s} ({d})."]),
                        l=[P.lat(v.case, rng), Lit(" ")] if v.case.lat and v.case.cancer.organ in _SIDED_OPS else "",
                        s=c.surgery, d=date_frag(v.dates["surgery"], rng)))
    if kind == "post_op":
        return out + post_op_path(v) + [[rng.choice(["Recovering well from surgery.", "Incision healing well.",
                                                     "Pain controlled with acetaminophen."])]]
    if kind == "radiation":
        rt = c.radiation
        out.append(fill("Receiving RT to the {t}, {g} Gy in {f} fractions; today is fraction {k}.",
                        t=rt.target, g=f"{rt.dose_gy:g}", f=str(rt.fractions), k=str(v.cycle)))
        return out + _symptoms(v, "radiation")
    if kind == "surveillance":
        if c.maintenance:
            out.append(fill(rng.choice(["Currently on {m}, tolerating it.", "Completed active treatment; on {m}.",
                                        "Remains on {m} without major side effects."]), m=c.maintenance.name))
        else:
            out.append([rng.choice(["Doing well without new complaints.", "On active surveillance; feels well.",
                                    "No new symptoms since last visit."])])
        return out + [_symptoms(v, "endocrine")[1]]
    reg = v.regimen
    if kind == "restaging":
        out.append(fill("Completed {k} cycles of {r}; restaging {i} done on {d}.", k=str(v.cycle), r=reg.name,
                        i=rng.choice(IMAGING[v.case.key]), d=date_frag(v.date, rng)))
        return out
    if oral_or_endocrine(reg):
        out.append(fill(rng.choice(["Continues {r}; no missed doses.", "On {r}, adherent.", "Remains on {r}."]),
                        r=reg.name))
    else:
        out.append(fill(rng.choice(["Here for C{k}D1 of {r}.", "Presents for cycle {k} of {r}.",
                                    "On {r}, due for C{k}."]), k=str(v.cycle), r=reg.name))
    return out + _symptoms(v, reg.kind if reg.kind in SIDE_EFFECTS else "chemo")


def post_op_path(v: Visit) -> list[list]:
    case, rng, c = v.case, v.rng, v.course
    parts = [P.hist(case, rng)]
    if c.path_t in ("T0",):
        parts = [Lit(rng.choice(["no residual invasive carcinoma", "pathologic complete response"]))]
    elif c.path_size:
        parts += [Lit(", ")] + [P.size(c.path_size, rng)]
    g = P.grade(case, rng)
    if g and c.path_t != "T0":
        parts += [Lit(", ")] + g
    parts += [Lit(", margins " + rng.choice(["negative", "clear", "negative (closest 3 mm)"]))]
    if c.path_t:
        parts += [Lit(", ")] + P.tnm(c.path_t, c.path_n, "", c.prefix + "p", rng)
    return [fill(rng.choice(["Final pathology: {p}.", "Surgical path showed {p}.", "Pathology revealed {p}."]), p=parts)]


def nursing_ros(v: Visit) -> list[list]:
    rng = v.rng
    systems = rng.sample(list(ROS), rng.randint(4, 8))
    out = [[f"{s}: {rng.choice(ROS[s])}."] for s in systems]
    for extra in rng.sample(NURSING_EXTRA, 2):
        out.append([extra.format(p=rng.randrange(0, 6))])
    if rng.random() < .5:
        out.append(["All other systems reviewed and negative."])
    return out


def objective(v: Visit) -> list[list]:
    case, rng = v.case, v.rng
    vitals = (f"BP {rng.randrange(102, 158)}/{rng.randrange(58, 92)}, HR {rng.randrange(58, 104)}, "
              f"T {rng.uniform(36.2, 37.6):.1f} C, SpO2 {rng.randrange(93, 100)}%, Wt {rng.uniform(48, 112):.1f} kg.")
    out = [[Lit(rng.choice(["Vitals: ", "VS: ", ""]) + vitals)], [Lit(f"ECOG {rng.choice([0, 0, 1, 1, 2])}.")]]
    out += [[e] for e in rng.sample(EXAM, rng.randint(3, 6))]
    if case.key in _EXAMINED:
        finding = (["well-healed incision, no masses", "post-surgical changes, no palpable recurrence"]
                   if v.operated else ["firm mass", "palpable abnormality", "no palpable abnormality"])
        out.append(cap(fill(rng.choice(["{S}: {f}.", "Exam of the {s} shows {f}."]), S=P.site(case, rng, True),
                            s=P.site(case, rng), f=rng.choice(finding))))
    return out


def doctor_line(v: Visit) -> list:
    return fill(v.rng.choice(["Referred by {d}.", "Seen with {d}.", "Case reviewed with {d}."]), d=doctor_frag(v.rng))
