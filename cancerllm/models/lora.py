"""The LoRA settings every adapter of the toolkit is trained with (stages and heads alike).

`LoraSettings` is the `lora:` block of a recipe: pre-training and instruction tuning
(`cancerllm.train.trainer.TrainConfig`) and the staging heads
(`cancerllm.models.heads.HeadsConfig`) read the same fields, and `peft_config` turns it
into peft's `LoraConfig` for both. The label value the losses skip, `IGNORE_INDEX`, is
defined beside the prompt code that masks the prompt with it
(`cancerllm.tasks.prompts.IGNORE_INDEX`): `tasks/` cannot import `models/` (models
imports tasks), so that is its one home.
"""

from __future__ import annotations

from typing import Literal

from cancerllm.config import Config


class LoraSettings(Config):
    """peft `LoraConfig` fields; "all-linear" targets every linear layer of the decoder blocks
    (the LM head excluded)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    bias: Literal["none", "all", "lora_only"] = "none"

    def peft_config(self, task_type: str):
        """peft `LoraConfig` with these settings for `task_type` ("CAUSAL_LM", "FEATURE_EXTRACTION")."""
        from peft import LoraConfig
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.target_modules, bias=self.bias, task_type=task_type)


def is_mixed_bf16(model) -> bool:
    """True for a LoRA model whose frozen base weights are bf16 and whose adapter weights are fp32.

    That is what `model_dtype: fast` (or bfloat16) gives on a CPU with native bf16 or on a
    GPU: the big matmuls in bf16, the few trained weights (and their AdamW state) in fp32.
    Such a model trains under bf16 autocast (`use_bf16_adapter_compute`): the adapter
    matmuls then run in bf16 too, with fp32 master weights, as mixed precision does.
    """
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer
    trained = [p.dtype for p in model.parameters() if p.requires_grad]
    frozen = [p.dtype for p in model.parameters() if not p.requires_grad]
    has_lora = any(isinstance(m, BaseTunerLayer) for m in model.modules())
    return (has_lora and bool(trained) and all(d == torch.float32 for d in trained)
            and bool(frozen) and all(d == torch.bfloat16 for d in frozen))


def use_bf16_adapter_compute(model) -> bool:
    """Let a mixed bf16 LoRA model (`is_mixed_bf16`) compute its adapters in bf16; True if it is one.

    By default peft casts each adapted layer's input up to the adapter's fp32 and adds the
    fp32 result back onto the bf16 one: two large copies per adapted layer and pass, which
    on a CPU cost more than the matmuls they feed (SmolLM2-135M, r 16 on every linear
    layer: 20 % of a training step was `aten::copy_`). Turned off here; the forward then
    runs under bf16 autocast (the trainer sets `bf16` for such a model), which casts the
    small fp32 adapter weights to bf16 instead and keeps their gradients and optimizer
    state in fp32. Measured: 1.25-1.3x the training tokens/s of the casting path, the same
    loss (benchmarks/bench_cpu_defaults.py).
    """
    if not is_mixed_bf16(model):
        return False
    from peft.tuners.tuners_utils import BaseTunerLayer
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = False
    return True
