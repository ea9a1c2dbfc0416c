"""A bf16 base with fp32 LoRA weights trains under bf16 autocast without peft's input casts.

What a user relies on: `model_dtype: fast` / `bfloat16` keeps the trained weights and their
optimizer state in fp32 (only the compute is bf16), the loss it trains on is the one the
casting path gives (up to bf16 rounding), and the Trainer is told to autocast.
"""

from __future__ import annotations

import pytest
import torch

from cancerllm.config import load_config
from cancerllm.models.lora import is_mixed_bf16, use_bf16_adapter_compute
from cancerllm.train.pretrain import PackedBlockCollator, PretrainConfig


def _load(tiny_model_dir, *overrides):
    from cancerllm.train.causal_lm import load_for_training
    return load_for_training(tiny_model_dir, load_config(PretrainConfig, "pretrain-tiny", list(overrides)))[0]


def _lora_layers(model):
    from peft.tuners.tuners_utils import BaseTunerLayer
    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]


def test_fp32_base_is_not_mixed_and_keeps_peft_casts(tiny_model_dir):
    model = _load(tiny_model_dir, "model_dtype=float32")
    assert not is_mixed_bf16(model)
    assert not use_bf16_adapter_compute(model)
    assert all(getattr(m, "cast_input_dtype_enabled", True) for m in _lora_layers(model))


def test_bf16_base_trains_fp32_adapter_weights_in_bf16_compute(tiny_model_dir):
    model = _load(tiny_model_dir, "model_dtype=bfloat16")
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(p.dtype == torch.float32 for p in trained)   # master weights stay fp32
    assert is_mixed_bf16(model)
    assert _lora_layers(model) and not any(m.cast_input_dtype_enabled for m in _lora_layers(model))


def test_autocast_loss_and_gradients_match_the_casting_path(tiny_model_dir, packed_dir):
    from datasets import load_from_disk
    blocks = load_from_disk(str(packed_dir))["train"]["input_ids"][:4]
    batch = PackedBlockCollator()([{"input_ids": b} for b in blocks])
    fast = _load(tiny_model_dir, "model_dtype=bfloat16", "lora.dropout=0.0")
    casting = _load(tiny_model_dir, "model_dtype=bfloat16", "lora.dropout=0.0")
    for m in _lora_layers(casting):
        m.cast_input_dtype_enabled = True     # peft's default path, for reference
    casting.load_state_dict(fast.state_dict())
    for p_fast, p_cast in zip(fast.parameters(), casting.parameters()):
        if p_fast.requires_grad:               # non-zero LoRA B, so the adapter path counts
            with torch.no_grad():
                p_fast.add_(0.05 * torch.randn_like(p_fast))
                p_cast.copy_(p_fast)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss_fast = fast(**batch).loss
    loss_cast = casting(**batch).loss
    loss_fast.backward()
    loss_cast.backward()
    assert loss_fast.item() == pytest.approx(loss_cast.item(), rel=2e-2)
    g_fast = torch.cat([p.grad.flatten() for p in fast.parameters() if p.requires_grad])
    g_cast = torch.cat([p.grad.flatten() for p in casting.parameters() if p.requires_grad])
    assert g_fast.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(g_fast, g_cast, dim=0) > 0.98


def test_trainer_autocasts_a_mixed_model(tmp_path, tiny_model_dir, packed_dir):
    from cancerllm.train.pretrain import pretrain
    cfg = load_config(PretrainConfig, "pretrain-tiny", [
        "model_dtype=bfloat16", "train.max_steps=2", "train.save_steps=2", "train.logging_steps=1",
        "train.per_device_train_batch_size=2", "max_eval_blocks=2"])
    metrics = pretrain(tiny_model_dir, packed_dir, tmp_path, cfg)
    assert metrics["global_step"] == 2 and metrics["train_loss"] > 0
    args = torch.load(tmp_path / "checkpoints" / "checkpoint-2" / "training_args.bin", weights_only=False)
    assert args.bf16 is True
    # train_metrics.json says what ran, though the recipe's train.bf16 is false
    assert cfg.train.bf16 is False
    assert (metrics["bf16_autocast"], metrics["base_dtype"]) == (True, "bfloat16")
