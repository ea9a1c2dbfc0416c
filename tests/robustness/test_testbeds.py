"""Testbed runs on the tiny model: clean evaluation split, logs, outputs, resume, CLI."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cancerllm.errors import ConfigError
from cancerllm.io import read_jsonl
from cancerllm.robustness.bed_common import parse_rates
from cancerllm.robustness.misspell_bed import word_restoration
from cancerllm.robustness.testbeds import recovered_share, robustness_section, run_counterfactual, run_misspell

INSTRUCTION = "You are a medical expert, answer from the context."
QUESTIONS = {"tumor_site": "What is the tumor site?", "tumor_laterality": "What is the laterality?",
             "cancer_grade": "What is the grade?", "tumor_size": "What is the tumor size?"}
SITES = ["breast", "lung", "colon", "kidney", "ovary", "prostate"]
FAST = ["train.max_steps=1", "train.per_device_train_batch_size=4", "lora.r=4", "max_seq_length=128",
        "max_eval_samples=4"]


def _phenotype(n_sentences: int, prefix: str) -> list[dict]:
    out = []
    for s in range(n_sentences):
        side, site, grade = ("left", "right")[s % 2], SITES[s % len(SITES)], f"grade {1 + s % 3}"
        sentence = f"Invasive carcinoma of the {side} {site}, {grade}."
        answers = {"tumor_site": site, "tumor_laterality": side, "cancer_grade": grade}
        for q, (etype, question) in enumerate(QUESTIONS.items(), start=1):
            out.append({"id": f"{prefix}{s}-q{q}", "patient_id": f"{prefix}p{s}", "task": "phenotype",
                        "instruction": INSTRUCTION, "context": f"{sentence}\n{question}",
                        "response": answers.get(etype, "Not relevant"), "entity_type": etype,
                        "question_id": q, "sentence": sentence})
    return out


def _generation(task: str, n: int, prefix: str) -> list[dict]:
    out = []
    for i in range(n):
        site = SITES[i % len(SITES)]
        ctx = (f"Reason for visit: follow up.\nObjective: The patient reports fatigue after chemotherapy. "
               f"Pathology showed invasive ductal carcinoma of the {site} measuring 2.3 cm, ER positive. "
               f"Assessment: carcinoma of the {site}, tolerating treatment without neuropathy.")
        resp = f"carcinoma of the {site}" if task == "diagnosis" else "continue letrozole 2.5 mg daily"
        out.append({"id": f"{task}-{prefix}{i}", "patient_id": f"{prefix}p{i}", "task": task,
                    "instruction": INSTRUCTION, "context": ctx, "response": resp})
    return out


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.jsonl"))}


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("robust_tasks")
    for split, n, prefix in [("train", 6, "tr"), ("validation", 1, "va"), ("test", 2, "te")]:
        _write(out / "phenotype" / f"{split}.jsonl", _phenotype(n, prefix))
        for task in ("diagnosis", "treatment"):
            _write(out / task / f"{split}.jsonl", _generation(task, max(2, n), prefix))
    return out


@pytest.fixture(scope="module")
def robust_root(tmp_path_factory) -> Path:
    """Like the demo's robustness/ folder: one subfolder per testbed run."""
    return tmp_path_factory.mktemp("robustness")


@pytest.fixture(scope="module")
def counterfactual_run(robust_root, tiny_model_dir, tasks_dir):
    before = _digest(tasks_dir)
    out = robust_root / "counterfactual"
    summary = run_counterfactual(tiny_model_dir, tasks_dir, out, rates=[0.5], overrides=FAST, limit_test=4,
                                 batch_size=4, max_new_tokens=4)
    assert _digest(tasks_dir) == before  # the user's task folder is never written to
    return out, summary


@pytest.fixture(scope="module")
def misspell_run(robust_root, tiny_model_dir, tasks_dir):
    before = _digest(tasks_dir)
    out = robust_root / "misspell"
    summary = run_misspell(tiny_model_dir, tasks_dir, out, rates="0.3", normalize_spelling=True, limit=2,
                           batch_size=4, max_new_tokens=4)
    assert _digest(tasks_dir) == before
    return out, summary


# ---------------------------------------------------------------- arithmetic, no model


