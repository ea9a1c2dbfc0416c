"""Adapter routing: one base, an adapter for one task, the bare base for the others."""

from __future__ import annotations

import pytest

from cancerllm.errors import ConfigError, OfflineError
from cancerllm.serve.engine import Engine, parse_adapters
from tests.serve.lively import NOTES


@pytest.fixture(scope="module")
def adapter_dir(lively_model_dir, tmp_path_factory):
    """A LoRA adapter with random (non-zero) weights, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(lively_model_dir), local_files_only=True)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=64, target_modules="all-linear",
                                           init_lora_weights=False))
    out = tmp_path_factory.mktemp("adapter")
    peft.save_pretrained(str(out))
    return out


def test_parse_adapters(adapter_dir):
    routes = parse_adapters([f"diagnose={adapter_dir}", str(adapter_dir)])
    assert routes == {"diagnosis": adapter_dir.resolve(), None: adapter_dir.resolve()}
    with pytest.raises(ConfigError, match="two adapters"):
        parse_adapters([str(adapter_dir), str(adapter_dir)])
    with pytest.raises(OfflineError):
        parse_adapters(["phenotype=org/some-adapter"])


def test_adapter_applies_to_its_task_only(engine, lively_model_dir, adapter_dir):
    routed = Engine.load(lively_model_dir, [f"diagnosis={adapter_dir}"], device="cpu", max_new_tokens=12)
    note = NOTES[1]
    assert routed.run("extract", [NOTES[4]]) == engine.run("extract", [NOTES[4]])  # bare base for phenotype
    adapted = routed.run("diagnose", [note])[0]["prediction"]
    assert adapted != engine.run("diagnose", [note])[0]["prediction"]
    everywhere = Engine.load(lively_model_dir, [str(adapter_dir)], device="cpu", max_new_tokens=12)
    assert everywhere.run("diagnose", [note])[0]["prediction"] == adapted
    card = routed.card()
    assert card["tasks"]["diagnosis"]["adapter"] == str(adapter_dir.resolve())
    assert card["tasks"]["phenotype"]["adapter"] is None
    assert card["adapters"] == {"diagnosis": str(adapter_dir.resolve())}
