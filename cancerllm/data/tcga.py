"""TCGA pathology reports (Kefeli et al. T14 test set) with registry labels mapped to the schema.

Why: the synthetic reports show that the staging pipeline runs; 1,034 real OCR'd reports
from 23 cancer types show how it does on text nobody wrote for it. The data are read
from a folder the user points to (they are never shipped in the package); see
shared/data/tcga_reports_kefeli_t14/SOURCE.md for provenance and licences.

Records look like the synthetic pathology records: `id` (report file name),
`patient_id`, `cancer_type`, `note_type`, `text`, `labels` (fine classes of
`cancerllm.schema.staging.FINE`), `attributes` (registry values kept beside the
labels), `label_sources` (which column gave each label) and `source`.

Label mapping (every raw value seen is listed in MAPPINGS; anything else becomes NR and
is counted in `TcgaReports.unmapped` instead of raising):
- pT: the coarse class is the T14 label (T1-T4, the published task). The fine class
  comes from GDC `ajcc_pathologic_t` (else BCR pT): T1a/b/c, T1mi and T4a-d are kept;
  sub-stages the schema lacks collapse to the parent (T1b1 -> T1b, T2a/T2a1 -> T2,
  T3a-c -> T3). If the fine value disagrees with the T14 class, the T14 NOS class wins
  (counted in `TcgaReports.conflicts`).
- pN: BCR pN (finer: "N0 (i+)", N1mi), else GDC N. "N0 (i-)" / "N0 (mol-)" -> N0,
  "N0 (i+)" -> N0(i+), "N0 (mol+)" -> N0, N2c -> N2 (no N2c class), NX -> NX.
- M: BCR pM, else GDC M. M0 -> M0; M1, M1a-c -> M1; MX -> NR (not an AJCC category
  since the 7th edition, as in the extractor); "cM0 (i+)" -> M0.
- grade: BCR grade. G1/G2/G3 -> 1/2/3; G4 -> 3 (the three-tier schema has no 4; same
  policy as the extractor, flag `collapsed_g4`); "High Grade" -> 3 and "Low Grade" -> 1
  (two-tier systems mapped to the ends of the scale, as the extractor reads those words);
  GX -> NR. Breast has no grade in TCGA; Gleason (PRAD) is not a histologic grade here
  and stays an attribute.
- ER, PR: BCR IHC status Positive/Negative; "Indeterminate"/missing -> NR.
- HER2: ASCO/CAP 2018 order on BCR IHC + FISH: IHC Positive -> positive; else FISH
  Positive/Negative decides; else IHC Negative -> negative, IHC Equivocal -> equivocal;
  "Indeterminate"/missing -> NR.
- AJCC stage ("Stage IIA") is not a schema field; it is kept as the attribute
  `ajcc_stage` ("IIA"), with `ajcc_edition`.
Caveat: these are registry values, not text annotations: a value may be absent from
the report text (then an extractor's NR is "wrong" against the registry). Score the
"reported-only" variant and the T field, which the T14 set was built around.

The fixed split (`tcga_t14_split.json` beside this module, ids only) is 60/20/20 by
patient, stratified by cancer type and T class; `make_tcga_split` regenerates it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.io import atomic_write_jsonl, atomic_write_text
from cancerllm.schema.staging import FIELDS, NR

SOURCE = "tcga_reports_kefeli_t14"
REPORTS_FILE = "T14_test.csv"
LABELS_FILE = "T14_test_labels.csv"
SPLIT_PATH = Path(__file__).parent / "splits" / "tcga_t14_split.json"
SPLIT_SEED = 20240514
SPLIT_FRACTIONS = {"train": 0.6, "dev": 0.2, "test": 0.2}
# Systematic allocation: walking patients stratum by stratum, the k-th gets CYCLE[k % 5],
# so every stratum (and the whole set) is split 3:1:1 and small strata spread evenly.
SPLIT_CYCLE = ("train", "dev", "train", "test", "train")

_T_FINE = {"T1mi": "T1mi", "T1a": "T1a", "T1b": "T1b", "T1c": "T1c", "T1": "T1", "T1b1": "T1b", "T1b2": "T1b",
           "T2": "T2", "T2a": "T2", "T2b": "T2", "T2c": "T2", "T2a1": "T2", "T2a2": "T2",
           "T3": "T3", "T3a": "T3", "T3b": "T3", "T3c": "T3",
           "T4": "T4", "T4a": "T4a", "T4b": "T4b", "T4c": "T4c", "T4d": "T4d", "T4e": "T4"}
MAPPINGS: dict[str, dict[str, str]] = {
    "pT": _T_FINE,
    "pN": {"NX": "NX", "N0": "N0", "N0 (i-)": "N0", "N0 (i+)": "N0(i+)", "N0 (mol-)": "N0", "N0 (mol+)": "N0",
           "N1": "N1", "N1mi": "N1mi", "N1a": "N1a", "N1b": "N1b", "N1c": "N1c", "N2": "N2", "N2a": "N2a",
           "N2b": "N2b", "N2c": "N2", "N3": "N3", "N3a": "N3a", "N3b": "N3b", "N3c": "N3c"},
    "M": {"M0": "M0", "cM0 (i+)": "M0", "M1": "M1", "M1a": "M1", "M1b": "M1", "M1c": "M1", "MX": NR},
    "grade": {"G1": "1", "G2": "2", "G3": "3", "G4": "3", "High Grade": "3", "Low Grade": "1", "GX": NR},
    "ER": {"Positive": "positive", "Negative": "negative", "Indeterminate": NR},
    "PR": {"Positive": "positive", "Negative": "negative", "Indeterminate": NR},
    "HER2_IHC": {"Positive": "positive", "Negative": "negative", "Equivocal": "equivocal", "Indeterminate": NR},
    "HER2_FISH": {"Positive": "positive", "Negative": "negative", "Equivocal": NR, "Indeterminate": NR},
}


@dataclass
class TcgaReports:
    """The records and a count of how every raw registry value was mapped."""

    records: list[dict]
    mapped: dict[str, Counter] = field(default_factory=dict)   # field -> Counter("raw -> label")
    unmapped: Counter = field(default_factory=Counter)        # "column=value" -> count
    conflicts: Counter = field(default_factory=Counter)       # e.g. pT fine value vs T14 class

    def label_counts(self) -> dict[str, dict[str, int]]:
        return {f: dict(Counter(r["labels"][f] for r in self.records)) for f in FIELDS}

    def mapping_report(self) -> dict:
        return {"n_reports": len(self.records), "label_counts": self.label_counts(),
                "mapped": {f: dict(c) for f, c in self.mapped.items()}, "unmapped": dict(self.unmapped),
                "conflicts": dict(self.conflicts)}


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError(f"{path}: not found (expected the TCGA T14 folder, see SOURCE.md)")
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


class _Mapper:
    def __init__(self) -> None:
        self.mapped: dict[str, Counter] = {f: Counter() for f in FIELDS}
        self.unmapped: Counter = Counter()
        self.conflicts: Counter = Counter()

    def map(self, field_name: str, table: str, column: str, raw: str) -> str | None:
        """Schema label for a raw registry value; None when absent; NR (counted) when unknown."""
        raw = (raw or "").strip()
        if not raw:
            return None
        label = MAPPINGS[table].get(raw)
        if label is None:
            self.unmapped[f"{column}={raw}"] += 1
            label = NR
        self.mapped[field_name][f"{column}:{raw} -> {label}"] += 1
        return label


def _labels(row: dict, mapper: _Mapper) -> tuple[dict, dict, dict]:
    labels, sources, attrs = {}, {}, {}
    t14 = row["t14_class"].strip()
    fine_raw, col = (row["ajcc_pathologic_t_gdc"], "ajcc_pathologic_t_gdc") if row["ajcc_pathologic_t_gdc"] \
        else (row["bcr_pt"], "bcr_pt")
    fine = mapper.map("pT", "pT", col, fine_raw)
    if fine is None or fine == NR or fine[:2] != t14:
        if fine is not None:
            mapper.conflicts[f"pT {col}:{fine_raw} vs t14_class:{t14}"] += 1
        fine, col = t14, "t14_class"
    labels["pT"], sources["pT"] = fine, col
    for field_name, cols in (("pN", ("bcr_pn", "ajcc_pathologic_n_gdc")), ("M", ("bcr_pm", "ajcc_pathologic_m_gdc")),
                             ("grade", ("bcr_grade",)), ("ER", ("bcr_er_ihc",)), ("PR", ("bcr_pr_ihc",))):
        labels[field_name], sources[field_name] = NR, None
        for c in cols:
            if (label := mapper.map(field_name, field_name, c, row[c])) is not None:
                labels[field_name], sources[field_name] = label, c
                break
    ihc = mapper.map("HER2", "HER2_IHC", "bcr_her2_ihc", row["bcr_her2_ihc"])
    fish = mapper.map("HER2", "HER2_FISH", "bcr_her2_fish", row["bcr_her2_fish"])
    if ihc == "positive":
        labels["HER2"], sources["HER2"] = "positive", "bcr_her2_ihc"
    elif fish in ("positive", "negative"):
        labels["HER2"], sources["HER2"] = fish, "bcr_her2_fish"
    elif ihc is not None:
        labels["HER2"], sources["HER2"] = ihc, "bcr_her2_ihc"
    else:
        labels["HER2"], sources["HER2"] = NR, None
    if row["bcr_grade"].strip() == "G4":
        attrs["collapsed_g4"] = True
    stage = row["bcr_stage"].strip()
    if stage.startswith("Stage ") and stage != "Stage X":
        attrs["ajcc_stage"] = stage.removeprefix("Stage ")
    for key, column in (("ajcc_edition", "bcr_ajcc_edition"), ("registry_t", "ajcc_pathologic_t_gdc"),
                        ("registry_n", "bcr_pn"), ("registry_m", "bcr_pm"), ("gleason", "bcr_gleason"),
                        ("histology", "bcr_histology"), ("her2_ihc", "bcr_her2_ihc"), ("her2_fish", "bcr_her2_fish")):
        if row[column].strip():
            attrs[key] = row[column].strip()
    return labels, sources, attrs


def load_tcga_reports(data_dir: str | os.PathLike) -> TcgaReports:
    """Read the 1,034 reports and their registry labels from the T14 folder."""
    data_dir = Path(data_dir)
    texts = _read_csv(data_dir / REPORTS_FILE)
    label_rows = {r["patient_filename"]: r for r in _read_csv(data_dir / LABELS_FILE)}
    mapper = _Mapper()
    records = []
    for line, row in enumerate(texts, start=2):
        rid = row["patient_filename"]
        meta = label_rows.get(rid)
        if meta is None:
            mapper.unmapped["report_without_labels"] += 1
            continue
        labels, sources, attrs = _labels(meta, mapper)
        records.append({"id": rid, "patient_id": meta["patient_id"], "cancer_type": meta["cancer_type"],
                        "note_type": "pathology_report", "text": row["text"], "labels": labels,
                        "label_sources": sources, "attributes": attrs, "source": SOURCE})
    return TcgaReports(records, mapper.mapped, mapper.unmapped, mapper.conflicts)


# ---------------------------------------------------------------------------------------
# The fixed split
# ---------------------------------------------------------------------------------------

def _hash_key(seed: int, patient_id: str) -> str:
    return hashlib.sha256(f"{seed}:{patient_id}".encode()).hexdigest()


def make_tcga_split(records: list[dict], seed: int = SPLIT_SEED) -> dict:
    """Patient-level train/dev/test split, stratified by (cancer type, coarse T).

    Deterministic without a random generator (a seeded SHA-256 of the patient id orders
    patients inside each stratum), so it regenerates identically on any platform and
    library version. All reports of a patient go to the same split.
    """
    strata: dict[tuple[str, str], set[str]] = {}
    for r in records:
        strata.setdefault((r["cancer_type"], r["labels"]["pT"][:2]), set()).add(r["patient_id"])
    assigned: dict[str, str] = {}
    k = 0
    for key in sorted(strata):
        for pid in sorted(strata[key], key=lambda p: _hash_key(seed, p)):
            if pid not in assigned:
                assigned[pid] = SPLIT_CYCLE[k % len(SPLIT_CYCLE)]
                k += 1
    split = {name: sorted(r["id"] for r in records if assigned[r["patient_id"]] == name) for name in SPLIT_FRACTIONS}
    return {"name": "tcga_t14", "seed": seed, "unit": "patient", "stratified_by": ["cancer_type", "pT coarse"],
            "fractions": SPLIT_FRACTIONS,
            "method": "strata sorted; patients ordered by sha256(seed:patient_id); k-th patient -> "
                      + "/".join(SPLIT_CYCLE) + "[k % 5]",
            "counts": {name: len(ids) for name, ids in split.items()}, **split}


def split_json(split: dict) -> str:
    return json.dumps(split, indent=1) + "\n"


def save_tcga_split(split: dict, path: str | os.PathLike = SPLIT_PATH) -> Path:
    path = atomic_write_text(path, split_json(split))
    path.chmod(0o644)  # a package data file, readable by everyone who can import the package
    return path


def load_tcga_split(path: str | os.PathLike = SPLIT_PATH) -> dict[str, list[str]]:
    """{'train': [ids], 'dev': [ids], 'test': [ids]} from the saved split file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: data[name] for name in SPLIT_FRACTIONS}


def split_records(records: list[dict], split: dict[str, list[str]] | None = None) -> dict[str, list[dict]]:
    """Records grouped by the (saved, by default) split; ids not in the split are left out."""
    split = split or load_tcga_split()
    where = {rid: name for name in SPLIT_FRACTIONS for rid in split[name]}
    out: dict[str, list[dict]] = {name: [] for name in SPLIT_FRACTIONS}
    for r in records:
        if r["id"] in where:
            out[where[r["id"]]].append(r)
    return out


def write_tcga_jsonl(data_dir: str | os.PathLike, out_path: str | os.PathLike, split: str | None = None) -> Path:
    """Write the reports (all, or one split) as JSONL that the generic readers accept.

    Writes to a path the user chooses, never into the package: the text is TCGA's.
    """
    records = load_tcga_reports(data_dir).records
    if split is not None:
        if split not in SPLIT_FRACTIONS:
            raise InputError(f"unknown split {split!r}; expected one of {list(SPLIT_FRACTIONS)}")
        records = split_records(records)[split]
    return atomic_write_jsonl(out_path, records)
