"""What pre-training and instruction tuning share beyond the run: the model and the batches.

`load_for_training` gives the model a causal-LM stage trains (LoRA-wrapped, QLoRA or full,
per the recipe) and `PaddingCollator` pads its batches; the run itself (`begin_run`,
`run_trainer`) is the shared run code of `cancerllm.train.trainer`.
"""

from __future__ import annotations

import importlib.util
import os
import warnings

import torch

from cancerllm.errors import ConfigError
from cancerllm.tasks.prompts import IGNORE_INDEX
from cancerllm.train.trainer import TrainConfig


def load_for_training(model_dir: str | os.PathLike, cfg: TrainConfig):
    """(model, tokenizer) ready for `Trainer`: LoRA-wrapped, quantized or plain per `cfg`.

    The tokenizer pads on the right (training); generation code loads its own, left-padded.
    The LoRA initialisation draws from the seeded RNG, so a run is reproducible.
    """
    from transformers import set_seed

    from cancerllm.models.loading import load_base_model, load_tokenizer
    from cancerllm.offline import local_model_dir

    model_dir = local_model_dir(model_dir)
    kwargs: dict = {}
    if cfg.quantization == "4bit":
        kwargs["quantization_config"] = _bnb_4bit_config(cfg)
    set_seed(cfg.seed)
    model = load_base_model(model_dir, "training", cfg.model_dtype, **kwargs)
    # No KV cache in training: useless there, clashes with checkpointing, and with a cache
    # transformers ignores packed position_ids (the document mask of pre-training).
    model.config.use_cache = False
    tok = load_tokenizer(model_dir, padding_side="right")
    if cfg.quantization == "4bit":
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.train.gradient_checkpointing)
    if cfg.uses_lora:
        from peft import get_peft_model
        lcfg = cfg.lora.peft_config("CAUSAL_LM")
        with warnings.catch_warnings():  # peft still asks for the deprecated name; not ours to fix
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            model = get_peft_model(model, lcfg)
        from cancerllm.models.lora import use_bf16_adapter_compute
        use_bf16_adapter_compute(model)  # bf16 base + fp32 adapter: train under bf16 autocast
    return model, tok


def _bnb_4bit_config(cfg: TrainConfig):
    if not cfg.uses_lora:
        raise ConfigError("quantization: 4bit trains a LoRA adapter on a frozen quantized base; "
                          "it cannot be combined with method: full")
    if not torch.cuda.is_available():
        raise ConfigError("quantization: 4bit (QLoRA) needs a CUDA GPU (bitsandbytes); this machine "
                          "has none. Use plain LoRA (quantization: null) on CPU.")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("quantization: 4bit needs the bitsandbytes package: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


class PaddingCollator:
    """Pad a batch to its longest example: ids with the pad id, labels with -100, mask 0.

    Examples carry their own `labels` (instruction tuning masks the prompt); without
    labels the inputs are the labels. Padding is per batch (dynamic), never to a fixed
    length, so short batches cost less.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None, side: str = "right"):
        self.pad_token_id = pad_token_id
        self.multiple = pad_to_multiple_of
        self.side = side

    def __call__(self, features: list[dict]) -> dict:
        longest = max(len(f["input_ids"]) for f in features)
        if self.multiple:
            longest = -(-longest // self.multiple) * self.multiple
        ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            span = slice(0, n) if self.side == "right" else slice(longest - n, longest)
            ids[i, span] = torch.as_tensor(f["input_ids"])
            labels[i, span] = torch.as_tensor(f.get("labels", f["input_ids"]))
            mask[i, span] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if self.side == "left":  # positions count real tokens only, as generation computes them
            batch["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        return batch
