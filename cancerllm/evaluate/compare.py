"""Compare several models on several tasks: the paper's Tables 2-4 and 7 and Figure 1.

`compare_models` generates and scores every (model, task) pair; `write_comparison` turns
the collected results into Markdown and CSV tables, a results JSON (config + versions)
and a bar chart of average F1 per model and task.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path

from cancerllm.io import atomic_write_json, atomic_write_text, read_jsonl

SCORE_COLUMNS = [("exact_match", "EM"), ("bleu2", "BLEU-2"), ("rouge_l", "ROUGE-L")]
PARTS = [("precision", "P"), ("recall", "R"), ("f1", "F1")]


@dataclasses.dataclass
class ModelRef:
    """A model to compare: a base directory and optionally a LoRA adapter on top of it."""

    name: str
    model_dir: str
    adapter_dir: str | None = None


def parse_model_refs(specs: list[str]) -> list[ModelRef]:
    """'name=DIR' or 'name=DIR+ADAPTER_DIR' -> ModelRef list."""
    from cancerllm.errors import ConfigError
    refs = []
    for spec in specs:
        if "=" not in spec:
            raise ConfigError(f"--models entry {spec!r} is not name=DIR[+ADAPTER]")
        name, path = spec.split("=", 1)
        model_dir, _, adapter = path.partition("+")
        refs.append(ModelRef(name, model_dir, adapter or None))
    return refs


def task_table(results: dict, task: str) -> tuple[str, str]:
    """Markdown and CSV of one task: model x EM/BLEU-2/ROUGE-L P/R/F1 + average F1."""
    header = ["model"] + [f"{m} {p}" for _, m in SCORE_COLUMNS for _, p in PARTS] + ["average F1", "n"]
    rows = []
    for model, per_task in results.items():
        if task not in per_task:
            continue
        s = per_task[task]["scores"]
        rows.append([model] + [f"{s[key][part]:.2f}" for key, _ in SCORE_COLUMNS for part, _ in PARTS]
                    + [f"{s['average_f1']:.2f}", str(s["n"])])
    return _markdown(header, rows), _csv(header, rows)


def cost_table(results: dict) -> tuple[str, str]:
    """Table 7 analogue: generation wall time, tokens/s and peak memory per model and task."""
    header = ["model", "task", "instances", "seconds", "new tokens/s", "peak memory (MB)", "memory kind", "device"]
    rows = []
    for model, per_task in results.items():
        for task, r in per_task.items():
            g = r.get("generation") or {}
            rows.append([model, task, str(g.get("n_instances", "")), f"{g.get('wall_seconds', 0):.1f}",
                         f"{g.get('tokens_per_second', 0):.0f}", f"{g.get('peak_memory_mb', 0):.0f}",
                         str(g.get("memory_kind", "")), str(g.get("device", ""))])
    return _markdown(header, rows), _csv(header, rows)


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def plot_average_f1(results: dict, path: str | os.PathLike, title: str = "Average F1 by model and task") -> Path:
    """Grouped bar chart (Figure 1 style): one group per task, one bar per model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    models = list(results)
    tasks = sorted({t for per in results.values() for t in per})
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(tasks)), 4))
    x = np.arange(len(tasks))
    for i, model in enumerate(models):
        # A task the model was not evaluated on gets no bar (not a bar at 0, which reads as a score).
        done = [j for j, t in enumerate(tasks) if "average_f1" in results[model].get(t, {}).get("scores", {})]
        vals = [results[model][tasks[j]]["scores"]["average_f1"] for j in done]
        bars = ax.bar(x[done] + (i - (len(models) - 1) / 2) * width, vals, width, label=model)
        ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    ax.set_xticks(x, tasks)
    ax.set_ylabel("average F1 (EM, BLEU-2, ROUGE-L)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def write_comparison(results: dict, out_dir: str | os.PathLike, config: dict | None = None) -> dict[str, Path]:
    """Write tables (Markdown + CSV), results.json and average_f1.png; return their paths."""
    from cancerllm.runs import versions
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    md_parts = []
    for task in sorted({t for per in results.values() for t in per}):
        md, csv_text = task_table(results, task)
        written[f"{task}.csv"] = atomic_write_text(out / f"table_{task}.csv", csv_text)
        md_parts.append(f"### {task}\n\n{md}")
    md, csv_text = cost_table(results)
    written["cost.csv"] = atomic_write_text(out / "table_cost.csv", csv_text)
    md_parts.append(f"### generation time and memory\n\n{md}")
    written["tables.md"] = atomic_write_text(out / "tables.md", "\n".join(md_parts))
    written["results.json"] = atomic_write_json(out / "results.json",
                                                {"config": config or {}, "versions": versions(), "results": results})
    written["average_f1.png"] = plot_average_f1(results, out / "average_f1.png")
    return written


def compare_models(models: list[ModelRef], tasks: list[str], tasks_dir: str | os.PathLike,
                   out_dir: str | os.PathLike, split: str = "test", limit: int | None = None,
                   batch_size: int = 16, mode: str = "reference",
                   max_new_tokens: dict[str, int] | None = None) -> dict:
    """Generate + score every (model, task); resumable (predictions files are appended).

    `max_new_tokens` caps generation per task below the task's registered (paper) limit.
    """
    from cancerllm.evaluate.generation import generate_predictions
    from cancerllm.evaluate.scoring import score_files
    out = Path(out_dir)
    results: dict = {}
    for ref in models:
        for task in tasks:
            records = list(read_jsonl(Path(tasks_dir) / task / f"{split}.jsonl"))[:limit]
            refs_path = out / "references" / f"{task}.jsonl"
            if not refs_path.exists():
                from cancerllm.io import atomic_write_jsonl
                atomic_write_jsonl(refs_path, ({"id": r["id"], "response": r["response"]} for r in records))
            pred_path = out / "predictions" / ref.name / f"{task}.jsonl"
            stats = generate_predictions(ref.model_dir, task, records, pred_path,
                                         adapter_dir=ref.adapter_dir, batch_size=batch_size,
                                         max_new_tokens=(max_new_tokens or {}).get(task))
            scored = score_files(pred_path, refs_path, mode=mode)
            results.setdefault(ref.name, {})[task] = {
                "scores": scored.aggregate,
                "generation": dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) else dict(stats),
                "model_dir": str(ref.model_dir), "adapter_dir": ref.adapter_dir,
            }
    write_comparison(results, out, {"models": [dataclasses.asdict(m) for m in models], "tasks": tasks,
                                    "split": split, "limit": limit, "mode": mode,
                                    "max_new_tokens": max_new_tokens})
    return results
