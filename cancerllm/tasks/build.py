"""Build every registered task's instruction dataset from a corpus folder.

Records stream from each task's `build` into per-split JSONL files (temp files renamed at
the end, so an interrupted build never looks complete), then each task is also saved as
a Hugging Face DatasetDict on disk. The split comes from the patient, never the record.

Malformed input records are skipped, not fatal: each task's builder reads through the
generic readers, and OUT/summary.json lists every skipped record as `file:line (id ...):
reason` (never note text) beside the record counts.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from cancerllm.data.partition import SPLITS, assign_split
from cancerllm.data.records import ReadReport
from cancerllm.errors import ConfigError, InputError
from cancerllm.io import AtomicJsonlFiles, atomic_write_json, make_private
from cancerllm.tasks.registry import expand_tasks, get_task
from cancerllm.tasks.store import split_path, task_dir

MAX_LISTED_SKIPS = 1000  # per task in summary.json; the count is always complete


def build_task(corpus_dir: str | os.PathLike | None, out_dir: str | os.PathLike, task: str,
               seed: int = 0, save_hf: bool = True,
               options: dict | None = None) -> tuple[dict[str, int], list[ReadReport]]:
    """(records per split, the read report of each input file) for one task.

    `options` are the task's own build options (`TaskSpec.options`); others are ignored.
    """
    spec = get_task(task)
    opts = {k: v for k, v in (options or {}).items() if k in spec.options}
    tdir = task_dir(out_dir, spec.name)
    tdir.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    reports: list[ReadReport] = []
    # Private (0600) temp files, renamed when complete, deleted on any failure (io.AtomicJsonlFiles).
    with AtomicJsonlFiles({s: split_path(out_dir, spec.name, s) for s in SPLITS}) as handles:
        for rec in spec.build(None if corpus_dir is None else str(corpus_dir), reports, **opts):
            split = assign_split(str(rec.get("patient_id", rec["id"])), seed)
            rec["split"] = split
            handles[split].write(rec)
            counts[split] += 1
    if save_hf and sum(counts.values()):
        _save_hf(out_dir, spec.name)
        make_private(tdir)  # the Arrow copies (hf/ and the datasets cache) hold note text too
    return {s: counts[s] for s in SPLITS}, reports


def _save_hf(out_dir: str | os.PathLike, task: str) -> None:
    from datasets import DatasetDict, load_dataset
    files = {s: str(split_path(out_dir, task, s)) for s in SPLITS if split_path(out_dir, task, s).stat().st_size}
    # The datasets cache holds full copies of the notes: keep it out of the output folder
    # (a shared or cleaned-up run must not hide note copies) and delete it when done.
    with tempfile.TemporaryDirectory(prefix="cancerllm-datasets-") as cache:
        ds = load_dataset("json", data_files=files, cache_dir=cache)
        DatasetDict(ds).save_to_disk(str(task_dir(out_dir, task) / "hf"))


def build_tasks(corpus_dir: str | os.PathLike | None, out_dir: str | os.PathLike, tasks: str = "all",
                seed: int = 0, save_hf: bool = True, options: dict | None = None) -> dict:
    """Build `tasks` ("all" or comma list); write and return OUT/summary.json.

    `options` are task build options (e.g. {"context_form": "newline"} for phenotype); an
    option no selected task declares is a ConfigError, not silently ignored.
    The summary holds `counts` (task -> split -> records), `n_skipped` (task -> input
    records skipped as malformed), `skipped` (task -> the first 1000 as file:line reasons)
    `options` (task -> the build options used, defaults filled in), so a model is
    later asked in the form it was trained on, and `inputs` (what the annotation reader,
    label map and patient lookup did). `corpus_dir` may be None when `options` name the
    notes and/or annotations.
    """
    options = dict(options or {})
    if corpus_dir is None and not (options.get("notes") or options.get("annotations")):
        raise InputError("no input: give a corpus folder, notes or annotations")
    if corpus_dir is not None and not Path(corpus_dir).is_dir():
        raise InputError(f"corpus folder {str(corpus_dir)!r} does not exist")
    names = expand_tasks(tasks)
    declared = {k for t in names for k in get_task(t).options}
    unknown = sorted(set(options) - declared)
    if unknown:
        raise ConfigError(f"unknown task option(s) {', '.join(unknown)} for tasks {', '.join(names)}; "
                          f"known: {', '.join(sorted(declared)) or 'none'}")
    counts, skipped, used, inputs = {}, {}, {}, {}
    for task in names:
        counts[task], reports = build_task(corpus_dir, out_dir, task, seed, save_hf, options)
        skipped[task] = [str(e) for r in reports for e in r.skipped]
        used[task] = {k: options.get(k, v) for k, v in get_task(task).options.items()}
        info = [r.info for r in reports if getattr(r, "info", None)]
        if info:
            inputs[task] = info
    summary = {"seed": seed, "counts": counts, "n_skipped": {t: len(s) for t, s in skipped.items()},
               "skipped": {t: s[:MAX_LISTED_SKIPS] for t, s in skipped.items()}, "options": used,
               "inputs": inputs}
    if not any(sum(c.values()) for c in counts.values()):
        first = next((s[0] for s in skipped.values() if s), None)
        hint = f"; {sum(summary['n_skipped'].values())} record(s) skipped, first: {first}" if first else ""
        where = repr(str(corpus_dir)) if corpus_dir is not None else "the notes / annotations given"
        raise InputError(f"no task records could be built from {where} "
                         f"(expected notes.jsonl and/or phenotypes.jsonl){hint}")
    atomic_write_json(Path(out_dir) / "summary.json", summary)
    return summary
