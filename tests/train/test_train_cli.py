"""The documented pipeline through the CLI: pre-train (LoRA) -> merge -> instruction-tune."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cancerllm.cli import app


def invoke(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_pretrain_merge_then_finetune(tmp_path, tiny_model_dir, packed_dir, tasks_dir):
    pre, ft = tmp_path / "pretrain", tmp_path / "finetune"
    r = invoke("train", "pretrain", "--recipe", "pretrain-tiny", "--model", tiny_model_dir,
               "--data", packed_dir, "--out", pre, "--merge", "train.max_steps=2", "max_eval_blocks=2")
    assert "steps 2" in r.output
    assert (pre / "merged" / "model.safetensors").is_file()
    r = invoke("train", "finetune", "--model", pre / "merged", "--tasks-dir", tasks_dir,
               "--task", "phenotype", "--out", ft, "train.max_steps=2", "lora.r=4", "max_seq_length=128")
    assert "phenotype: steps 2" in r.output
    cfg = (ft / "config.yaml").read_text()
    assert "r: 4" in cfg and "max_seq_length: 128" in cfg  # overrides land in the resolved config
    assert json.loads((ft / "train_metrics.json").read_text())["tasks"]["phenotype"]["train"]["examples"] == 16
    # Resuming a finished run is a no-op that reaches the same step.
    r = invoke("train", "finetune", "--model", pre / "merged", "--tasks-dir", tasks_dir,
               "--task", "phenotype", "--out", ft, "--resume", "train.max_steps=2", "lora.r=4",
               "max_seq_length=128")
    assert "steps 2" in r.output
    invoke("train", "merge", "--adapter", ft / "adapter", "--out", tmp_path / "final")
    assert (tmp_path / "final" / "tokenizer.json").is_file()
