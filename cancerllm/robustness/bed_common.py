"""What the two robustness testbeds share: rates, run folders, and evaluate-then-score.

Both testbeds sweep a list of rates, always with rate 0 as the clean reference, and keep
one folder per rate whose `result.json` is written last: a rerun skips every rate that
has one (and generation resumes inside a rate), so a killed sweep continues where it
stopped. A rerun must describe the same experiment: `begin_testbed` refuses an output
folder made with other settings (only the list of rates may grow or shrink).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from cancerllm.errors import ConfigError
from cancerllm.io import read_jsonl
from cancerllm.runs import start_run


def parse_rates(rates: str | Iterable[float]) -> list[float]:
    """'0.2,0.4' or [0.2, 0.4] -> sorted distinct rates with 0 (the clean reference) first."""
    if isinstance(rates, str):
        try:
            values = [float(r) for r in rates.split(",") if r.strip()]
        except ValueError:
            raise ConfigError(f"rates must be comma-separated numbers in [0, 1], got {rates!r}") from None
    else:
        values = [float(r) for r in rates]
    bad = [r for r in values if not 0.0 <= r <= 1.0]
    if bad:
        raise ConfigError(f"rates must lie in [0, 1] (0.2 = 20 %), got {bad}")
    return sorted({0.0, *values})


def rate_name(rate: float) -> str:
    """Folder name of a rate: 0.2 -> 'rate-0.2', 0 -> 'rate-0'."""
    return f"rate-{rate:g}"


def short_path(path: str | os.PathLike) -> str:
    """The last two parts of a path ('runs/it/adapter' -> 'it/adapter'): a readable model name."""
    return "/".join(Path(path).parts[-2:])


def model_name(model: str | os.PathLike, adapter: str | os.PathLike | None = None) -> str:
    """'base/model + it/adapter': names that stay telling when folders are called model/ and adapter/."""
    return short_path(model) + (f" + {short_path(adapter)}" if adapter else "")


def begin_testbed(out: str | os.PathLike, config: dict, seed: int, stage: str) -> Path:
    """Check a rerun matches the earlier config (rates aside), then write config.yaml/run.json."""
    out = Path(out)
    earlier_path = out / "config.yaml"
    if earlier_path.is_file():
        earlier = yaml.safe_load(earlier_path.read_text(encoding="utf-8")) or {}
        differ = sorted(k for k in set(earlier) | set(config)
                        if k != "rates" and earlier.get(k) != config.get(k))
        if differ:
            raise ConfigError(f"{out} holds a {earlier.get('testbed', 'testbed')} run with other settings "
                              f"({', '.join(differ)}); choose a new --output, or rerun with the same settings "
                              "to resume")
    return start_run(out, config, seed, stage=stage)


def evaluate_records(model: str | os.PathLike, adapter: str | os.PathLike | None, task: str,
                     records: Sequence[dict], pred_path: Path, batch_size: int = 16,
                     max_new_tokens: int | None = None, mode: str = "reference") -> dict:
    """Generate answers for `records` into `pred_path` (resumable) and score them.

    Scores are against each record's own `response`, so the inputs may be altered
    (misspelled, normalised) while the references stay the clean ones. Returns
    {"scores": aggregate, "generation": the cost of the call}.
    """
    from cancerllm.evaluate.predictions import generate_predictions
    from cancerllm.evaluate.progress import already_done, generation_progress
    from cancerllm.evaluate.scoring import score_records
    with generation_progress(f"{task} {Path(pred_path).parent.name}/{Path(pred_path).stem}", len(records),
                             already_done(pred_path, records)) as report:
        stats = generate_predictions(model, task, records, pred_path, adapter_dir=adapter,
                                     batch_size=batch_size, max_new_tokens=max_new_tokens, progress=report)
    refs = {str(r["id"]): r["response"] for r in records}
    # A file from an earlier run with a larger limit may hold more ids: score ours only.
    preds = {str(p["id"]): p["prediction"] for p in read_jsonl(pred_path) if str(p["id"]) in refs}
    scored = score_records(refs, preds, mode=mode)
    generation = dataclasses.asdict(stats)
    keep = ("n_instances", "n_generated", "n_resumed", "n_truncated", "wall_seconds", "tokens_per_second",
            "device", "model")
    return {"scores": scored.aggregate, "generation": {k: generation[k] for k in keep}}


def final_weights(train_dir: Path, base_model: str | os.PathLike) -> tuple[str, str | None]:
    """(model dir, adapter dir or None) that a finished `finetune` run in `train_dir` left."""
    if (train_dir / "adapter" / "adapter_config.json").is_file():
        return str(base_model), str(train_dir / "adapter")
    if (train_dir / "model" / "config.json").is_file():
        return str(train_dir / "model"), None
    raise ConfigError(f"{train_dir} holds no finished adapter/ or model/")


