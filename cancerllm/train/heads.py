"""Train multi-task (or single-task) staging/biomarker heads with Hugging Face `Trainer`.

One of three `heads.py`, one job each: this one is the training (recipe, records, the
Trainer run through `cancerllm.train.trainer`, validation scores); the model itself is
`cancerllm.models.heads`; scoring a trained one on a split is `cancerllm.evaluate.heads`.

`cancerllm train heads --recipe heads-tiny --model DIR --data pathology.jsonl --output OUT`

Reads pathology records (`text`, `labels` {field: fine class}; docs/design.md), splits
them 80/10/10 by patient unless they carry a `split` field (or come as a folder with
train/validation/test JSONL), and trains `cancerllm.models.heads.MultiTaskHeads`: the
model's forward returns the summed per-field loss, so the Trainer loop is Hugging
Face's own; only saving and loading are specialised (an adapter + heads instead of the
whole base). OUT is both the run folder and the model directory:

    OUT/config.yaml, run.json        resolved recipe, versions, seed
    OUT/metrics.csv                  everything the Trainer logged (step, epoch, name, value)
    OUT/checkpoints/checkpoint-N/    adapter + heads + optimizer/scheduler/RNG (for --resume)
    OUT/adapter_*, heads.*, heads_config.json, tokenizer   the final model (`from_pretrained(OUT)`)
    OUT/metrics.json                 train loss, steps, parameter counts, validation scores

`--single-task` trains one such model per field into OUT/<field>/ (the precursor's
one-adapter-one-head design, the baseline the multi-task model is compared with).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field, ValidationError, field_validator
from transformers import Trainer

from cancerllm.config import Config
from cancerllm.data.pathology import load_splits
from cancerllm.errors import ConfigError, InputError
from cancerllm.models.heads import HeadsConfig
from cancerllm.schema.staging import FINE
from cancerllm.tasks.prompts import IGNORE_INDEX
from cancerllm.train.trainer import TrainerSettings


class LossSettings(Config):
    """Per-field multipliers ({field: w}, default 1) and per-class weighting of the CE.

    `inverse` weights class c by n / (K * count_c) over the training labels (K = classes
    seen), `sqrt_inverse` by its square root: rare classes (T4, N3, M1, HER2 positive)
    then count more. NR is an ordinary class in both.
    """

    field_weights: dict[str, float] = Field(default_factory=dict)
    class_weights: Literal["none", "inverse", "sqrt_inverse"] = "none"

    @field_validator("field_weights")
    @classmethod
    def _known_fields(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(FINE))
        if unknown:
            raise ValueError(f"field_weights for unknown fields {unknown}; fields are {list(FINE)}")
        return value


class HeadsTrainConfig(Config):
    """A heads recipe (recipes/heads-*.yaml). `train` holds Hugging Face TrainingArguments.

    The optimiser is AdamW with two parameter groups (LoRA at `train.learning_rate`, the
    heads at `heads_learning_rate`), so `train.optim` is not used here. The final model is
    the last step's (no best-checkpoint selection); validation scores are in metrics.json.
    """

    seed: int = 0
    split_seed: int = 0  # the patient -> split hash seed; evaluation must use the same
    model: HeadsConfig = Field(default_factory=HeadsConfig)
    loss: LossSettings = Field(default_factory=LossSettings)
    heads_learning_rate: float | None = 1e-3  # fresh heads learn faster than LoRA; None = same
    train: TrainerSettings = Field(default_factory=lambda: TrainerSettings(
        per_device_train_batch_size=8, per_device_eval_batch_size=8, learning_rate=2e-4,
        num_train_epochs=3.0, logging_steps=10, save_steps=200))


# ---------------------------------------------------------------- data


def label_ids(rec: dict, fields: list[str]) -> list[int]:
    """Class indices of the record's labels; -100 where a field is unlabelled (never for NR)."""
    labels = rec.get("labels") or {}
    return [FINE[f].index(labels[f]) if labels.get(f) is not None else IGNORE_INDEX for f in fields]


