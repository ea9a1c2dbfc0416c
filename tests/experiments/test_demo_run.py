"""The demo's orchestration end to end, at toy scale (the smoke profile with tiny budgets).

The numbers are not a result (the tiny model is trained for seconds); what is checked is
that every stage runs (one of them in a process of its own, as the default recipe runs
its training stages), the report and headline.json hold every system and the paired CI,
and a second run resumes from stages.json without redoing work.
"""

from __future__ import annotations

import json

import pytest

from cancerllm.experiments.demo.run import run_demo

TOY = ["patients=40", "eval_limits={phenotype: 12, diagnosis: 3, treatment: 3}", "robustness={}", "heads=null",
       "n_boot=20", "base.overrides=[max_train_blocks=16]", "cpt.overrides=[max_train_blocks=8]",
       "finetune.overrides=[max_train_samples=8, train.save_steps=1, max_eval_samples=2]",
       "perplexity={max_texts: 4}", "isolate_stages=[finetune_cpt]"]


@pytest.mark.slow
def test_the_smoke_demo_runs_every_stage_and_writes_the_headline(tmp_path, capsys):
    report = run_demo(str(tmp_path / "demo"), overrides=TOY, profile="smoke")
    out = report.parent
    stages = json.loads((out / "stages.json").read_text())
    assert {"synth", "tasks", "corpus", "train_base", "train_cpt", "perplexity", "finetune_base", "finetune_cpt",
            "evaluate_compare", "evaluate_staging"} <= set(stages)
    headline = json.loads((out / "headline.json").read_text())
    assert set(headline["systems"]) >= {"it", "cpt_it", "floor", "rules"}
    assert set(headline["systems"]["cpt_it"]) == {"phenotype", "diagnosis", "treatment"}
    assert headline["perplexity_before"] > 0 and headline["perplexity_after"] > 0
    assert set(headline["cpt_vs_it"]) == {"phenotype", "diagnosis", "treatment"}
    assert headline["demo_seconds"] > 0 and headline["peak_rss_mb"] > 0
    assert stages["finetune_cpt"]["process"] == "child" and stages["finetune_cpt"]["peak_rss_mb"] > 0
    assert all(s["tree_peak_rss_mb"] > 0 for s in stages.values())      # the job's processes together
    assert headline["peak_rss_mb"] == max(s["tree_peak_rss_mb"] for s in stages.values())
    assert "process" not in stages["finetune_base"]
    assert (out / "train" / "it-cpt" / "adapter" / "adapter_config.json").is_file()  # the child's work
    assert (out / "report.html").is_file() and (out / "eval" / "loss_curves.png").is_file()
    assert (out / "train" / "it-cpt" / "adapter" / "README.md").is_file()       # a model card, not boilerplate
    assert "classical (TF-IDF + rule findings)" in (out / "eval" / "staging" / "staging_report.md").read_text()
    text = report.read_text()
    assert "## Headline" in text and "paired bootstrap" in text and "always-majority floor" in text
    assert "[stage 1/" in capsys.readouterr().out            # overall progress with stage n/N
    run_demo(str(tmp_path / "demo"), overrides=TOY, profile="smoke")
    assert "done earlier" in capsys.readouterr().out        # resumed, nothing redone


@pytest.mark.slow
def test_the_smoke_demo_runs_its_stages_side_by_side(tmp_path, monkeypatch):
    """`parallel_stages: 2`, as the default recipe: the fine-tune from the base runs beside
    continued pre-training and the fine-tune from base+CPT, each in its own process."""
    monkeypatch.delenv("CANCERLLM_THREADS", raising=False)
    toy = [o for o in TOY if not o.startswith("isolate_stages")] + [
        "parallel_stages=2", "isolate_stages=[train_cpt, finetune_base, finetune_cpt, evaluate_compare]"]
    report = run_demo(str(tmp_path / "demo"), overrides=toy, profile="smoke")
    out = report.parent
    stages = json.loads((out / "stages.json").read_text())
    base, cpt = stages["finetune_base"], stages["finetune_cpt"]
    assert base["process"] == cpt["process"] == "child"
    assert base["started"] < cpt["ended"] and cpt["started"] < base["ended"]     # side by side
    assert cpt["started"] >= stages["train_cpt"]["ended"]                       # after what it reads
    assert stages["evaluate_compare"]["started"] >= max(base["ended"], cpt["ended"])
    headline = json.loads((out / "headline.json").read_text())
    assert 0 < headline["demo_seconds"] < sum(s["seconds"] for s in stages.values())
    assert set(headline["systems"]["cpt_it"]) == {"phenotype", "diagnosis", "treatment"}
    assert (out / "logs" / "finetune_base.log").is_file()
