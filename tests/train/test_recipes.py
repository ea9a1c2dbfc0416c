"""Training recipes and accelerate configs: they load, match the paper, and reject typos."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from cancerllm.config import RECIPES_DIR, load_config
from cancerllm.errors import ConfigError
from cancerllm.models.tiny import TinyModelConfig
from cancerllm.train.trainer import TrainerSettings, training_arguments
from cancerllm.train.finetune import FinetuneConfig
from cancerllm.train.pretrain import PretrainConfig

RECIPES = {"pretrain-tiny": PretrainConfig, "pretrain-mistral7b": PretrainConfig,
           "base-tiny": PretrainConfig, "finetune-tiny": FinetuneConfig,
           "finetune-mistral7b": FinetuneConfig, "tiny-model": TinyModelConfig}
ACCELERATE = sorted((RECIPES_DIR / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_loads_and_sets_every_key_explicitly(name):
    import yaml
    cfg = load_config(RECIPES[name], name)
    raw = yaml.safe_load((RECIPES_DIR / f"{name}.yaml").read_text())
    assert set(raw) <= set(type(cfg).model_fields)


@pytest.mark.parametrize("name", [n for n, c in RECIPES.items() if c is not TinyModelConfig])
def test_recipe_builds_training_arguments(name, tmp_path):
    args = training_arguments(load_config(RECIPES[name], name), tmp_path, has_eval=True)
    assert args.seed == 0 and args.output_dir == str(tmp_path / "checkpoints")


def test_paper_pretraining_recipe():
    cfg = load_config(PretrainConfig, "pretrain-mistral7b")
    assert cfg.uses_lora and cfg.lora.target_modules == "all-linear"
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (8, 16, 0.05)
    t = cfg.train
    assert (t.learning_rate, t.num_train_epochs, t.per_device_train_batch_size) == (2e-4, 1, 4)
    assert t.per_device_eval_batch_size == 4 and t.eval_steps == 0.2
    assert t.optim.startswith("adamw") and t.bf16 and t.gradient_checkpointing


def test_paper_finetuning_recipe():
    cfg = load_config(FinetuneConfig, "finetune-mistral7b")
    assert cfg.uses_lora and (cfg.lora.r, cfg.lora.alpha) == (64, 16)
    assert cfg.train.learning_rate == 2e-4 and cfg.train.optim.startswith("adamw")


def test_base_recipe_is_full_parameter():
    assert not load_config(PretrainConfig, "base-tiny").uses_lora
    assert not load_config(PretrainConfig, "pretrain-tiny", ["lora=null"]).uses_lora


def test_unknown_keys_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="rank"):
        load_config(PretrainConfig, "pretrain-tiny", ["lora.rank=16"])
    with pytest.raises(ConfigError, match="learning_rat"):
        load_config(FinetuneConfig, "finetune-tiny", ["train.learning_rat=1e-3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text((RECIPES_DIR / "pretrain-tiny.yaml").read_text() + "\nepochs: 3\n")
    with pytest.raises(ConfigError, match="epochs"):
        load_config(PretrainConfig, bad)


def test_trainer_settings_are_training_arguments_fields():
    from transformers import TrainingArguments
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert set(TrainerSettings.model_fields) <= fields  # gradient_checkpointing: deprecated alias


# ---------------------------------------------------------------- accelerate


def validate_launch(config_file: Path):
    """What `accelerate launch --config_file F` does before starting processes."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    args = launch_command_parser().parse_args(
        ["--config_file", str(config_file), "--main_process_port", "0", "-m", "cancerllm.cli",
         "train", "pretrain"])
    return _validate_launch_command(args)


def test_accelerate_configs_ship():
    assert {p.stem for p in ACCELERATE} >= {"deepspeed_zero2", "deepspeed_zero3", "fsdp", "multi_gpu"}


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_config_loads_and_validates(path, monkeypatch):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env
    cfg = load_config_from_file(str(path))
    assert cfg.num_processes == 10 and cfg.mixed_precision == "bf16"
    args, defaults, _ = validate_launch(path)
    known = set(vars(args))
    for key in defaults.deepspeed_config:  # a misspelt key would be silently ignored otherwise
        assert key in known, key
    for key in defaults.fsdp_config:
        assert key in known, key
    if args.use_deepspeed:
        from accelerate.utils import DeepSpeedPlugin
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        plugin = DeepSpeedPlugin()
        assert plugin.zero_stage == defaults.deepspeed_config["zero_stage"]
        assert plugin.deepspeed_config["train_micro_batch_size_per_gpu"] == "auto"  # from the recipe
    else:
        env = prepare_multi_gpu_env(args)
        assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
        if args.use_fsdp:
            from accelerate.utils import FullyShardedDataParallelPlugin
            for k, v in env.items():
                monkeypatch.setenv(k, v)
            assert FullyShardedDataParallelPlugin().fsdp_version == 2
        else:
            assert args.multi_gpu


def test_documented_launch_line_runs_on_cpu(tmp_path, tiny_model_dir, packed_dir):
    """The docs' `accelerate launch ... -m cancerllm.cli train pretrain` line, on 1 CPU process."""
    import subprocess
    import sys
    accelerate = Path(sys.executable).parent / "accelerate"
    out = tmp_path / "run"
    cmd = [str(accelerate), "launch", "--config_file", str(RECIPES_DIR / "accelerate" / "deepspeed_zero2.yaml"),
           "--cpu", "--num_processes", "1", "-m", "cancerllm.cli", "train", "pretrain",
           "--recipe", "pretrain-tiny", "--model", str(tiny_model_dir), "--data", str(packed_dir),
           "--out", str(out), "train.max_steps=1", "max_eval_blocks=2"]
    env = {**os.environ, "PYTHONPATH": str(RECIPES_DIR.parent)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          cwd=RECIPES_DIR.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "steps 1" in proc.stdout
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
