"""Instruction tuning: LoRA on {instruction, context, response} records, loss on the response.

The paper's recipe (recipes/finetune-mistral7b.yaml): LoRA rank 64, alpha 16, AdamW,
lr 2e-4. `--task all` trains one multi-task adapter on the union of the tasks' training
records; `finetune_per_task` (CLI `--per-task`) trains one adapter per task instead.

How a record becomes a training example:
- `cancerllm.tasks.prompts.format_example` gives (prompt, completion = response + EOS), the
  same template generation uses. The prompt is tokenized as `tokenizer(prompt)` does by
  default (a BOS is added if the tokenizer adds one), exactly as a generator tokenizes it;
  the completion is tokenized without special tokens and always ends with EOS.
- Labels are -100 on the prompt (and on padding, added per batch by the collator); the
  loss covers the response tokens and the EOS only.
- Truncation: when prompt + completion exceed `max_seq_length`, or the prompt exceeds the
  task's `max_input_tokens` (the evaluation limit in the task registry), the *context* is
  shortened (its end is cut by default, `context_truncation: start` cuts its beginning),
  then the prompt is re-formatted. The response and EOS are never cut: a record whose
  completion alone does not fit is dropped and counted in train_metrics.json.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from cancerllm.errors import InputError
from cancerllm.io import read_jsonl
from cancerllm.tasks.prompts import format_example, format_prompt
from cancerllm.train.common import (IGNORE_INDEX, LoraSettings, PaddingCollator, TrainConfig,
                                    TrainerSettings, begin_run, load_for_training, run_trainer)

REQUIRED = ("instruction", "context", "response")


class FinetuneConfig(TrainConfig):
    """Instruction-tuning recipe (`cancerllm train finetune --recipe ...`)."""

    lora: LoraSettings | None = LoraSettings(r=64, alpha=16, dropout=0.05)
    max_seq_length: int = 2048
    context_truncation: Literal["end", "start"] = "end"
    max_train_samples: int | None = None  # per task, a seeded random subset; None = all
    max_eval_samples: int | None = None   # per task
    group_by_length: bool = True          # batches of similar length: less padding
    pad_to_multiple_of: int | None = None
    train: TrainerSettings = TrainerSettings(learning_rate=2e-4, num_train_epochs=1.0)


# ---------------------------------------------------------------- one record


def encode_example(tokenizer, instruction: str, context: str, response: str, max_length: int,
                   max_prompt_tokens: int | None = None, cut: str = "end") -> dict | None:
    """{input_ids, labels, truncated} for one record, or None if the response cannot fit."""
    eos = tokenizer.eos_token_id
    prompt, completion = format_example(instruction, context, response, tokenizer.eos_token)
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if completion_ids[-1:] != [eos]:  # a tokenizer that splits special tokens found in text
        completion_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [eos]
    budget = max_length - len(completion_ids)
    if max_prompt_tokens is not None:
        budget = min(budget, max_prompt_tokens)
    prompt_ids = tokenizer(prompt)["input_ids"]
    truncated = len(prompt_ids) > budget
    if truncated:
        prompt_ids = _shorten_context(tokenizer, instruction, context, budget, cut)
        if prompt_ids is None:
            return None
    return {"input_ids": prompt_ids + completion_ids,
            "labels": [IGNORE_INDEX] * len(prompt_ids) + completion_ids,
            "truncated": truncated}


def _shorten_context(tokenizer, instruction: str, context: str, budget: int, cut: str):
    """Prompt ids for the longest cut of `context` whose formatted prompt fits `budget` tokens."""
    overhead = len(tokenizer(format_prompt(instruction, ""))["input_ids"])
    enc = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    keep = min(budget - overhead, len(offsets))
    while keep > 0:
        piece = (context[:offsets[keep - 1][1]] if cut == "end"
                 else context[offsets[len(offsets) - keep][0]:])
        ids = tokenizer(format_prompt(instruction, piece))["input_ids"]
        if len(ids) <= budget:
            return ids
        keep -= len(ids) - budget  # re-tokenizing at the new edge can merge differently
    return None


# ---------------------------------------------------------------- datasets


def read_task_records(tasks_dir: str | os.PathLike, task: str, split: str) -> list[dict] | None:
    """The split's records (only the prompt fields), or None when the file does not exist."""
    path = Path(tasks_dir) / task / f"{split}.jsonl"
    if not path.is_file():
        return None
    records = []
    for i, rec in enumerate(read_jsonl(path), start=1):
        missing = [k for k in REQUIRED if not isinstance(rec.get(k), str)]
        if missing:
            raise InputError(f"{path}:{i}: record lacks text field(s) {', '.join(missing)}")
        records.append({"task": task, **{k: rec[k] for k in REQUIRED}})
    return records


