"""What the rule extractor and two small readers find in a report, as features and as text.

Why: the learned staging systems should not have to rediscover what a pattern finds
exactly (an explicit "pT2", "2 of 15 lymph nodes positive", "3.5 cm"); they get it as
input and learn when to trust it. Two forms of the same findings:

- `findings(text, cancer_type)`: sparse one-hot features for a linear model (the classical
  system; the cached heads' `findings` evidence): the extractor's resolved coarse value per
  field, every coarse candidate value it saw, the largest tumour size written near a tumour
  word (binned; crossed with the cancer type when there is one) and the lymph-node counts
  (binned);
- `evidence_text(text)`: the same findings written out, followed by the sentences they came
  from, for a language model to read (the cached heads' `window` evidence).

Hand-written on purpose (no library reads TNM wording or node counts of OCR'd pathology
reports); lenient, and checked only by how much they help the models on dev.
Not covered: sizes in words ("three centimetres"), per-specimen sizes or counts.
"""

from __future__ import annotations

import re

import numpy as np

from cancerllm.schema.staging import to_coarse

# ---------------------------------------------------------------- tumour size

_NUM = r"\d+(?:[.,]\d+)?"
_MEASURE = re.compile(rf"({_NUM})\s*(?:(?:x|X|by)\s*({_NUM})\s*)?(?:(?:x|X|by)\s*({_NUM})\s*)?\.?\s*(cm|mm)\b")
_TUMOUR_WORD = re.compile(r"(?i)tumou?r|carcinoma|mass|lesion|neoplasm|nodule|invasive|greatest")
_OTHER_OBJECT = re.compile(r"(?i)lymph|node|specimen|consist|received|lobe\b|fragment|margin|aggregate|resection"
                           r"|portion|from the")
SIZE_BINS_CM = (1, 2, 3, 4, 5, 7, 10)
# AJCC (7th edition, the TCGA era) T by the tumour's greatest dimension, for the organs whose
# T1-T3 are set by size: the cm thresholds between T1|T2|T3, keyed by TCGA project code.
# Extension (skin, chest wall, vessels, fat) can raise T above what size says: the model
# learns how far to trust it per organ. Organs staged by depth of invasion are absent.
SIZE_T_THRESHOLDS_CM = {"BRCA": (2, 5), "LUAD": (3, 7), "LUSC": (3, 7), "THCA": (2, 4), "HNSC": (2, 4),
                        "KIRC": (7,), "KIRP": (7,), "KICH": (7,), "ACC": (5,), "PAAD": (2,)}


def tumour_sizes_cm(text: str) -> list[float]:
    """Largest dimension (cm) of each measurement written just after a tumour word.

    A lenient reader: "carcinoma, 3.5 CM IN GREATEST DIMENSION", "Tumor Size: 2.1 x 1.8 cm";
    measurements of specimens, lymph nodes or margins (their word right before the number)
    are skipped. Values of 40 cm or more are taken as misreads.
    """
    out = []
    for m in _MEASURE.finditer(text):
        left = text[max(0, m.start() - 70):m.start()]
        if _TUMOUR_WORD.search(left) and not _OTHER_OBJECT.search(left[-35:]):
            value = max(float(v.replace(",", ".")) for v in m.groups()[:3] if v)
            value /= 10 if m.group(4).lower() == "mm" else 1
            if value < 40:
                out.append(value)
    return out


# ---------------------------------------------------------------- lymph-node counts

_WORDS = {"no": 0, "none": 0, "zero": 0, "single": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
          "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
          "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
          "twenty": 20}
_COUNT = r"(\d{1,3}|" + "|".join(_WORDS) + r")(?:\s*\(\d{1,3}\))?"
_NODE = r"(?:lymph\s*nodes?|nodes?|LNs?)\b"
_POSITIVE = r"(?:positive|involved|metastatic|with\s+metasta\w*|contain\w*\s+(?:metasta\w*|carcinoma|tumou?r))"
_NEGATIVE = r"(?:negative|free\s+of|without|no\s+(?:evidence|tumou?r|metasta\w*|carcinoma|malignan\w*))"
_RATIO = re.compile(rf"(?i)\b(\d{{1,2}})\s*/\s*(\d{{1,3}})\b(?=[^.]{{0,40}}{_NODE})"
                    rf"|{_NODE}[^.]{{0,40}}?\(\s*(\d{{1,2}})\s*/\s*(\d{{1,3}})\s*\)")
