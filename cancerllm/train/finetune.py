"""Instruction tuning: LoRA on {instruction, context, response} records, loss on the answer.

The paper's recipe (recipes/finetune-mistral7b.yaml): LoRA rank 64, alpha 16, AdamW,
lr 2e-4. `--task all` trains one multi-task adapter on the union of the tasks' training
records; `finetune_per_task` (CLI `--per-task`) trains one adapter per task instead.

How a record becomes a training example: `cancerllm.tasks.prompts.PromptFormat` (the
model's chat template when its tokenizer has one, else the alpaca layout; the same object
generation uses) gives the prompt ids and the answer ids (response + end-of-turn / EOS).
Labels are -100 on the prompt (and on padding, added per batch by the collator); the loss
covers the answer and its end token only. Over `max_seq_length`, or over the task's
`max_input_tokens` (the evaluation limit in the task registry), the *context* is cut by
the one truncation rule shared with evaluation (`context_truncation: start` keeps the end
of the context; per task, e.g. `{diagnosis: end}` keeps its start). The answer is never cut: a record whose answer alone does not fit is
dropped and counted in train_metrics.json.

What is trained on (why these knobs exist): most phenotype records answer "Not relevant",
so a model trained on the natural mix learns that one answer and stops there (the demo's
first runs did exactly that). `sampling.<task>.answered_share` draws the task's training
subset with a stated share of answered records, spread evenly over the values of
`stratify` (every entity type is covered). `max_train_samples` caps records per task (one
number for all, or per task). With a validation split, `select_best` evaluates at every
save and keeps the adapter with the lowest validation loss.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Literal

from cancerllm.config import Config
from cancerllm.errors import InputError
from cancerllm.io import read_jsonl
from cancerllm.models.lora import LoraSettings
from cancerllm.tasks.prompts import PromptFormat, Template
from cancerllm.tasks.store import has_split, split_path
from cancerllm.tasks.truncation import select_sections
from cancerllm.train.causal_lm import PaddingCollator, load_for_training
from cancerllm.train.trainer import TrainConfig, TrainerSettings, begin_run, run_trainer

REQUIRED = ("instruction", "context", "response")


class TaskSampling(Config):
    """How a task's training subset is drawn (see module doc)."""

    answered_share: float | None = None   # share of records whose response is not `none_answer`
    none_answer: str = "Not relevant"
    stratify: str | None = None           # record field to spread the draw over (e.g. entity_type)


class FinetuneConfig(TrainConfig):
    """Instruction-tuning recipe (`cancerllm train finetune --recipe ...`)."""

    lora: LoraSettings | None = LoraSettings(r=64, alpha=16, dropout=0.05)
    prompt_template: Template = "auto"    # auto: the tokenizer's chat template when it has one
    max_seq_length: int = 2048
    # the side of an over-long context that goes: one for all tasks or {task: side}, e.g.
    # {treatment: start, diagnosis: end} (a plan follows the last sections, a diagnosis the
    # first); evaluate with the same sides (`truncation(task)`)
    context_truncation: Literal["start", "end"] | dict[str, Literal["start", "end"]] = "start"
    max_train_samples: int | dict[str, int] | None = None  # per task (or {task: n}), seeded subset
    max_eval_samples: int | dict[str, int] | None = None   # per task
    sampling: dict[str, TaskSampling] = {}
    # per-task prompt limit below the registry's (paper) limit, e.g. {treatment: 320}: the one
    # truncation rule then keeps the sections nearest the answer; evaluate with the same limit
    max_input_tokens: dict[str, int] = {}
    # per-task numbered note sections to keep, by header (`tasks.truncation.select_sections`),
    # e.g. {treatment: [reason for visit, subjective, diagnosis, assessment]}; evaluate the same
    context_sections: dict[str, list[str]] = {}
    select_best: bool = True              # keep the checkpoint with the lowest validation loss
    group_by_length: bool = True          # batches of similar length: less padding
    # with group_by_length: serve those batches in a random order, so the tasks of a multi-task
    # run alternate step by step instead of coming in blocks (`train.samplers`)
    shuffle_batches: bool = False
    pad_to_multiple_of: int | None = None
    train: TrainerSettings = TrainerSettings(learning_rate=2e-4, num_train_epochs=1.0)

    def truncation(self, task: str) -> Literal["start", "end"]:
        """The context side cut for `task` (tasks a dict does not name: "start")."""
        value = self.context_truncation
        return value.get(task, "start") if isinstance(value, dict) else value

    def limit(self, which: str, task: str) -> int | None:
        value = self.max_train_samples if which == "train" else self.max_eval_samples
        return value.get(task) if isinstance(value, dict) else value


# ---------------------------------------------------------------- one record


def encode_example(tokenizer, instruction: str, context: str, response: str, max_length: int,
                   max_prompt_tokens: int | None = None, cut: str = "start",
                   template: Template = "auto") -> dict | None:
    """{input_ids, labels, truncated} for one record, or None if the answer cannot fit."""
    return PromptFormat.for_tokenizer(tokenizer, template).encode_example(
        instruction, context, response, max_length, max_prompt_tokens, cut)


# ---------------------------------------------------------------- datasets


def read_task_records(tasks_dir: str | os.PathLike, task: str, split: str) -> list[dict] | None:
    """The split's records (only the prompt fields), or None when the file does not exist."""
    path = split_path(tasks_dir, task, split)
    if not path.is_file():
        return None
    records = []
    for i, rec in enumerate(read_jsonl(path), start=1):
        missing = [k for k in REQUIRED if not isinstance(rec.get(k), str)]
        if missing:
            raise InputError(f"{path}:{i}: record lacks text field(s) {', '.join(missing)}")
        records.append({"task": task, **{k: rec[k] for k in REQUIRED},
                        **{k: str(rec[k]) for k in ("entity_type",) if rec.get(k) is not None}})
    return records


