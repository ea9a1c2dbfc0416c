"""Misspelling testbed (paper 2.5, Table 6) and what the spelling normaliser wins back.

For each task (diagnosis and treatment by default) and each rate (and rate 0, the clean
reference) `run_misspell`:
  1. misspells that share of the eligible words of each test input's `context`
     (`misspell.misspell_records`, seeded; numbers, acronyms and section headers are
     never touched) and records the share really misspelled (`measured_rate`);
  2. evaluates the model on those inputs against the clean references;
  3. with `normalize_spelling`, runs the `SpellingNormalizer` over the misspelled inputs,
     evaluates again, and counts how many misspelled words it restored exactly, left
     as they were, or "corrected" to another word, and how many clean words it changed.
At rate 0 the normalised run shows what the normaliser costs on clean text.

What is misspelled (`where`):
- "test" (default): the model is trained on clean data and only its evaluation inputs
  are misspelled. That isolates robustness to noisy input (what a deployed model meets)
  and needs one model instead of one per rate;
- "train": as the paper (2.5: "when constructing the training dataset ... we set the
  misspelling rate"): at each rate the training inputs of the task are misspelled, the
  model is instruction-tuned on them with `recipe` (OUT/<task>/rate-R/train/, the same
  recipe and seed at every rate; rate 0 trains the clean reference) and evaluated on
  the clean test split;
- "both": trained on misspelled inputs and tested on misspelled inputs.
`basis` says what the rate is a share of: "eligible" words or "all" words (misspell.py);
both measured rates are reported for every rate, for the training and the test inputs.

The normaliser's vocabulary is learned from clean *training* text only: by default the
training contexts of the evaluated tasks (`vocab_from` may name a task folder, a corpus
folder, a JSONL or text file, or a saved vocabulary JSON), plus the built-in medical word
list and abbreviations (`abbreviations` adds a list or a folder of lists). It is saved as
OUT/normalizer.json. Per task and rate, OUT/<task>/rate-R/ holds the misspelled and
normalised inputs, the misspelling report (every change), predictions and result.json
(written last: a rerun skips finished rates).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.io import atomic_write_json, atomic_write_jsonl, read_jsonl
from cancerllm.robustness.bed_common import begin_testbed, evaluate_records, model_name, parse_rates, rate_name
from cancerllm.robustness.misspell import BASES, TOKEN, misspell_records
from cancerllm.robustness.spelling import SpellingNormalizer, load_abbreviations
from cancerllm.tasks.store import split_path

PAPER_RATES = (0.02, 0.04, 0.06, 0.08, 0.2, 0.4, 0.6, 0.8)
WHERE = ("test", "train", "both")
TASKS = ("diagnosis", "treatment")
FIELD = "context"


# ---------------------------------------------------------------- the normaliser


def _record_texts(path: Path) -> Iterator[str]:
    """The `context` (task records) or `text` (corpus records) of each JSONL line."""
    for rec in read_jsonl(path):
        text = rec.get("context") if isinstance(rec.get("context"), str) else rec.get("text")
        if isinstance(text, str):
            yield text


def vocabulary_texts(source: str | os.PathLike | None, tasks_dir: str | os.PathLike,
                     tasks: Sequence[str]) -> Iterator[str]:
    """Clean text to learn the vocabulary from; never an evaluation split.

    None: TASKS/<task>/train.jsonl of the evaluated tasks. A folder: every train.jsonl one
    level down (a task folder, or a corpus folder's clean/), else every *.jsonl in it. A
    .jsonl file: its records. Any other file: its lines.
    """
    if source is None:
        paths = [split_path(tasks_dir, t, "train") for t in tasks]
    else:
        source = Path(source)
        if source.is_dir():
            paths = sorted(source.glob("*/train.jsonl")) or sorted(source.glob("*.jsonl"))
        elif source.is_file():
            paths = [source]
        else:
            raise InputError(f"vocabulary source not found: {source}")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise InputError(f"no training text for the spelling vocabulary: {', '.join(missing) or source}")
    for path in paths:
        if path.suffix == ".jsonl":
            yield from _record_texts(path)
        else:
            yield from path.read_text(encoding="utf-8").splitlines()


def build_normalizer(tasks_dir: str | os.PathLike, tasks: Sequence[str],
                     vocab_from: str | os.PathLike | None = None,
                     abbreviations: str | os.PathLike | None = None) -> SpellingNormalizer:
    """A `SpellingNormalizer` from clean training text (or a saved vocabulary .json)."""
    if vocab_from is not None and Path(vocab_from).suffix == ".json":
        norm = SpellingNormalizer.load(vocab_from)
        if abbreviations is None:
            return norm
        return SpellingNormalizer(norm.scores, norm.abbreviations | load_abbreviations(abbreviations),
                                  min_similarity=norm.min_similarity, long_word_min_len=norm.long_word_min_len,
                                  long_word_min_score=norm.long_word_min_score)
    return SpellingNormalizer.from_texts(vocabulary_texts(vocab_from, tasks_dir, tasks), abbreviations)


def word_restoration(clean: Sequence[dict], misspelled: Sequence[dict], normalized: Sequence[dict],
                     field: str = FIELD) -> dict:
    """How the normaliser treated each word, aligned by token position.

    Misspelling and normalising both replace a word by a word, so the i-th token of the
    three versions of a text is the same word. `restored_share` = restored / misspelled.
    """
    counts = Counter(misspelled=0, restored=0, left_misspelled=0, wrongly_corrected=0,
                     clean_words_changed=0, unaligned_records=0)
    for c, m, n in zip(clean, misspelled, normalized):
        a, b, d = (TOKEN.findall(r[field]) for r in (c, m, n))
        if not len(a) == len(b) == len(d):
            counts["unaligned_records"] += 1
            continue
        for word, typo, fixed in zip(a, b, d):
            if word != typo:
                counts["misspelled"] += 1
                counts["restored" if fixed == word else "left_misspelled" if fixed == typo
                       else "wrongly_corrected"] += 1
            elif fixed != word:
                counts["clean_words_changed"] += 1
    out = dict(counts)
    out["restored_share"] = counts["restored"] / counts["misspelled"] if counts["misspelled"] else None
    return out


# ---------------------------------------------------------------- the sweep


def run_misspell(model: str | os.PathLike, tasks_dir: str | os.PathLike, out: str | os.PathLike,
                 rates: str | Iterable[float] = PAPER_RATES, adapter: str | os.PathLike | None = None,
                 tasks: str | Sequence[str] = TASKS, normalize_spelling: bool = False,
                 vocab_from: str | os.PathLike | None = None, abbreviations: str | os.PathLike | None = None,
                 seed: int = 0, limit: int | None = None, batch_size: int = 16,
                 max_new_tokens: int | None = None, split: str = "test", mode: str = "reference",
                 where: str = "test", basis: str = "eligible", recipe: str | None = None,
                 overrides: list[str] | None = None) -> dict:
    """Sweep the misspelling rates (see the module doc); returns the curve summary.

    `where` "train"/"both" fine-tunes `model` per task and rate with `recipe` (required
    then; `adapter` must be None: the adapter is what is trained).

    Writes OUT/config.yaml, run.json, <task>/rate-R/..., results.json, tables.md,
    table_<task>.csv, table_summary.csv and average_f1.png (`report.write_misspell_report`).
    """
    from cancerllm.evaluate.predictions import draw_records
    from cancerllm.robustness.report import write_misspell_report
    from cancerllm.tasks.registry import expand_tasks
    from cancerllm.tasks.store import read_split
    from cancerllm.errors import ConfigError
    tasks = expand_tasks(tasks)
    rates = parse_rates(rates)
    if where not in WHERE:
        raise ConfigError(f"unknown misspelling target {where!r}; known: {', '.join(WHERE)}")
    if basis not in BASES:
        raise ConfigError(f"unknown misspelling rate basis {basis!r}; known: {', '.join(BASES)}")
    finetune_cfg = None
    if where != "test":
        if recipe is None or adapter is not None:
            raise ConfigError("misspelling the training data fine-tunes the model at every rate: give a "
                              "fine-tuning recipe and a base model without --adapter")
        from cancerllm.config import load_config
        from cancerllm.train.finetune import FinetuneConfig
        finetune_cfg = load_config(FinetuneConfig, recipe, overrides or [])
    config = {"testbed": "misspell", "model": str(model), "adapter": str(adapter) if adapter else None,
              "model_label": model_name(model, adapter), "tasks_dir": str(tasks_dir), "tasks": tasks,
              "split": split, "normalize_spelling": normalize_spelling,
              "vocab_from": str(vocab_from) if vocab_from else None,
              "abbreviations": str(abbreviations) if abbreviations else None, "seed": seed, "limit": limit,
              "batch_size": batch_size, "max_new_tokens": max_new_tokens, "mode": mode,
              "fields": [FIELD], "rates": rates, "where": where, "basis": basis,
              "recipe": str(recipe) if recipe else None, "overrides": list(overrides or []),
              "finetune": finetune_cfg.model_dump(mode="json") if finetune_cfg else None}
    out = begin_testbed(out, config, seed, stage="robust.misspell")
    data = {t: draw_records(read_split(tasks_dir, t, split), limit, seed, t) for t in tasks}
    norm = _LazyNormalizer(out, config) if normalize_spelling else None
    results = {t: [_run_rate(t, rate, data[t], norm, out, config, finetune_cfg) for rate in rates] for t in tasks}
    return write_misspell_report(out, config, results)


class _LazyNormalizer:
    """Builds (or loads OUT/normalizer.json) on first use: a resumed, finished run needs none."""

    def __init__(self, out: Path, config: dict):
        self.path, self.config, self._norm = out / "normalizer.json", config, None

    def get(self) -> SpellingNormalizer:
        if self._norm is None:
            if self.path.is_file():  # same config (begin_testbed checked): the same vocabulary
                self._norm = SpellingNormalizer.load(self.path)
            else:
                c = self.config
                self._norm = build_normalizer(c["tasks_dir"], c["tasks"], c["vocab_from"], c["abbreviations"])
                self._norm.save(self.path)
        return self._norm


def _inputs(records: Sequence[dict]) -> list[dict]:
    return [{"id": r["id"], FIELD: r[FIELD]} for r in records]


def _run_rate(task: str, rate: float, records: list[dict], norm: _LazyNormalizer | None, out: Path,
              config: dict, finetune_cfg=None) -> dict:
    folder = out / task / rate_name(rate)
    if (folder / "result.json").is_file():
        print(f"[robust] misspell {task} rate {rate:g}: done earlier, skipping", flush=True)
        return json.loads((folder / "result.json").read_text(encoding="utf-8"))
    print(f"[robust] misspell {task} rate {rate:g}: {len(records)} records", flush=True)
    where, basis = config["where"], config["basis"]
    weights, train_info = (config["model"], config["adapter"]), None
    if where != "test":
        weights, train_info = _train_misspelled(task, rate, folder, config, finetune_cfg)
    test_rate = rate if where != "train" else 0.0
    noisy, report = misspell_records(records, test_rate, config["seed"], (FIELD,), with_changes=True, basis=basis)
    atomic_write_json(folder / "misspellings.json", report)
    atomic_write_jsonl(folder / "inputs_misspelled.jsonl", _inputs(noisy))

    def evaluate(inputs: list[dict], name: str) -> dict:
        return evaluate_records(*weights, task, inputs, folder / name,
                                config["batch_size"], config["max_new_tokens"], config["mode"])

    measured = train_info if where == "train" else report
    result = {"task": task, "rate": rate, "where": where, "basis": basis,
              "measured_rate": measured["measured_rate"],
              "measured_rate_all_words": measured["measured_rate_all_words"],
              "eligible_words": measured["eligible_words"], "all_words": measured["all_words"],
              "misspelled_words": measured["misspelled_words"], "ops": measured["ops"],
              "test_inputs": {k: report[k] for k in ("measured_rate", "measured_rate_all_words", "eligible_words",
                                                     "all_words", "misspelled_words")},
              "n": len(records), "misspelled": evaluate(noisy, "predictions.jsonl")}
    if train_info is not None:
        result["training_inputs"] = train_info
    if norm is not None:
        fixed, summary = norm.get().normalize_records(noisy, (FIELD,))
        atomic_write_jsonl(folder / "inputs_normalized.jsonl", _inputs(fixed))
        atomic_write_json(folder / "normalizer_report.json", summary)
        result["normalizer"] = {"corrections": summary["corrections"].get(FIELD, 0),
                                **word_restoration(records, noisy, fixed)}
        result["normalized"] = evaluate(fixed, "predictions_normalized.jsonl")
    atomic_write_json(folder / "result.json", result)
    if where != "test":
        import shutil
        shutil.rmtree(folder / "train" / "checkpoints", ignore_errors=True)   # the adapter stays
    return result


def _train_misspelled(task: str, rate: float, folder: Path, config: dict, cfg) -> tuple[tuple, dict]:
    """Fine-tune on the task's training inputs with `rate` misspelled: ((model, adapter), report)."""
    from cancerllm.robustness.bed_common import final_weights
    from cancerllm.robustness.counterfactual_bed import training_subset
    from cancerllm.tasks.store import read_split, write_task_copy
    from cancerllm.train.trainer import last_checkpoint
    from cancerllm.train.finetune import finetune
    train = training_subset(read_split(config["tasks_dir"], task, "train"), cfg.max_train_samples, config["seed"])
    noisy, report = misspell_records(train, rate, config["seed"] + 1, (FIELD,), basis=config["basis"])
    write_task_copy(config["tasks_dir"], folder / "tasks", task, noisy)
    train_dir = folder / "train"
    if not (train_dir / "train_metrics.json").is_file():   # written last by a finished training run
        finetune(config["model"], folder / "tasks", train_dir, task, cfg, resume=last_checkpoint(train_dir) is not None)
    info = {k: report[k] for k in ("measured_rate", "measured_rate_all_words", "eligible_words", "all_words",
                                   "misspelled_words", "capped_words", "ops")}
    info["n_train"] = len(train)
    return final_weights(train_dir, config["model"]), info