def test_recovered_share_on_hand_numbers():
    assert recovered_share(60.0, 40.0, 55.0) == pytest.approx(0.75)  # 15 of 20 points won back
    assert recovered_share(60.0, 40.0, 40.0) == 0.0
    assert recovered_share(60.0, 40.0, 30.0) == pytest.approx(-0.5)  # the normaliser made it worse
    assert recovered_share(60.0, 40.0, 64.0) == pytest.approx(1.2)  # better than clean: not clipped
    assert recovered_share(60.0, 60.0, 62.0) is None  # nothing lost: nothing to recover
    assert recovered_share(60.0, 59.8, 60.0) is None  # a loss under MIN_LOSS is noise
    assert recovered_share(60.0, 62.0, 61.0) is None


def test_rates_always_include_the_clean_reference():
    assert parse_rates("0.4,0.2,0.2") == [0.0, 0.2, 0.4]
    assert parse_rates([0.8]) == [0.0, 0.8]
    for bad in ("20,40", "a,b"):
        with pytest.raises(ConfigError):
            parse_rates(bad)


def test_word_restoration_counts():
    clean = [{"context": "Invasive ductal carcinoma, 2.3 cm, of the left breast"}]
    noisy = [{"context": "Invasve ductal carcinmoa, 2.3 cm, of the left braest"}]
    fixed = [{"context": "Invasive ductal carcinoma, 2.3 cm, of the loft breast"}]
    counts = word_restoration(clean, noisy, fixed)
    assert counts["misspelled"] == 3 and counts["restored"] == 3
    assert counts["clean_words_changed"] == 1 and counts["restored_share"] == 1.0
    assert word_restoration(clean, clean, clean)["restored_share"] is None


# ---------------------------------------------------------------- counterfactual


def test_counterfactual_leaves_evaluation_splits_untouched(counterfactual_run, tasks_dir):
    out, _ = counterfactual_run
    for rate in ("rate-0", "rate-0.5"):
        copy = out / "rates" / rate / "tasks" / "phenotype"
        for split in ("test", "validation"):
            assert (copy / f"{split}.jsonl").read_bytes() == (tasks_dir / "phenotype" / f"{split}.jsonl").read_bytes()


def test_corruption_log_matches_the_changed_training_instances(counterfactual_run, tasks_dir):
    out, _ = counterfactual_run
    clean = list(read_jsonl(tasks_dir / "phenotype" / "train.jsonl"))
    for rate, expected in (("rate-0", 0), ("rate-0.5", round(0.5 * len(clean)))):
        folder = out / "rates" / rate
        train = list(read_jsonl(folder / "tasks" / "phenotype" / "train.jsonl"))
        log = list(read_jsonl(folder / "corruption_log.jsonl"))
        changed = {b["id"]: (a["response"], b["response"]) for a, b in zip(clean, train)
                   if a["response"] != b["response"]}
        assert [r["id"] for r in train] == [r["id"] for r in clean]
        assert len(log) == len(changed) == expected
        assert {e["id"]: (e["old_response"], e["new_response"]) for e in log} == changed
        result = json.loads((folder / "result.json").read_text())
        assert result["n_corrupted"] == expected and result["measured_rate"] == expected / len(clean)


