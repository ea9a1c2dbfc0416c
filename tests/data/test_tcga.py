"""TCGA T14 loader: all 1,034 reports, every registry value mapped, the fixed patient split."""

from collections import Counter
from pathlib import Path

import pytest

from cancerllm.data.tcga import (
    SPLIT_PATH, load_tcga_reports, load_tcga_split, make_tcga_split, split_json, split_records, write_tcga_jsonl,
)
from cancerllm.schema.staging import FIELDS, NR, to_coarse, validate_labels

TCGA_DIR = Path(__file__).parents[2] / "../shared/data/tcga_reports_kefeli_t14"
pytestmark = pytest.mark.skipif(not TCGA_DIR.is_dir(),
                                reason="TCGA T14 reports not present (../shared/data, see SOURCE.md)")


@pytest.fixture(scope="module")
def tcga():
    return load_tcga_reports(TCGA_DIR)


def test_reads_all_reports_as_pathology_records(tcga):
    assert len(tcga.records) == 1034
    assert len({r["id"] for r in tcga.records}) == 1034
    r = tcga.records[0]
    assert {"id", "patient_id", "cancer_type", "text", "labels", "source"} <= set(r)
    assert all(r["text"] and set(r["labels"]) == set(FIELDS) for r in tcga.records)
    assert Counter(r["cancer_type"] for r in tcga.records)["BRCA"] == 146


def test_every_label_is_mapped_to_the_schema(tcga):
    assert tcga.unmapped == Counter()
    for r in tcga.records:
        validate_labels(r["labels"])
    coarse = {f: Counter(to_coarse(f, r["labels"][f]) for r in tcga.records) for f in FIELDS}
    assert coarse["pT"] == {"T1": 262, "T2": 351, "T3": 317, "T4": 104}          # the T14 classes
    assert coarse["ER"] == {"positive": 111, "negative": 29, NR: 894}
    assert coarse["PR"] == {"positive": 98, "negative": 42, NR: 894}
    assert coarse["HER2"] == {"positive": 19, "negative": 109, "equivocal": 4, NR: 902}
    assert coarse["M"] == {"M0": 613, "M1": 46, NR: 375}                          # MX -> NR
    assert coarse["grade"] == {"1": 37, "2": 148, "3": 186, NR: 663}              # no breast grade in TCGA
    assert coarse["pN"][NR] == 12 and coarse["pN"]["NX"] == 166
    assert sum(c for k, c in tcga.mapped["pN"].items() if k.startswith("bcr_pn:N0 (i+)")) == 6
    assert sum(tcga.conflicts.values()) == 1    # one GDC T2a1 against the T14 class T1


def test_split_is_saved_deterministic_stratified_and_patient_disjoint(tcga):
    assert SPLIT_PATH.read_text(encoding="utf-8") == split_json(make_tcga_split(tcga.records))
    split = load_tcga_split()
    ids = [i for name in ("train", "dev", "test") for i in split[name]]
    assert len(ids) == len(set(ids)) == 1034
    assert [len(split[n]) for n in ("train", "dev", "test")] == [620, 207, 207]
    parts = split_records(tcga.records, split)
    patients = {n: {r["patient_id"] for r in recs} for n, recs in parts.items()}
    assert not (patients["train"] & patients["dev"] or patients["train"] & patients["test"]
                or patients["dev"] & patients["test"])
    # stratified: each T class and each cancer type with >= 10 reports is in every split
    for key in ("cancer_type", "t"):
        get = (lambda r: r["cancer_type"]) if key == "cancer_type" else (lambda r: r["labels"]["pT"][:2])
        total = Counter(get(r) for r in tcga.records)
        for name, recs in parts.items():
            counts = Counter(get(r) for r in recs)
            assert all(counts[k] > 0 for k, n in total.items() if n >= 10), (key, name)
    assert make_tcga_split(tcga.records, seed=1) != make_tcga_split(tcga.records)


def test_writes_jsonl_the_generic_readers_accept(tmp_path):
    from cancerllm.data.readers import read_documents
    path = write_tcga_jsonl(TCGA_DIR, tmp_path / "tcga_test.jsonl", split="test")
    result = read_documents(path)
    assert len(result.documents) == 207 and result.report.n_skipped == 0
    assert result.documents[0].patient_id and result.documents[0].metadata["labels"]["pT"]
