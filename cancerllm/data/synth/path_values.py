"""Pathology values in the forms real reports use, each with the gold label it implies.

Every function returns tagged fragments plus what the staging head should read from them
(`cancerllm.schema.staging.FINE` classes). The forms are deliberately mixed: digits,
roman numerals, number words, Nottingham sums "3+3+2=8", combined TNM strings with (m)
and (sn), OCR confusions (pTlc, pNO), HER2 2+ with or without FISH.
"""

from __future__ import annotations

import random

from cancerllm.data.synth.phrases import DIFF, ROMAN, WORDS
from cancerllm.data.synth.text import Ent, Lit
from cancerllm.schema.staging import FINE

NUMBER_WORDS = {0: "zero", 1: "one", 5: "five", 10: "ten", 20: "twenty", 30: "thirty", 40: "forty", 50: "fifty",
                60: "sixty", 70: "seventy", 80: "eighty", 85: "eighty-five", 90: "ninety", 95: "ninety-five",
                99: "ninety-nine", 100: "one hundred"}


def fine_label(field: str, stated: str) -> str:
    """The schema class of a stated category: sub-categories the schema lacks fold to their parent."""
    value = stated
    while value and value not in FINE[field]:
        value = value[:-1]
    if not value:
        raise ValueError(f"{field}: cannot map {stated!r}")
    return value


def ocr(text: str, rng: random.Random) -> str:
    """OCR confusions in a TNM string: 1 -> l, 0 -> O (after the T/N letter)."""
    out = []
    for i, ch in enumerate(text):
        prev = text[i - 1] if i else ""
        if ch == "1" and prev in "TN" and rng.random() < .8:
            ch = "l"
        elif ch == "0" and prev in "TNM" and rng.random() < .8:
            ch = "O"
        out.append(ch)
    return "".join(out)


def nottingham_scores(grade: int, rng: random.Random) -> tuple[int, int, int]:
    total = {1: rng.choice([3, 4, 5]), 2: rng.choice([6, 7]), 3: rng.choice([8, 9])}[grade]
    while True:
        parts = (rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3))
        if sum(parts) == total:
            return parts


def grade_text(system: str, g: int, rng: random.Random, words: bool) -> tuple[list, dict]:
    """A stated grade: (fragments, attributes). `words` forces a number-free form."""
    G = lambda text: Ent("cancer_grade", text)  # noqa: E731
    if system == "nottingham":
        parts = nottingham_scores(g, rng)
        sum_txt = f"{parts[0]}+{parts[1]}+{parts[2]}={sum(parts)}"
        attrs = {"components": list(parts), "total_score": sum(parts)}
        if words:
            return [G(rng.choice([f"Nottingham grade {WORDS[g]}", f"grade {WORDS[g]} of three",
                                  f"histologic grade {WORDS[g]}"]))], attrs
        style = rng.randrange(5)
        if style == 0:
            return [G(f"Nottingham grade {g}"), Lit(f" ({sum_txt})")], attrs
        if style == 1:
            return [G(f"grade {g}"), Lit(f" (Nottingham score {sum(parts)}/9)")], attrs
        if style == 2:
            return [G(f"Nottingham histologic grade {ROMAN[g]}")], attrs
        if style == 3:
            return [G(f"modified Bloom-Richardson grade {g}"), Lit(f", score {sum_txt}")], attrs
        return [G(f"grade {g} of 3")], attrs
    if system == "who":
        return [G(rng.choice([f"CNS WHO grade {g}", f"WHO grade {g}"]))], {"system": "CNS WHO",
                                                                           **({"collapsed_g4": True} if g == 4 else {})}
    if system == "isup":
        return [G(rng.choice([f"WHO/ISUP grade {g}", f"ISUP nucleolar grade {g}"]))], {"system": "ISUP"}
    if system == "two_tier":
        if g == 2:
            return [G(rng.choice(["FIGO grade 2", "grade 2"]))], {}
        return [G(rng.choice(["high grade", "high-grade"] if g == 3 else ["low grade", "low-grade"]))], {"inferred": True}
    if words:
        return [G(DIFF[g])], {"inferred": True}
    return [G(rng.choice([f"G{g}", f"grade {g}", f"{DIFF[g]} (G{g})", f"grade {g}/3"]))], {}


def tnm_text(t: str, n: str, m: str, prefix: str, rng: random.Random, mods: dict, noisy: bool) -> list:
    """"pT1c(m) pN1mi(sn)", "ypT2 ypN1a", "pT2pN0", "pT3 N1b cM0" ... as cancer_stage spans."""
    p = prefix + "p"
    t_txt = p + t + ("(m)" if mods.get("m") else "") if t else ""
    n_txt = (p if rng.random() < .7 else "") + n + ("(sn)" if mods.get("sn") and n != "NX" else "") if n else ""
    parts = [x for x in (t_txt, n_txt, m) if x]
    if noisy:
        parts = [ocr(x, rng) for x in parts]
    if rng.random() < .25:
        return [Ent("cancer_stage", "".join(parts))]
    out: list = []
    for i, x in enumerate(parts):
        out += ([Lit(" ")] if i else []) + [Ent("cancer_stage", x)]
    return out