def test_counterfactual_outputs_have_one_row_per_rate(counterfactual_run):
    out, summary = counterfactual_run
    assert [c["rate"] for c in summary["curves"]["phenotype"]] == [0.0, 0.5]
    rows = list(csv.DictReader(open(out / "table_phenotype.csv", encoding="utf-8")))
    assert [r["rate"] for r in rows] == ["0%", "50%"]
    assert {"EM F1", "BLEU-2 F1", "ROUGE-L F1", "average F1", "corrupted share"} <= set(rows[0])
    assert rows[0]["n"] == "4"
    results = json.loads((out / "results.json").read_text())
    assert results["seed"] == 0 and "transformers" in results["versions"]
    assert results["config"]["finetune"]["train"]["max_steps"] == 1
    assert "| 50% |" in (out / "tables.md").read_text()
    assert (out / "average_f1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for rate in ("rate-0", "rate-0.5"):  # a finished rate keeps its adapter, not its checkpoints
        train = out / "rates" / rate / "train"
        assert (train / "adapter").is_dir() and not (train / "checkpoints").exists()


def test_counterfactual_resume_skips_finished_rates_via_cli(counterfactual_run, tiny_model_dir, tasks_dir,
                                                            monkeypatch):
    from cancerllm.cli import app
    out, summary = counterfactual_run

    def boom(*args, **kwargs):
        raise AssertionError("a finished rate was run again")

    monkeypatch.setattr("cancerllm.train.finetune.finetune", boom)
    monkeypatch.setattr("cancerllm.evaluate.predictions.generate_predictions", boom)
    result = CliRunner().invoke(app, ["robust", "counterfactual", "--model", str(tiny_model_dir),
                                      "--tasks-dir", str(tasks_dir), "--out", str(out), "--rates", "0.5",
                                      "--limit-test", "4", "--batch-size", "4", "--max-new-tokens", "4", *FAST])
    assert result.exit_code == 0, result.output
    assert "phenotype rate 0.5" in result.output
    assert json.loads((out / "results.json").read_text())["curves"] == summary["curves"]


# ---------------------------------------------------------------- misspellings


def test_misspell_leaves_the_test_split_untouched_and_measures_the_rate(misspell_run, tasks_dir):
    out, summary = misspell_run
    for task in ("diagnosis", "treatment"):
        clean = list(read_jsonl(tasks_dir / task / "test.jsonl"))[:2]
        noisy = list(read_jsonl(out / task / "rate-0.3" / "inputs_misspelled.jsonl"))
        assert [r["id"] for r in noisy] == [r["id"] for r in clean]
        assert all(a["context"] != b["context"] for a, b in zip(clean, noisy))
        report = json.loads((out / task / "rate-0.3" / "misspellings.json").read_text())
        assert abs(report["measured_rate"] - 0.3) <= 1 / report["eligible_words"]
        assert all(c["old"] not in {"2", "3", "2.3"} for c in report["changes"])
        curve = summary["curves"][task]
        assert [c["rate"] for c in curve] == [0.0, 0.3]
        assert curve[0]["measured_rate"] == 0.0 and curve[1]["measured_rate"] == report["measured_rate"]
        assert curve[1]["words_restored_share"] > 0.3  # the normaliser restores words on this text


def test_misspell_outputs_tables_json_and_chart(misspell_run):
    out, summary = misspell_run
    rows = list(csv.DictReader(open(out / "table_diagnosis.csv", encoding="utf-8")))
    assert [(r["rate"], r["input"]) for r in rows] == [("0%", "clean"), ("0%", "normalised"),
                                                       ("30%", "misspelled"), ("30%", "normalised")]
    assert rows[0]["measured rate (eligible words)"] == "0.0%" and rows[0]["n"] == "2"
    assert rows[0]["measured rate (all words)"] == "0.0%"
    assert float(rows[2]["measured rate (all words)"][:-1]) < float(rows[2]["measured rate (eligible words)"][:-1])
    summary_rows = list(csv.DictReader(open(out / "table_summary.csv", encoding="utf-8")))
    assert [(r["task"], r["rate"]) for r in summary_rows] == [("diagnosis", "0%"), ("diagnosis", "30%"),
                                                              ("treatment", "0%"), ("treatment", "30%")]
    assert summary_rows[0]["recovered share"] == "–"  # nothing is lost at rate 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["normalize_spelling"] is True and results["seed"] == 0
    assert (out / "normalizer.json").is_file()
    assert (out / "average_f1.png").stat().st_size > 5000


def test_misspell_resume_and_refusal_of_other_settings(misspell_run, tiny_model_dir, tasks_dir, monkeypatch):
    out, summary = misspell_run

    def boom(*args, **kwargs):
        raise AssertionError("a finished rate was run again")

    monkeypatch.setattr("cancerllm.evaluate.predictions.generate_predictions", boom)
    again = run_misspell(tiny_model_dir, tasks_dir, out, rates="0.3", normalize_spelling=True, limit=2,
                         batch_size=4, max_new_tokens=4)
    assert again["curves"] == summary["curves"]
    with pytest.raises(ConfigError, match="seed"):
        run_misspell(tiny_model_dir, tasks_dir, out, rates="0.3", normalize_spelling=True, limit=2,
                     batch_size=4, max_new_tokens=4, seed=1)


def test_misspell_cli(tmp_path, tiny_model_dir, tasks_dir):
    from cancerllm.cli import app
    result = CliRunner().invoke(app, ["robust", "misspell", "--model", str(tiny_model_dir), "--tasks-dir",
                                      str(tasks_dir), "--out", str(tmp_path / "m"), "--rates", "0.5",
                                      "--tasks", "diagnosis", "--limit", "1", "--max-new-tokens", "2"])
    assert result.exit_code == 0, result.output
    assert "diagnosis rate 0.5" in result.output
    assert (tmp_path / "m" / "table_diagnosis.csv").is_file() and not (tmp_path / "m" / "treatment").exists()


def test_robustness_section_links_images_from_the_report_folder(robust_root, counterfactual_run, misspell_run):
    section = robustness_section(robust_root)  # as the demo report calls it, on OUT/robustness
    assert section.index("### Counterfactual training labels") < section.index("### Misspelled inputs")
    assert f"]({robust_root.name}/counterfactual/average_f1.png)" in section
    assert f"]({robust_root.name}/misspell/average_f1.png)" in section
    alone = robustness_section(misspell_run[0])
    assert "### Misspelled inputs" in alone and "recovered share" in alone
    assert "](misspell/average_f1.png)" in alone


# ---------------------------------------------------------------- the paper's variant and Tables 5/6


def test_misspelling_the_training_data_as_the_paper(tmp_path, tiny_model_dir, tasks_dir):
    out = tmp_path / "train-side"
    summary = run_misspell(tiny_model_dir, tasks_dir, out, rates="0.5", tasks="diagnosis", limit=1, batch_size=4,
                           max_new_tokens=2, where="train", recipe="finetune-tiny", overrides=FAST)
    clean_train = list(read_jsonl(tasks_dir / "diagnosis" / "train.jsonl"))
    folder = out / "diagnosis" / "rate-0.5"
    trained_on = list(read_jsonl(folder / "tasks" / "diagnosis" / "train.jsonl"))
    assert [r["id"] for r in trained_on] == [r["id"] for r in clean_train]
    assert all(a["context"] != b["context"] for a, b in zip(clean_train, trained_on))
    assert (folder / "tasks" / "diagnosis" / "test.jsonl").read_bytes() == (
        tasks_dir / "diagnosis" / "test.jsonl").read_bytes()
    result = json.loads((folder / "result.json").read_text())
    assert result["where"] == "train" and result["test_inputs"]["misspelled_words"] == 0   # tested clean
    info = result["training_inputs"]
    assert abs(info["measured_rate"] - 0.5) <= 1 / info["eligible_words"]
    assert info["measured_rate_all_words"] == info["misspelled_words"] / info["all_words"] < info["measured_rate"]
    assert (folder / "train" / "adapter").is_dir() and not (folder / "train" / "checkpoints").exists()
    assert summary["curves"]["diagnosis"][1]["measured_rate"] == info["measured_rate"]
    with pytest.raises(ConfigError, match="fine-tuning recipe"):
        run_misspell(tiny_model_dir, tasks_dir, tmp_path / "x", rates="0.5", where="train")


def test_the_rate_can_mean_a_share_of_all_words():
    from cancerllm.robustness.misspell import misspell_records
    recs = [{"id": "a", "context": "ER 95% PR 80% HER2 1+ invasive ductal carcinoma measuring 23 mm in the left breast"}]
    _, eligible = misspell_records(recs, 0.5, 0)
    _, of_all = misspell_records(recs, 0.5, 0, basis="all")
    assert abs(eligible["measured_rate"] - 0.5) <= 1 / eligible["eligible_words"]
    # 16 words, 7 eligible ("ER", "95", "HER2", "mm", "in" ... never are): half of all words would be 8,
    # so all 7 eligible words are misspelled and the missing one is counted
    assert (of_all["all_words"], of_all["eligible_words"], of_all["misspelled_words"]) == (16, 7, 7)
    assert of_all["measured_rate_all_words"] == 7 / 16 and of_all["capped_words"] == 1
    assert of_all["misspelled_words"] > eligible["misspelled_words"]
    assert eligible["measured_rate_all_words"] < eligible["measured_rate"]


def test_robust_compare_puts_models_side_by_side_with_the_mean_over_rates(tmp_path, counterfactual_run):
    from cancerllm.cli import app
    out, summary = counterfactual_run
    res = CliRunner().invoke(app, ["robust", "compare", "--run", f"A={out}", "--run", f"B={out}",
                                   "--out", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(tmp_path / "cmp" / "table_phenotype.csv", encoding="utf-8")))
    assert [(r["model"], r["rate"]) for r in rows] == [("A", "0% (clean)"), ("", "50%"), ("B", "0% (clean)"),
                                                       ("", "50%")]
    at_half = summary["curves"]["phenotype"][1]["average_f1"]
    assert rows[0]["Average F1 (mean over rates)"] == f"{at_half:.2f}" == rows[2]["Average F1 (mean over rates)"]
    assert "Table 5" in res.output