def class_weights(label_rows: list[list[int]], fields: list[str], how: str) -> dict[str, list[float]]:
    """Per-class CE weights from training label counts (see LossSettings); {} for `none`."""
    if how == "none":
        return {}
    out = {}
    for i, f in enumerate(fields):
        counts = [0] * len(FINE[f])
        for row in label_rows:
            if row[i] != IGNORE_INDEX:
                counts[row[i]] += 1
        n, seen = sum(counts), sum(c > 0 for c in counts)
        w = [n / (seen * c) if c else 1.0 for c in counts]
        out[f] = [math.sqrt(x) for x in w] if how == "sqrt_inverse" else w
    return out


def _encode_batch(batch: dict, tokenizer, cfg: dict) -> dict:
    from cancerllm.models.windows import encode_reports
    return {"input_ids": encode_reports(tokenizer, batch["text"], cfg["max_length"], cfg["overlap"],
                                        cfg["max_chunks"], cfg["reorder_sections"])}


def build_dataset(model, records: list[dict]):
    """An Arrow dataset of report windows (`input_ids`: [window][token]) and `labels`.

    The map function gets the tokenizer, not the model: `datasets` fingerprints the
    function and its arguments, and hashing a model's weights would be slow.
    """
    from datasets import Dataset
    c = model.heads_config
    ds = Dataset.from_dict({"text": [r["text"] for r in records],
                            "labels": [label_ids(r, model.fields) for r in records]})
    return ds.map(_encode_batch, batched=True, remove_columns=["text"],
                  fn_kwargs={"tokenizer": model.tokenizer, "cfg": c.model_dump()})


# ---------------------------------------------------------------- trainer


class HeadsTrainer(Trainer):
    """`Trainer` that saves and reloads only the adapter and the heads (not the frozen base).

    `_save` and `_load_from_checkpoint` are the Trainer's save/load hooks; `compute_loss`
    normalises the loss over the global batch when several processes train. The training
    loop, optimisation, logging, checkpoint rotation and resume logic are Hugging Face's.
    Single-process or DDP; FSDP/DeepSpeed checkpoint formats are not supported.
    """

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        output_dir = output_dir or self.args.output_dir
        if self.args.should_save:
            self.accelerator.unwrap_model(self.model).save_pretrained(output_dir)
            torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        (model or self.model).load_trainable(resume_from_checkpoint)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """On several processes, the training loss of the global batch, as one process has it.

        The loss is a class-weighted *mean* per field. Each process holds a slice of the
        global batch, so its own mean has the wrong denominator (off by ~0.15 % at step 1
        in tests/distributed). Instead each process divides its weighted CE sums by the
        class-weight sums of the whole global batch (all-reduced; constants, so no gradient
        goes through the reduction) and multiplies by the process count, because DDP averages
        the gradients and the Trainer averages the logged losses over processes: both then
        equal one process's on the same global batch (as `average_tokens_across_devices`
        does for the causal-LM token mean). One process, and evaluation, take the model's
        own loss unchanged.
        """
        processes = self.accelerator.num_processes
        if processes == 1 or not model.training or inputs.get("labels") is None:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        labels = inputs["labels"]
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        heads = self.accelerator.unwrap_model(model)
        sums, weights = heads.loss_terms(outputs["logits"], labels)
        global_weights = self.accelerator.reduce(weights, reduction="sum")
        loss = heads.loss_from_terms(sums, global_weights) * processes
        return (loss, outputs) if return_outputs else loss


def _optimizer(model, cfg: HeadsTrainConfig):
    """AdamW with the heads in their own group (their own learning rate)."""
    heads = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("heads.")]
    lora = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("heads.")]
    lr = cfg.train.learning_rate
    groups = [{"params": lora, "lr": lr},
              {"params": heads, "lr": cfg.heads_learning_rate or lr}]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=cfg.train.weight_decay)


