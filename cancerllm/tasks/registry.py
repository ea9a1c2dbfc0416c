"""Task registry: a task is one small module that registers a `TaskSpec`.

The trainer, the evaluator and the serving side (CLI verbs, `predict`, the HTTP
endpoints) look tasks up here and never special-case one, so adding a task (say, a new
extraction question set) touches only its own module.

Tasks are discovered, not listed. `discover()` imports, once:
- every module of the `cancerllm.tasks` package that calls `register(TaskSpec(...))`
  (found by reading the module's source, so helper modules are not imported for nothing);
- every module named by an installed package under the entry-point group
  `cancerllm.tasks` (a hospital's own package adds its tasks this way, without a fork);
- every module named in the environment variable `CANCERLLM_PLUGINS` (comma-separated
  importable names; for a local module on PYTHONPATH, and for tests). The same variable
  also loads baseline plugins (`cancerllm.baselines.registry`).
A plugin that fails to import is an error naming it, not a silently missing task.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

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

    Serving and reporting (all optional; a task without `command` is trained and
    evaluated but not served):
    - `command`: the user-facing verb: `cancerllm <command>`, `POST /v1/<command>`,
      `predict --task <command>` (e.g. "extract" for phenotype);
    - `job(text) -> tasks.jobs.Job`: how one note becomes this task's prompts and how the
      answers become the result (default: the whole note as one context);
    - `result`: the shape of the served result: "generation" ({prediction, ...}) or
      "phenotype" (values with note offsets);
    - `group_field`: the record field that breaks a score down (phenotype: entity type);
    - `paper_table`: the CancerLLM paper table the comparison file is named after.
    """

    name: str
    instruction: str
    build: Callable[[str, list], Iterator[dict]]
    max_input_tokens: int
    max_new_tokens: int
    description: str = ""
    metadata: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    command: str | None = None
    job: Callable | None = None
    result: str = "generation"
    group_field: str | None = None
    paper_table: str | None = None

    def make_job(self, text: str):
        """This task's job for one note (the whole note as one context by default)."""
        from cancerllm.tasks.jobs import whole_note_job
        return (self.job or whole_note_job(self.name))(text)


RESULT_KINDS = ("generation", "phenotype")
PLUGINS_ENV = "CANCERLLM_PLUGINS"
ENTRY_POINT_GROUP = "cancerllm.tasks"
_TASKS: dict[str, TaskSpec] = {}
_discovered: set[str] = set()
_INSTALLED: list[tuple[str, str]] | None = None


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task (called by its module at import). A second task with the same name, or
    one whose command another task already serves, is a ConfigError."""
    if spec.result not in RESULT_KINDS:
        raise ConfigError(f"task {spec.name!r}: result must be one of {RESULT_KINDS}, not {spec.result!r}")
    old = _TASKS.get(spec.name)
    if old is not None and old.build.__module__ != spec.build.__module__:
        raise ConfigError(f"two tasks are named {spec.name!r}")
    clash = [s.name for s in _TASKS.values() if spec.command and s.command == spec.command and s.name != spec.name]
    if clash:
        raise ConfigError(f"task {spec.name!r}: command {spec.command!r} is already task {clash[0]!r}'s")
    _TASKS[spec.name] = spec
    return spec


def _import(module: str, source: str) -> None:
    if module in _discovered:
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"task/baseline plugin {module!r} (from {source}) cannot be imported: {exc}") from exc
    _discovered.add(module)


def plugin_modules() -> list[str]:
    """The modules named in CANCERLLM_PLUGINS (also read by the baseline registry)."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]


def _installed_modules() -> list[tuple[str, str]]:
    """(module, where it was found) of the package's task modules and the entry points: read
    once per process (the files and installed packages do not change under a running job)."""
    global _INSTALLED
    if _INSTALLED is None:
        from importlib.metadata import entry_points
        package = Path(__file__).parent
        found = [(f"cancerllm.tasks.{info.name}", "the cancerllm.tasks package")
                 for info in pkgutil.iter_modules([str(package)])
                 if info.name != "registry" and (package / f"{info.name}.py").is_file()
                 and "register(TaskSpec(" in (package / f"{info.name}.py").read_text(encoding="utf-8")]
        found += [(ep.value.split(":")[0], f"entry point {ep.name!r}") for ep in entry_points(group=ENTRY_POINT_GROUP)]
        _INSTALLED = found
    return _INSTALLED


def discover() -> None:
    """Import the task modules (built-in, entry points, CANCERLLM_PLUGINS); see the module doc.
    The environment variable is read at every call (a test or a notebook may set it late)."""
    for module, source in _installed_modules():
        _import(module, source)
    for module in plugin_modules():
        _import(module, PLUGINS_ENV)


def get_task(name: str) -> TaskSpec:
    discover()
    if name not in _TASKS:
        close = difflib.get_close_matches(name, list(_TASKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown task {name!r}; known: {', '.join(sorted(_TASKS))}.{hint}")
    return _TASKS[name]


def task_names() -> list[str]:
    discover()
    return sorted(_TASKS)


def served_tasks() -> list[TaskSpec]:
    """Tasks with a serving command, in name order (the CLI verbs and HTTP endpoints)."""
    discover()
    return [_TASKS[n] for n in sorted(_TASKS) if _TASKS[n].command]


def task_for_command(name: str) -> TaskSpec:
    """The served task for a command ('extract') or a task name ('phenotype')."""
    by_name = {s.command: s for s in served_tasks()} | {s.name: s for s in served_tasks()}
    if name not in by_name:
        known = sorted({s.command for s in served_tasks()}) + sorted({s.name for s in served_tasks()})
        close = difflib.get_close_matches(name, list(by_name), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown task {name!r}; use one of {', '.join(known)}.{hint}")
    return by_name[name]


def expand_tasks(names: str | Iterable[str]) -> list[str]:
    """'all' or 'a,b' -> list of registered task names (validated)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out: list[str] = []
    for n in names:
        out.extend(task_names() if n == "all" else [get_task(n).name])
    return out
