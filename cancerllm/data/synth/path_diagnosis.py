"""The diagnostic parts of a pathology report: final diagnosis, CAP-style synoptic block,
biomarker studies and addenda.

What is written here is what `pathology._labels` reads as gold: an amended value is
first written in its original form (pN0, the first grade, HER2 2+ pending, ER/PR pending)
and corrected in the addendum, so the label is the addendum's value.
"""

from __future__ import annotations

import datetime as dt

from cancerllm.data.synth import path_values as V
from cancerllm.data.synth import phrases as P
from cancerllm.data.synth.path_sections import Report, operation, part_label
from cancerllm.data.synth.people import date_frag
from cancerllm.data.synth.text import Ent, Lit, cap, fill

_MARGINS = ["Margins negative for invasive carcinoma; closest margin {d} mm ({w}).",
            "All margins are free of carcinoma (closest {d} mm, {w}).", "Surgical margins uninvolved."]


def _original_n(r: Report) -> str:
    return "N0" if r.amend == "pN" else r.n


def _original_grade(r: Report) -> int | None:
    if r.amend == "grade":
        return {1: 2, 2: 3, 3: 2}[r.grade]
    return r.grade


def _grade(r: Report, g: int, words: bool) -> list:
    frags, attrs = V.grade_text(r.case.cancer.grade, g, r.rng, words)
    r.attrs["grade"] = attrs  # an amended grade replaces the first one's attributes
    r.words_used |= words or attrs.get("inferred", False)
    return frags


def _tnm(r: Report, t: str, n: str, m: str) -> list:
    frags = V.tnm_text(t, n, m, r.prefix, r.rng, r.mods, r.noisy)
    r.noisy_used |= r.noisy and any(ch in f.text for f in frags for ch in "lO")
    return frags


def _primary_lines(r: Report) -> list[list]:
    case, rng = r.case, r.rng
    if r.kind == "resection" and r.course.path_t == "T0":
        return [["- ", Lit(rng.choice(["No residual invasive carcinoma", "No residual carcinoma identified"])),
                 "; treatment effect present."]]
    h = [cap([P.hist(case, rng, full=rng.random() < .5)])[0]]
    g = _original_grade(r)
    line = ["- "] + h
    if g and (not r.synoptic or rng.random() < .5):
        line += [Lit(", ")] + _grade(r, g, r.words and not r.synoptic)
    out = [line + ["."]] + _other_grade(r, "- ")
    if r.course.path_size and r.kind == "resection":
        out.append(fill(rng.choice(["- Tumor size: {z}.", "- The tumor measures {z} in greatest dimension."]),
                        z=P.size(r.course.path_size, rng)))
    if r.kind == "resection":
        out.append(["- ", rng.choice(_MARGINS).format(d=rng.randint(1, 15), w=rng.choice(["posterior", "inferior", "deep"]))])
        out.append([rng.choice(["- Lymphovascular invasion not identified.", "- No lymphovascular invasion.",
                                "- Lymphovascular invasion: present, focal."])])
    return out


def node_counts(r: Report) -> tuple[int, int]:
    """(positive, examined) as first reported; drawn once so every part of the report agrees."""
    pn = r.attrs.get("pN", {})
    if "nodes_examined" not in pn:
        pos, ex = V.node_counts(_original_n(r), r.rng, bool(r.mods.get("sn")))
        r.attr("pN", nodes_positive=pos, nodes_examined=ex)
    return r.attrs["pN"]["nodes_positive"], r.attrs["pN"]["nodes_examined"]


def _other_grade(r: Report, lead: str) -> list[list]:
    """Gleason score: reported and kept as an attribute; it is not a histologic grade (label NR)."""
    case, rng = r.case, r.rng
    if case.gleason:
        p, s = case.gleason
        gg = {6: 1, 7: 2 if p == 3 else 3, 8: 4}.get(p + s, 5)
        r.attr("grade", gleason=f"{p}+{s}={p + s}", grade_group=gg)
        return [[lead, Ent("cancer_grade", rng.choice([f"Gleason score {p}+{s}={p + s}", f"Gleason {p + s} ({p}+{s})"])),
                 Lit(f" (Grade Group {gg})"), "."]]
    return []


def _node_lines(r: Report) -> list[list]:
    n = _original_n(r)
    pos, ex = node_counts(r)
    if n == "N0(i+)":
        return [[f"- Isolated tumor cells in one lymph node (0/{ex}); no metastatic carcinoma."]]
    if pos == 0:
        nodes = "lymph node" if ex == 1 else "lymph nodes"
        return [[r.rng.choice([f"- {ex} {nodes}, negative for metastatic carcinoma (0/{ex}).",
                               f"- No metastatic carcinoma in {ex} {nodes} (0/{ex})."])]]
    kind = "micrometastasis" if n == "N1mi" else "metastatic carcinoma"
    return [[f"- {kind.capitalize()} in {pos} of {ex} lymph nodes ({pos}/{ex})",
              r.rng.choice([".", "; no extranodal extension.", f"; largest deposit {r.rng.randint(3, 18)} mm."])]]


