"""Build every registered task's instruction dataset from a corpus folder.

Records stream from each task's `build` into per-split JSONL files (temp files renamed at
the end, so an interrupted build never looks complete), then each task is also saved as
a Hugging Face DatasetDict on disk. The split comes from the patient, never the record.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from cancerllm.data.partition import SPLITS, assign_split
from cancerllm.errors import InputError
from cancerllm.io import atomic_write_json
from cancerllm.tasks.registry import expand_tasks, get_task


def build_task(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike, task: str,
               seed: int = 0, save_hf: bool = True) -> dict[str, int]:
    spec = get_task(task)
    tdir = Path(out_dir) / spec.name
    tdir.mkdir(parents=True, exist_ok=True)
    tmp = {s: tdir / f".{s}.jsonl.tmp" for s in SPLITS}
    handles = {s: open(p, "w", encoding="utf-8") for s, p in tmp.items()}
    counts: Counter = Counter()
    try:
        for rec in spec.build(str(corpus_dir)):
            split = assign_split(str(rec.get("patient_id", rec["id"])), seed)
            rec["split"] = split
            handles[split].write(json.dumps(rec, ensure_ascii=False) + "\n")
            counts[split] += 1
    finally:
        for h in handles.values():
            h.close()
    for s, p in tmp.items():
        os.replace(p, tdir / f"{s}.jsonl")
    if save_hf and sum(counts.values()):
        _save_hf(tdir)
    return {s: counts[s] for s in SPLITS}


def _save_hf(tdir: Path) -> None:
    from datasets import DatasetDict, load_dataset
    files = {s: str(tdir / f"{s}.jsonl") for s in SPLITS if (tdir / f"{s}.jsonl").stat().st_size}
    ds = load_dataset("json", data_files=files, cache_dir=str(tdir / ".hf_cache"))
    DatasetDict(ds).save_to_disk(str(tdir / "hf"))


def build_tasks(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike, tasks: str = "all",
                seed: int = 0, save_hf: bool = True) -> dict[str, dict[str, int]]:
    """Build `tasks` ("all" or comma list) and write OUT/summary.json with record counts."""
    if not Path(corpus_dir).is_dir():
        raise InputError(f"corpus folder {str(corpus_dir)!r} does not exist")
    summary = {t: build_task(corpus_dir, out_dir, t, seed, save_hf) for t in expand_tasks(tasks)}
    if not any(sum(c.values()) for c in summary.values()):
        raise InputError(f"no task records could be built from {str(corpus_dir)!r} "
                         "(expected notes.jsonl and/or phenotypes.jsonl)")
    atomic_write_json(Path(out_dir) / "summary.json", {"seed": seed, "counts": summary})
    return summary
