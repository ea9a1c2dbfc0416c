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


def test_an_adapter_is_served_with_the_prompt_limits_it_was_trained_with(lively_model_dir, adapter_dir, tmp_path):
    """The sections and side a recipe chose reach the served prompt (saved beside the adapter)."""
    import shutil

    from cancerllm.models import generation
    from cancerllm.tasks.prompt_settings import PromptSettings, write_prompt_settings
    trained = tmp_path / "adapter"
    shutil.copytree(adapter_dir, trained)
    write_prompt_settings(trained, PromptSettings({"diagnosis": 40}, {"diagnosis": "end"},
                                                  {"diagnosis": ["subjective"]}))
    seen = []
    real = generation.encode_prompts

    def spy(tokenizer, prompts, max_input_tokens=None, template="auto", cut="start"):
        seen.append((prompts, max_input_tokens, cut))
        return real(tokenizer, prompts, max_input_tokens, template, cut)

    engine = Engine.load(lively_model_dir, [f"diagnosis={trained}"], device="cpu", max_new_tokens=4)
    note = "1) Reason for visit: follow-up\n3) Subjective: on letrozole\n6) Laboratory results: WBC 5.0"
    generation.encode_prompts, saved = spy, generation.encode_prompts
    try:
        engine.answer("diagnosis", [note])
        engine.answer("phenotype", [note])
    finally:
        generation.encode_prompts = saved
    (dx_prompts, dx_max, dx_cut), (ph_prompts, ph_max, ph_cut) = seen
    assert dx_prompts[0][1] == "3) Subjective: on letrozole" and (dx_max, dx_cut) == (40, "end")
    assert ph_prompts[0][1] == note and ph_cut == "start" and ph_max > 40   # no adapter: the task's own


def test_a_beam_engine_answers_with_beam_search_and_says_so(engine, lively_model_dir):
    """`--num-beams` on diagnose / predict / serve: the served model decodes as an evaluation
    that chose beams scored it (the notes' answers differ from greedy for some note)."""
    from typer.testing import CliRunner

    from cancerllm.cli import app
    beams = Engine.load(lively_model_dir, device="cpu", batch_size=8, max_new_tokens=12, num_beams=3)
    assert beams.card()["num_beams"] == 3 and engine.card()["num_beams"] == 1
    greedy = [r["prediction"] for r in engine.run("diagnose", NOTES)]
    beamed = [r["prediction"] for r in beams.run("diagnose", NOTES)]
    assert greedy != beamed
    res = CliRunner().invoke(app, ["diagnose", "--model", str(lively_model_dir), "--text", NOTES[0],
                                   "--max-new-tokens", "12", "--device", "cpu", "--num-beams", "3"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == beamed[0].strip()
