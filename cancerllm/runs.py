"""Self-describing run folders: resolved config, library versions, seed, metrics.

Every stage that produces something calls `start_run` so its output folder says how it
was made; `write_metrics` writes the metrics JSON atomically. `StageRunner` runs the named
stages of a multi-stage job (the demo, the real-data report) once each, resumably.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cancerllm.io import atomic_write_json, atomic_write_text
from cancerllm.runtime import TreeMemory, release_memory

TRACKED = ["cancerllm", "torch", "transformers", "peft", "datasets", "accelerate",
           "tokenizers", "nltk", "scikit-learn", "numpy"]


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in TRACKED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def set_seed(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % (2**32))
    except ImportError:
        pass
    try:
        import torch
        torch.manual_seed(seed)
    except ImportError:
        pass


def start_run(out_dir: str | Path, config: Any, seed: int | None = None, stage: str = "",
              seed_rngs: bool = True) -> Path:
    """Create `out_dir` and write config.yaml, run.json (stage, seed, versions, start time);
    seed this process's random number generators unless `seed_rngs` is false (a job whose
    `StageRunner` seeds each stage where it runs, so this process need not import torch)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(config, "to_yaml"):
        atomic_write_text(out / "config.yaml", config.to_yaml())
    elif config is not None:
        import yaml
        atomic_write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    atomic_write_json(out / "run.json", {
        "stage": stage, "seed": seed, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "argv": sys.argv, "versions": versions(),
    })
    if seed is not None and seed_rngs:
        set_seed(seed)
    return out


def write_metrics(out_dir: str | Path, metrics: dict, name: str = "metrics.json") -> Path:
    return atomic_write_json(Path(out_dir) / name, metrics)


class StageFinished(Exception):
    """Raised in a child process once its one stage is recorded (see StageRunner.only)."""


