"""`cancerllm stage --system` and the service's staging loader: label, probabilities, evidence span."""

from __future__ import annotations

import json

import pytest

from cancerllm.errors import InputError
from cancerllm.serve.staging import load_stager, system_of

REPORT = "FINAL DIAGNOSIS: invasive ductal carcinoma, 2.5 cm. pT2 pN1a. Estrogen receptor positive."


@pytest.fixture(scope="module")
def classical_dir(tmp_path_factory):
    from cancerllm.baselines.staging_classical import ClassicalConfig, ClassicalStaging
    recs = [{"text": f"carcinoma pT{t} pN{n}", "labels": {"pT": f"T{t}", "pN": f"N{n}"}}
            for t in (1, 2, 3) for n in (0, 1) for _ in range(3)]
    cfg = ClassicalConfig(fields=["pT", "pN"], char_ngrams=None, min_df=1, C_grid=[10.0])
    out = tmp_path_factory.mktemp("classical")
    ClassicalStaging(cfg).fit(recs, recs[::2]).save_pretrained(out)
    return out


def test_classical_gives_label_probs_and_the_rules_span(classical_dir):
    (row,) = load_stager("classical", classical_dir)([REPORT])
    assert set(row) == {"pT", "pN"} and row["pT"]["label"] == "T2"
    assert abs(sum(row["pT"]["probs"].values()) - 1) < 1e-6
    ev = row["pT"]["evidence"]
    assert REPORT[ev["start"]:ev["end"]] == ev["text"] and "T2" in ev["text"] and ev["agrees"] is True
    assert system_of(classical_dir) == "classical"


def test_rules_system_needs_no_model_and_a_field_without_evidence_says_so():
    (row,) = load_stager("rules")(["No tumour staging stated."])
    assert row["pT"]["label"] == "NR" and row["pT"]["evidence"] is None and row["pT"]["probs"] is None


def test_bad_choices_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="unknown staging system"):
        load_stager("bert")
    with pytest.raises(InputError, match="needs --model"):
        load_stager("classical")
    with pytest.raises(InputError, match="classical.json"):
        load_stager("classical", tmp_path)


def test_stage_command_prints_json(classical_dir):
    from typer.testing import CliRunner

    from cancerllm.cli import app
    res = CliRunner().invoke(app, ["stage", "--system", "classical", "--model", str(classical_dir), "--text", REPORT])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["pN"]["label"] == "N1"
    assert CliRunner().invoke(app, ["stage", "--help"]).exit_code == 0


def test_service_loader_serves_a_classical_folder(classical_dir):
    from cancerllm.serve.http import load_heads
    (row,) = load_heads(classical_dir)([REPORT])
    assert row["pT"]["label"] == "T2" and row["pT"]["evidence"]["agrees"]