_OF = re.compile(rf"(?i)\b{_COUNT}\s+(?:out\s+)?of\s+{_COUNT}\s+(?:\w+\s+){{0,3}}{_NODE}")
_N_POSITIVE = re.compile(rf"(?i)(?:number\s+(?:of\s+)?(?:lymph\s+nodes?\s+)?(?:with\s+metasta\w*|positive|involved)"
                         rf"|positive\s+(?:lymph\s+)?nodes?)\s*[:=]?\s*{_COUNT}")
_N_EXAMINED = re.compile(rf"(?i)(?:number\s+(?:of\s+)?(?:lymph\s+nodes?\s+)?examined|nodes?\s+examined"
                         rf"|total\s+(?:number\s+of\s+)?(?:lymph\s+)?nodes?)\s*[:=]?\s*{_COUNT}")
_K_NODES = re.compile(rf"(?i)\b{_COUNT}\s+(?:\w+\s+){{0,2}}{_NODE}")
_NO_NODES = re.compile(r"(?i)\bno\s+(?:regional\s+)?(?:lymph\s+)?nodes?\s+(?:are\s+|were\s+)?(?:identified|present"
                       r"|submitted|resected|received|found|seen|sampled|examined)|lymph\s+nodes?\s*(?:status)?\s*"
                       r"[:=]?\s*(?:not\s+(?:specified|applicable|identified|sampled|submitted|examined)"
                       r"|none\s+(?:identified|submitted|examined|resected))")


