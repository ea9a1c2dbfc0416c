"""Compare models and baselines on the generation tasks: the paper's Tables 2-4, 7 and Figure 1.

`compare_models` generates and scores every (model, task) pair, fits and scores every
registered baseline asked for (`cancerllm.baselines.registry`, fitted on the task's
*train* split), and hands the results to `write_comparison` (compare_report.py), which
writes the tables, per-instance scores, bootstrap CIs and Figure 1. `cancerllm eval
compare` is a thin shell over `compare_models`.

Generation is resumable: predictions files are appended and finished ids are skipped,
so rerunning after an interruption continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from cancerllm.errors import ConfigError
from cancerllm.evaluate.compare_report import write_comparison  # noqa: F401  (the demo imports it here)
from cancerllm.evaluate.scoring import DEFAULT_N_BOOT, instance_average_f1
from cancerllm.io import atomic_write_jsonl, read_jsonl


@dataclasses.dataclass
class ModelRef:
    """A model to compare: a base directory and optionally a LoRA adapter on top of it."""

    name: str
    model_dir: str
    adapter_dir: str | None = None


def parse_model_refs(specs: list[str]) -> list[ModelRef]:
    """'name=MODEL', 'name=MODEL:ADAPTER' (or 'name=MODEL+ADAPTER') -> ModelRef list.

    A name may appear once: the tables are keyed by it.
    """
    refs, seen = [], set()
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--model entry {spec!r} is not name=MODEL[:ADAPTER]")
        split_at = "+" if "+" in path else ":"
        model_dir, _, adapter = path.partition(split_at)
        if name in seen:
            raise ConfigError(f"--model name {name!r} is given twice")
        seen.add(name)
        refs.append(ModelRef(name.strip(), model_dir, adapter or None))
    return refs


def score_entry(records: list[dict], preds: dict[str, str], task: str, mode: str = "reference") -> dict:
    """{"scores": aggregate, "per_instance": [{id, group, average_f1, EM/BLEU-2/ROUGE-L F1}]}.

    Per-instance values are x 100; `group` is the record's value of the task's
    `group_field` (phenotype: the entity type, one per question), so the tables can break
    a score down by question; "" for a task without one.
    """
    from cancerllm.evaluate.scoring import score_records
    from cancerllm.tasks.registry import get_task
    scored = score_records({r["id"]: r["response"] for r in records}, preds, mode)
    group_field = get_task(task).group_field
    groups = {r["id"]: (r.get(group_field, "") if group_field else "") for r in records}
    avg = instance_average_f1(scored.per_instance)
    per_instance = [{"id": x["id"], "group": groups.get(x["id"], ""), "average_f1": a,
                     **{m: 100 * x[m]["f1"] for m in ("exact_match", "bleu2", "rouge_l")}}
                    for x, a in zip(scored.per_instance, avg)]
    return {"scores": scored.aggregate, "per_instance": per_instance}


def _limit_for(limit: int | dict | None, task: str) -> int | None:
    return limit.get(task) if isinstance(limit, dict) else limit


def _split(tasks_dir, task: str, split: str, limit, sample: str = "first", seed: int = 0) -> list[dict]:
    """The split's first N records, or N drawn with `seed` (`predictions.draw_records`)."""
    from cancerllm.evaluate.predictions import draw_records
    from cancerllm.tasks.store import read_split
    return draw_records(read_split(tasks_dir, task, split), _limit_for(limit, task), seed, task, sample)


def run_baseline(name: str, task: str, tasks_dir: str | os.PathLike, records: list[dict],
                 mode: str = "reference") -> dict:
    """Fit baseline `name` on TASKS/<task>/train.jsonl and score it on `records`."""
    from cancerllm.baselines.registry import fit_baseline
    from cancerllm.tasks.store import read_split
    t0 = time.perf_counter()
    predict = fit_baseline(name, task, read_split(tasks_dir, task, "train"))
    preds = predict(records)
    entry = score_entry(records, preds, task, mode)
    entry["generation"] = {"n_instances": len(records), "wall_seconds": time.perf_counter() - t0, "device": "cpu"}
    entry["kind"] = "baseline"
    return entry


