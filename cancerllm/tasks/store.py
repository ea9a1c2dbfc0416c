"""The task datasets folder: TASKS/<task>/<split>.jsonl, as `cancerllm data tasks` writes it.

The one place that spells that path. Building writes the splits (`split_path`), training,
evaluation and the testbeds read them (`read_split`, `has_split`), and a testbed writes a
copy of a task with its own training split (`write_task_copy`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cancerllm.errors import InputError


def task_dir(tasks_dir: str | os.PathLike, task: str) -> Path:
    """TASKS/<task>/."""
    return Path(tasks_dir) / task


def split_path(tasks_dir: str | os.PathLike, task: str, split: str) -> Path:
    """TASKS/<task>/<split>.jsonl."""
    return task_dir(tasks_dir, task) / f"{split}.jsonl"


def has_split(tasks_dir: str | os.PathLike, task: str, split: str) -> bool:
    return split_path(tasks_dir, task, split).is_file()


def read_split(tasks_dir: str | os.PathLike, task: str, split: str = "test") -> list[dict]:
    """The records of TASKS/<task>/<split>.jsonl (made by `cancerllm data tasks`)."""
    from cancerllm.io import read_jsonl
    path = split_path(tasks_dir, task, split)
    if not path.is_file():
        raise InputError(f"no {split} split for task {task!r}: {path} does not exist")
    return list(read_jsonl(path))


def write_task_copy(tasks_dir: str | os.PathLike, out: Path, task: str, train: list[dict]) -> Path:
    """OUT/<task>/ with `train` as train.jsonl and the other splits copied byte for byte
    (checked by hash), so only the training data of a testbed run differs."""
    import hashlib
    import shutil

    from cancerllm.io import atomic_write_jsonl
    atomic_write_jsonl(split_path(out, task, "train"), train)
    for split in ("validation", "test"):
        src, dst = split_path(tasks_dir, task, split), split_path(out, task, split)
        if not src.is_file():
            continue
        shutil.copyfile(src, dst)
        digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (src, dst)]
        if digest[0] != digest[1]:
            raise AssertionError(f"copy of the clean {split} split differs from {src}")
    return out
