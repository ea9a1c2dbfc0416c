"""Counterfactual testbed (paper 2.5, Table 5): train on mislabelled phenotype data, test clean.

For each rate (and rate 0, the clean reference) `run_counterfactual`:
  1. takes the phenotype training records the recipe would train on (the recipe's
     `max_train_samples` cap is applied here, seeded, so the corrupted share is the
     share of what the model really sees, and every rate trains on the same records);
  2. gives round(rate x n) of them a wrong answer (`counterfactual.corrupt_phenotype`;
     the same seed at every rate, so a higher rate's corrupted set contains most of a
     lower rate's) and writes OUT/rates/rate-R/corruption_log.jsonl;
  3. writes OUT/rates/rate-R/tasks/phenotype/ with that train.jsonl and byte-for-byte
     copies of validation.jsonl and test.jsonl (checked by hash: evaluation stays clean);
  4. instruction-tunes the model with the same recipe (`train.finetune`, task phenotype)
     into OUT/rates/rate-R/train/;
  5. generates on the clean test split (`limit_test` records drawn with the seed) and scores.
`result.json` in the rate folder is written last (then the rate's training checkpoints are
deleted); a rerun skips rates that have one and resumes training from its last checkpoint
otherwise.

Seeds: `seed` picks the training subset and the corrupted instances; training itself uses
the recipe's `seed` (override with `seed=N`), the same at every rate.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from cancerllm.config import load_config
from cancerllm.errors import InputError
from cancerllm.io import atomic_write_json, atomic_write_jsonl
from cancerllm.robustness.bed_common import (begin_testbed, evaluate_records, final_weights, parse_rates,
                                             rate_name)
from cancerllm.robustness.counterfactual import corrupt_phenotype
from cancerllm.tasks.store import write_task_copy

TASK = "phenotype"
PAPER_RATES = (0.2, 0.4, 0.6, 0.8)


def training_subset(records: list[dict], cap: int | None, seed: int, sampling=None) -> list[dict]:
    """`records` capped to `cap` as the fine-tuning recipe draws them (`train.finetune.sample_records`,
    with the recipe's answered share when it sets one), kept in file order (None: all)."""
    from cancerllm.train.finetune import sample_records
    picked = {id(r) for r in sample_records(records, cap, seed, sampling)}
    return [r for r in records if id(r) in picked]


def _read(tasks_dir: str | os.PathLike, split: str) -> list[dict]:
    from cancerllm.tasks.store import read_split
    return read_split(tasks_dir, TASK, split)


def run_counterfactual(model: str | os.PathLike, tasks_dir: str | os.PathLike, out: str | os.PathLike,
                       rates: str | Iterable[float] = PAPER_RATES, recipe: str = "finetune-tiny",
                       overrides: list[str] | None = None, seed: int = 0, limit_test: int | None = None,
                       batch_size: int = 16, max_new_tokens: int | None = None,
                       mode: str = "reference") -> dict:
    """Sweep the counterfactual rates (see the module doc); returns the curve summary.

    Writes OUT/config.yaml, run.json, rates/rate-R/..., results.json, tables.md,
    table_phenotype.csv and average_f1.png (`report.write_counterfactual_report`).
    """
    from cancerllm.robustness.report import write_counterfactual_report
    from cancerllm.train.finetune import FinetuneConfig
    cfg = load_config(FinetuneConfig, recipe, overrides or [])
    rates = parse_rates(rates)
    config = {"testbed": "counterfactual", "model": str(model), "tasks_dir": str(tasks_dir),
              "recipe": str(recipe), "overrides": list(overrides or []),
              "finetune": cfg.model_dump(mode="json"), "seed": seed, "limit_test": limit_test,
              "batch_size": batch_size, "max_new_tokens": max_new_tokens, "mode": mode, "rates": rates}
    out = begin_testbed(out, config, seed, stage="robust.counterfactual")
    train = training_subset(_read(tasks_dir, "train"), cfg.limit("train", TASK), seed, cfg.sampling.get(TASK))
    from cancerllm.evaluate.predictions import draw_records
    test = draw_records(_read(tasks_dir, "test"), limit_test, seed, TASK)
    if not test:
        raise InputError(f"no phenotype test records in {tasks_dir}")
    rows = [_run_rate(rate, model, tasks_dir, out, train, test, cfg, config) for rate in rates]
    return write_counterfactual_report(out, config, rows)


def _run_rate(rate: float, model, tasks_dir, out: Path, train: list[dict], test: list[dict], cfg,
              config: dict) -> dict:
    from cancerllm.train.trainer import last_checkpoint
    from cancerllm.train.finetune import finetune
    folder = out / "rates" / rate_name(rate)
    if (folder / "result.json").is_file():
        print(f"[robust] counterfactual rate {rate:g}: done earlier, skipping", flush=True)
        return json.loads((folder / "result.json").read_text(encoding="utf-8"))
    print(f"[robust] counterfactual rate {rate:g}: corrupting {round(rate * len(train))} of {len(train)} "
          "training records", flush=True)
    corrupted, log = corrupt_phenotype(train, rate, config["seed"])
    atomic_write_jsonl(folder / "corruption_log.jsonl", log)
    write_task_copy(tasks_dir, folder / "tasks", TASK, corrupted)
    train_dir = folder / "train"
    if (train_dir / "train_metrics.json").is_file():  # written last by a finished training run
        metrics = json.loads((train_dir / "train_metrics.json").read_text(encoding="utf-8"))
    else:
        metrics = finetune(model, folder / "tasks", train_dir, TASK, cfg,
                           resume=last_checkpoint(train_dir) is not None)
    weights = final_weights(train_dir, model)
    evaluation = evaluate_records(*weights, TASK, test, folder / "predictions.jsonl", config["batch_size"],
                                  config["max_new_tokens"], config["mode"])
    result = {
        "rate": rate, "n_train": len(train), "n_corrupted": len(log),
        "measured_rate": len(log) / len(train) if train else 0.0,
        "kinds": dict(Counter(e["kind"] for e in log)),
        "fallbacks": sum(1 for e in log if e["fallback"]),
        "n_test": len(test),
        "train": {k: metrics.get(k) for k in ("global_step", "train_loss", "eval_loss", "wall_time_s")},
        **evaluation,
    }
    atomic_write_json(folder / "result.json", result)
    # A finished rate is never resumed (a rerun reads result.json), so its Trainer checkpoints
    # (adapter + optimizer state, gigabytes per rate on a 7B model) are dead weight; the
    # final adapter in train/adapter stays.
    shutil.rmtree(train_dir / "checkpoints", ignore_errors=True)
    return result
