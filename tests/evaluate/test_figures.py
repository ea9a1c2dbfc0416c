"""Figures from the files runs write: each PNG is produced from real-shaped inputs and says what it shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cancerllm.errors import InputError
from cancerllm.evaluate import figures
from cancerllm.evaluate.staging_report import score_systems, write_staging_report
from cancerllm.schema.staging import FIELDS, FINE

PNG = b"\x89PNG\r\n\x1a\n"


def _noisy(gold: list[dict], rng, p_keep: float) -> list[dict]:
    return [{f: (g[f] if rng.random() < p_keep else rng.choice(FINE[f])) for f in FIELDS} for g in gold]


@pytest.fixture(scope="module")
def staging_scores(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    gold = [{f: str(rng.choice(FINE[f])) for f in FIELDS} for _ in range(60)]
    systems = {"heads": _noisy(gold, rng, 0.8), "rules": _noisy(gold, rng, 0.5)}
    out = tmp_path_factory.mktemp("staging")
    write_staging_report(score_systems(gold, systems, n_boot=50), out)
    return out / "staging_scores.json"


def test_confusion_heatmaps_one_png_per_system(staging_scores: Path, tmp_path: Path):
    paths = figures.staging_confusion_heatmaps(staging_scores, tmp_path)
    assert sorted(p.name for p in paths) == ["confusion_heads.png", "confusion_rules.png"]
    assert all(p.read_bytes().startswith(PNG) for p in paths)


def test_forest_plot(staging_scores: Path, tmp_path: Path):
    out = figures.staging_forest_plot(staging_scores, tmp_path / "forest.png")
    assert out.read_bytes().startswith(PNG)
    with pytest.raises(InputError, match="not found"):
        figures.staging_forest_plot(tmp_path / "missing.json", tmp_path / "x.png")


def _trainer_state(run: Path, steps: int) -> None:
    ckpt = run / "checkpoints" / f"checkpoint-{steps}"
    ckpt.mkdir(parents=True)
    hist = [{"step": s, "loss": 5.0 / s} for s in range(1, steps + 1)] + [{"step": steps, "eval_loss": 1.0}]
    (ckpt / "trainer_state.json").write_text(json.dumps({"log_history": hist}))


def test_log_history_takes_the_longer_record(tmp_path: Path):
    run = tmp_path / "run"
    _trainer_state(run, 4)
    assert max(r["step"] for r in figures.log_history(run)) == 4
    rows = ["step,epoch,name,value"] + [f"{s},0.1,loss,{3.0 / s}" for s in range(1, 9)] + ["8,0.2,eval_loss,0.9"]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    hist = figures.log_history(run)
    assert [r["step"] for r in hist] == list(range(1, 9))
    assert hist[-1] == {"step": 8, "loss": 3.0 / 8, "eval_loss": 0.9}
    with pytest.raises(InputError, match="no trainer_state"):
        figures.log_history(tmp_path / "empty")


def test_loss_curves(tmp_path: Path):
    _trainer_state(tmp_path / "a", 6)
    _trainer_state(tmp_path / "b", 3)
    out = figures.loss_curves({"base": tmp_path / "a", "cpt": tmp_path / "b"}, tmp_path / "loss.png")
    assert out.read_bytes().startswith(PNG)


def test_ece_and_reliability_plot(tmp_path: Path):
    # two bins: confidence 0.9 right 9/10, confidence 0.55 right 1/2 -> ECE = (10*0 + 2*0.05) / 12
    c = np.array([0.9] * 10 + [0.55] * 2)
    r = np.array([1.0] * 9 + [0.0] + [1.0, 0.0])
    assert figures.expected_calibration_error(c, r) == pytest.approx(2 * 0.05 / 12)
    preds = tmp_path / "predictions.jsonl"
    rng = np.random.default_rng(1)
    with open(preds, "w") as fh:
        for i in range(80):
            p = float(rng.uniform(0.4, 1.0))
            right = rng.random() < p
            fh.write(json.dumps({"id": i, "gold": {"ER": "positive", "PR": None},
                                 "pred": {"ER": "positive" if right else "negative"},
                                 "probs": {"ER": {"positive": p if right else 1 - p,
                                                  "negative": 1 - p if right else p},
                                           "PR": {"positive": 1.0}}}) + "\n")
    data = figures.top_label_confidence(preds)
    assert list(data) == ["ER"]            # PR has no gold: skipped
    assert figures.reliability_plot(preds, tmp_path / "rel.png").read_bytes().startswith(PNG)
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps({"id": 1, "gold": {"ER": "positive"}, "pred": {"ER": "positive"}}) + "\n")
    with pytest.raises(InputError, match="probs"):
        figures.reliability_plot(bare, tmp_path / "x.png")


def test_write_run_figures_finds_every_input(staging_scores: Path, tmp_path: Path):
    run = tmp_path / "run"
    (run / "eval" / "staging").mkdir(parents=True)
    shutil.copy(staging_scores, run / "eval" / "staging" / "staging_scores.json")
    (run / "train" / "base").mkdir(parents=True)
    (run / "train" / "base" / "metrics.csv").write_text("step,epoch,name,value\n1,0.1,loss,4.0\n2,0.2,loss,3.0\n")
    records = [{"id": "r1", "labels": {"ER": "positive"}}, {"id": "r2", "labels": {"ER": "negative"}}]
    rows = [{"ER": {"label": "positive", "probs": {"positive": 0.9, "negative": 0.1}}},
            {"ER": {"label": "positive", "probs": {"positive": 0.6, "negative": 0.4}}}]
    preds = figures.staging_predictions(records, rows)
    assert preds[1] == {"id": "r2", "gold": {"ER": "negative"}, "pred": {"ER": "positive"},
                        "probs": {"ER": {"positive": 0.6, "negative": 0.4}}, "difficulties": []}
    (run / "eval" / "staging" / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    written = {str(p.relative_to(run)) for p in figures.write_run_figures(run)}
    assert written == {"eval/staging/confusion_heads.png", "eval/staging/confusion_rules.png",
                       "eval/staging/forest.png", "train/base/loss.png", "eval/staging/reliability.png"}
