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
