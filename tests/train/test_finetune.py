"""Instruction tuning: the loss mask, truncation, and a multi-task run on the tiny model."""

from __future__ import annotations

import json

import pytest

from cancerllm.config import load_config
from cancerllm.errors import InputError
from cancerllm.models.loading import load_tokenizer
from cancerllm.tasks.prompts import PromptFormat
from cancerllm.train.causal_lm import PaddingCollator
from cancerllm.train.finetune import FinetuneConfig, encode_example, finetune, finetune_per_task

from tests.fixtures.data import INSTRUCTION

CONTEXT = "Invasive ductal carcinoma of the left breast, ER positive.\nWhat is the tumor site?"


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def test_loss_covers_exactly_the_response_and_eos(tok):
    ex = encode_example(tok, INSTRUCTION, CONTEXT, "left breast", max_length=512)
    prompt_ids = PromptFormat.for_tokenizer(tok).encode_prompt(INSTRUCTION, CONTEXT).ids
    n = len(prompt_ids)
    assert ex["input_ids"][:n] == prompt_ids  # the prompt is tokenized as generation does
    assert ex["labels"][:n] == [-100] * n
    target = ex["labels"][n:]
    assert -100 not in target and target == ex["input_ids"][n:]
    assert target[-1] == tok.eos_token_id
    assert tok.decode(target[:-1]) == "left breast"


def test_padding_is_masked_and_per_batch(tok):
    short = encode_example(tok, INSTRUCTION, "ER positive.", "Not relevant", 512)
    long = encode_example(tok, INSTRUCTION, CONTEXT, "left breast", 512)
    batch = PaddingCollator(tok.pad_token_id)([short, long])
    assert batch["input_ids"].shape[1] == len(long["input_ids"])
    pad = batch["attention_mask"][0] == 0
    assert pad.sum() == len(long["input_ids"]) - len(short["input_ids"])
    assert (batch["labels"][0][pad] == -100).all()
    assert (batch["labels"][0] != -100).sum() == (len(tok("Not relevant", add_special_tokens=False)["input_ids"]) + 1)


@pytest.mark.parametrize("cut", ["end", "start"])
def test_truncation_cuts_the_context_never_the_response(tok, cut):
    long_context = "Tumor size 2.3 cm, grade 2, stage IIA. " * 40 + "What is the tumor size?"
    ex = encode_example(tok, INSTRUCTION, long_context, "2.3 cm", max_length=96, cut=cut)
    assert ex["truncated"] and len(ex["input_ids"]) <= 96
    target = [t for t in ex["labels"] if t != -100]
    assert tok.decode(target) == "2.3 cm" + tok.eos_token
    text = tok.decode(ex["input_ids"])
    assert text.startswith("### Instruction:") and "### Response:\n2.3 cm" in text
    assert ("What is the tumor size?" in text) == (cut == "start")


def test_a_record_whose_response_cannot_fit_is_dropped(tok):
    assert encode_example(tok, INSTRUCTION, CONTEXT, "left breast " * 200, max_length=64) is None


def quick(*extra: str) -> FinetuneConfig:
    return load_config(FinetuneConfig, "finetune-tiny", [
        "train.max_steps=2", "train.logging_steps=1", "train.per_device_train_batch_size=4",
        "lora.r=8", "max_seq_length=160", *extra])


def test_multi_task_adapter_over_the_union(tmp_path, tiny_model_dir, tasks_dir):
    m = finetune(tiny_model_dir, tasks_dir, tmp_path, "all", quick("max_train_samples=10"))
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert set(m["tasks"]) == {"phenotype", "diagnosis"}
    assert m["tasks"]["phenotype"]["train"]["examples"] == 10  # capped per task
    assert m["tasks"]["diagnosis"]["train"]["examples"] == 8
    assert 0 < m["useful_tokens"] < m["non_padding_tokens"] <= m["tokens"]
    assert m["eval_loss"] > 0 and m["global_step"] == 2
    saved = json.loads((tmp_path / "train_metrics.json").read_text())
    assert saved["tasks"] == m["tasks"] and saved["useful_tokens_per_s"] > 0


def test_one_adapter_per_task(tmp_path, tiny_model_dir, tasks_dir):
    runs = finetune_per_task(tiny_model_dir, tasks_dir, tmp_path, "phenotype,diagnosis",
                             quick("train.max_steps=1"))
    assert set(runs) == {"phenotype", "diagnosis"}
    for task in runs:
        assert (tmp_path / task / "adapter" / "adapter_model.safetensors").is_file()
        assert list(runs[task]["tasks"]) == [task]


def test_missing_task_folder_is_an_input_error(tmp_path, tiny_model_dir, tasks_dir):
    with pytest.raises(InputError, match="treatment"):
        finetune(tiny_model_dir, tasks_dir, tmp_path, "treatment", quick())


@pytest.mark.parametrize("side", ["left", "right"])
def test_answer_only_logits_give_the_models_own_loss(tiny_model_dir, tok, side):
    """Logits of the answer positions only = the full causal-LM loss, whatever the padding side."""
    import torch
    from transformers import AutoModelForCausalLM

    from cancerllm.train.trainer import _answer_only_loss
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    examples = [encode_example(tok, INSTRUCTION, CONTEXT, "left breast", 512),
                encode_example(tok, INSTRUCTION, "ER positive.", "Not relevant at all here", 512)]
    batch = PaddingCollator(tok.pad_token_id, side=side)(examples)
    n = int((batch["labels"][:, 1:] != -100).sum())
    with torch.no_grad():
        full = model(**batch).loss
        ours, outputs = _answer_only_loss(model, batch, True)
        summed = _answer_only_loss(model, batch, False, num_items_in_batch=n)
    assert outputs.logits.shape[0] == n                          # no prompt or padding position projected
    assert torch.allclose(full, ours, atol=1e-5) and torch.allclose(full, summed, atol=1e-5)


def test_train_metrics_record_wall_time_and_the_gpu_peak_slot(tiny_model_dir, tasks_dir, tmp_path):
    """Wall time always; peak GPU memory (torch.cuda.max_memory_allocated) on CUDA, None on a CPU."""
    import torch
    metrics = finetune(tiny_model_dir, tasks_dir, tmp_path / "run", "phenotype", quick())
    assert metrics["wall_time_s"] > 0
    assert (metrics["peak_gpu_memory_mb"] is None) == (not torch.cuda.is_available())
    assert (metrics["bf16_autocast"], metrics["base_dtype"]) == (False, "float32")  # finetune-tiny: fp32