def train_one(model_dir: str | os.PathLike, splits: dict[str, list[dict]], out_dir: str | os.PathLike,
              cfg: HeadsTrainConfig, resume: bool = False) -> dict:
    """Train one heads model (fields = cfg.model.fields) into `out_dir`; returns its metrics."""
    from cancerllm.evaluate.heads import score_predictions
    from cancerllm.models.heads import MultiTaskHeads
    from cancerllm.models.windows import HeadsCollator
    from cancerllm.runs import write_metrics
    from cancerllm.train.trainer import begin_run, logged_value, train_session

    fields = cfg.model.fields
    train_recs = [r for r in splits["train"] if any(x != IGNORE_INDEX for x in label_ids(r, fields))]
    if not train_recs:
        raise InputError(f"no training record has a label for {fields}")
    val_recs = [r for r in splits["validation"] if any(x != IGNORE_INDEX for x in label_ids(r, fields))]
    out, checkpoint = begin_run(out_dir, cfg, resume, stage="train.heads")
    model = MultiTaskHeads.from_base(model_dir, cfg.model)
    train_ds = build_dataset(model, train_recs)
    model.set_loss_weights({f: w for f, w in cfg.loss.field_weights.items() if f in fields},
                           class_weights(train_ds["labels"], fields, cfg.loss.class_weights))
    val_ds = build_dataset(model, val_recs) if val_recs else None

    trainer, result, wall, _ = train_session(
        HeadsTrainer, model, train_ds, val_ds, HeadsCollator(model.tokenizer), cfg, out, checkpoint,
        args_extra={"remove_unused_columns": False, "prediction_loss_only": True, "label_names": ["labels"],
                    "ddp_find_unused_parameters": False},
        optimizers=(_optimizer(model, cfg), None))
    metrics = {
        "fields": fields, "resumed_from": checkpoint,
        "global_step": result.global_step, "epoch": trainer.state.epoch,
        "train_loss": result.training_loss,
        "first_logged_loss": logged_value(trainer.state.log_history, "loss", 0),
        "last_logged_loss": logged_value(trainer.state.log_history, "loss", -1),
        "wall_time_s": round(wall, 3),
        "n_train": len(train_recs), "n_validation": len(val_recs),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "total_params": sum(p.numel() for p in model.parameters()),
        "seed": cfg.seed, "split_seed": cfg.split_seed,
    }
    if trainer.is_world_process_zero():
        model.save_pretrained(out)
        if val_recs:
            preds = model.predict([r["text"] for r in val_recs], cfg.train.per_device_eval_batch_size)
            scores = score_predictions(val_recs, [{f: p[f]["label"] for f in fields} for p in preds],
                                       fields, n_boot=0)["systems"]["heads"]
            metrics["validation"] = {"scale": "x100",
                                     "headline_coarse_macro_f1": scores["headline"]["macro_f1"],
                                     "fields": scores["fields"]}
        write_metrics(out, metrics)
    return metrics


def train_heads(model_dir: str | os.PathLike, data: str | os.PathLike, out_dir: str | os.PathLike,
                cfg: HeadsTrainConfig | None = None, fields: list[str] | None = None,
                single_task: bool = False, resume: bool = False) -> dict:
    """Train the multi-task heads (or, `single_task`, one model per field in OUT/<field>/).

    `fields` restricts the heads (default: the recipe's, i.e. all seven). Returns the
    metrics of the model trained, or {field: metrics} for single-task.
    """
    cfg = cfg or HeadsTrainConfig()
    if fields:
        try:
            model_cfg = HeadsConfig.model_validate({**cfg.model.model_dump(), "fields": fields})
        except ValidationError as exc:
            raise ConfigError(f"--fields {','.join(fields)}: {exc.errors()[0]['msg']}") from None
        cfg = cfg.model_copy(update={"model": model_cfg})
    splits = load_splits(data, cfg.split_seed)
    if not single_task:
        return train_one(model_dir, splits, out_dir, cfg, resume=resume)
    results = {}
    for field in cfg.model.fields:
        one = cfg.model_copy(update={"model": cfg.model.model_copy(update={"fields": [field]})})
        results[field] = train_one(model_dir, splits, Path(out_dir) / field, one, resume=resume)
    return results