def _part_lines(r: Report, kind: str) -> list[list]:
    rng, case = r.rng, r.case
    if kind == "primary":
        lines = _primary_lines(r)
        return lines + (_node_lines(r) if r.n and r.n != "NX" and len(r.parts) == 1 and r.kind == "resection" else [])
    if kind == "nodes":
        return _node_lines(r)
    if kind == "margin":
        return [["- Benign tissue; negative for carcinoma."]]
    if kind == "met":
        line = fill("- Metastatic {h}, consistent with {n} primary.", h=P.hist(case, rng), n=case.cancer.names[0])
        return [line] + ([fill("- Findings represent distant metastasis ({m}).", m=Ent("cancer_stage", r.m_text))]
                         if r.m_text else [])
    return [["- "] + cap([P.hist(case, rng)]) + ["."], [_heme_findings(r)]]


def _heme_findings(r: Report) -> str:
    h, rng = r.case.hist[0], r.rng
    if "Hodgkin" in h:
        return "- Immunohistochemistry: Reed-Sternberg cells are CD30 positive, CD15 positive, CD20 negative."
    if "follicular" in h:
        return "- Immunohistochemistry: CD20 positive, CD10 positive, BCL2 positive; Ki-67 15%."
    if "mantle" in h:
        return "- Immunohistochemistry: CD20 positive, CD5 positive, cyclin D1 positive."
    if "large B-cell" in h:
        return f"- Immunohistochemistry: CD20 positive, CD10 positive, BCL6 positive; Ki-67 {rng.randint(60, 95)}%."
    if "chronic lymphocytic" in h:
        return f"- Involved by CLL/SLL, {rng.randint(30, 80)}% of cellularity; flow: CD5+, CD23+, CD20 dim."
    if "chronic myeloid" in h:
        return f"- Hypercellular marrow with myeloid hyperplasia; blasts {rng.randint(1, 6)}% (chronic phase)."
    return f"- Blasts {rng.randint(20, 85)}% of marrow cellularity; cellularity {rng.randint(60, 95)}%."


def final_diagnosis(r: Report, style: int) -> None:
    doc, rng = r.doc, r.rng
    doc.write(rng.choice(["FINAL DIAGNOSIS:\n", "DIAGNOSIS:\n", "Final Pathologic Diagnosis:\n"]))
    doc.fresh()
    for i, (frags, kind) in enumerate(r.parts):
        head = [Lit(part_label(i, style) if len(r.parts) > 1 or rng.random() < .5 else "")]
        head += [f._replace(text=f.text.upper()) if not isinstance(f, str) else f.upper() for f in frags] + [":"]
        doc.add(head, sep="\n")
        for line in _part_lines(r, kind):
            doc.add(line, sep="\n")
    if r.t and not r.synoptic:
        label = rng.choice(["Pathologic stage (AJCC 8th edition): ", "AJCC pTNM: ", "Stage: ", "pTNM: "])
        doc.add([Lit("- " + label)] + _tnm(r, r.t, _original_n(r), r.m_text), sep="\n")
    doc.write("\n\n")


def synoptic(r: Report) -> None:
    case, rng, doc = r.case, r.rng, r.doc
    doc.write(rng.choice(["SYNOPTIC REPORT\n", "CAP CANCER PROTOCOL SUMMARY:\n", "Synoptic Checklist\n"]))
    doc.fresh()
    lines: list[list] = []
    if r.kind == "resection":
        lines.append([Lit("Procedure: " + operation(r.course).capitalize())])
    if case.lat:
        lines.append([Lit("Specimen Laterality: "), Ent("tumor_laterality", case.lat.capitalize())])
    if case.subsite:
        lines.append([Lit("Tumor Site: "), Ent("tumor_site", case.subsite.capitalize())])
    lines.append([Lit("Histologic Type: "), cap([P.hist(case, rng, full=True)])[0]])
    g = _original_grade(r)
    if g:
        lines.append([Lit("Histologic Grade: ")] + _grade(r, g, False))
    lines += _other_grade(r, "Grade: ")
    if r.course.path_size and r.kind == "resection":
        lines.append([Lit("Tumor Size: "), P.size(r.course.path_size, rng)])
    if r.n and r.n != "NX":
        pos, ex = node_counts(r)
        lines.append([Lit(f"Regional Lymph Nodes: {ex} examined; {pos} with metastasis")])
    if r.prefix or r.mods.get("m"):
        lines.append([Lit("TNM Descriptors: " + ("y (post-treatment)" if r.prefix else "m (multiple primary tumors)"))])
    lines += _synoptic_tnm(r)
    for line in lines:
        doc.add(line, sep="\n")
    doc.write("\n")
    biomarkers(r, header=False)


