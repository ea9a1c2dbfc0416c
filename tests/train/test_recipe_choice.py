"""Toy settings are never a silent default on a real model (issue: a 7B run on the tiny recipe)."""

import pytest
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.errors import ConfigError
from cancerllm.train.recipe_choice import choose_recipe, count_parameters


@pytest.fixture(scope="module")
def big_model_dir(tmp_path_factory):
    """A ~1 B-parameter Mistral as config only: counted on the meta device, never materialised."""
    from transformers import MistralConfig
    out = tmp_path_factory.mktemp("big")
    MistralConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=20, num_attention_heads=16,
                  num_key_value_heads=8, vocab_size=32000).save_pretrained(out)
    return out


def test_parameters_are_counted_without_loading(tiny_model_dir, big_model_dir):
    import torch
    from transformers import AutoModelForCausalLM
    tiny = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    assert count_parameters(tiny_model_dir) == sum(p.numel() for p in tiny.parameters())   # safetensors headers
    assert 0.9e9 < count_parameters(big_model_dir) < 1.2e9


def test_recipe_by_model_size_and_tiny_recipe_refused_on_a_big_model(tiny_model_dir, big_model_dir):
    assert choose_recipe("finetune", tiny_model_dir, None)[0] == "finetune-tiny"
    recipe, why = choose_recipe("finetune", big_model_dir, None)
    assert recipe == "finetune-mistral7b" and "B parameters" in why
    assert choose_recipe("pretrain", big_model_dir, None)[0] == "pretrain-mistral7b"
    with pytest.raises(ConfigError, match="use --recipe finetune-mistral7b"):
        choose_recipe("finetune", big_model_dir, "finetune-tiny")
    assert choose_recipe("finetune", big_model_dir, "finetune-tiny", allow_tiny=True)[0] == "finetune-tiny"
    assert choose_recipe("pretrain", tiny_model_dir, "pretrain-tiny")[0] == "pretrain-tiny"


@pytest.mark.parametrize("cmd", [["train", "finetune", "--tasks-dir", "x", "--out", "o"],
                                 ["train", "pretrain", "--data", "x", "--out", "o"],
                                 ["robust", "counterfactual", "--tasks-dir", "x", "--out", "o"]])
def test_the_cli_refuses_a_tiny_recipe_on_a_big_model(big_model_dir, cmd):
    res = CliRunner().invoke(app, [*cmd, "--model", str(big_model_dir), "--recipe",
                                   "pretrain-tiny" if "pretrain" in cmd else "finetune-tiny"])
    assert res.exit_code != 0 and "mistral7b (the paper's settings)" in str(res.exception)
