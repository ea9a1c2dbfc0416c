"""Figures from the files runs already write: staging confusion heatmaps and forest plot,
training loss curves, and a reliability (calibration) plot for the heads' probabilities.

Why figures and not more tables: 35 confusion matrices as text cannot be compared at a
glance, and a point score without its interval invites reading noise as a difference.
Every function reads a file a stage wrote (nothing is recomputed that the stage already
scored) and writes a PNG with matplotlib's Agg backend (no display needed).

- `staging_confusion_heatmaps(staging_scores.json, out_dir)`: one PNG per system, one
  panel per field, coarse classes, rows gold / columns predicted, colour = share of the
  gold row, numbers = counts.
- `staging_forest_plot(staging_scores.json, out.png)`: per field (and the headline), each
  system's coarse macro F1 with its 95 % bootstrap CI as a horizontal whisker.
- `loss_curves({label: run_dir}, out.png)`: train and eval loss against step, from the
  run's log history (`trainer_state.json` of its last checkpoint, or `metrics.csv`,
  whichever reaches the later step: checkpoints may have been deleted, metrics.csv stays).
- `reliability_plot(predictions.jsonl, out.png)`: top-label calibration of the heads: per
  field, accuracy against mean confidence in equal-width confidence bins
  (`sklearn.calibration.calibration_curve` on correct/incorrect and the top probability),
  with the expected calibration error (ECE, bin-weighted |accuracy - confidence|) in the
  legend. Needs predictions that carry probabilities (`probs`): `eval heads` writes them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np

from cancerllm.errors import InputError


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _read_json(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return out


# ------------------------------------------------------------------ staging
def staging_confusion_heatmaps(scores_path: str | os.PathLike, out_dir: str | os.PathLike,
                               variant: str = "coarse") -> list[Path]:
    """confusion_<system>.png per system in `out_dir`, from staging_scores.json."""
    plt = _plt()
    result = _read_json(scores_path)
    written = []
    for system, s in result.get("systems", {}).items():
        panels = [(f, d[variant]["confusion"]) for f, d in s["fields"].items() if d[variant].get("confusion")]
        if not panels:
            continue
        cols = min(4, len(panels))
        rows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
        for ax, (f, conf) in zip(axes.flat, panels):
            m = np.array(conf["matrix"], dtype=float)
            share = np.divide(m, m.sum(1, keepdims=True), out=np.zeros_like(m), where=m.sum(1, keepdims=True) > 0)
            ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            labs = conf["labels"]
            ax.set_xticks(range(len(labs)), labs, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(len(labs)), labs, fontsize=7)
            for (i, j), v in np.ndenumerate(m):
                ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.6 else "black")
            score = d_score(s["fields"][f][variant])
            ax.set_title(f"{f}  (macro F1 {score})", fontsize=9)
            ax.set_xlabel("predicted", fontsize=7)
            ax.set_ylabel("gold", fontsize=7)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.suptitle(f"{system}: {variant} confusion matrices (colour = share of gold row; numbers = reports)",
                     fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, Path(out_dir) / f"confusion_{_safe(system)}.png"))
    return written


def d_score(d: dict) -> str:
    return "-" if d.get("macro_f1") is None else f"{d['macro_f1']:.1f}"


def staging_forest_plot(scores_path: str | os.PathLike, out: str | os.PathLike, variant: str = "coarse") -> Path:
    """Per field (rows) and system (colours): macro F1 x100 with its bootstrap CI."""
    plt = _plt()
    result = _read_json(scores_path)
    systems = list(result.get("systems", {}))
    if not systems:
        raise InputError(f"{scores_path}: no systems scored")
    fields = ["headline", *result["fields"]]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(fields) * max(1, len(systems) / 2) + 1.2))
    step = 0.8 / max(1, len(systems))
    for k, system in enumerate(systems):
        s = result["systems"][system]
        ys, xs, lo, hi = [], [], [], []
        for i, f in enumerate(fields):
            d = s["headline"] if f == "headline" else s["fields"].get(f, {}).get(variant, {})
            if d.get("macro_f1") is None:
                continue
            ys.append(i + (k - (len(systems) - 1) / 2) * step)
            xs.append(d["macro_f1"])
            lo.append(d["macro_f1"] - (d["ci_low"] if d.get("ci_low") is not None else d["macro_f1"]))
            hi.append((d["ci_high"] if d.get("ci_high") is not None else d["macro_f1"]) - d["macro_f1"])
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", capsize=3, markersize=4, label=system)
    ax.set_yticks(range(len(fields)), [f"{f} (mean of {len(result['headline_fields'])})" if f == "headline" else f
                                       for f in fields])
    ax.invert_yaxis()
    ax.set_xlim(-2, 102)  # room for a marker at 0 or 100
    ax.set_xlabel(f"{variant} macro F1 x100 (whiskers: {round(100 * result.get('ci', 0.95))} % bootstrap CI, "
                  f"{result.get('n_reports')} reports)")
    ax.axhline(0.5, color="#999", linewidth=0.6)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title("Staging and biomarkers per field")
    return _save(fig, Path(out))


# ------------------------------------------------------------------ training
def log_history(run_dir: str | os.PathLike) -> list[dict]:
    """Logged rows [{step, loss?, eval_loss?, ...}] of a training run folder (see module docstring)."""
    run = Path(run_dir)
    states = [run / "trainer_state.json", *sorted(
        (run / "checkpoints").glob("checkpoint-*/trainer_state.json"),
        key=lambda p: int(p.parent.name.rsplit("-", 1)[-1]) if p.parent.name.rsplit("-", 1)[-1].isdigit() else -1)]
    from_state: list[dict] = []
    for path in reversed(states):
        if path.is_file():
            try:
                from_state = [r for r in json.loads(path.read_text())["log_history"] if "step" in r]
                break
            except (ValueError, KeyError):
                continue
    from_csv: dict[int, dict] = {}
    if (run / "metrics.csv").is_file():
        with open(run / "metrics.csv", newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                try:
                    from_csv.setdefault(int(row["step"]), {"step": int(row["step"])})[row["name"]] = float(row["value"])
                except (KeyError, ValueError, TypeError):
                    continue
    csv_rows = [from_csv[k] for k in sorted(from_csv)]
    last = lambda rows: max((r["step"] for r in rows), default=-1)  # noqa: E731
    rows = csv_rows if last(csv_rows) > last(from_state) else from_state
    if not rows:
        raise InputError(f"{run}: no trainer_state.json or metrics.csv with logged steps")
    return rows


def loss_curves(runs: dict[str, str | os.PathLike], out: str | os.PathLike) -> Path:
    """Train (solid) and eval (dashed, dots) loss per step for each run; one colour per run."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = 0
    for i, (label, run_dir) in enumerate(runs.items()):
        rows = log_history(run_dir)
        colour = f"C{i % 10}"
        train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
        evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
        if train:
            ax.plot(*zip(*train), color=colour, marker="." if len(train) < 50 else None,
                    label=f"{label} train")  # a marker, so a run with one logged step still shows
            drawn += 1
        if evals:
            ax.plot(*zip(*evals), color=colour, linestyle="--", marker="o", markersize=3, label=f"{label} eval")
            drawn += 1
    if not drawn:
        plt.close(fig)
        raise InputError("no train or eval loss logged in " + ", ".join(map(str, runs.values())))
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss (nats / token)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Training loss")
    return _save(fig, Path(out))


