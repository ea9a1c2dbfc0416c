"""Staging report: macro F1 equals sklearn's, CIs bracket it, tables and the CLI command."""

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from cancerllm.evaluate.staging_report import (
    bootstrap_macro_f1, difficulty_shares, eval_staging_rules, score_systems, write_staging_report,
)
from cancerllm.schema.staging import HEADLINE_FIELDS, NR

GOLD = [
    {"pT": "T1c", "pN": "N0", "M": NR, "grade": "2", "ER": "positive", "PR": "positive", "HER2": "negative"},
    {"pT": "T2", "pN": "N1a", "M": NR, "grade": "3", "ER": "negative", "PR": "negative", "HER2": "positive"},
    {"pT": "T2", "pN": "N0(i+)", "M": "M0", "grade": "3", "ER": "positive", "PR": NR, "HER2": "equivocal"},
    {"pT": "T3", "pN": "N2a", "M": "M1", "grade": "1", "ER": "positive", "PR": "positive", "HER2": NR},
    {"pT": NR, "pN": NR, "M": NR, "grade": NR, "ER": NR, "PR": NR, "HER2": NR},
    {"pT": "T1a", "pN": "N0", "M": NR, "grade": "1", "ER": "positive", "PR": "negative", "HER2": "negative"},
]
RULES = [
    {"pT": "T1", "pN": "N0", "M": NR, "grade": "2", "ER": "positive", "PR": "positive", "HER2": "negative"},
    {"pT": "T2", "pN": "N1", "M": NR, "grade": "2", "ER": "negative", "PR": NR, "HER2": "positive"},
    {"pT": NR, "pN": "N0", "M": "M0", "grade": "3", "ER": "positive", "PR": "positive", "HER2": "negative"},
    {"pT": "T3", "pN": "N1a", "M": NR, "grade": "1", "ER": "negative", "PR": "positive", "HER2": NR},
    {"pT": "T2", "pN": NR, "M": NR, "grade": NR, "ER": NR, "PR": NR, "HER2": NR},
    {"pT": "T1a", "pN": "N0", "M": NR, "grade": NR, "ER": "positive", "PR": "negative", "HER2": "negative"},
]


def _sk(gold, pred):
    labels = sorted(set(gold) | set(pred))
    return 100 * f1_score(gold, pred, labels=labels, average="macro", zero_division=0)


@pytest.fixture(scope="module")
def result():
    return score_systems(GOLD, {"rules": RULES, "oracle": GOLD}, n_boot=300, seed=1)


def test_macro_f1_equals_sklearn_on_a_hand_example(result):
    from cancerllm.schema.staging import to_coarse
    for f in ("pT", "pN", "HER2"):
        g = [to_coarse(f, x[f]) for x in GOLD]
        p = [to_coarse(f, x[f]) for x in RULES]
        assert result["systems"]["rules"]["fields"][f]["coarse"]["macro_f1"] == pytest.approx(_sk(g, p))
        fine = result["systems"]["rules"]["fields"][f]["fine"]
        assert fine["macro_f1"] == pytest.approx(_sk([x[f] for x in GOLD], [x[f] for x in RULES]))
    # pT coarse: gold T1 T2 T2 T3 NR T1, pred T1 T2 NR T3 T2 T1 -> labels stated in schema order
    assert result["systems"]["rules"]["fields"]["pT"]["coarse"]["labels"] == ["T1", "T2", "T3", "NR"]
    # reported-only drops gold NR and does not average NR (a predicted NR is still a miss)
    rep = result["systems"]["rules"]["fields"]["pT"]["reported"]
    assert rep["labels"] == ["T1", "T2", "T3"] and rep["n"] == 5
    g, p = ["T1", "T2", "T2", "T3", "T1"], ["T1", "T2", "NR", "T3", "T1"]
    assert rep["macro_f1"] == pytest.approx(100 * f1_score(g, p, labels=["T1", "T2", "T3"], average="macro"))
    heads = [result["systems"]["rules"]["fields"][f]["coarse"]["macro_f1"] for f in HEADLINE_FIELDS]
    assert result["systems"]["rules"]["headline"]["macro_f1"] == pytest.approx(np.mean(heads))
    assert result["systems"]["oracle"]["headline"]["macro_f1"] == pytest.approx(100.0)