def compare_models(models: list[ModelRef], tasks: list[str], tasks_dir: str | os.PathLike,
                   out_dir: str | os.PathLike, split: str = "test", limit: int | dict | None = None,
                   batch_size: int = 16, mode: str = "reference",
                   max_new_tokens: dict[str, int] | int | None = None, baselines: list[str] | None = None,
                   n_boot: int = DEFAULT_N_BOOT, seed: int = 0, floor: str | None = None,
                   pairs: list[tuple[str, str]] | None = None, write: bool = True,
                   max_input_tokens: dict[str, int] | None = None,
                   context_truncation: dict[str, str] | None = None,
                   context_sections: dict[str, list[str]] | None = None, sample: str = "first",
                   progress: bool = True, quantization: str | None = None, backend: str = "auto",
                   num_beams: dict[str, int] | int | None = None) -> dict:
    """Generate + score every (model, task), score the `baselines`, write the comparison.

    `limit`: first N records of the split (an int, or {task: N}), or N drawn with `seed`
    when `sample="random"`; `max_new_tokens` caps generation below the task's registered
    (paper) limit (an int or {task: N}); `num_beams` (an int or {task: N}; 1, the default, is
    greedy) decodes with beam search, every model alike; `max_input_tokens` / `context_truncation` /
    `context_sections` ({task: ...}) repeat the fine-tuning recipe's prompt limits, so models are tested as trained.
    Baselines answer only the tasks they support (`rules`: phenotype); one asked for a
    task it cannot answer is skipped there, and an unknown name is a ConfigError before
    any generation. `progress`: a bar or "n/N, ETA" lines on stderr per (model, task)
    (evaluate/progress.py). Returns {system: {task: entry}} (see compare_report).
    """
    from cancerllm.baselines.registry import get_baseline
    from cancerllm.evaluate.predictions import generate_predictions
    from cancerllm.evaluate.progress import already_done, generation_progress
    from cancerllm.evaluate.scoring import check_mode
    from cancerllm.tasks.registry import expand_tasks
    check_mode(mode)
    tasks = expand_tasks(tasks)
    baselines = list(baselines or [])
    for name in baselines:
        get_baseline(name)
        if name in {m.name for m in models}:
            raise ConfigError(f"{name!r} names both a model and a baseline")
    systems = [m.name for m in models] + baselines
    for name in [n for pair in (pairs or []) for n in pair] + ([floor] if floor else []):
        if name not in systems:
            raise ConfigError(f"{name!r} (--pair / --floor) is not among the systems: {', '.join(systems)}")
    out = Path(out_dir)
    results: dict = {}
    for task in tasks:
        records = _split(tasks_dir, task, split, limit, sample, seed)
        ids = {r["id"] for r in records}
        atomic_write_jsonl(out / "references" / f"{task}.jsonl",
                           ({"id": r["id"], "response": r["response"], "task": task} for r in records))
        for ref in models:
            pred_path = out / "predictions" / ref.name / f"{task}.jsonl"
            cap = max_new_tokens.get(task) if isinstance(max_new_tokens, dict) else max_new_tokens
            beams = (num_beams.get(task) if isinstance(num_beams, dict) else num_beams) or 1
            with generation_progress(f"{ref.name} {task}", len(records), already_done(pred_path, records),
                                     enabled=progress) as report:
                stats = generate_predictions(ref.model_dir, task, records, pred_path, adapter_dir=ref.adapter_dir,
                                             batch_size=batch_size, max_new_tokens=cap, model_name=ref.name,
                                             max_input_tokens=(max_input_tokens or {}).get(task),
                                             context_truncation=(context_truncation or {}).get(task),
                                             context_sections=(context_sections or {}).get(task), progress=report,
                                             quantization=quantization, backend=backend, num_beams=beams)
            # Only this run's ids: a predictions file resumed from a run with a larger limit has more.
            preds = {p["id"]: p["prediction"] for p in read_jsonl(pred_path) if p["id"] in ids}
            entry = score_entry(records, preds, task, mode)
            entry.update({"generation": dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) else dict(stats),
                          "model_dir": str(ref.model_dir), "adapter_dir": ref.adapter_dir, "kind": "model"})
            results.setdefault(ref.name, {})[task] = entry
        for name in baselines:
            if get_baseline(name).supports(task):
                results.setdefault(name, {})[task] = run_baseline(name, task, tasks_dir, records, mode)
    if write:
        write_comparison(results, out, {"models": [dataclasses.asdict(m) for m in models], "baselines": baselines,
                                        "tasks": tasks, "split": split, "limit": limit, "sample": sample, "mode": mode,
                                        "max_new_tokens": max_new_tokens, "num_beams": num_beams},
                         n_boot=n_boot, seed=seed,
                         floor=floor, pairs=pairs)
    return results