def _count(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else _WORDS[word]


def node_counts(text: str) -> dict:
    """Lymph nodes the report counts: {"positive": max positive count or None, "examined":
    max examined count or None, "none_sampled": the report says no nodes were taken}.

    Reads "2/15", "pN1 (2/15)", "two of fifteen lymph nodes", "Number with metastases: 1",
    "Four lymph nodes, no tumor present". The largest count wins (several node groups are
    not summed: a lenient reader, not a stager).
    """
    pos: list[int] = []
    exam: list[int] = []
    for m in _RATIO.finditer(text):
        p, e = (int(g) for g in (m.group(1, 2) if m.group(1) else m.group(3, 4)))
        if p <= e:
            pos.append(p)
            exam.append(e)
    for m in _OF.finditer(text):
        p, e = _count(m.group(1)), _count(m.group(2))
        pos.append(p)
        exam.append(e)
    pos += [_count(m.group(1)) for m in _N_POSITIVE.finditer(text)]
    exam += [_count(m.group(1)) for m in _N_EXAMINED.finditer(text)]
    for m in _K_NODES.finditer(text):
        after = text[m.end():m.end() + 80]
        if re.match(rf"[^.]{{0,60}}{_NEGATIVE}", after, re.I):
            pos.append(0)
            exam.append(_count(m.group(1)))
        elif re.match(rf"[^.]{{0,60}}{_POSITIVE}", after, re.I):
            pos.append(_count(m.group(1)))
    return {"positive": max(pos) if pos else None, "examined": max(exam) if exam else None,
            "none_sampled": bool(_NO_NODES.search(text))}


def _node_features(counts: dict) -> dict[str, float]:
    out = {}
    p, e = counts["positive"], counts["examined"]
    if p is not None:
        out[f"nodes_pos={'0' if p == 0 else '1-3' if p <= 3 else '4-6' if p <= 6 else '7+'}"] = 1.0
    if e is not None:
        out[f"nodes_exam={'0' if e == 0 else '1-5' if e <= 5 else '6+'}"] = 1.0
    if counts["none_sampled"]:
        out["nodes=none_sampled"] = 1.0
    return out or {"nodes=unread": 1.0}


# ---------------------------------------------------------------- the two forms

def findings(text: str, cancer_type: str | None = None, nodes: bool = True, size_t: bool = True
             ) -> dict[str, float]:
    """Sparse features from the rule extractor and the size and node readers, for one report.

    `rule_<field>=<coarse>`: the extractor's resolved value (NR included, so "the rules
    found nothing" is a feature too); `cand_<field>=<coarse>`: every value it saw;
    `size_bin=<k>`: the largest tumour size's bin (`SIZE_BINS_CM`), `size=none` when none
    is written; with a cancer type, `type=<t>`, `size_bin=<k>|<t>` and (`size_t`, organs of
    `SIZE_T_THRESHOLDS_CM`) the T that size alone implies, `size_T=T2` and `size_T=T2|<t>`; with `nodes`, the
    binned node counts (`nodes_pos=1-3`, `nodes_exam=6+`, `nodes=none_sampled`, `nodes=unread`).
    """
    from cancerllm.baselines.staging_rules import extract_staging
    text = text or ""
    result = extract_staging(text)
    feats: dict[str, float] = {f"rule_{f}={r.coarse(f)}": 1.0 for f, r in result.fields.items()}
    for c in result.candidates:
        feats[f"cand_{c.field}={to_coarse(c.field, c.label)}"] = 1.0
    sizes = tumour_sizes_cm(text)
    if sizes:
        k = sum(max(sizes) > b for b in SIZE_BINS_CM)
        feats[f"size_bin={k}"] = 1.0
        if cancer_type:
            feats[f"size_bin={k}|{cancer_type}"] = 1.0
            cuts = SIZE_T_THRESHOLDS_CM.get(cancer_type)
            if cuts and size_t:
                t = f"T{1 + sum(max(sizes) > c for c in cuts)}"
                feats[f"size_T={t}"] = feats[f"size_T={t}|{cancer_type}"] = 1.0
    else:
        feats["size=none"] = 1.0
    if cancer_type:
        feats[f"type={cancer_type}"] = 1.0
    if nodes:
        feats.update(_node_features(node_counts(text)))
    return feats


def _sentence(text: str, start: int, end: int, width: int = 120) -> str:
    """The sentence around text[start:end], cut to about `width` characters each side."""
    left = max(text.rfind(". ", max(0, start - width), start) + 2, max(0, start - width))
    stop = text.find(". ", end, end + width)
    right = stop + 1 if stop != -1 else min(len(text), end + width)
    return " ".join(text[left:right].split())


def evidence_text(text: str, fields: tuple[str, ...] = ("pT", "pN", "M", "ER", "PR", "HER2")) -> str:
    """The findings written out for a language model, then the sentences they came from.

    "Findings: pT T2; pN NR; ... Largest tumour size 3.5 cm. Lymph nodes: 0 positive of 12
    examined. Evidence: <sentence>. <sentence>." Sentences appear once, in report order.
    """
    from cancerllm.baselines.staging_rules import extract_staging
    text = text or ""
    result = extract_staging(text)
    parts = ["Findings: " + "; ".join(f"{f} {result.fields[f].coarse(f)}" for f in fields) + "."]
    sizes = tumour_sizes_cm(text)
    parts.append(f"Largest tumour size {max(sizes):g} cm." if sizes else "No tumour size found.")
    counts = node_counts(text)
    if counts["positive"] is not None or counts["examined"] is not None:
        pos = "?" if counts["positive"] is None else counts["positive"]
        exam = "?" if counts["examined"] is None else counts["examined"]
        parts.append(f"Lymph nodes: {pos} positive of {exam} examined.")
    elif counts["none_sampled"]:
        parts.append("Lymph nodes: none sampled.")
    spans = sorted({(r.start, r.end) for f, r in result.fields.items() if f in fields and r.start is not None})
    sentences = list(dict.fromkeys(_sentence(text, s, e) for s, e in spans))
    if sentences:
        parts.append("Evidence: " + " ".join(sentences))
    return " ".join(parts)


def report_features(base_dir, texts: list[str], cache_dir, cfg, evidence: bool = True, log_every: int = 64):
    """What the cached-feature heads read (`cancerllm.models.cached_heads.ReportFeatures`), and
    the window coverage: every report's window features and, with `evidence`, the features of
    its `evidence_text` (one more cached encoding, short) and its `findings` (no cancer type:
    the heads read only the text). Lives here, not in models/, because it runs the rules."""
    from cancerllm.models.cached_heads import ReportFeatures, encode_cached
    windows, coverage = encode_cached(base_dir, texts, cache_dir, cfg, log_every=log_every)
    if not evidence:
        return ReportFeatures(windows), coverage
    ev, _ = encode_cached(base_dir, [evidence_text(t) for t in texts], cache_dir, cfg, log_every=0)
    return ReportFeatures(windows, np.stack([e.mean(0) for e in ev]), [findings(t) for t in texts]), coverage
