"""Importing SmolLM2-135M-Instruct from the `smollm2` extra (GGUF) as a plain model directory.

The import test is slow (~20-40 s on 2 CPU cores) and needs the extra (`./run smollm2`);
without it the test is skipped and only the error message is checked.
"""

from __future__ import annotations

import pytest

from cancerllm.errors import InputError
from cancerllm.models.smollm2 import smollm2_available

needs_extra = pytest.mark.skipif(not smollm2_available(), reason="smollm2 extra not installed (./run smollm2)")


def test_missing_extra_says_how_to_install(monkeypatch):
    import importlib.util

    from cancerllm.models import smollm2
    real = importlib.util.find_spec
    monkeypatch.setattr(smollm2.importlib.util, "find_spec",
                        lambda name, *a: None if name == smollm2.PACKAGE else real(name, *a))
    with pytest.raises(InputError, match=r"\./run smollm2"):
        smollm2.find_gguf()
    assert not smollm2.smollm2_available()


@pytest.mark.slow
@needs_extra
def test_import_gives_a_directory_every_stage_loads(tmp_path):
    import torch
    from transformers import AutoModel

    from cancerllm.models.loading import load_causal_lm
    from cancerllm.models.smollm2 import import_smollm2
    out = tmp_path / "smollm2"
    info = import_smollm2(out)
    assert info["architecture"] == "LlamaForCausalLM" and 130e6 < info["parameters"] < 140e6
    assert not (out / "config.json").read_text().count("quantization_config")
    assert import_smollm2(out)["skipped"]  # idempotent: a second import keeps the folder

    model, tok = load_causal_lm(out, device="cpu")
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt")
    gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert "Paris" in tok.decode(gen[0, ids["input_ids"].shape[1]:])
    # The heads load the base without its LM head: the (tied) embedding must be in the file.
    encoder = AutoModel.from_pretrained(str(out))
    assert torch.equal(encoder.embed_tokens.weight, model.get_input_embeddings().weight)


@pytest.mark.slow
@needs_extra
def test_a_few_lora_steps_through_the_chat_template(tmp_path, tasks_dir):
    """SmolLM2 has a chat template: training formats through it, loss on the assistant turn."""
    from pathlib import Path

    from cancerllm.config import load_config
    from cancerllm.models.loading import load_tokenizer
    from cancerllm.models.smollm2 import DEFAULT_OUT, import_smollm2
    from cancerllm.tasks.prompts import IGNORE_INDEX, PromptFormat
    from cancerllm.train.finetune import FinetuneConfig, finetune
    base = Path(DEFAULT_OUT)
    if not (base / "config.json").is_file():
        base = Path(import_smollm2(tmp_path / "smollm2")["out"])
    tok = load_tokenizer(base)
    fmt = PromptFormat.for_tokenizer(tok)
    assert fmt.kind == "chat" and fmt.answer_end == "<|im_end|>"
    ex = fmt.encode_example("You are a medical expert.", "ER positive.", "positive", 256)
    answer = [t for t in ex["labels"] if t != IGNORE_INDEX]
    assert tok.decode(answer) == "positive<|im_end|>"
    cfg = load_config(FinetuneConfig, "finetune-smollm2", [
        "train.max_steps=2", "train.logging_steps=1", "train.per_device_train_batch_size=2",
        "max_train_samples=4", "max_eval_samples=2", "train.save_steps=1", "lora.target_modules=[q_proj, v_proj]"])
    metrics = finetune(base, tasks_dir, tmp_path / "run", "phenotype", cfg)
    assert metrics["global_step"] == 2 and metrics["tasks"]["phenotype"]["train"]["prompt_template"] == "chat"
    assert metrics["eval_loss"] is not None and metrics["best_checkpoint"]