# ------------------------------------------------------------------ calibration
def top_label_confidence(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{field: (confidence, correct)} from a predictions JSONL with `gold` and `probs`
    ({field: {label: probability}}); reports without a gold label for a field are skipped."""
    from cancerllm.io import read_jsonl
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: predictions file not found")
    conf: dict[str, list[float]] = {}
    right: dict[str, list[bool]] = {}
    for rec in read_jsonl(path):
        gold, probs = rec.get("gold") or {}, rec.get("probs") or {}
        for f, p in probs.items():
            if gold.get(f) is None or not p:
                continue
            label, c = max(p.items(), key=lambda kv: kv[1])
            conf.setdefault(f, []).append(float(c))
            right.setdefault(f, []).append(label == gold[f])
    if not conf:
        raise InputError(f"{path}: no record has both 'gold' and 'probs' (needs eval heads predictions)")
    return {f: (np.array(conf[f]), np.array(right[f], dtype=float)) for f in conf}


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    """Bin-weighted mean |accuracy - confidence| over equal-width confidence bins."""
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return float(sum(abs(correct[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
                     for b in np.unique(bins)))


def reliability_plot(predictions: str | os.PathLike, out: str | os.PathLike, n_bins: int = 10) -> Path:
    """Accuracy vs confidence per field, with the diagonal of perfect calibration."""
    from sklearn.calibration import calibration_curve
    plt = _plt()
    data = top_label_confidence(predictions)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="#888", linestyle=":", label="perfectly calibrated")
    for f, (c, r) in data.items():
        if len(set(r)) < 2:  # calibration_curve needs both outcomes; plot the one point
            ax.plot([c.mean()], [r.mean()], marker="s", linestyle="", label=f"{f} (n={len(c)}, all {'right' if r[0] else 'wrong'})")
            continue
        acc, mean_conf = calibration_curve(r, c, n_bins=n_bins, strategy="uniform")
        ax.plot(mean_conf, acc, marker="o", markersize=4,
                label=f"{f} (n={len(c)}, ECE {expected_calibration_error(c, r, n_bins):.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top probability), equal-width bins")
    ax.set_ylabel("accuracy in bin")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Heads calibration (reliability)")
    return _save(fig, Path(out))


# ------------------------------------------------------------------ a whole run
SKIP_DIRS = {"checkpoints", "corpus", "tasks", "data", "models", "tensorboard", "adapter", "merged", "model"}


def staging_predictions(records: list[dict], rows: list[dict]) -> list[dict]:
    """`eval heads`-style prediction records (id, gold, pred, probs) from gold records and a
    predictor's rows ({field: {"label", "probs"}}), to write as predictions.jsonl beside a
    staging report so the reliability plot and `cancerllm view` can read them."""
    out = []
    for rec, row in zip(records, rows):
        fields = list(row)
        out.append({"id": rec.get("id"), "gold": {f: (rec.get("labels") or {}).get(f) for f in fields},
                    "pred": {f: row[f]["label"] for f in fields},
                    "probs": {f: row[f]["probs"] for f in fields if row[f].get("probs")},
                    "difficulties": rec.get("difficulties") or []})
    return out


def _files(run: Path, pattern: str) -> list[Path]:
    return sorted(p for p in run.rglob(pattern) if not set(p.relative_to(run).parts[:-1]) & SKIP_DIRS)


def write_run_figures(run_dir: str | os.PathLike) -> list[Path]:
    """Every figure a run folder's files allow, each written beside the file it reads:
    confusion_<system>.png and forest.png beside each staging_scores.json, loss.png in
    each training run (a folder with metrics.csv), reliability.png beside each
    predictions.jsonl that carries gold and probabilities. Returns the PNGs written."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(f"{run}: not a run folder")
    written: list[Path] = []
    for scores in _files(run, "staging_scores.json"):
        written += staging_confusion_heatmaps(scores, scores.parent)
        written.append(staging_forest_plot(scores, scores.parent / "forest.png"))
    for metrics in _files(run, "metrics.csv"):
        try:
            written.append(loss_curves({metrics.parent.name: metrics.parent}, metrics.parent / "loss.png"))
        except InputError:  # a run that logged no loss (killed before its first log)
            continue
    for preds in _files(run, "predictions.jsonl"):
        with open(preds, encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
        if '"probs"' in first and '"gold"' in first:
            try:
                written.append(reliability_plot(preds, preds.parent / "reliability.png"))
            except InputError:
                continue
    return written
