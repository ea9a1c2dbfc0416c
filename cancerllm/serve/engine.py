"""A loaded model answering task prompts: the one object every inference command shares.

`Engine.answer(task, contexts)` formats the task's prompts and calls the toolkit's batched
generator with the task's paper limits (`--max-new-tokens` can only lower them). Several
LoRA adapters can sit on one base: `--adapter DIR` applies to every task,
`--adapter diagnosis=DIR` to one task (task or command names); a task with no adapter
runs on the bare base. Generation is serialised by a lock: a torch model is one compute
resource, and the HTTP service batches requests before they get here.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from cancerllm.errors import ConfigError
from cancerllm.tasks.jobs import Job
from cancerllm.tasks.truncation import select_sections


def parse_adapters(specs: list[str] | None) -> dict[str | None, Path]:
    """['DIR', 'diagnosis=DIR2'] -> {None: DIR, 'diagnosis': DIR2} (checked local folders)."""
    from cancerllm.offline import local_model_dir
    from cancerllm.tasks.registry import served_tasks, task_names
    commands = {s.command: s.name for s in served_tasks()}
    out: dict[str | None, Path] = {}
    for spec in specs or []:
        key, sep, path = str(spec).partition("=")
        task: str | None = None
        if sep and (key in commands or key in task_names()):
            task = commands.get(key, key)
        else:
            path = str(spec)
        if task in out:
            raise ConfigError(f"two adapters given for {task or 'all tasks'}")
        out[task] = local_model_dir(path, "adapter")
    return out


class Engine:
    """Model + tokenizer + adapter routing; `answer` and `run_jobs` are thread-safe."""

    def __init__(self, model, tokenizer, model_dir: str | os.PathLike,
                 adapters: dict[str | None, Path] | None = None, adapter_names: dict[str | None, str] | None = None,
                 batch_size: int = 16, max_new_tokens: int | None = None, num_beams: int = 1):
        self.model, self.tokenizer = model, tokenizer
        self.num_beams = num_beams  # 1: greedy; > 1: beam search (models.generation.decoding_config)
        self.model_dir = Path(model_dir)
        self.adapters = dict(adapters or {})
        self._adapter_names = dict(adapter_names or {})
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.n_truncated = 0
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: str | os.PathLike, adapters: list[str] | None = None, device: str | None = None,
             dtype: str | None = None, batch_size: int = 16, max_new_tokens: int | None = None,
             quantization: str | None = None, num_beams: int = 1) -> "Engine":
        """Load a local model directory (hub names refused) with its adapters."""
        from cancerllm.models.loading import load_causal_lm
        from cancerllm.offline import local_model_dir
        model_dir = local_model_dir(model_dir)
        routes = parse_adapters(adapters)
        paths = list(dict.fromkeys(routes.values()))
        model, tokenizer = load_causal_lm(model_dir, paths[0] if paths else None, device=device, dtype=dtype,
                                          quantization=quantization)
        names = {paths[0]: "default"} if paths else {}
        for i, path in enumerate(paths[1:], start=1):
            names[path] = f"adapter{i}"
            model.load_adapter(str(path), adapter_name=names[path])
        return cls(model, tokenizer, model_dir, routes, {k: names[p] for k, p in routes.items()},
                   batch_size=batch_size, max_new_tokens=max_new_tokens, num_beams=num_beams)

    @property
    def label(self) -> str:
        from cancerllm.models.generation import model_label
        only = self.adapters.get(None) if len(self.adapters) == 1 else None
        return model_label(self.model_dir, only) if only or not self.adapters else f"{self.model_dir.name}+adapters"

    @contextlib.contextmanager
    def _adapter_for(self, task: str):
        name = self._adapter_names.get(task, self._adapter_names.get(None))
        if not self._adapter_names:
            yield
        elif name is None:
            with self.model.disable_adapter():
                yield
        else:
            self.model.set_adapter(name)
            yield

    def _prompt_settings(self, task: str) -> tuple[int | None, str, list[str] | None]:
        """The prompt limits the task's adapter was trained with (`tasks.prompt_settings`)."""
        from cancerllm.tasks.prompt_settings import read_prompt_settings
        path = self.adapters.get(task, self.adapters.get(None))
        saved = read_prompt_settings(path) if path is not None else None
        return saved.for_task(task) if saved is not None else (None, "start", None)

    def limits(self, task: str) -> tuple[int, int]:
        from cancerllm.tasks.registry import get_task
        spec = get_task(task)
        new = min(spec.max_new_tokens, self.max_new_tokens) if self.max_new_tokens else spec.max_new_tokens
        return spec.max_input_tokens, new

    def answer(self, task: str, contexts: list[str]) -> list[str]:
        """The answers (greedy, or the best of `num_beams` beams) of `task`'s model to its
        prompts built from `contexts`, in order."""
        from cancerllm.models.generation import generate_with_counts
        from cancerllm.tasks.registry import get_task
        if not contexts:
            return []
        spec = get_task(task)
        max_in, max_new = self.limits(task)
        saved_max, cut, sections = self._prompt_settings(task)
        max_in = min(max_in, saved_max) if saved_max else max_in
        prompts = [(spec.instruction, select_sections(c, sections)) for c in contexts]
        with self._lock, self._adapter_for(task):
            texts, _, truncated = generate_with_counts(self.model, self.tokenizer, prompts, max_new,
                                                       self.batch_size, max_in, cut=cut,
                                                       num_beams=self.num_beams)
            self.n_truncated += len(truncated)
        return texts

    def run_jobs(self, jobs: list[Job]) -> list[dict]:
        """Answer many notes' jobs with one batched generation per task; results in order."""
        by_task: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            by_task.setdefault(job.task, []).append(i)
        answers: dict[int, list[str]] = {}
        for task, idx in by_task.items():
            flat = self.answer(task, [c for i in idx for c in jobs[i].contexts])
            for i in idx:
                answers[i], flat = flat[:len(jobs[i].contexts)], flat[len(jobs[i].contexts):]
        return [job.finish(answers[i]) for i, job in enumerate(jobs)]

    def run(self, kind: str, texts: list[str]) -> list[dict]:
        """`kind` (a served task's command, e.g. 'extract', or its name) for each note text."""
        from cancerllm.tasks.registry import task_for_command
        spec = task_for_command(kind)
        return self.run_jobs([spec.make_job(t) for t in texts])

    def card(self) -> dict:
        """What is loaded: model, adapters per task, task limits, device, library versions."""
        import cancerllm
        from cancerllm.runs import versions
        from cancerllm.tasks.registry import task_names
        tasks = {}
        for name in task_names():
            max_in, max_new = self.limits(name)
            adapter = self.adapters.get(name, self.adapters.get(None))
            tasks[name] = {"max_input_tokens": max_in, "max_new_tokens": max_new,
                           "adapter": str(adapter) if adapter else None}
        param = next(self.model.parameters())
        return {"model": self.label, "model_dir": str(self.model_dir),
                "adapters": {k or "*": str(v) for k, v in self.adapters.items()}, "tasks": tasks,
                "device": str(param.device), "dtype": str(param.dtype).replace("torch.", ""),
                "batch_size": self.batch_size, "num_beams": self.num_beams,
                "cancerllm": getattr(cancerllm, "__version__", None),
                "versions": versions()}

    def info(self) -> dict:
        """Short model info attached to each result."""
        return {"name": self.label, "model_dir": str(self.model_dir),
                "adapters": {k or "*": str(v) for k, v in self.adapters.items()}}
