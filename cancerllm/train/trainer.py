"""The shared run code of every training stage: config pieces, the Trainer run, its files.

Pre-training and instruction tuning are thin over Hugging Face `Trainer`: they differ only
in the dataset and the collator they hand to `run_trainer` (their model and collator are
in `cancerllm.train.causal_lm`). The staging heads (`cancerllm.train.heads`) run through
the same `begin_run` + `train_session` with their own Trainer subclass and save their own
model. Everything a causal-LM run leaves behind is written here, so the two stages'
output folders look the same:

    OUT/config.yaml, run.json       resolved recipe, versions, seed (cancerllm.runs)
    OUT/metrics.csv                 every logged value, long format: step, epoch, name, value
    OUT/tensorboard/                the same, when tensorboard is installed
    OUT/checkpoints/checkpoint-N/   Trainer checkpoints (adapter or model + optimizer + RNG)
    OUT/adapter/ or OUT/model/      the final LoRA adapter (peft) or full model, with tokenizer
    OUT/train_metrics.json          losses, steps, wall time, tokens/s, useful tokens/s
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Literal

import torch
from transformers import Trainer, TrainerCallback

from cancerllm.config import Config
from cancerllm.errors import ConfigError
from cancerllm.io import atomic_write_json
from cancerllm.models.lora import LoraSettings
from cancerllm.runs import start_run
from cancerllm.runtime import release_memory
from cancerllm.tasks.prompts import IGNORE_INDEX


class TrainerSettings(Config):
    """The `TrainingArguments` a recipe may set; names and meanings are Hugging Face's.

    `gradient_checkpointing` maps to `activation_checkpointing` (the transformers 5 name).
    `eval_steps: null` evaluates once, at the end; a value below 1 is a fraction of the
    total steps (the paper's "evaluation step 0.2"), as in `TrainingArguments`.
    `bf16` on a CPU uses CPU autocast.
    """

    per_device_train_batch_size: int = 4
    per_device_eval_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-4
    num_train_epochs: float = 1.0
    max_steps: int = -1
    warmup_steps: int | float = 0
    lr_scheduler_type: str = "linear"
    weight_decay: float = 0.0
    optim: str = "adamw_torch"
    max_grad_norm: float = 1.0
    bf16: bool = False
    fp16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int | float = 10
    eval_steps: int | float | None = None
    save_steps: int | float = 500
    save_total_limit: int | None = 2
    dataloader_num_workers: int = 0
    full_determinism: bool = False
    report_to: str | list[str] | None = None  # tensorboard | mlflow | wandb | none (train/report_to.py)


class TrainConfig(Config):
    """Fields common to pre-training and instruction tuning.

    `method: full` (or `lora: null`) trains every parameter instead of an adapter.
    `quantization: 4bit` is QLoRA (bitsandbytes NF4 base + LoRA); it needs CUDA.
    `model_dtype` is the dtype the frozen base weights are loaded in ("auto" keeps the saved
    one; "fast" is the inference policy `models.loading.pick_dtype`: bf16 on a GPU or a CPU
    with native bf16, else fp32). LoRA weights stay fp32 whatever the base (peft upcasts
    them); with a bf16 base the run trains under bf16 autocast, so the adapter matmuls run
    in bf16 too while their weights, gradients and optimizer state stay fp32
    (`models.lora.use_bf16_adapter_compute` says why).
    """

    method: Literal["lora", "full"] = "lora"
    lora: LoraSettings | None = LoraSettings()
    quantization: Literal["4bit"] | None = None
    model_dtype: Literal["float32", "bfloat16", "float16", "auto", "fast"] = "float32"
    seed: int = 0
    train: TrainerSettings = TrainerSettings()

    @property
    def uses_lora(self) -> bool:
        return self.method == "lora" and self.lora is not None


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total_params": total, "trainable_params": trainable}


# ---------------------------------------------------------------- logging


class CsvLogCallback(TrainerCallback):
    """Append every value the Trainer logs to OUT/metrics.csv (step, epoch, name, value).

    Long format, so train and eval rows with different keys share one file. On resume the
    rows logged after the checkpoint being resumed are dropped: they are about to be redone.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        rows = []
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= state.global_step]
        with open(self.path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["step", "epoch", "name", "value"])
            w.writeheader()
            w.writerows(rows)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            for name, value in logs.items():
                if isinstance(value, (int, float)) and name != "epoch":
                    w.writerow([state.global_step, round(state.epoch or 0.0, 4), name, value])


def read_metrics_csv(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{"step": int(r["step"]), "epoch": float(r["epoch"]), "name": r["name"],
                 "value": float(r["value"])} for r in csv.DictReader(fh)]


