"""Continued pre-training on the tiny fixture model: what a user relies on after a run."""

from __future__ import annotations

import json

import pytest
import torch

from cancerllm.config import load_config
from cancerllm.errors import ConfigError
from cancerllm.train.pretrain import PackedBlockCollator, PretrainConfig, pretrain

QUICK = ["train.max_steps=4", "train.save_steps=2", "train.logging_steps=1",
         "train.per_device_train_batch_size=2", "train.learning_rate=5e-3", "max_eval_blocks=4"]


def quick_config(*extra: str) -> PretrainConfig:
    return load_config(PretrainConfig, "pretrain-tiny", [*QUICK, *extra])


def block_loss(model, blocks) -> float:
    batch = PackedBlockCollator()([{"input_ids": b} for b in blocks])
    with torch.no_grad():
        return model(**batch).loss.item()


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_dir, packed_dir):
    """One uninterrupted LoRA run (4 steps, checkpoints every 2) with --merge."""
    out = tmp_path_factory.mktemp("pretrain")
    metrics = pretrain(tiny_model_dir, packed_dir, out, quick_config(), merge=True)
    return out, metrics


def test_run_folder_is_self_describing(run):
    out, m = run
    for name in ("config.yaml", "run.json", "metrics.csv", "train_metrics.json",
                 "adapter/adapter_config.json", "adapter/tokenizer.json", "merged/config.json",
                 "checkpoints/checkpoint-2/trainer_state.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "train_metrics.json").read_text())
    assert saved["global_step"] == 4 and saved["eval_loss"] > 0
    assert saved["tokens_per_s"] > 0 and saved["useful_tokens_per_s"] > 0
    assert saved["padding_share"] == 0.0  # packed blocks carry no padding
    assert saved["tokens"] == 4 * 2 * 48
    assert json.loads((out / "run.json").read_text())["seed"] == 0


def test_lora_trains_only_the_adapter_on_every_linear_layer(tiny_model_dir):
    from cancerllm.train.causal_lm import load_for_training
    model, _ = load_for_training(tiny_model_dir, quick_config())
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(("lora_A" in n or "lora_B" in n) for n in trainable)
    lora_layers = [m for n, m in model.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A]
    expected = sum(m.r["default"] * (m.in_features + m.out_features) for m in lora_layers)
    assert sum(p.numel() for p in trainable.values()) == expected
    wrapped = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")}
    assert wrapped == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_a_training_step_lowers_the_loss_on_its_batch(tmp_path, tiny_model_dir, packed_dir):
    from datasets import load_from_disk

    from cancerllm.models.loading import load_causal_lm
    blocks = load_from_disk(str(packed_dir))["train"]["input_ids"][:4]
    cfg = load_config(PretrainConfig, "pretrain-tiny", [
        "train.max_steps=1", "train.per_device_train_batch_size=4", "max_train_blocks=4",
        "train.learning_rate=1e-2", "train.warmup_steps=0", "lora.dropout=0.0", "document_mask=false"])
    pretrain(tiny_model_dir, packed_dir, tmp_path, cfg)
    base, _ = load_causal_lm(tiny_model_dir)
    tuned, _ = load_causal_lm(tiny_model_dir, adapter_dir=tmp_path / "adapter")
    assert block_loss(tuned, blocks) < block_loss(base, blocks) - 1e-3


def test_saved_adapter_and_merged_model_give_the_same_logits(run, tiny_model_dir, packed_dir):
    from datasets import load_from_disk

    from cancerllm.models.loading import load_causal_lm
    out, _ = run
    ids = torch.tensor(load_from_disk(str(packed_dir))["validation"]["input_ids"][:2])
    adapted, _ = load_causal_lm(tiny_model_dir, adapter_dir=out / "adapter")
    merged, _ = load_causal_lm(out / "merged")
    base, _ = load_causal_lm(tiny_model_dir)
    with torch.no_grad():
        a, m, b = adapted(ids).logits, merged(ids).logits, base(ids).logits
    assert (a - b).abs().max() > 1e-3  # the adapter learned something
    torch.testing.assert_close(a, m, atol=1e-4, rtol=0)


class Interrupt(Exception):
    pass


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path, run, tiny_model_dir, packed_dir):
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from cancerllm.train.trainer import read_metrics_csv

    class CrashAtStep3(TrainerCallback):  # after checkpoint-2 was written, before checkpoint-4
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise Interrupt()

    with pytest.raises(Interrupt):
        pretrain(tiny_model_dir, packed_dir, tmp_path, quick_config(), callbacks=[CrashAtStep3()])
    with pytest.raises(ConfigError, match="--resume"):
        pretrain(tiny_model_dir, packed_dir, tmp_path, quick_config())
    resumed = pretrain(tiny_model_dir, packed_dir, tmp_path, quick_config(), resume=True)

    ref_out, ref = run
    assert resumed["resumed_from"].endswith("checkpoint-2")
    assert resumed["global_step"] == ref["global_step"] == 4
    assert resumed["last_logged_loss"] == pytest.approx(ref["last_logged_loss"], abs=1e-5)
    assert resumed["eval_loss"] == pytest.approx(ref["eval_loss"], abs=1e-5)
    a = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    b = load_file(ref_out / "adapter" / "adapter_model.safetensors")
    for key in b:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    losses = [(r["step"], r["value"]) for r in read_metrics_csv(tmp_path / "metrics.csv") if r["name"] == "loss"]
    assert [s for s, _ in losses] == [1, 2, 3, 4]  # the crashed step 3 is logged once


def test_document_mask_keeps_packed_documents_apart(tiny_model_dir):
    from cancerllm.models.loading import load_causal_lm
    model, tok = load_causal_lm(tiny_model_dir)
    eos = tok.eos_token_id
    a = tok("ER positive grade 2", add_special_tokens=False)["input_ids"] + [eos]
    b = tok("Plan: letrozole daily", add_special_tokens=False)["input_ids"] + [eos]
    batch = PackedBlockCollator(eos)([{"input_ids": a + b}])
    assert batch["position_ids"][0].tolist() == list(range(len(a))) + list(range(len(b)))
    assert batch["labels"][0, len(a)].item() == -100  # b's first token is not predicted from a
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                       use_cache=False).logits[0, len(a):]
        alone = model(input_ids=torch.tensor([b])).logits[0]
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=0)


def test_full_parameter_run_writes_a_model(tmp_path, tiny_model_dir, packed_dir):
    from cancerllm.models.loading import load_causal_lm
    cfg = load_config(PretrainConfig, "base-tiny", ["train.max_steps=1", "max_train_blocks=4",
                                                    "train.per_device_train_batch_size=4"])
    m = pretrain(tiny_model_dir, packed_dir, tmp_path, cfg)
    assert m["method"] == "full" and m["trainable_params"] == m["total_params"]
    model, _ = load_causal_lm(tmp_path / "model")
    assert model.config.model_type == "mistral"


def test_qlora_without_cuda_is_a_clear_config_error(tmp_path, tiny_model_dir, packed_dir):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="CUDA"):
        pretrain(tiny_model_dir, packed_dir, tmp_path, quick_config("quantization=4bit"))
