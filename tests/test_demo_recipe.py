"""The demo recipe must load, and every training recipe + override it names must validate:
a typo there would only surface minutes into `./run demo`."""

from cancerllm.config import load_config
from cancerllm.demo import DemoConfig
from cancerllm.train.finetune import FinetuneConfig
from cancerllm.train.heads import HeadsTrainConfig
from cancerllm.train.pretrain import PretrainConfig


def test_demo_recipe_and_its_stage_recipes_validate():
    cfg = load_config(DemoConfig, "demo")
    assert cfg.patients >= 100
    pairs = [(PretrainConfig, cfg.base), (PretrainConfig, cfg.cpt), (FinetuneConfig, cfg.finetune),
             (HeadsTrainConfig, cfg.heads)]
    for cls, stage in pairs:
        load_config(cls, stage.recipe, stage.overrides)
    assert load_config(PretrainConfig, cfg.base.recipe, cfg.base.overrides).lora is None   # full-parameter base
    assert load_config(PretrainConfig, cfg.cpt.recipe, cfg.cpt.overrides).lora.r == 8
    assert set(cfg.eval_limits) == {"phenotype", "diagnosis", "treatment"}
