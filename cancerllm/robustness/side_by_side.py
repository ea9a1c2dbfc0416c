"""Several models' testbed runs side by side, as the paper's Tables 5 and 6.

`cancerllm robust compare --run NAME=DIR ... --output OUT` reads each run folder's
results.json (all of one testbed: counterfactual or misspell) and writes, per task, one
table with a block of rows per model (one row per rate, EM / BLEU-2 / ROUGE-L P/R/F1)
and the model's **Average F1: the mean over the non-zero rates of each rate's average
F1**, as in Tables 5 and 6 (e.g. Table 5, Mistral: the mean of 20/40/60/80 %). The clean
rate-0 row is shown for reference and left out of the mean. Misspelling runs show the
misspelled inputs' scores (the normalised ones are in each run's own tables) and both
measured rates. A model whose run lacks a rate another has gets no row there, and its
mean is over the rates it has (the rates are listed beside it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cancerllm.errors import ConfigError, InputError
from cancerllm.io import atomic_write_json, atomic_write_text, markdown_table
from cancerllm.robustness.report import PARTS, SCORE_COLUMNS, _write_table, percent, rate_label


def read_run(path: str | os.PathLike) -> dict:
    f = Path(path) / "results.json"
    if not f.is_file():
        raise InputError(f"{path}: no results.json (a finished `cancerllm robust ...` run folder)")
    return json.loads(f.read_text(encoding="utf-8"))


def _rows_by_task(data: dict) -> dict[str, list[dict]]:
    """task -> [{rate, measured_rate, measured_rate_all_words, scores}] for either testbed."""
    if data["testbed"] == "counterfactual":
        return {"phenotype": [{"rate": r["rate"], "measured_rate": r["measured_rate"], "scores": r["scores"]}
                              for r in data["results"]]}
    return {task: [{"rate": r["rate"], "measured_rate": r["measured_rate"],
                    "measured_rate_all_words": r.get("measured_rate_all_words"),
                    "scores": r["misspelled"]["scores"]} for r in rows]
            for task, rows in data["results"].items()}


def mean_over_rates(rows: list[dict]) -> float | None:
    """Tables 5/6 "Average F1": mean of the per-rate average F1 over the non-zero rates."""
    vals = [r["scores"]["average_f1"] for r in rows if r["rate"] > 0]
    return round(sum(vals) / len(vals), 2) if vals else None


def side_by_side(runs: dict[str, str | os.PathLike], out: str | os.PathLike) -> dict:
    """Write OUT/table_<task>.csv, tables.md and summary.json; return the summary."""
    if not runs:
        raise ConfigError("give at least one --run NAME=DIR")
    data = {name: read_run(path) for name, path in runs.items()}
    kinds = {d["testbed"] for d in data.values()}
    if len(kinds) != 1:
        raise ConfigError(f"runs of different testbeds cannot share a table: {sorted(kinds)}")
    kind = kinds.pop()
    misspell = kind == "misspell"
    out = Path(out)
    per_task: dict[str, dict[str, list[dict]]] = {}
    for name, d in data.items():
        for task, rows in _rows_by_task(d).items():
            per_task.setdefault(task, {})[name] = rows
    header = (["model", "rate", "measured rate"] + (["measured rate (all words)"] if misspell else [])
              + [f"{m} {p}" for _, m in SCORE_COLUMNS for _, p in PARTS] + ["average F1", "Average F1 (mean over rates)"])
    parts = [f"## {'Misspelling' if misspell else 'Counterfactual'} robustness, side by side "
             f"({'Table 6' if misspell else 'Table 5'})", "",
             "Average F1 (mean over rates) = the mean of each non-zero rate's average F1; the 0 % row is the "
             "clean reference and not in the mean.", ""]
    summary: dict = {"testbed": kind, "runs": {k: str(v) for k, v in runs.items()}, "mean_over_rates": {}}
    for task, by_model in per_task.items():
        body = []
        for name, rows in by_model.items():
            mean = mean_over_rates(rows)
            summary["mean_over_rates"].setdefault(task, {})[name] = {
                "mean": mean, "rates": [r["rate"] for r in rows if r["rate"] > 0]}
            for i, r in enumerate(sorted(rows, key=lambda r: r["rate"])):
                s = r["scores"]
                body.append([name if i == 0 else "", rate_label(r["rate"]) + (" (clean)" if r["rate"] == 0 else ""),
                             percent(r["measured_rate"])]
                            + ([percent(r.get("measured_rate_all_words"))] if misspell else [])
                            + [f"{s[k][p]:.2f}" for k, _ in SCORE_COLUMNS for p, _ in PARTS]
                            + [f"{s['average_f1']:.2f}", (f"{mean:.2f}" if mean is not None else "–") if i == 0 else ""])
        parts += [f"### {task}", "", _write_table(out, f"table_{task}", header, body)]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "tables.md", "\n".join(parts))
    atomic_write_json(out / "summary.json", summary)
    return summary


__all__ = ["side_by_side", "mean_over_rates", "markdown_table"]