def encode_split(tokenizer, records: list[dict], cfg: FinetuneConfig, limit: int | None,
                 max_prompt_tokens: int | None):
    """(Dataset of input_ids/labels, stats) for a task split, capped to `limit` records."""
    from datasets import Dataset
    ds = Dataset.from_list(records)
    if limit is not None and len(ds) > limit:
        ds = ds.shuffle(seed=cfg.seed).select(range(limit))
    max_length = cfg.max_seq_length

    def encode(batch):
        out = {"input_ids": [], "labels": [], "truncated": []}
        for ins, ctx, resp in zip(batch["instruction"], batch["context"], batch["response"]):
            ex = encode_example(tokenizer, ins, ctx, resp, max_length, max_prompt_tokens,
                                cfg.context_truncation)
            if ex is not None:
                for k in out:
                    out[k].append(ex[k])
        return out

    n = len(ds)
    enc = ds.map(encode, batched=True, remove_columns=ds.column_names, desc="encode")
    stats = {"records": n, "examples": len(enc), "dropped_response_too_long": n - len(enc),
             "context_truncated": int(sum(enc["truncated"]))}
    return enc.remove_columns("truncated"), stats


def resolve_tasks(tasks_dir: str | os.PathLike, task: str) -> list[str]:
    """'all' -> every registered task with a train file here; a name or comma list -> checked."""
    from cancerllm.tasks.registry import expand_tasks
    if not Path(tasks_dir).is_dir():
        raise InputError(f"task folder {str(tasks_dir)!r} does not exist "
                         "(make one with `cancerllm data tasks`)")
    names = expand_tasks(task)
    present = [t for t in names if (Path(tasks_dir) / t / "train.jsonl").is_file()]
    if task != "all" and present != names:
        missing = sorted(set(names) - set(present))
        raise InputError(f"no train.jsonl for task(s) {', '.join(missing)} in {tasks_dir}")
    if not present:
        raise InputError(f"no task train.jsonl files under {tasks_dir}")
    return present


def build_datasets(tokenizer, tasks_dir: str | os.PathLike, tasks: list[str], cfg: FinetuneConfig):
    """(train, validation or None, per-task stats): the union over `tasks`."""
    from datasets import concatenate_datasets

    from cancerllm.tasks.registry import get_task
    trains, vals, stats = [], [], {}
    for task in tasks:
        limit_prompt = get_task(task).max_input_tokens
        train, s_train = encode_split(tokenizer, read_task_records(tasks_dir, task, "train"), cfg,
                                      cfg.max_train_samples, limit_prompt)
        stats[task] = {"train": s_train}
        trains.append(train)
        val_records = read_task_records(tasks_dir, task, "validation")
        if val_records:
            val, s_val = encode_split(tokenizer, val_records, cfg, cfg.max_eval_samples, limit_prompt)
            stats[task]["validation"] = s_val
            vals.append(val)
    train = concatenate_datasets(trains)
    if len(train) == 0:
        raise InputError(f"no training examples fit max_seq_length={cfg.max_seq_length}")
    val = concatenate_datasets(vals) if vals else None
    return train, (val if val is not None and len(val) else None), stats


# ---------------------------------------------------------------- the run


def finetune(model_dir: str | os.PathLike, tasks_dir: str | os.PathLike, out_dir: str | os.PathLike,
             task: str = "all", cfg: FinetuneConfig | None = None, resume: bool = False,
             callbacks: list | None = None) -> dict:
    """Instruction-tune `model_dir` on TASKS/<task>/train.jsonl; one adapter for all `task`s."""
    cfg = cfg or FinetuneConfig()
    tasks = resolve_tasks(tasks_dir, task)
    out, checkpoint = begin_run(out_dir, cfg, resume, stage="train.finetune")
    model, tok = load_for_training(model_dir, cfg)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and cfg.max_seq_length > limit:
        print(f"[train] max_seq_length {cfg.max_seq_length} > the model's {limit}; using {limit}",
              flush=True)
        cfg = cfg.model_copy(update={"max_seq_length": limit})
    train, val, stats = build_datasets(tok, tasks_dir, tasks, cfg)
    extra = {"train_sampling_strategy": "group_by_length"} if cfg.group_by_length else {}
    collator = PaddingCollator(tok.pad_token_id, cfg.pad_to_multiple_of)
    metrics = run_trainer(model, tok, train, val, collator, cfg, out, checkpoint, callbacks,
                          args_extra=extra, extra_metrics={"tasks": stats})
    return metrics


def finetune_per_task(model_dir: str | os.PathLike, tasks_dir: str | os.PathLike,
                      out_dir: str | os.PathLike, task: str = "all",
                      cfg: FinetuneConfig | None = None, resume: bool = False) -> dict[str, dict]:
    """One adapter per task, each in OUT/<task>/ (the paper's single-task setting)."""
    return {t: finetune(model_dir, tasks_dir, Path(out_dir) / t, t, cfg, resume)
            for t in resolve_tasks(tasks_dir, task)}

