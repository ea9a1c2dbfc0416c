"""Both demo profiles must load, and every training recipe + override they name must validate:
a typo there would only surface minutes into `./run demo`."""

import pytest

from cancerllm.config import load_config
from cancerllm.experiments.demo.config import PROFILES, DemoConfig
from cancerllm.experiments.demo.stages import plan
from cancerllm.train.finetune import FinetuneConfig
from cancerllm.train.heads import HeadsTrainConfig
from cancerllm.train.pretrain import PretrainConfig


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_demo_recipes_and_their_stage_recipes_validate(profile):
    cfg = load_config(DemoConfig, PROFILES[profile])
    assert cfg.patients >= 100
    pairs = [(PretrainConfig, cfg.cpt), (FinetuneConfig, cfg.finetune), (HeadsTrainConfig, cfg.heads)]
    if cfg.base_model == "tiny":
        pairs.append((PretrainConfig, cfg.base))
        assert load_config(PretrainConfig, cfg.base.recipe, cfg.base.overrides).lora is None  # full-parameter base
    for cls, stage in pairs:
        load_config(cls, stage.recipe, stage.overrides)
    assert load_config(PretrainConfig, cfg.cpt.recipe, cfg.cpt.overrides).lora.r == 8   # the paper's CPT rank
    assert set(cfg.eval_limits) == {"phenotype", "diagnosis", "treatment"}
    assert plan(cfg)[-1] in ("evaluate_staging", "robustness_counterfactual")


def test_the_default_profile_is_a_real_pretrained_base():
    cfg = load_config(DemoConfig, PROFILES["default"])
    assert cfg.base_model == "smollm2" and cfg.zero_shot
    # diagnosis and treatment are scored on the whole test split (null), not a 40-record draw
    assert cfg.eval_limits["diagnosis"] is None and cfg.eval_limits["treatment"] is None
    ft = load_config(FinetuneConfig, cfg.finetune.recipe, cfg.finetune.overrides)
    assert ft.sampling["phenotype"].answered_share == 0.6 and ft.select_best
    assert "import_base" in plan(cfg) and "train_base" not in plan(cfg)


def test_the_default_demos_own_process_imports_no_model_library(tmp_path):
    """The demo's process stays alive beside the fine-tunes; its memory counts in the job's
    peak (~490 MB when it imported torch / transformers and built the task records itself).
    Lining up every stage of the default recipe (each isolated, as it ships) imports none of
    them and runs nothing here."""
    import subprocess
    import sys
    code = f"""
import sys
from pathlib import Path
from cancerllm.config import load_config
from cancerllm.experiments.demo.config import PROFILES, DemoConfig
from cancerllm.experiments.demo import stages as s
cfg = load_config(DemoConfig, PROFILES["default"])
assert set(s.plan(cfg)) - set(cfg.isolate_stages) == {{"error_analysis"}}, s.plan(cfg)
class LineUp:
    def __init__(self): self.names = []
    def __call__(self, name, fn): self.names.append(name); return {{}}
stage, p = LineUp(), s.Paths(Path({str(tmp_path)!r}))
s.data_stages(cfg, p, stage)
base = s.base_stages(cfg, p, stage)
s.cpt_stages(cfg, p, stage, base); s.finetune_stages(cfg, p, stage, base)
s.perplexity_stage(cfg, p, stage, base); s.evaluation_stages(cfg, p, stage, base)
s.staging_stages(cfg, p, stage); s.robustness_stages(cfg, p, stage)
assert stage.names == s.plan(cfg), stage.names
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "transformers", "peft", "datasets", "pandas"}})
print(heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