def _synoptic_tnm(r: Report) -> list[list]:
    rng, out = r.rng, []
    pt_key, pn_key = rng.choice([("Primary Tumor (pT): ", "Regional Lymph Nodes (pN): "),
                                 ("pT Category: ", "pN Category: ")])
    p = r.prefix + "p"
    if r.t:
        t = p + r.t + ("(m)" if r.mods.get("m") else "")
        out.append([Lit(pt_key), Ent("cancer_stage", V.ocr(t, rng) if r.noisy else t)])
        r.noisy_used |= r.noisy and out[-1][-1].text != t
    if r.n:
        n = p + _original_n(r) + ("(sn)" if r.mods.get("sn") and r.n != "NX" else "")
        out.append([Lit(pn_key), Ent("cancer_stage", V.ocr(n, rng) if r.noisy else n)])
        r.noisy_used |= r.noisy and out[-1][-1].text != n
    if r.m_text:
        out.append([Lit("Distant Metastasis (pM): "), Ent("cancer_stage", r.m_text)])
    elif r.t and rng.random() < .6:
        out.append([Lit("Distant Metastasis (pM): Not applicable - pM cannot be determined from the submitted specimen(s)")])
        r.attr("M", not_applicable=True)
    return out


def biomarkers(r: Report, header: bool = True) -> None:
    doc, rng = r.doc, r.rng
    if r.er is None and not r.her2:
        return
    if header:
        doc.write(rng.choice(["BIOMARKER STUDIES (block A2):\n", "IMMUNOHISTOCHEMISTRY:\n", "Prognostic markers:\n"]))
        doc.fresh()
    lines = []
    if r.er is not None and r.amend == "er_pr":
        lines.append([Ent("hormone_receptor_type", "ER"), " and ", Ent("hormone_receptor_type", "PR"),
                      ": pending; results to follow in an addendum."])
    elif r.er is not None:
        for name, pct in (("ER", r.er), ("PR", r.pr)):
            words = r.words and pct in V.NUMBER_WORDS and rng.random() < .6
            frags, _, attrs = V.receptor_text(name, pct, rng, words, r.synoptic)
            r.attr(name, **attrs)
            r.words_used |= words
            lines.append(frags)
    if r.her2:
        frags, _, attrs = V.her2_text(r.her2[0], r.her2[1], rng, r.synoptic, pending=r.amend == "her2")
        r.attr("HER2", **attrs)
        lines.append(frags)
    for line in lines:
        doc.add(line, sep="\n")
    doc.write("\n")


def addendum(r: Report) -> None:
    doc, rng = r.doc, r.rng
    if not r.amend:
        if rng.random() < .08:
            doc.write("\nADDENDUM:\n")
            doc.fresh()
            doc.add(["Additional levels were examined; the diagnosis is unchanged."])
        return
    doc.write("\n")
    doc.fresh()
    when = r.date + dt.timedelta(days=rng.randrange(2, 12))
    doc.add(fill(rng.choice(["ADDENDUM ({d}):", "AMENDED REPORT ({d}):", "Addendum {d}:"]), d=date_frag(when, rng)))
    doc.write("\n")
    doc.fresh()
    for line in _addendum_lines(r):
        doc.add(line)


def _addendum_lines(r: Report) -> list[list]:
    rng = r.rng
    T, S = (lambda x: Ent("hormone_receptor_type", x)), (lambda x: Ent("hormone_receptor_status", x))  # noqa: E731
    if r.amend == "her2":
        ish, attrs = V.ish_text(r.her2[1], rng, {})
        r.attr("HER2", **attrs, **({"her2_low": True} if r.her2[1] == "not amplified" else {}))
        final = "positive" if r.her2[1] == "amplified" else "negative"
        return [[T("HER2"), Lit(" in situ hybridization was performed on block A2")] + ish + ["."],
                [Lit("Final "), T("HER2"), Lit(" status: "), S(final.upper() if rng.random() < .5 else final), "."]]
    if r.amend == "er_pr":
        out = []
        for name, pct in (("ER", r.er), ("PR", r.pr)):
            frags, _, attrs = V.receptor_text(name, pct, rng, False, False)
            r.attr(name, **attrs)
            out.append(frags + ["."])
        return out
    if r.amend == "pN":
        size = f"{rng.uniform(.3, 1.9):.1f} mm"
        r.attr("pN", nodes_positive=1)
        return [[f"Deeper levels of the lymph node reveal a micrometastasis measuring {size}."],
                ["The nodal category is amended to "] + _tnm(r, "", "N1mi", "") + ["."]]
    return [["On review, the histologic grade is revised to "] + _grade(r, r.grade, False) + ["."]]
