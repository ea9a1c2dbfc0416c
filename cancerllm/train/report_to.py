"""`train.report_to`: which experiment trackers the Trainer logs to, offline and in the run folder.

Why a whitelist and not transformers' own list: hospital runs never talk to a server, so
each tracker is accepted only in a mode that writes local files in OUT, and only when its
package is installed (a clear error says what to install, instead of transformers
failing later or, worse, a tracker trying the network):
- `tensorboard`: event files in OUT/tensorboard/ (the default when tensorboard is installed);
- `mlflow`: a file store in OUT/mlruns/ (`MLFLOW_TRACKING_URI=file:...`); a tracking URI
  already set to a server (http, https, databricks ...) is refused;
- `wandb`: forced to `WANDB_MODE=offline`, files in OUT/wandb/ (sync them yourself later);
- `none` (or an empty list): no tracker. OUT/metrics.csv is written in every case.
`None` or `auto` keeps the default: tensorboard when installed, else none.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from cancerllm.errors import ConfigError

PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",), "wandb": ("wandb",)}


def installed(tracker: str) -> bool:
    return any(importlib.util.find_spec(m) is not None for m in PACKAGES[tracker])


def resolve_report_to(report_to: str | list[str] | None, out_dir: str | os.PathLike) -> list[str]:
    """The `TrainingArguments.report_to` list for a recipe's value; sets each tracker's
    environment so it writes under `out_dir` and never to a server."""
    out = Path(out_dir)
    if report_to is None or report_to == "auto":
        names = ["tensorboard"] if installed("tensorboard") else []
    else:
        names = [report_to] if isinstance(report_to, str) else list(report_to)
        names = [n.strip().lower() for n in names if n and n.strip().lower() != "none"]
    for name in names:
        if name not in PACKAGES:
            raise ConfigError(f"train.report_to: unknown tracker {name!r}; use one of "
                              f"{', '.join([*PACKAGES, 'none', 'auto'])}")
        if not installed(name):
            raise ConfigError(f"train.report_to={name} but {name} is not installed: "
                              f"pip install {PACKAGES[name][0]} (or use report_to=none)")
    if "tensorboard" in names:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "tensorboard")
    if "mlflow" in names:
        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        if uri and not uri.startswith("file:"):
            raise ConfigError(f"MLFLOW_TRACKING_URI={uri!r} is a server; cancerllm runs offline, so mlflow "
                              "may only write local files (unset it, or use a file: URI)")
        if not uri:
            os.environ["MLFLOW_TRACKING_URI"] = (out / "mlruns").resolve().as_uri()
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", "cancerllm")
    if "wandb" in names:
        os.environ["WANDB_MODE"] = "offline"
        os.environ.setdefault("WANDB_DIR", str(out))
        os.environ["WANDB_DISABLE_CODE"] = "true"
    return names
