"""The staging heads model: `MultiTaskHeads`, the nn.Module (with its config and save format).

One of three `heads.py`, one job each: this one is the model (build, forward, loss,
predict, save/load); `cancerllm.train.heads` trains it on pathology records (recipe,
data, Trainer run); `cancerllm.evaluate.heads` scores a trained one on a split. Its
inputs are cut into token windows by `cancerllm.models.windows` and pooled by
`cancerllm.models.pooling`.

Multi-task classification heads on a LoRA-adapted decoder LM (staging and biomarkers).
The decoder (the tiny default, Mistral-7B or Llama-3-8B: any local model directory,
loaded with `AutoModel`, so without its LM head) is used as an encoder. Each report is
read as one or more token windows; each window is pooled to one vector, the windows of a
report are pooled again to one report vector, and one linear head per schema field
(`cancerllm.schema.staging.FIELDS`) predicts that field's *fine* class. Coarse
classes are derived with the schema's fixed map at evaluation time. This is the
architecture of Shao et al. (multi-task LoRA + parallel heads); the single-task baseline
is the same class with `fields=[one field]`.

Choices that a user can rely on (and tests pin):
- Pooling `last` (default): the last *non-pad* token, found from the attention mask, so
  it is right with left or right padding. In a causal LM only that token has attended to
  the whole window; taking position -1 regardless of padding (the precursor's bug) reads
  a pad token for every shorter row. `mean`: masked mean over non-pad tokens.
- Position ids come from the attention mask, so a report gets the same representation
  whatever padding side or batch it is in.
- Long reports: sections are first reordered so that synoptic summary, addenda and the
  final diagnosis come first (header-based, `reorder_sections`); the text is then cut
  into windows of `max_length` tokens overlapping by `overlap`, at most `max_chunks` per
  report (so what is dropped, if anything, is the low-priority tail); the window vectors
  are max-pooled (or averaged) into the report vector.
- Loss: sum over fields of (field weight x cross-entropy), optional per-class weights.
  The NR (not reported) class is an ordinary class; only a field with no label at all in
  a training record is ignored (index -100).
Not supported: quantised (4/8-bit) bases, FSDP/DeepSpeed checkpoint formats.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, field_validator, model_validator
from torch import nn
from torch.nn import functional as F

from cancerllm.config import Config
from cancerllm.errors import ConfigError, InputError
from cancerllm.models.lora import LoraSettings
from cancerllm.models.pooling import WindowPool, pool_hidden
from cancerllm.models.windows import HeadsCollator, encode_reports
from cancerllm.tasks.prompts import IGNORE_INDEX
from cancerllm.schema.staging import FIELDS, FINE

HEADS_CONFIG = "heads_config.json"
HEADS_WEIGHTS = "heads.safetensors"


class HeadsConfig(Config):
    """Architecture and input handling of a heads model; saved as heads_config.json."""

    fields: list[str] = Field(default_factory=lambda: list(FIELDS))
    pooling: Literal["last", "mean"] = "last"
    chunk_pool: Literal["max", "mean", "attention"] = "max"
    max_length: int = 512
    overlap: int = 64
    max_chunks: int = 8
    reorder_sections: bool = True
    head_dropout: float = 0.1
    lora: LoraSettings = Field(default_factory=LoraSettings)
    dtype: str = "auto"  # base weights: auto = bf16/fp16 on GPU, fp32 on CPU

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FINE]
        if unknown or not value:
            raise ValueError(f"fields must be a non-empty subset of {FIELDS}; got unknown {unknown}")
        return value

    @model_validator(mode="after")
    def _windows_advance(self) -> "HeadsConfig":
        if not 0 <= self.overlap < self.max_length // 2 or self.max_chunks < 1:
            raise ValueError(f"need 0 <= overlap < max_length / 2 and max_chunks >= 1 (overlap "
                             f"{self.overlap}, max_length {self.max_length}, max_chunks {self.max_chunks})")
        return self


# ---------------------------------------------------------------- long reports


# ---------------------------------------------------------------- model

class MultiTaskHeads(nn.Module):
    """LoRA-adapted decoder encoder + one linear head per field (see module docstring).

    Build a fresh one with `from_base`, reload a trained one with `from_pretrained`.
    `forward` takes a `HeadsCollator` batch and returns {"logits": {field: [B, C]},
    "loss": scalar when labels are given}, which is what HF `Trainer` expects.
    """

    def __init__(self, encoder: nn.Module, tokenizer, config: HeadsConfig, base_model: str,
                 labels: dict[str, list[str]] | None = None):
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.heads_config = config  # not `.config`: Trainer treats that as a PretrainedConfig
        self.base_model = str(base_model)
        self.fields = list(config.fields)
        # A saved model keeps the label lists it was trained with, even if the schema grows.
        self.labels = {f: list((labels or FINE)[f]) for f in self.fields}
        hidden = encoder.get_base_model().config.get_text_config().hidden_size
        self.dropout = nn.Dropout(config.head_dropout)
        self.heads = nn.ModuleDict({f: nn.Linear(hidden, len(self.labels[f])) for f in self.fields})
        # In the heads dict so that its weights (attention only) are saved and optimised with them.
        self.heads["_window_pool"] = WindowPool(hidden, config.chunk_pool)
        self.field_weights: dict[str, float] = {}
        for f in self.fields:
            self.register_buffer(f"class_weight_{f}", None, persistent=False)
        self.heads.to(next(encoder.parameters()).device)

    # -- construction

    @classmethod
    def from_base(cls, base_model: str | os.PathLike, config: HeadsConfig | None = None,
                  device: str | None = None) -> "MultiTaskHeads":
        """A new model: frozen base + fresh LoRA adapter + randomly initialised heads."""
        from peft import get_peft_model

        from cancerllm.models.loading import load_frozen_encoder
        config = config or HeadsConfig()
        base, tokenizer, base_dir = load_frozen_encoder(base_model, config.dtype, device)
        lora = config.lora.peft_config("FEATURE_EXTRACTION")
        return cls(get_peft_model(base, lora), tokenizer, config, str(base_dir))

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, base_model: str | os.PathLike | None = None,
                        device: str | None = None, trainable: bool = False) -> "MultiTaskHeads":
        """Reload a saved model; `base_model` overrides the base path recorded at save time."""
        from peft import PeftModel
        from safetensors.torch import load_file

        from cancerllm.models.loading import load_frozen_encoder, load_tokenizer
        directory = Path(directory)
        if not (directory / HEADS_CONFIG).is_file():
            raise InputError(f"{directory} is not a heads model directory (no {HEADS_CONFIG})")
        saved = json.loads((directory / HEADS_CONFIG).read_text(encoding="utf-8"))
        config = HeadsConfig.model_validate(saved["config"])
        base, _, base_dir = load_frozen_encoder(base_model or saved["base_model"], config.dtype, device)
        tokenizer = load_tokenizer(directory)
        encoder = PeftModel.from_pretrained(base, str(directory), is_trainable=trainable)
        model = cls(encoder, tokenizer, config, str(base_dir), labels=saved.get("labels"))
        device_ = next(encoder.parameters()).device
        model.heads.load_state_dict(load_file(str(directory / HEADS_WEIGHTS), device=str(device_)))
        if not trainable:
            model.eval()
        return model

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Adapter (peft format), heads weights (safetensors), heads_config.json, tokenizer."""
        from safetensors.torch import save_file

        from cancerllm.io import atomic_write_json
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(str(directory))
        save_file({k: v.detach().contiguous().cpu() for k, v in self.heads.state_dict().items()},
                  str(directory / HEADS_WEIGHTS))
        self.tokenizer.save_pretrained(str(directory))
        atomic_write_json(directory / HEADS_CONFIG, {
            "base_model": self.base_model, "fields": self.fields, "labels": self.labels,
            "pooling": self.heads_config.pooling, "max_length": self.heads_config.max_length,
            "config": self.heads_config.model_dump(mode="json")})
        return directory

    def load_trainable(self, directory: str | os.PathLike) -> None:
        """Load adapter + heads weights saved by `save_pretrained` (resume, best checkpoint)."""
        from peft import set_peft_model_state_dict
        from peft.utils import load_peft_weights
        from safetensors.torch import load_file
        device = next(self.parameters()).device
        set_peft_model_state_dict(self.encoder, load_peft_weights(str(directory), device=str(device)))
        self.heads.load_state_dict(load_file(str(Path(directory) / HEADS_WEIGHTS), device=str(device)))

    def set_loss_weights(self, field_weights: dict[str, float] | None = None,
                         class_weights: dict[str, list[float]] | None = None) -> None:
        """Per-field loss multipliers and per-class CE weights (label order = self.labels)."""
        unknown = set(field_weights or {}) - set(self.fields)
        if unknown:
            raise ConfigError(f"field_weights for fields not trained: {sorted(unknown)}")
        self.field_weights = dict(field_weights or {})
        device = next(self.parameters()).device
        for f, w in (class_weights or {}).items():
            setattr(self, f"class_weight_{f}", torch.tensor(w, dtype=torch.float32, device=device))

    # -- forward

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                chunk_report: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           position_ids=position_ids, use_cache=False)
        windows = pool_hidden(out.last_hidden_state, attention_mask, self.heads_config.pooling)
        reports = self.dropout(self.heads["_window_pool"](windows.float(), chunk_report))
        logits = {f: self.heads[f](reports) for f in self.fields}
        result: dict = {"logits": logits}
        if labels is not None:
            result["loss"] = self.loss(logits, labels)
        return result

    def loss(self, logits: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Sum of weighted per-field CE; a field unlabelled in the whole batch adds nothing."""
        total = sum(v.sum() for v in logits.values()) * 0.0  # keeps the graph if all unlabelled
        for i, f in enumerate(self.fields):
            target = labels[:, i]
            if bool((target != IGNORE_INDEX).any()):
                ce = F.cross_entropy(logits[f], target, weight=getattr(self, f"class_weight_{f}"),
                                     ignore_index=IGNORE_INDEX)
                total = total + self.field_weights.get(f, 1.0) * ce
        return total

    def loss_terms(self, logits: dict[str, torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`loss` split into its numerators and denominators, one per field (self.fields order).

        (sums, weights): sums[i] is field i's class-weighted CE summed over the labelled
        reports, weights[i] the sum of those reports' class weights (their count without
        class weights), so `loss` is sum_i w_i * sums[i] / weights[i]. Split because the mean
        is over the batch: a data-parallel trainer holds only a slice of it and must divide
        by the weights of the whole global batch (`cancerllm.train.heads.HeadsTrainer`).
        """
        sums, weights = [], []
        for i, f in enumerate(self.fields):
            target = labels[:, i]
            labelled = target != IGNORE_INDEX
            class_weight = getattr(self, f"class_weight_{f}")
            sums.append(F.cross_entropy(logits[f].float(), target, weight=class_weight,
                                        ignore_index=IGNORE_INDEX, reduction="sum"))
            weights.append(class_weight[target[labelled]].sum() if class_weight is not None
                           else labelled.sum().float())
        return torch.stack(sums), torch.stack(weights).detach()

    def loss_from_terms(self, sums: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """sum_i field_weight_i * sums[i] / weights[i]; a field with no weight adds nothing."""
        field_weights = torch.tensor([self.field_weights.get(f, 1.0) for f in self.fields],
                                     dtype=sums.dtype, device=sums.device)
        per_field = sums / weights.to(sums.dtype).clamp(min=torch.finfo(sums.dtype).tiny)
        return (field_weights * per_field).sum()

    # -- inference

    def encode(self, texts: list[str]) -> list[list[list[int]]]:
        c = self.heads_config
        return encode_reports(self.tokenizer, texts, c.max_length, c.overlap, c.max_chunks, c.reorder_sections)

    @torch.no_grad()
    def predict(self, texts: list[str], batch_size: int = 8) -> list[dict[str, dict]]:
        """One dict per text: {field: {"label": fine class, "probs": {label: probability}}}."""
        was_training = self.training
        self.eval()
        collate = HeadsCollator(self.tokenizer)
        device = next(self.parameters()).device
        chunks = self.encode(list(texts))
        results: list[dict[str, dict]] = []
        try:
            for start in range(0, len(chunks), batch_size):
                batch = collate([{"input_ids": c} for c in chunks[start:start + batch_size]])
                logits = self(**{k: v.to(device) for k, v in batch.items()})["logits"]
                probs = {f: torch.softmax(logits[f].float(), -1).cpu().tolist() for f in self.fields}
                for row in range(len(chunks[start:start + batch_size])):
                    results.append({f: _field_output(self.labels[f], probs[f][row]) for f in self.fields})
        finally:
            self.train(was_training)
        return results

    def activation_checkpointing_enable(self, activation_checkpointing_kwargs=None,
                                        every_n_layers: int = 1, offload: bool = False) -> None:
        """Called by `Trainer` when `gradient_checkpointing` is on: checkpoint the base's layers."""
        self.encoder.get_base_model().activation_checkpointing_enable(
            activation_checkpointing_kwargs or {"use_reentrant": False}, every_n_layers, offload)

    def trainable_parameter_names(self) -> list[str]:
        return [n for n, p in self.named_parameters() if p.requires_grad]


def _field_output(labels: list[str], probs: list[float]) -> dict:
    best = max(range(len(labels)), key=probs.__getitem__)
    return {"label": labels[best], "probs": dict(zip(labels, probs))}


def is_heads_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / HEADS_CONFIG).is_file()