def sample_records(records: list[dict], limit: int | None, seed: int,
                   sampling: TaskSampling | None = None) -> list[dict]:
    """A seeded subset of at most `limit` records, drawn per `sampling` (see module doc)."""
    rng = random.Random(seed)
    if sampling is None or sampling.answered_share is None or limit is None or limit >= len(records):
        if limit is not None and len(records) > limit:
            return rng.sample(records, limit)
        return list(records)
    answered = [r for r in records if r["response"] != sampling.none_answer]
    none = [r for r in records if r["response"] == sampling.none_answer]
    n_answered = min(len(answered), round(limit * sampling.answered_share))
    picked = (_spread(answered, n_answered, sampling.stratify, rng)
              + _spread(none, min(len(none), limit - n_answered), sampling.stratify, rng))
    rng.shuffle(picked)
    return picked


def _spread(records: list[dict], n: int, key: str | None, rng: random.Random) -> list[dict]:
    """n records drawn round-robin over the groups of `key` (each group shuffled)."""
    if key is None:
        return rng.sample(records, n)
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[str(r.get(key))].append(r)
    pools = [rng.sample(g, len(g)) for _, g in sorted(groups.items())]
    out: list[dict] = []
    while len(out) < n:
        for pool in pools:
            if pool and len(out) < n:
                out.append(pool.pop())
    return out


def encode_split(tokenizer, records: list[dict], cfg: FinetuneConfig, limit: int | None,
                 max_prompt_tokens: int | None, sampling: TaskSampling | None = None,
                 cut: Literal["start", "end"] | None = None, sections: list[str] | None = None):
    """(Dataset of input_ids/labels, stats) for a task split, drawn down to `limit` records."""
    from datasets import Dataset
    records = sample_records(records, limit, cfg.seed, sampling)
    fmt = PromptFormat.for_tokenizer(tokenizer, cfg.prompt_template)
    rows = {"input_ids": [], "labels": [], "truncated": []}
    for r in records:
        ex = fmt.encode_example(r["instruction"], select_sections(r["context"], sections), r["response"],
                                cfg.max_seq_length,
                                max_prompt_tokens, cut or cfg.truncation(""))
        if ex is not None:
            for k in rows:
                rows[k].append(ex[k])
    n = len(records)
    answered = (sum(r["response"] != sampling.none_answer for r in records)
                if sampling is not None else None)
    stats = {"records": n, "examples": len(rows["input_ids"]), "dropped_response_too_long": n - len(rows["input_ids"]),
             "context_truncated": int(sum(rows["truncated"])), "prompt_template": fmt.kind,
             **({"answered": answered} if answered is not None else {})}
    del rows["truncated"]
    return Dataset.from_dict(rows), stats


def resolve_tasks(tasks_dir: str | os.PathLike, task: str) -> list[str]:
    """'all' -> every registered task with a train file here; a name or comma list -> checked."""
    from cancerllm.tasks.registry import expand_tasks
    if not Path(tasks_dir).is_dir():
        raise InputError(f"task folder {str(tasks_dir)!r} does not exist "
                         "(make one with `cancerllm data tasks`)")
    names = expand_tasks(task)
    present = [t for t in names if has_split(tasks_dir, t, "train")]
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
        limit_prompt = min(get_task(task).max_input_tokens, cfg.max_input_tokens.get(task, 10**9))
        sampling = cfg.sampling.get(task)
        train, s_train = encode_split(tokenizer, read_task_records(tasks_dir, task, "train"), cfg,
                                      cfg.limit("train", task), limit_prompt, sampling, cfg.truncation(task),
                                      cfg.context_sections.get(task))
        stats[task] = {"train": s_train}
        trains.append(train)
        val_records = read_task_records(tasks_dir, task, "validation")
        if val_records:
            val, s_val = encode_split(tokenizer, val_records, cfg, cfg.limit("eval", task), limit_prompt,
                                      sampling, cfg.truncation(task), cfg.context_sections.get(task))
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
    # Left padding, as generation pads: positions count real tokens only (`position_ids`); the
    # loss projects only the answer positions onto the vocabulary (`train.trainer._answer_only_loss`).
    collator = PaddingCollator(tok.pad_token_id, cfg.pad_to_multiple_of, side="left")
    metrics = run_trainer(model, tok, train, val, collator, cfg, out, checkpoint, callbacks,
                          args_extra=extra, extra_metrics={"tasks": stats}, answer_logits_only=True,
                          shuffle_batches=cfg.shuffle_batches and cfg.group_by_length)
    if metrics.get("output") and Path(metrics["output"]).is_dir():
        # the prompt limits this model learnt with travel with it (eval, predict, serve read them)
        from cancerllm.tasks.prompt_settings import from_recipe, write_prompt_settings
        write_prompt_settings(metrics["output"], from_recipe(cfg, tasks))
    return metrics


def finetune_per_task(model_dir: str | os.PathLike, tasks_dir: str | os.PathLike,
                      out_dir: str | os.PathLike, task: str = "all",
                      cfg: FinetuneConfig | None = None, resume: bool = False) -> dict[str, dict]:
    """One adapter per task, each in OUT/<task>/ (the paper's single-task setting)."""
    return {t: finetune(model_dir, tasks_dir, Path(out_dir) / t, t, cfg, resume)
            for t in resolve_tasks(tasks_dir, task)}

