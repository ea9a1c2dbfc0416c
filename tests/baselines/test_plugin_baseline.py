"""Baselines added from outside the package: a staging system and a generation baseline.

A temporary module named in CANCERLLM_PLUGINS registers "always_t2" (a staging system
that says T2 / N0 for every report) and "echo" (a generation baseline answering the
context). Without touching any file of the package, `eval staging` fits and scores the
staging one next to the rules, `stage` serves it, and `eval compare` scores the other.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from cancerllm.baselines import registry as baselines
from cancerllm.baselines import staging_systems
from tests.fixtures.plugins import plugin_module

PLUGIN = textwrap.dedent('''
    from cancerllm.baselines.registry import Baseline, register_baseline
    from cancerllm.baselines.staging_systems import StagingSystem, register_staging_system


    def predict(texts):
        return [{"pT": {"label": "T2", "probs": None}, "pN": {"label": "N0", "probs": None}} for _ in texts]


    register_staging_system(StagingSystem("always_t2", "T2 N0 for every report", lambda _dir, _dev: predict,
                                          fit=lambda _train, _dev, _fields: predict, needs_model=False))
    register_baseline(Baseline("echo", lambda train: (lambda records: {r["id"]: r["context"] for r in records}),
                               None, "the context, answered back"))
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    with plugin_module(tmp_path, monkeypatch, "toy_baseline_plugin", PLUGIN,
                       [(staging_systems._SYSTEMS, "always_t2"), (baselines._BASELINES, "echo")]) as root:
        yield root


def test_a_plugin_staging_system_is_scored_in_the_staging_report(plugin, synth_dir):
    from cancerllm.evaluate.staging_compare import eval_staging
    from cancerllm.serve.staging import load_stager
    out = plugin / "staging"
    summary = eval_staging(synth_dir, out, ["rules", "always_t2"], fields=["pT", "pN"], n_boot=20)
    assert set(summary["systems"]) == {"rules", "always_t2"} and summary["n_reports"] > 0
    report = (out / "staging_report.md").read_text(encoding="utf-8")
    assert "always_t2" in report and "rules" in report
    scores = json.loads((out / "staging_scores.json").read_text(encoding="utf-8"))
    assert scores["systems"]["always_t2"]["headline"]["macro_f1"] is not None
    rows = [json.loads(line) for line in (out / "predictions" / "always_t2.jsonl").read_text().splitlines()]
    assert len(rows) == summary["n_reports"] and all(r["pT"]["label"] == "T2" for r in rows)
    (served,) = load_stager("always_t2")(["Invasive carcinoma, pT3 N1."])
    assert served["pT"]["label"] == "T2" and served["pT"]["evidence"]["rules_label"] == "T3"


def test_a_plugin_generation_baseline_is_compared(plugin, tasks_dir):
    from cancerllm.evaluate.compare import compare_models
    results = compare_models([], ["diagnosis"], tasks_dir, plugin / "compare", limit=4, baselines=["echo"],
                             n_boot=20, progress=False)
    assert len(results["echo"]["diagnosis"]["per_instance"]) == 4


def test_a_misspelt_staging_system_is_named_with_a_suggestion():
    from cancerllm.errors import InputError
    with pytest.raises(InputError, match="Did you mean 'classical'"):
        staging_systems.get_staging_system("clasical")


def test_eval_staging_refuses_a_system_it_cannot_fit(tmp_path, synth_dir):
    from cancerllm.errors import InputError
    from cancerllm.evaluate.staging_compare import eval_staging
    with pytest.raises(InputError, match="heads=DIR"):
        eval_staging(synth_dir, tmp_path / "o", ["rules", "heads"])


def test_eval_staging_command_fits_classical_on_train_and_scores_test(tmp_path, synth_dir):
    from typer.testing import CliRunner

    from cancerllm.cli import app
    res = CliRunner().invoke(app, ["eval", "staging", "--data", str(synth_dir), "--system", "rules,classical",
                                   "--fields", "pT,pN", "--output", str(tmp_path / "o"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    assert "classical: headline macro F1" in res.output and "fitted on train, chosen on dev" in res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["split"] == "test" and set(summary["systems"]) == {"rules", "classical"}
