"""The classical staging systems: they learn from text, choose on dev, save/load, refuse bad input."""

from __future__ import annotations

import json
import random

import pytest

from cancerllm.baselines.staging_classical import (
    CancerTypePrior, ClassicalConfig, ClassicalStaging, findings, load_staging_system, train_staging,
    tumour_sizes_cm,
)
from cancerllm.errors import InputError

FIELDS = ["pT", "pN"]
DEPTH = {"T1": "invades the submucosa", "T2": "invades the muscularis propria",
         "T3": "invades through the muscularis propria into pericolic fat", "T4": "perforates the visceral peritoneum"}


def _report(t: str, n: str, rng: random.Random, stated: bool) -> dict:
    nodes = {"N0": "0 of 14 lymph nodes are positive", "N1": "2 of 15 lymph nodes contain carcinoma",
             "N2": "9 of 20 lymph nodes contain metastatic carcinoma"}[n]
    text = (f"Colon, resection: adenocarcinoma, moderately differentiated, {rng.randint(2, 6)}.0 cm, which "
            f"{DEPTH[t]}. {nodes}. Margins free." + (f" Pathologic stage p{t} p{n}." if stated else ""))
    return {"id": f"r{rng.random():.8f}", "cancer_type": "COAD" if t in ("T1", "T2") else "READ", "text": text,
            "labels": {"pT": t, "pN": n}}


def _records(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [_report(rng.choice(list(DEPTH)), rng.choice(["N0", "N1", "N2"]), rng, stated=rng.random() < 0.3)
            for _ in range(n)]


CFG = ClassicalConfig(fields=FIELDS, char_ngrams=(3, 4), min_df=1, C_grid=[0.1, 10.0])


@pytest.fixture(scope="module")
def fitted():
    return ClassicalStaging(CFG).fit(_records(60, 0), _records(20, 1))


def test_learns_t_and_n_from_unstated_text(fitted):
    """Reports that never state pT/pN: the depth and node-count wording must carry over."""
    test = [r for r in _records(40, 2) if "Pathologic stage" not in r["text"]]
    preds = fitted.predict(test)
    for f in FIELDS:
        acc = sum(p[f]["label"] == r["labels"][f] for p, r in zip(preds, test)) / len(test)
        assert acc >= 0.9, (f, acc)
    assert abs(sum(preds[0]["pT"]["probs"].values()) - 1) < 1e-6
    assert set(preds[0]["pT"]["probs"]) == {"T1", "T2", "T3", "T4"}


def test_c_is_chosen_on_dev_and_recorded(fitted):
    sel = fitted.selection
    for f in FIELDS:
        assert sel[f]["C"] in CFG.C_grid and set(sel[f]["dev_macro_f1"]) == {f"C={c:g}" for c in CFG.C_grid}
        best = max(sel[f]["dev_macro_f1"].values())
        assert sel[f]["dev_macro_f1"][f"C={sel[f]['C']:g}"] == best and sel[f]["findings_weight"] == 1.0
    assert sel["_refit_on"] == "train+dev"


def test_save_and_load_give_the_same_probabilities(fitted, tmp_path):
    test = _records(5, 3)
    fitted.save_pretrained(tmp_path / "m")
    again = load_staging_system(tmp_path / "m")
    assert isinstance(again, ClassicalStaging)
    assert again.predict(test) == fitted.predict(test)
    info = json.loads((tmp_path / "m" / "classical.json").read_text())
    assert info["system"] == "classical" and info["fields"] == FIELDS


def test_findings_weight_is_chosen_with_c_per_field_and_kept_at_predict_time(tmp_path):
    """A scaled findings block: the (weight, C) pair with the best dev F1 per field; the saved
    model applies the same scale when it predicts."""
    cfg = CFG.model_copy(update={"findings_weight_grid": [0.3, 0.5]})
    model = ClassicalStaging(cfg).fit(_records(60, 0), _records(20, 1))
    for f in FIELDS:
        sel = model.selection[f]
        assert set(sel["dev_macro_f1"]) == {f"w={w:g},C={c:g}" for w in (0.3, 0.5) for c in CFG.C_grid}
        assert sel["dev_macro_f1"][f"w={sel['findings_weight']:g},C={sel['C']:g}"] == max(sel["dev_macro_f1"].values())
    test = _records(6, 3)
    model.save_pretrained(tmp_path / "m")
    assert load_staging_system(tmp_path / "m").predict(test) == model.predict(test)
    for f in FIELDS:  # a pipeline whose first step scales only the findings columns
        assert model.models[f].steps[0][1].kw_args["weight"] == model.selection[f]["findings_weight"]


def test_findings_carry_rules_size_and_type():
    f = findings("Invasive carcinoma, 2.5 cm in greatest dimension. pT2 pN1a.", "BRCA")
    assert f["rule_pT=T2"] == 1 and f["rule_pN=N1"] == 1 and f["type=BRCA"] == 1
    assert f["size_bin=2"] == 1 and f["size_bin=2|BRCA"] == 1
    assert "size=none" in findings("No measurement here.")
    # a specimen's size is not the tumour's
    assert tumour_sizes_cm("The specimen consists of a lobe measuring 17 x 9 x 7 cm. Tumor size: 12 mm.") == [1.2]


def test_prior_uses_only_the_cancer_type():
    train, dev = _records(60, 0), _records(20, 1)
    prior = CancerTypePrior(CFG).fit(train, dev)
    a = dict(_records(1, 5)[0], cancer_type="COAD", text="anything")
    b = dict(a, text="something else entirely, pT4")
    pa, pb = prior.predict([a, b])
    assert pa == pb and pa["pT"]["label"] in ("T1", "T2")
    with pytest.raises(InputError, match="cancer_type"):
        prior.predict([{"text": "x"}])


def test_bad_input_is_refused(fitted, tmp_path):
    with pytest.raises(InputError, match="text"):
        fitted.predict([{"id": "x", "text": None}])
    bad = _records(3, 0)
    bad[0]["labels"]["pT"] = "T9"
    with pytest.raises(InputError, match="T9"):
        ClassicalStaging(CFG).fit(bad, [])
    with pytest.raises(InputError, match="model.joblib|classical.json"):
        load_staging_system(tmp_path)


def test_train_staging_command_reads_a_split_folder(tmp_path):
    from typer.testing import CliRunner

    from cancerllm.cli import app
    from cancerllm.io import atomic_write_jsonl
    data = tmp_path / "data"
    atomic_write_jsonl(data / "train.jsonl", _records(40, 0))
    atomic_write_jsonl(data / "validation.jsonl", _records(15, 1))
    res = CliRunner().invoke(app, ["train", "staging", "--system", "cancer_type_prior", "--data", str(data),
                                   "--out", str(tmp_path / "prior"), "--fields", "pT", "C_grid=[1.0]"])
    assert res.exit_code == 0, res.output
    assert "pT C=1" in res.output
    assert isinstance(load_staging_system(tmp_path / "prior"), CancerTypePrior)
    with pytest.raises(InputError, match="validation"):
        atomic_write_jsonl(tmp_path / "only" / "train.jsonl", _records(5, 0))
        train_staging(tmp_path / "only", tmp_path / "x", "classical", CFG)
    assert CliRunner().invoke(app, ["train", "staging", "--help"]).exit_code == 0
