"""Task registry: a task is one small module that registers a `TaskSpec`.

The trainer and the evaluator look tasks up here by name and never special-case one,
so adding a task (say, a new extraction question set) touches only its own module.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cancerllm.errors import ConfigError


@dataclass(frozen=True)
class TaskSpec:
    """What the pipeline needs to know about a generation task.

    build(corpus_dir, reports): turns a corpus folder's records into {id, patient_id,
    instruction, context, response} dicts; it reads its files with the generic readers
    (`tasks.common.iter_corpus_file`) and appends each file's `ReadReport` to `reports`,
    so malformed records are reported by file and line, not fatal. The limits are the
    paper's per-task defaults for evaluation. `options` names the keyword arguments
    `build` accepts beyond those two, with their defaults (e.g. the phenotype context
    form); `build_tasks` refuses an option no selected task declares.
    """

    name: str
    instruction: str
    build: Callable[[str, list], Iterator[dict]]
    max_input_tokens: int
    max_new_tokens: int
    description: str = ""
    metadata: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)


_TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    _TASKS[spec.name] = spec
    return spec


def _load_builtin() -> None:
    # Importing the modules registers them; kept lazy to avoid import cycles.
    from cancerllm.tasks import diagnosis, phenotype, treatment  # noqa: F401


def get_task(name: str) -> TaskSpec:
    _load_builtin()
    if name not in _TASKS:
        close = difflib.get_close_matches(name, list(_TASKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown task {name!r}; known: {', '.join(sorted(_TASKS))}.{hint}")
    return _TASKS[name]


def task_names() -> list[str]:
    _load_builtin()
    return sorted(_TASKS)


def expand_tasks(names: str | Iterable[str]) -> list[str]:
    """'all' or 'a,b' -> list of registered task names (validated)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out: list[str] = []
    for n in names:
        out.extend(task_names() if n == "all" else [get_task(n).name])
    return out