class StageRunner:
    """Runs named stages once, records wall time and peak memory of each in OUT/stages.json.

    Memory, per stage: `peak_rss_mb` is the peak of the process that ran it (its own for an
    isolated stage); `tree_peak_rss_mb` is the sampled peak of the job's processes together
    while it ran (`runtime.TreeMemory`): what the machine needs. Each record also holds
    `started` / `ended` (epoch seconds), so `wall_seconds` gives the job's wall time even
    when stages overlapped or ran in several sittings.

    `plan` (stage names in order) lets it print an overall "stage n/N" line with an ETA
    from the stages already timed in this or an earlier run of the same folder.

    `isolated` stages run in a child process (`child_command(name)` is its argv), which
    re-enters the same job with `only=name`: the child skips every other stage, runs that
    one, records it in stages.json and stops (`StageFinished`). Why: a training stage's
    memory (model copies, optimiser state, allocator arenas) then goes back to the system
    when it ends instead of staying with the long-lived job process; the recorded peak of
    an isolated stage is the child's own, so stages.json says which stage needs the memory.

    `lanes` > 1 runs up to that many stages at once (`finish()` runs them): a call then only
    registers the stage; a stage starts once the stages it depends on are recorded (and their
    processes have exited) and a lane is free, the one with the most estimated work waiting on it first: its own estimate plus
    its longest chain of dependent stages (critical-path list scheduling; ties in the order
    the stages were registered). Longest-stage-first alone would start a long side stage
    (e.g. scoring the zero-shot base) ahead of the short one the longest chain waits on.
    Isolated stages run side by side in their own processes, each with the
    CPU's cores shared out (`CANCERLLM_THREADS` = cores // lanes unless the user set it;
    mimalloc preloaded, `runtime.child_env`) and its output in OUT/logs/STAGE.log; other stages
    run in this process. `after[name]` lists what a stage depends on; a stage it does not name
    depends on every stage registered before it (the sequential order, always safe). Why: on a
    2-core CPU two one-thread trainings side by side do 1.7-1.9x the work of one two-thread
    training (measured, docs/training.md): a small model cannot keep two cores busy from one
    process. With lanes > 1 a stage's result is not returned by the call (it has not run yet).
    stages.json is updated under a file lock, by this process and by each child.

    With `seed`, every stage starts from `set_seed(seed)` in the process that runs it: a
    stage's result does not hang on which stages ran before it in the same process (a run
    resumed after a kill gives what an uninterrupted one gives), and the job's own process
    never imports torch just to seed it (~160 MB it would hold beside the training stages).
    """

    HEARTBEAT_S = 60.0

    def __init__(self, out: Path, plan: list[str] | None = None, estimates: dict[str, float] | None = None,
                 isolated: set[str] | None = None, child_command: Callable[[str], list[str]] | None = None,
                 only: str | None = None, lanes: int = 1, after: dict[str, list[str]] | None = None,
                 label: str = "demo", seed: int | None = None):
        self.out = out
        self.seed = seed
        self.path = out / "stages.json"
        self.done: dict = self._read()
        self.plan = plan or []
        self.estimates = estimates or {}
        self.isolated = set(isolated or ()) if only is None else set()
        self.child_command = child_command
        self.only = only
        self.lanes = max(1, int(lanes)) if only is None else 1
        self.after = after or {}
        self.label = label
        self.t_start = time.perf_counter()
        self.pending: dict[str, tuple[Callable[[], dict | None], list[str]]] = {}
        self.running: dict[str, dict] = {}
        self.registered: list[str] = []
        self.failed: list[str] = []

    # ------------------------------------------------------------ the record

    def _read(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _record(self, name: str, entry: dict) -> None:
        """Add one stage's record to stages.json (read-modify-write under a lock: several
        processes of one job write it)."""
        from filelock import FileLock
        self.out.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            done = self._read()
            done[name] = entry
            atomic_write_json(self.path, done)
        self.done = done

    def _progress(self, name: str) -> str:
        if name not in self.plan:
            return ""
        left = [s for s in self.plan if s not in self.done and s not in self.running]
        now = time.perf_counter()
        running = sum(max(0.0, self.estimates.get(s, 0.0) - (now - r["t0"])) for s, r in self.running.items())
        eta = (sum(self.estimates.get(s, 0.0) for s in left) + running) / self.lanes
        if self.lanes > 1:
            n = sum(s in self.done for s in self.plan)
            return f" [{n}/{len(self.plan)} stages done, ~{eta / 60:.0f} min left]" if eta else ""
        i = self.plan.index(name) + 1
        return f" [stage {i}/{len(self.plan)}, ~{eta / 60:.0f} min left]" if eta else f" [stage {i}/{len(self.plan)}]"

    # ------------------------------------------------------------ one stage

    def __call__(self, name: str, fn: Callable[[], dict | None]) -> dict:
        if name in self.done:
            if self.only is None:  # a child skips the other stages without a word
                print(f"[{self.label}] {name}: done earlier ({self.done[name]['seconds']:.1f} s), skipping", flush=True)
            return self.done[name].get("result") or {}
        if self.only is not None and name != self.only:
            return {}  # another process runs it (the parent checked what this stage needs)
        deps = self.after.get(name, list(self.registered))
        self.registered.append(name)
        if self.lanes > 1:
            self.pending[name] = (fn, deps)
            return {}
        if self.only is None:
            print(f"[{self.label}] {name} ...{self._progress(name)}", flush=True)
        if name in self.isolated and self.child_command is not None:
            self._start_child(name, threads=None)
            self._wait_child(name)
            return self.done[name].get("result") or {}
        return self._in_process(name, fn)

    def _in_process(self, name: str, fn: Callable[[], dict | None]) -> dict:
        if self.seed is not None:
            set_seed(self.seed)
        t0, started = time.perf_counter(), time.time()
        with TreeMemory() as mem:
            result = fn() or {}
            release_memory()
        seconds = time.perf_counter() - t0
        self._record(name, {"seconds": round(seconds, 2), "peak_rss_mb": _peak_rss_mb(),
                            "tree_peak_rss_mb": mem.peak_mb, "started": round(started, 2),
                            "ended": round(time.time(), 2), "result": result})
        if self.only == name:
            raise StageFinished(name)
        print(f"[{self.label}] {name}: {seconds:.1f} s", flush=True)
        return result

    # ------------------------------------------------------------ child processes

    def _start_child(self, name: str, threads: int | None) -> None:
        """Start `name`'s child process. With `threads`, the child's output goes to
        OUT/logs/NAME.log (several run at once) and it gets that many torch threads."""
        import subprocess

        from cancerllm.runtime import child_env
        env, log = child_env(threads), None  # mimalloc preloaded where installed (runtime.allocator_library)
        if threads is not None:
            (self.out / "logs").mkdir(parents=True, exist_ok=True)
            log = open(self.out / "logs" / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115 - closed in _reap
        mem = TreeMemory().__enter__()  # this process and its children together
        proc = subprocess.Popen(self.child_command(name), env=env, stdout=log,
                                stderr=subprocess.STDOUT if log else None)
        self.running[name] = {"proc": proc, "t0": time.perf_counter(), "started": time.time(), "mem": mem,
                              "log": log, "threads": threads}

    def _wait_child(self, name: str) -> None:
        self.running[name]["proc"].wait()
        self._reap(name)
        if self.failed:
            raise self._failure()

    def _reap(self, name: str) -> bool:
        """Record `name`'s child once it has ended; False while it runs."""
        run = self.running[name]
        code = run["proc"].poll()
        if code is None:
            return False
        run["mem"].__exit__(None, None, None)
        if run["log"]:
            run["log"].close()
        del self.running[name]
        self.done = self._read()
        if code != 0 or name not in self.done:
            self.failed.append(name)
            tail = _log_tail(self.out / "logs" / f"{name}.log", 40) if run["log"] else ""
            print(f"[{self.label}] {name}: FAILED in its own process (exit code {code})"
                  + (f"; last lines of logs/{name}.log:\n{tail}" if tail else ""), flush=True)
            return True
        entry = dict(self.done[name])
        entry.update(seconds=round(time.perf_counter() - run["t0"], 2),  # with the child's start-up
                     process="child", tree_peak_rss_mb=run["mem"].peak_mb, started=round(run["started"], 2),
                     ended=round(time.time(), 2))
        if run["threads"] is not None:
            entry["threads"] = run["threads"]
        self._record(name, entry)
        print(f"[{self.label}] {name}: {entry['seconds']:.1f} s (own process, peak "
              f"{entry['peak_rss_mb']:.0f} MB)", flush=True)
        return True

    def _failure(self) -> Exception:
        from cancerllm.errors import CancerLLMError
        names = ", ".join(self.failed)
        where = f" (its log: {self.out / 'logs'})" if self.lanes > 1 else ""
        return CancerLLMError(f"stage(s) {names} failed in their own process; the output above says why{where}; "
                              "run the same command again to resume")

    # ------------------------------------------------------------ several at once

    def _work_waiting(self) -> dict[str, float]:
        """Each pending stage's estimate plus the longest chain of pending stages that depend
        on it (its "bottom level"): how much of the job's remaining time hangs on it."""
        deps = {n: d for n, (_, d) in self.pending.items()}
        level: dict[str, float] = {}

        def of(name: str) -> float:
            if name not in level:  # dependencies point at earlier stages: no cycles
                level[name] = self.estimates.get(name, 0.0) + max(
                    (of(m) for m, d in deps.items() if name in d), default=0.0)
            return level[name]
        return {n: of(n) for n in deps}

    def finish(self) -> None:
        """Run every registered stage (lanes > 1), each once what it depends on is done.

        A failed stage stops new starts; the stages already running are left to finish (their
        work is kept, and a rerun resumes), then the error is raised.
        """
        import os
        if not self.pending:
            return
        threads = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
                      // self.lanes)
        last_beat = time.perf_counter()
        while self.pending or self.running:
            progressed = any([self._reap(n) for n in list(self.running)])
            if not self.failed:
                rank = self._work_waiting()
                for name in sorted(self.pending, key=lambda n: -rank[n]):
                    if len(self.running) >= self.lanes:
                        break
                    fn, deps = self.pending[name]
                    # done = recorded *and* its process gone: a child records its stage before it
                    # exits, and its memory is only free once reaped
                    if not all(d in self.done and d not in self.running for d in deps):
                        continue
                    del self.pending[name]
                    progressed = True
                    if name in self.isolated and self.child_command is not None:
                        print(f"[{self.label}] {name} ... started in its own process ({threads} thread(s); "
                              f"output: logs/{name}.log){self._progress(name)}", flush=True)
                        self._start_child(name, threads)
                    else:
                        print(f"[{self.label}] {name} ...{self._progress(name)}", flush=True)
                        self._in_process(name, fn)
                        break  # stages may have ended meanwhile: reap before starting more
            if self.failed and not self.running:
                raise self._failure()
            if not self.running and self.pending and not progressed:
                blocked = {n: [d for d in deps if d not in self.done] for n, (_, deps) in self.pending.items()}
                raise RuntimeError(f"stages wait for stages that never run: {blocked}")
            if time.perf_counter() - last_beat >= self.HEARTBEAT_S:
                last_beat = time.perf_counter()
                for name in self.running:
                    print(f"[{self.label}] {name}: {_log_tail(self.out / 'logs' / f'{name}.log', 1)[-160:]}",
                          flush=True)
            if not progressed:
                time.sleep(0.2)


def wall_seconds(stages: dict) -> float:
    """The job's wall time from its stage records: the length of the union of their
    [started, ended] intervals (stages that overlapped count once; the gaps between two
    sittings of a resumed job count not at all); records without times add their seconds."""
    spans = sorted((s["started"], s["ended"]) for s in stages.values() if "started" in s and "ended" in s)
    total = sum(s["seconds"] for s in stages.values() if not ("started" in s and "ended" in s))
    end = None
    for a, b in spans:
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return round(total, 1)


def _log_tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a log (a progress bar's carriage returns count as line ends)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    parts = [p.strip() for p in text.replace("\r", "\n").split("\n") if p.strip()]
    return "\n".join(parts[-lines:])


def _peak_rss_mb() -> float:
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