# ---------------------------------------------------------------- the run


class ReleaseMemoryCallback(TrainerCallback):
    """Hand freed memory back to the OS after each evaluation and checkpoint save.

    Both allocate and free large buffers between training steps (the eval batches, the
    serialised state); glibc keeps what they freed in its heap, which then stays in the
    run's resident set for the rest of the run (`runtime.release_memory`).
    """

    def on_evaluate(self, args, state, control, **kwargs):
        release_memory()

    def on_save(self, args, state, control, **kwargs):
        release_memory()


class CountingTrainer(Trainer):
    """`Trainer` that also counts the tokens it trains on: all, non-padding, loss-bearing.

    Counting happens in `compute_loss`, the documented override point; the training loop
    itself is Hugging Face's. Counts stay on the device (no per-step sync) and are summed
    over processes once, at the end. A loss-bearing ("useful") token is a position whose
    next-token label is not -100.
    """

    def __init__(self, *args, answer_logits_only: bool = False, shuffle_batches: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.token_counts = torch.zeros(3, dtype=torch.long, device=self.args.device)
        self.answer_logits_only = answer_logits_only
        self.shuffle_batches = shuffle_batches

    def _get_train_sampler(self, train_dataset=None):
        """Transformers' sampler; with `shuffle_batches`, its length-grouped batches in a
        random order (`train.samplers`: the tasks of a multi-task run interleaved)."""
        from transformers.trainer_pt_utils import LengthGroupedSampler

        from cancerllm.train.samplers import ShuffledLengthGroupedSampler
        sampler = super()._get_train_sampler(train_dataset)
        if self.shuffle_batches and type(sampler) is LengthGroupedSampler:
            return ShuffledLengthGroupedSampler(sampler.batch_size, lengths=sampler.lengths,
                                                generator=sampler.generator)
        return sampler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            ids, mask, labels = inputs["input_ids"], inputs.get("attention_mask"), inputs.get("labels")
            zero = torch.zeros((), dtype=torch.long, device=ids.device)
            counts = torch.stack([
                zero + ids.numel(),
                mask.sum() if mask is not None else zero + ids.numel(),
                (labels[:, 1:] != IGNORE_INDEX).sum() if labels is not None else zero])
            self.token_counts += counts.to(self.token_counts.device)
        if self.answer_logits_only and inputs.get("labels") is not None:
            out = _answer_only_loss(model, inputs, return_outputs, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # As Trainer.compute_loss does: num_items_in_batch counts every process's tokens
                # and DDP averages gradients over processes, so scale back up by their number.
                scale = self.accelerator.num_processes
                out = (out[0] * scale, out[1]) if return_outputs else out * scale
            return out
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    def summed_token_counts(self) -> dict[str, int]:
        total = self.accelerator.reduce(self.token_counts, reduction="sum").tolist()
        return dict(zip(("tokens", "non_padding_tokens", "useful_tokens"), total))


def _answer_only_loss(model, inputs: dict, return_outputs: bool, num_items_in_batch=None):
    """Causal-LM loss computed from the logits of the answer positions only.

    Instruction tuning puts the loss on the answer (tens of tokens) of a prompt that can be
    hundreds of tokens long, yet a plain forward computes the vocabulary logits (49k wide for
    SmolLM2) at every position, and their float copies and gradients: that was most of the
    memory (14 GB at batch 8 x 768) and about a quarter of the compute. transformers' forward
    argument `logits_to_keep` takes a boolean (batch, length) mask of the positions to
    project (`modeling_utils.slice_logits_to_keep`): here, the positions whose next token is
    a label, so no prompt or padding position reaches the LM head, whatever the padding side
    (the logits come back flattened, in row-major order, as do the targets). The loss is the
    same token-mean cross entropy as the model's own (tests/train check equality).
    Hand-written because no library option does this for a CPU (fused kernels such as
    Liger's are GPU-only).
    """
    import torch.nn.functional as F
    labels = inputs["labels"]
    target = labels[:, 1:]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = target != IGNORE_INDEX
    forward = {k: v for k, v in inputs.items() if k != "labels"}
    outputs = model(**forward, logits_to_keep=keep, use_cache=False)
    logits = outputs.logits.float()
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target[keep[:, :-1]].to(logits.device),
                           reduction=reduction)
    if num_items_in_batch is not None:
        loss = loss / num_items_in_batch
    return (loss, outputs) if return_outputs else loss


def last_checkpoint(out_dir: str | os.PathLike) -> str | None:
    """The newest complete checkpoint under OUT/checkpoints, or None.

    A checkpoint is complete when its trainer_state.json holds valid JSON: the Trainer
    writes that file last (and not atomically), so a run killed while saving leaves a
    folder without it, or with a torn one; such a folder is skipped for an older one.
    """
    import json
    ckpt_dir = Path(out_dir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return None
    steps = sorted((p for p in ckpt_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for path in steps:
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return str(path)
    return None


def training_arguments(cfg: TrainConfig, out_dir: Path, has_eval: bool, select_best: bool = False, **extra):
    """`TrainingArguments` from a recipe; paths and reporting are decided here, not in recipes.

    `select_best` (with an eval set): evaluate at every save and load the checkpoint with
    the lowest eval loss at the end (Trainer's `load_best_model_at_end`), so the saved
    adapter is the one validation chose, not simply the last.
    """
    from transformers import TrainingArguments
    t = cfg.train
    bf16 = t.bf16 or extra.pop("bf16", False)
    from cancerllm.train.report_to import resolve_report_to
    report_to = resolve_report_to(t.report_to, out_dir)  # local files under OUT only
    select_best = select_best and has_eval
    eval_strategy = "steps" if (has_eval and (t.eval_steps or select_best)) else "no"
    eval_steps = (t.save_steps if select_best else t.eval_steps) if eval_strategy == "steps" else None
    if select_best:
        extra.update(load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False)
    if (bf16 or t.fp16) and not torch.cuda.is_available():
        if t.fp16:
            raise ConfigError("train.fp16 needs a CUDA GPU; on a CPU use train.bf16 or neither")
        extra.setdefault("use_cpu", True)  # transformers' switch for bf16 autocast on a CPU
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        # A multi-process launch on CPUs: without use_cpu, accelerate finds no GPU backend and
        # every process silently trains its own full copy; with it, one DDP run over gloo.
        extra.setdefault("use_cpu", True)
    return TrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        per_device_train_batch_size=t.per_device_train_batch_size,
        per_device_eval_batch_size=t.per_device_eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, num_train_epochs=t.num_train_epochs, max_steps=t.max_steps,
        warmup_steps=t.warmup_steps, lr_scheduler_type=t.lr_scheduler_type,
        weight_decay=t.weight_decay, optim=t.optim, max_grad_norm=t.max_grad_norm,
        bf16=bf16, fp16=t.fp16,
        activation_checkpointing=t.gradient_checkpointing,
        logging_steps=t.logging_steps, logging_first_step=True,
        eval_strategy=eval_strategy, eval_steps=eval_steps,
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        dataloader_num_workers=t.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        seed=cfg.seed, data_seed=cfg.seed, full_determinism=t.full_determinism,
        report_to=report_to, disable_tqdm=False, **extra)


def begin_run(out_dir: str | os.PathLike, cfg: TrainConfig, resume: bool, stage: str):
    """(OUT, checkpoint to resume or None); writes config.yaml and run.json via `start_run`.

    `resume=True` picks the newest complete checkpoint in OUT/checkpoints (with none
    there the run starts from the beginning). Without `resume`, an OUT that already holds
    checkpoints is refused rather than silently mixed with a new run.
    """
    checkpoint = last_checkpoint(out_dir)
    if checkpoint and not resume:
        raise ConfigError(f"{out_dir} already holds checkpoints of a run; pass --resume to continue "
                          "it, or choose a new --out")
    if resume and checkpoint is None:
        print(f"[train] --resume: no complete checkpoint in {Path(out_dir) / 'checkpoints'}; "
              "starting fresh", flush=True)
    return start_run(out_dir, cfg, cfg.seed, stage=stage), checkpoint


def train_session(trainer_cls: type[Trainer], model, train_dataset, eval_dataset, collator, cfg,
                  out: Path, checkpoint: str | None = None, callbacks: list | None = None,
                  args_extra: dict | None = None, **trainer_kwargs):
    """Build `trainer_cls` with the recipe's `training_arguments` and OUT/metrics.csv logging,
    train (from `checkpoint` if given) and time it: (trainer, TrainOutput, wall s, peak GPU MB).

    The one Trainer run of the toolkit: `run_trainer` (pre-training, instruction tuning) and
    `train.heads.train_one` (staging heads) differ only in what they do after it. The peak
    is `torch.cuda.max_memory_allocated` (None on a CPU).
    """
    args = training_arguments(cfg, out, has_eval=eval_dataset is not None,
                              select_best=getattr(cfg, "select_best", False), **(args_extra or {}))
    trainer = trainer_cls(
        model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
        data_collator=collator,
        callbacks=[CsvLogCallback(out / "metrics.csv"), ReleaseMemoryCallback(), *(callbacks or [])],
        **trainer_kwargs)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    wall = time.perf_counter() - t0
    # The paper's memory figures (40 GB CPT, 7,338 MB fine-tune) are GPU peaks: record ours beside them.
    peak_gpu_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None
    return trainer, result, wall, peak_gpu_mb


def run_trainer(model, tokenizer, train_dataset, eval_dataset, collator, cfg: TrainConfig,
                out: Path, checkpoint: str | None = None, callbacks: list | None = None,
                args_extra: dict | None = None, extra_metrics: dict | None = None,
                answer_logits_only: bool = False, shuffle_batches: bool = False) -> dict:
    """Train with HF `Trainer` (from `checkpoint` if given), save the final weights and
    tokenizer, write OUT/train_metrics.json; returns those metrics.

    Resuming restores model, optimizer, scheduler, RNG states and the data position, so
    a resumed run ends where an uninterrupted one would (tests/train check this).
    """
    from cancerllm.models.lora import is_mixed_bf16
    # Only eval_loss is used: without this the Trainer keeps every eval batch's logits
    # (vocabulary-wide, float32) until the end of the evaluation, gigabytes for SmolLM2.
    args_extra = {"prediction_loss_only": True, **(args_extra or {})}
    if is_mixed_bf16(model):  # bf16 base + fp32 adapter: bf16 autocast (models.lora.use_bf16_adapter_compute)
        args_extra["bf16"] = True
    trainer, result, wall, peak_gpu_mb = train_session(
        CountingTrainer, model, train_dataset, eval_dataset, collator, cfg, out, checkpoint,
        callbacks=callbacks, args_extra=args_extra, processing_class=tokenizer,
        answer_logits_only=answer_logits_only, shuffle_batches=shuffle_batches)
    args = trainer.args
    final_dir = out / ("adapter" if cfg.uses_lora else "model")
    trainer.save_model(str(final_dir))  # an adapter only, for a peft model
    if eval_dataset is None:
        eval_loss = None
    elif args.load_best_model_at_end and trainer.state.best_metric is not None:
        eval_loss = trainer.state.best_metric  # the loaded best checkpoint's: no second pass
    else:
        eval_loss = trainer.evaluate()["eval_loss"]
    counts = trainer.summed_token_counts()
    runtime = result.metrics.get("train_runtime") or wall
    metrics = {
        "method": "lora" if cfg.uses_lora else "full",
        "output": str(final_dir),
        "resumed_from": checkpoint,
        "global_step": result.global_step,
        "epoch": trainer.state.epoch,
        "train_loss": result.training_loss,  # mean over the steps of this session
        "last_logged_loss": logged_value(trainer.state.log_history, "loss"),
        "eval_loss": eval_loss,
        "best_checkpoint": (os.path.relpath(trainer.state.best_model_checkpoint, out)
                            if trainer.state.best_model_checkpoint else None),
        "train_runtime_s": round(runtime, 3),
        "wall_time_s": round(wall, 3),
        "peak_gpu_memory_mb": peak_gpu_mb,   # torch.cuda.max_memory_allocated; None on a CPU
        # what ran, not what the recipe's `train.bf16` says: a bf16 base with fp32 adapters
        # turns bf16 autocast on by itself (`is_mixed_bf16`)
        "bf16_autocast": bool(args.bf16),
        "base_dtype": str(next((p.dtype for p in trainer.model.parameters() if not p.requires_grad),
                               next(trainer.model.parameters()).dtype)).replace("torch.", ""),
        **counts,
        "tokens_per_s": round(counts["tokens"] / runtime, 1) if runtime else None,
        "useful_tokens_per_s": round(counts["useful_tokens"] / runtime, 1) if runtime else None,
        "padding_share": (round(1 - counts["non_padding_tokens"] / counts["tokens"], 4)
                          if counts["tokens"] else None),
        **count_parameters(trainer.model),
        "seed": cfg.seed,
        **(extra_metrics or {}),
    }
    if trainer.is_world_process_zero():
        # the saved tokenizer's chat template is the toolkit's prompt (vLLM, Ollama, LM Studio)
        from cancerllm.tasks.chat_template import ensure_chat_template
        ensure_chat_template(tokenizer)
        tokenizer.save_pretrained(str(final_dir))
        atomic_write_json(out / "train_metrics.json", metrics)
    return metrics


def logged_value(history: list[dict], key: str, which: int = -1) -> float | None:
    """The `which`-th value of `key` in a Trainer's log history (default: the last), or None."""
    values = [h[key] for h in history if key in h]
    return values[which] if values else None
