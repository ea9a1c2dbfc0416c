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


def start_run(out_dir: str | Path, config: Any, seed: int | None = None, stage: str = "") -> Path:
    """Create `out_dir` and write config.yaml, run.json (stage, seed, versions, start time)."""
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
    if seed is not None:
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
    while it ran (`runtime.TreeMemory`): what the machine needs.

    `plan` (stage names in order) lets it print an overall "stage n/N" line with an ETA
    from the stages already timed in this or an earlier run of the same folder.

    `isolated` stages run in a child process (`child_command(name)` is its argv), which
    re-enters the same job with `only=name`: every earlier stage is already recorded, so
    the child skips them, runs that one stage, records it in stages.json and stops
    (`StageFinished`). Why: a training stage's memory (model copies, optimiser state,
    allocator arenas) then goes back to the system when it ends instead of staying with
    the long-lived job process; the recorded peak of an isolated stage is the child's own,
    so stages.json says which stage needs the memory. Measured in the demo (2026-12-02):
    the demo's own process stays at 2.1-2.7 GB; a SmolLM2 fine-tune peaks at ~7 GB by
    itself, so isolation does not lower the job's overall peak below that stage's.
    """

    def __init__(self, out: Path, plan: list[str] | None = None, estimates: dict[str, float] | None = None,
                 isolated: set[str] | None = None, child_command: Callable[[str], list[str]] | None = None,
                 only: str | None = None):
        self.out = out
        self.path = out / "stages.json"
        self.done: dict = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.plan = plan or []
        self.estimates = estimates or {}
        self.isolated = set(isolated or ()) if only is None else set()
        self.child_command = child_command
        self.only = only
        self.t_start = time.perf_counter()

    def _progress(self, name: str) -> str:
        if name not in self.plan:
            return ""
        i = self.plan.index(name) + 1
        left = [s for s in self.plan[i - 1:] if s not in self.done]
        eta = sum(self.estimates.get(s, 0.0) for s in left)
        return f" [stage {i}/{len(self.plan)}, ~{eta / 60:.0f} min left]" if eta else f" [stage {i}/{len(self.plan)}]"

    def __call__(self, name: str, fn: Callable[[], dict | None]) -> dict:
        if name in self.done:
            if self.only is None:  # a child skips the stages before its own without a word
                print(f"[demo] {name}: done earlier ({self.done[name]['seconds']:.1f} s), skipping", flush=True)
            return self.done[name].get("result") or {}
        if self.only is not None and name != self.only:
            raise RuntimeError(f"stage {self.only!r} was asked for alone, but stage {name!r} before it is not done")
        if self.only is None:
            print(f"[demo] {name} ...{self._progress(name)}", flush=True)
        if name in self.isolated and self.child_command is not None:
            return self._in_child(name)
        t0 = time.perf_counter()
        with TreeMemory() as mem:
            result = fn() or {}
            release_memory()
        seconds = time.perf_counter() - t0
        self.done[name] = {"seconds": round(seconds, 2), "peak_rss_mb": _peak_rss_mb(),
                           "tree_peak_rss_mb": mem.peak_mb, "result": result}
        atomic_write_json(self.path, self.done)
        if self.only == name:
            raise StageFinished(name)
        print(f"[demo] {name}: {seconds:.1f} s", flush=True)
        return result

    def _in_child(self, name: str) -> dict:
        import subprocess
        t0 = time.perf_counter()
        with TreeMemory() as mem:  # this process and the child together
            proc = subprocess.run(self.child_command(name))
        self.done = json.loads(self.path.read_text()) if self.path.exists() else {}
        if proc.returncode != 0 or name not in self.done:
            from cancerllm.errors import CancerLLMError
            raise CancerLLMError(f"stage {name!r} failed in its own process (exit code {proc.returncode}); "
                                 "its output above says why; run the same command again to resume")
        self.done[name]["seconds"] = round(time.perf_counter() - t0, 2)  # with the child's start-up
        self.done[name]["process"] = "child"
        self.done[name]["tree_peak_rss_mb"] = mem.peak_mb
        atomic_write_json(self.path, self.done)
        print(f"[demo] {name}: {self.done[name]['seconds']:.1f} s (own process, peak "
              f"{self.done[name]['peak_rss_mb']:.0f} MB)", flush=True)
        return self.done[name].get("result") or {}


def _peak_rss_mb() -> float:
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
