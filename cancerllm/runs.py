"""Self-describing run folders: resolved config, library versions, seed, metrics.

Every stage that produces something calls `start_run` so its output folder says how it
was made; `write_metrics` writes the metrics JSON atomically.
"""

from __future__ import annotations

import importlib.metadata
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

from cancerllm.io import atomic_write_json, atomic_write_text

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
