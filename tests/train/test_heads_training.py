"""Training the heads with HF Trainer: loss goes down, run folder, resume, splits, CLI (+ single-task)."""

from __future__ import annotations

import json
import random

import pytest
from sklearn.metrics import f1_score

from cancerllm.config import load_config
from cancerllm.data.pathology import load_splits
from cancerllm.schema.staging import FINE, to_coarse
from cancerllm.train.heads import (HeadsTrainConfig, class_weights, label_ids,
                                   train_heads)

GRADES = {"1": "well differentiated, Nottingham grade 1", "2": "Nottingham grade 2 (3+2+2=7)",
          "3": "poorly differentiated, grade 3"}


def pathology_records(n: int = 48, seed: int = 0) -> list[dict]:
    """Small synthetic reports whose labels are stated in the text (NR when absent)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        t, nd = rng.choice(["T1c", "T2", "T3", "NR"]), rng.choice(["N0", "N1a", "NR"])
        g, er, her2 = rng.choice(["1", "2", "3", "NR"]), rng.choice(["positive", "negative", "NR"]), \
            rng.choice(["positive", "negative", "NR"])
        lines = ["CLINICAL HISTORY: breast mass.", "FINAL DIAGNOSIS:", "Invasive ductal carcinoma."]
        if g != "NR":
            lines.append(GRADES[g] + ".")
        if t != "NR":
            lines.append(f"pT{t[1:]}" + (f" pN{nd[1:]}" if nd != "NR" else ""))
        if er != "NR":
            lines.append(f"Estrogen receptor: {er}.")
        if her2 != "NR":
            lines.append(f"HER2 {her2}.")
        labels = {"pT": t, "pN": nd if t != "NR" else "NR", "M": "NR", "grade": g, "ER": er,
                  "PR": None, "HER2": her2}  # PR unlabelled: ignored by the loss, not NR
        records.append({"id": f"r{i}", "patient_id": f"p{i // 2}", "text": "\n".join(lines),
                        "labels": labels, "difficulties": ["narrative"]})
    return records


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


FAST = ["model.max_length=48", "model.overlap=8", "model.lora.r=4", "model.lora.alpha=8",
        "model.head_dropout=0.0", "train.per_device_train_batch_size=8", "train.logging_steps=1",
        "train.learning_rate=5e-3", "heads_learning_rate=1e-2", "train.warmup_steps=0",
        "train.eval_steps=null"]


def fast_config(*extra: str) -> HeadsTrainConfig:
    return load_config(HeadsTrainConfig, "heads-tiny", FAST + list(extra))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("heads_data") / "pathology.jsonl", pathology_records())


@pytest.fixture(scope="module")
def trained(tiny_model_dir, data_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("heads_run") / "run"
    metrics = train_heads(tiny_model_dir, data_file, out, fast_config("train.max_steps=16",
                                                                      "train.save_steps=8"))
    return out, metrics


def test_recipes_validate():
    for name in ("heads-tiny", "heads-llama3-8b"):
        cfg = load_config(HeadsTrainConfig, name)
        assert cfg.model.pooling == "last" and cfg.model.fields == list(FINE)


def test_training_lowers_loss_and_writes_the_run_folder(trained):
    out, metrics = trained
    assert metrics["global_step"] == 16
    assert metrics["last_logged_loss"] < metrics["first_logged_loss"]
    for name in ("config.yaml", "run.json", "metrics.csv", "metrics.json", "heads_config.json",
                 "heads.safetensors", "adapter_model.safetensors"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-16", "checkpoint-8"]
    saved = json.loads((out / "metrics.json").read_text())
    assert "validation" in saved and saved["trainable_params"] < saved["total_params"] / 2


def test_resume_continues_from_the_last_checkpoint(tiny_model_dir, data_file, tmp_path):
    import shutil
    cfg = fast_config("train.max_steps=4", "train.save_steps=2")
    first = train_heads(tiny_model_dir, data_file, tmp_path / "run", cfg)
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "checkpoint-4")
    again = train_heads(tiny_model_dir, data_file, tmp_path / "run", cfg, resume=True)
    assert again["resumed_from"].endswith("checkpoint-2") and again["global_step"] == 4
    assert again["last_logged_loss"] == pytest.approx(first["last_logged_loss"], rel=1e-4)
    with pytest.raises(Exception, match="--resume"):
        train_heads(tiny_model_dir, data_file, tmp_path / "run", cfg)


def test_split_is_by_patient_and_respects_a_split_field(tmp_path):
    records = pathology_records(200)
    splits = load_splits(write_jsonl(tmp_path / "a.jsonl", records))
    patients = {s: {r["patient_id"] for r in recs} for s, recs in splits.items()}
    assert not patients["train"] & patients["test"] and not patients["train"] & patients["validation"]
    assert 0.65 < len(splits["train"]) / 200 < 0.95 and splits["test"]
    assert load_splits(tmp_path / "a.jsonl") == splits  # seeded, stable
    records[0]["split"] = "val"
    assert records[0]["id"] in {r["id"] for r in load_splits(write_jsonl(tmp_path / "b.jsonl", records))["validation"]}


def test_bad_records_are_skipped_without_their_text(tmp_path, caplog):
    good = pathology_records(3)
    bad = dict(good[0], id="bad", labels={"pT": "T9 secret words"})
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(bad) + "\n{not json\n" + "".join(json.dumps(r) + "\n" for r in good))
    records = [r for s in load_splits(path).values() for r in s]
    assert len(records) == 3
    assert "x.jsonl:1" in caplog.text and "x.jsonl:2" in caplog.text
    assert "Invasive ductal" not in caplog.text


def test_labels_and_class_weights():
    rec = {"labels": {"pT": "NR", "ER": "positive"}}
    assert label_ids(rec, ["pT", "ER", "PR"]) == [FINE["pT"].index("NR"), 0, -100]
    rows = [[0], [0], [0], [1], [-100]]
    w = class_weights(rows, ["ER"], "inverse")["ER"]
    assert w[:2] == pytest.approx([4 / (2 * 3), 4 / (2 * 1)]) and w[2] == 1.0
    assert class_weights(rows, ["ER"], "sqrt_inverse")["ER"][1] == pytest.approx(2 ** 0.5)
    assert class_weights(rows, ["ER"], "none") == {}


def test_cli_train_and_eval_heads(tiny_model_dir, data_file, trained, tmp_path):
    from typer.testing import CliRunner

    from cancerllm.cli import app
    from cancerllm.evaluate.heads import evaluate_heads
    from cancerllm.models.heads import MultiTaskHeads
    runner = CliRunner()
    res = runner.invoke(app, ["train", "heads", "--model", str(tiny_model_dir), "--data", str(data_file),
                              "--out", str(tmp_path / "st"), "--fields", "pT,ER", "--single-task", *FAST,
                              "train.max_steps=2"])
    assert res.exit_code == 0, res.output
    er = MultiTaskHeads.from_pretrained(tmp_path / "st" / "ER")
    assert er.fields == ["ER"] and set(er.predict(["ER positive"])[0]) == {"ER"}
    single = evaluate_heads(tmp_path / "st", data_file, tmp_path / "st_eval", n_boot=0)
    assert single["system"] == "single_task" and set(single["systems"]["single_task"]["fields"]) == {"pT", "ER"}

    res = runner.invoke(app, ["eval", "heads", "--model", str(trained[0]), "--data", str(data_file),
                              "--split", "test", "--out", str(tmp_path / "eval")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    preds = [json.loads(x) for x in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert metrics["n"] == len(preds) == len(load_splits(data_file)["test"])
    assert set(preds[0]) >= {"id", "gold", "pred", "probs"} and set(preds[0]["pred"]) == set(FINE)
    assert sum(preds[0]["probs"]["ER"].values()) == pytest.approx(1.0)
    from cancerllm.evaluate.figures import reliability_plot  # the calibration figure reads this file
    assert reliability_plot(tmp_path / "eval" / "predictions.jsonl", tmp_path / "rel.png").is_file()
    fields = metrics["systems"]["heads"]["fields"]
    assert set(fields) == set(FINE) and "headline_coarse_macro_f1" in metrics
    assert fields["PR"]["n"] == 0  # unlabelled in gold: not scored
    gold = [to_coarse("grade", p["gold"]["grade"]) for p in preds]
    pred = [to_coarse("grade", p["pred"]["grade"]) for p in preds]
    assert fields["grade"]["coarse"]["macro_f1"] == pytest.approx(100 * f1_score(
        gold, pred, labels=fields["grade"]["coarse"]["labels"], average="macro", zero_division=0))
    for name in ("staging_report.md", "staging_scores.csv", "run.json"):
        assert (tmp_path / "eval" / name).is_file()
