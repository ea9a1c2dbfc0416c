"""Zero-shot baseline: constrained choice among schema labels, same output as the heads."""

from __future__ import annotations

import json

import pytest
import torch

from cancerllm.baselines.zero_shot import ZeroShotStaging, field_question, parse_label
from cancerllm.tasks.prompts import format_prompt
from cancerllm.schema.staging import FIELDS, FINE, NR

REPORTS = ["FINAL DIAGNOSIS:\nInvasive ductal carcinoma, grade 3. pT1c pN0. ER positive, HER2 negative.",
           "Benign breast tissue."]


@pytest.fixture(scope="module")
def zero_shot(tiny_model_dir):
    return ZeroShotStaging(tiny_model_dir, device="cpu", max_context_tokens=32)


def test_returns_a_valid_label_for_every_field(zero_shot):
    preds = zero_shot.predict([REPORTS[0], ""], batch_size=16)
    assert len(preds) == 2
    for pred in preds:
        assert set(pred) == set(FIELDS)
        for f in FIELDS:
            assert pred[f]["label"] in FINE[f]
            assert list(pred[f]["probs"]) == FINE[f]
            assert abs(sum(pred[f]["probs"].values()) - 1) < 1e-6
    assert all(preds[1][f]["label"] == NR for f in FIELDS)  # empty report -> NR


def test_batched_scores_equal_one_by_one_log_likelihood(zero_shot):
    prompt = zero_shot.tokenizer(format_prompt(field_question("HER2"), REPORTS[0]))["input_ids"]
    cands = zero_shot.candidates["HER2"]
    batched = zero_shot._score(prompt, cands, batch_size=3)
    for cand, score in zip(cands, batched):
        with torch.no_grad():
            logp = torch.log_softmax(zero_shot.model(torch.tensor([prompt + cand])).logits[0], -1)
        expected = sum(float(logp[len(prompt) + i - 1, t]) for i, t in enumerate(cand))
        assert score == pytest.approx(expected, abs=1e-4)


def test_question_lists_every_allowed_label():
    q = field_question("HER2")
    assert all(x in q for x in ("positive", "negative", "equivocal", "not reported"))


@pytest.mark.parametrize("field,text,label", [
    ("pT", "ypT1c", "T1c"), ("pN", "pN0(i+)", "N0(i+)"), ("grade", "Grade 2", "2"),
    ("ER", "Positive.", "positive"), ("HER2", "not reported", NR), ("HER2", "maybe", NR),
    ("M", "", NR), ("pT", None, NR)])
def test_parse_label_maps_free_text_or_falls_back_to_nr(field, text, label):
    assert parse_label(field, text) == label


def test_cli_eval_heads_zero_shot(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from cancerllm.cli import app
    data = tmp_path / "test.jsonl"
    rows = [{"id": f"z{i}", "text": t, "labels": {"pT": "T1c", "ER": "positive"}, "split": "test"}
            for i, t in enumerate(REPORTS)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["eval", "heads", "--zero-shot", "--model", str(tiny_model_dir),
                                   "--data", str(data), "--out", str(tmp_path / "zs")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert metrics["system"] == "zero_shot" and metrics["systems"]["zero_shot"]["fields"]["pT"]["n"] == 2
