"""Heads evaluation scores are sklearn's macro F1 with a stated label list (via staging_report)."""

from __future__ import annotations

import pytest
from sklearn.metrics import f1_score

from cancerllm.evaluate.heads import score_predictions
from cancerllm.schema.staging import to_coarse


def test_macro_f1_equals_sklearn_on_coarse_fine_and_reported():
    gold = ["T1a", "T1c", "T2", "T2", "NR", "T4b", "NR"]
    pred = ["T1c", "T1c", "T2", "T1a", "NR", "NR", "T3"]
    records = [{"labels": {"pT": g, "ER": None}} for g in gold]
    result = score_predictions(records, [{"pT": p, "ER": "NR"} for p in pred], ["pT", "ER"], n_boot=0)
    pt = result["systems"]["heads"]["fields"]["pT"]

    gc, pc = [to_coarse("pT", x) for x in gold], [to_coarse("pT", x) for x in pred]
    assert pt["coarse"]["labels"] == ["T1", "T2", "T3", "T4", "NR"]
    assert pt["coarse"]["macro_f1"] == pytest.approx(
        100 * f1_score(gc, pc, labels=pt["coarse"]["labels"], average="macro", zero_division=0))
    # by hand, F1 = 2 TP / (gold + predicted): T1 4/5, T2 2/3, T3 0, T4 0, NR 1/2
    assert pt["coarse"]["macro_f1"] == pytest.approx(100 * (4 / 5 + 2 / 3 + 1 / 2) / 5)
    assert pt["fine"]["macro_f1"] == pytest.approx(
        100 * f1_score(gold, pred, labels=pt["fine"]["labels"], average="macro", zero_division=0))
    rep = [i for i, g in enumerate(gc) if g != "NR"]
    assert "NR" not in pt["reported"]["labels"] and pt["n_reported"] == len(rep)
    assert pt["reported"]["macro_f1"] == pytest.approx(100 * f1_score(
        [gc[i] for i in rep], [pc[i] for i in rep], labels=pt["reported"]["labels"], average="macro",
        zero_division=0))
    assert result["systems"]["heads"]["fields"]["ER"]["n"] == 0  # unlabelled gold is skipped, not NR