def node_counts(n: str, rng: random.Random, sentinel: bool) -> tuple[int, int]:
    """(positive, examined) consistent with the N category."""
    pos = {"N0": 0, "N0(i+)": 0, "NX": 0, "N1mi": 1, "N1a": rng.randint(1, 3), "N1b": rng.randint(2, 3),
           "N1c": 0, "N1": rng.randint(1, 3), "N2a": rng.randint(4, 6), "N2b": rng.randint(7, 9),
           "N2": rng.randint(4, 6), "N3a": rng.randint(10, 14), "N3": rng.randint(7, 12)}.get(n, rng.randint(1, 4))
    if n == "NX":
        return 0, 0
    examined = max(pos, 1) + (rng.randint(0, 3) if sentinel else rng.randint(6, 20))
    return pos, examined


def receptor_text(name: str, pct: int, rng: random.Random, words: bool, synoptic: bool) -> tuple[list, str, dict]:
    """ER or PR with percentage: (fragments, label, attributes)."""
    label = "positive" if pct >= 1 else "negative"
    status = "low positive" if name == "ER" and 1 <= pct <= 10 else label
    intensity = rng.choice(["strong", "moderate", "weak"]) if pct else ""
    attrs = {"percent": pct, **({"intensity": intensity} if intensity else {}),
             **({"low_positive": True} if status == "low positive" else {})}
    T, S = (lambda x: Ent("hormone_receptor_type", x)), (lambda x: Ent("hormone_receptor_status", x))  # noqa: E731
    full = {"ER": "Estrogen Receptor", "PR": "Progesterone Receptor"}[name]
    if words and pct in NUMBER_WORDS:
        adverb = {"strong": "strongly ", "moderate": "moderately ", "weak": "weakly "}.get(intensity, "")
        return [T(full.lower()), Lit(" "), S(adverb + label if pct else "negative"),
                Lit(f" in {NUMBER_WORDS[pct]} percent of tumor cells" if pct else " (no staining)")], label, attrs
    if synoptic:
        extra = f", {pct}% of tumor cells, {intensity} intensity" if pct else " (<1%)"
        return [T(full), Lit(" ("), T(name if name == "ER" else rng.choice(["PR", "PgR"])), Lit("): "),
                S(status.title()), Lit(extra)], label, attrs
    style = rng.randrange(3)
    if style == 0:
        return [T(name), Lit(": "), S(status), Lit(f" ({pct}%{', ' + intensity if intensity else ''})")], label, attrs
    if style == 1 and pct:
        allred = min(5, 2 + pct // 25) + {"strong": 3, "moderate": 2, "weak": 1}[intensity]
        attrs["allred"] = allred
        return [T(name), S("+" if label == "positive" else "-"), Lit(f" (Allred {allred}/8, {pct}%)")], label, attrs
    return [T(name), Lit(f" {pct}%, "), S(status)], label, attrs


def her2_text(ihc: str, ish: str | None, rng: random.Random, synoptic: bool, pending: bool) -> tuple[list, str, dict]:
    """HER2 by IHC (and ISH): (fragments, label, attributes). `pending` holds back the ISH result."""
    T, S = (lambda x: Ent("hormone_receptor_type", x)), (lambda x: Ent("hormone_receptor_status", x))  # noqa: E731
    attrs = {"ihc": ihc, **({"her2_low": True} if ihc == "1+" or (ihc == "2+" and ish == "not amplified") else {})}
    name = T(rng.choice(["HER2", "HER2/neu", "HER-2/neu"]) if not synoptic else "HER2")
    lead = [name, Lit(" (IHC): " if synoptic or rng.random() < .5 else " by IHC: ")]
    if ihc in ("0", "1+", "3+"):
        label = "positive" if ihc == "3+" else "negative"
        return lead + [S(label.title() if synoptic else label), Lit(f" (score {ihc})")], label, attrs
    if pending or not ish:
        attrs["ish"] = "pending"
        return lead + [Lit("2+ ("), S("equivocal"), Lit("); reflex FISH "),
                       Lit(rng.choice(["pending", "sent out", "to follow in an addendum"]))], "equivocal", attrs
    return lead + [Lit("2+ ("), S("equivocal"), Lit(")")] + ish_text(ish, rng, attrs)[0], \
        ("positive" if ish == "amplified" else "negative"), attrs


def ish_text(ish: str, rng: random.Random, attrs: dict) -> tuple[list, dict]:
    ratio = round(rng.uniform(2.1, 4.5), 1) if ish == "amplified" else round(rng.uniform(1.0, 1.7), 1)
    copies = round(rng.uniform(4.1, 9.0) if ish == "amplified" else rng.uniform(1.6, 3.5), 1)
    attrs.update({"ish": ish.replace(" ", "_"), "ratio": ratio, "copy_number": copies})
    return [Lit(f"; {rng.choice(['FISH', 'dual-probe ISH'])}: {ish} (HER2/CEP17 ratio {ratio}; "
                f"average HER2 copy number {copies} signals/cell)")], attrs