def test_cis_contain_the_point_estimate(result):
    for system in result["systems"].values():
        cells = [system["headline"]] + [d[v] for d in system["fields"].values() for v in ("coarse", "fine")]
        for cell in cells:
            assert cell["ci_low"] <= cell["macro_f1"] <= cell["ci_high"]


def test_vectorised_bootstrap_matches_sklearn_on_each_resample():
    rng = np.random.default_rng(0)
    gold = list(rng.choice(["a", "b", "c"], 40))
    pred = list(rng.choice(["a", "b", "c", "d"], 40, p=[0.3, 0.3, 0.35, 0.05]))   # "d" rare
    labels = ["a", "b", "c", "d"]
    idx = rng.integers(0, 40, size=(5, 40))
    weights = np.stack([np.bincount(row, minlength=40) for row in idx]).astype(float)
    fast = bootstrap_macro_f1(gold, pred, labels, weights)
    for row, value in zip(idx, fast):
        g, p = [gold[i] for i in row], [pred[i] for i in row]
        present = sorted(set(g) | set(p))   # the point estimate's rule, applied to each resample
        assert value == pytest.approx(100 * f1_score(g, p, labels=present, average="macro", zero_division=0))


def test_confusion_matrix_and_invalid_predictions_count_as_nr():
    res = score_systems(GOLD[:2], {"bad": [{"pT": "T9"}, {"pT": "T2"}]}, fields=["pT"], n_boot=0)
    field = res["systems"]["bad"]["fields"]["pT"]
    assert res["systems"]["bad"]["invalid"] == {"pT": 1}
    assert field["coarse"]["confusion"] == {"labels": ["T1", "T2", "NR"], "matrix": [[0, 0, 1], [0, 1, 0], [0, 0, 0]]}
    assert field["coarse"]["ci_low"] is None


def test_tables_have_one_row_per_system_and_field(result, tmp_path):
    files = write_staging_report(result, tmp_path, shares={"synoptic": 0.5})
    rows = list(csv.DictReader(open(files["csv"], encoding="utf-8")))
    assert [(r["system"], r["field"]) for r in rows if r["field"] != "headline"] == \
        [(s, f) for s in ("rules", "oracle") for f in result["fields"]]
    assert sum(r["field"] == "headline" for r in rows) == 2
    assert json.loads(files["json"].read_text())["systems"]["rules"]["fields"]["pT"]["coarse"]["n"] == 6
    md = files["markdown"].read_text()
    assert "labels=<schema classes present in gold or prediction>" in md and "['T1', 'T2', 'T3', 'NR']" in md


def test_difficulty_shares():
    recs = [{"difficulties": ["synoptic", "ocr_noise"]}, {"difficulties": ["narrative"]}, {}, {"difficulties": ["x"]}]
    shares = difficulty_shares(recs)
    assert shares["synoptic"] == 0.25 and shares["narrative"] == 0.25 and shares["ypT"] == 0.0
    assert shares["x"] == 0.25 and list(shares)[-1] == "x"


def test_eval_staging_rules_command(tmp_path):
    from typer.testing import CliRunner

    from cancerllm.evaluate.cli import app

    reports = tmp_path / "reports.jsonl"
    lines = [json.dumps({"id": "r1", "text": "FINAL DIAGNOSIS: pT2 pN1a. ER: positive (90%). HER2 3+.",
                         "labels": {**GOLD[1], "ER": "positive", "HER2": "positive"}, "difficulties": ["synoptic"]}),
             "{not json SECRET-NOTE-TEXT",
             json.dumps({"id": "r2", "text": "Poorly differentiated carcinoma, pT3 N0 MX.", "labels": GOLD[3],
                         "difficulties": ["narrative"]})]
    reports.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["staging-rules", "--reports", str(reports), "--out", str(out), "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    assert "headline coarse macro F1" in res.output and "1 skipped" in res.output
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["labels"]["pT"] for p in preds] == ["T2", "T3"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] and "SECRET" not in " ".join(summary["skipped"])
    scores = json.loads((out / "staging_scores.json").read_text())
    assert scores["difficulty_shares"]["synoptic"] == 0.5 and "synoptic" in scores["headline_by_difficulty"]
    assert (out / "run.json").is_file()
    assert eval_staging_rules(reports, tmp_path / "again", n_boot=0)["n_scored"] == 2
