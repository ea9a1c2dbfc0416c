"""The paper's comparison tables and Figure 1 from collected results (`compare.compare_models`).

Written to OUT (every table as Markdown in tables.md and as CSV):
  table2_diagnosis, table3_treatment, table4_phenotype   one row per system: EM, BLEU-2,
      ROUGE-L P/R/F1, average F1 and its 95 % bootstrap CI, n (other tasks: table_<task>)
  table7_cost          per system and task: generation time (h:mm:ss), peak memory, average F1
  table7_cost_detail   the same, long: instances, seconds, new tokens/s, memory kind, device
  table_mean_over_tasks  Figure 1's numbers: each system's per-task average F1 and their mean
  table_phenotype_by_question  average F1 per question (= entity type) and system
  table_paired         paired bootstrap CIs of A - B per task, for the pairs asked for
  average_f1.png       Figure 1 (see `plot_figure1`)
  results.json         config, library versions, every score and CI (per-instance scores
                       are in scores/<system>/<task>.jsonl, not in results.json)

A result entry is {"scores": aggregate, "per_instance": [...], "generation": {...}}; entries
without `per_instance` (e.g. built by hand) get no CI, shown as "-".
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from cancerllm.evaluate.scoring import (DEFAULT_N_BOOT, bootstrap_distribution, paired_bootstrap,
                                        percentile_ci)
from cancerllm.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, markdown_table

SCORE_COLUMNS = [("exact_match", "EM"), ("bleu2", "BLEU-2"), ("rouge_l", "ROUGE-L")]
PARTS = [("precision", "P"), ("recall", "R"), ("f1", "F1")]
FLOOR_NAMES = ("majority", "majority answer")


def paper_tables() -> dict[str, str]:
    """{task: its paper table's file stem} (`TaskSpec.paper_table`), in table order."""
    from cancerllm.tasks.registry import get_task, task_names
    stems = {name: get_task(name).paper_table for name in task_names() if get_task(name).paper_table}
    return dict(sorted(stems.items(), key=lambda kv: kv[1]))


def task_order(results: dict) -> list[str]:
    """Tasks in the paper's table order (diagnosis, treatment, phenotype), then any others."""
    seen = {t for per in results.values() for t in per}
    tables = paper_tables()
    return [t for t in tables if t in seen] + sorted(seen - set(tables))


def _ci_text(entry: dict) -> str:
    ci = entry.get("average_f1_ci")
    return f"[{ci['ci_low']:.2f}, {ci['ci_high']:.2f}]" if ci else "-"


def task_table(results: dict, task: str) -> tuple[list[str], list[list[str]]]:
    """Tables 2-4: system x EM/BLEU-2/ROUGE-L P/R/F1, average F1, its 95 % CI, n."""
    header = (["model"] + [f"{m} {p}" for _, m in SCORE_COLUMNS for _, p in PARTS]
              + ["average F1", "average F1 95% CI", "n"])
    rows = []
    for model, per_task in results.items():
        if task not in per_task:
            continue
        s = per_task[task]["scores"]
        rows.append([model] + [f"{s[key][part]:.2f}" for key, _ in SCORE_COLUMNS for part, _ in PARTS]
                    + [f"{s['average_f1']:.2f}", _ci_text(per_task[task]), str(s["n"])])
    return header, rows


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def cost_table(results: dict) -> tuple[list[str], list[list[str]]]:
    """Table 7: per task, generation time (h:mm:ss), peak memory (MB) and average F1."""
    tasks = task_order(results)
    header = ["model"] + [f"{t} {c}" for t in tasks for c in ("time", "memory (MB)", "F1")]
    rows = []
    for model, per_task in results.items():
        row = [model]
        for t in tasks:
            if t not in per_task:
                row += ["-", "-", "-"]
                continue
            g = per_task[t].get("generation") or {}
            mem = g.get("peak_memory_mb")
            row += [_hms(g.get("wall_seconds")), f"{mem:.0f}" if mem else "-",
                    f"{per_task[t]['scores']['average_f1']:.2f}"]
        rows.append(row)
    return header, rows


def cost_detail_table(results: dict) -> tuple[list[str], list[list[str]]]:
    header = ["model", "task", "instances", "seconds", "new tokens/s", "peak memory (MB)", "memory kind", "device"]
    rows = []
    for model, per_task in results.items():
        for task, r in per_task.items():
            g = r.get("generation") or {}
            rows.append([model, task, str(g.get("n_instances", "")), f"{g.get('wall_seconds', 0):.1f}",
                         f"{g.get('tokens_per_second', 0):.0f}", f"{g.get('peak_memory_mb', 0):.0f}",
                         str(g.get("memory_kind", "")), str(g.get("device", ""))])
    return header, rows


def mean_over_tasks(results: dict, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict[str, dict]:
    """Figure 1's number: per system evaluated on *every* task of the run, the mean of its
    per-task average F1, with a 95 % CI from averaging the tasks' bootstrap distributions
    (tasks resampled independently). A system missing a task gets no mean: a mean over
    fewer tasks is a different number."""
    import numpy as np
    tasks = task_order(results)
    out = {}
    for model, per_task in results.items():
        if any(t not in per_task for t in tasks):
            continue
        mean = round(sum(per_task[t]["scores"]["average_f1"] for t in tasks) / len(tasks), 2)
        row: dict = {"mean": mean, "per_task": {t: per_task[t]["scores"]["average_f1"] for t in tasks}}
        if n_boot > 0 and all(per_task[t].get("per_instance") for t in tasks):
            dists = [bootstrap_distribution([x["average_f1"] for x in per_task[t]["per_instance"]], n_boot, seed + i)
                     for i, t in enumerate(tasks)]
            row["ci_low"], row["ci_high"] = percentile_ci(np.mean(dists, axis=0))
        out[model] = row
    return out


def mean_table(results: dict, means: dict) -> tuple[list[str], list[list[str]]]:
    tasks = task_order(results)
    header = ["model"] + tasks + ["mean over tasks", "mean 95% CI"]
    rows = []
    for model, per_task in sorted(results.items(), key=lambda kv: -means.get(kv[0], {}).get("mean", -1)):
        m = means.get(model)
        ci = f"[{m['ci_low']:.2f}, {m['ci_high']:.2f}]" if m and "ci_low" in m else "-"
        rows.append([model] + [f"{per_task[t]['scores']['average_f1']:.2f}" if t in per_task else "-" for t in tasks]
                    + [f"{m['mean']:.2f}" if m else "-", ci])
    return header, rows


def by_question_table(results: dict, task: str = "phenotype") -> tuple[list[str], list[list[str]]] | None:
    """Average F1 per phenotype question (one question per entity type) and system."""
    from cancerllm.tasks.phenotype import QUESTIONS
    systems = [m for m, per in results.items() if per.get(task, {}).get("per_instance")]
    if not systems:
        return None
    qids = {etype: i for i, etype in enumerate(QUESTIONS, start=1)}
    groups: dict[str, dict[str, list[float]]] = {}
    for model in systems:
        for x in results[model][task]["per_instance"]:
            groups.setdefault(x.get("group") or "?", {}).setdefault(model, []).append(x["average_f1"])
    header = ["question", "entity type"] + [f"{m} average F1" for m in systems] + ["n"]
    rows = []
    for group in sorted(groups, key=lambda g: (qids.get(g, 99), g)):
        cells = groups[group]
        n = max(len(v) for v in cells.values())
        rows.append([f"Q{qids[group]}" if group in qids else "-", group]
                    + [f"{sum(cells[m]) / len(cells[m]):.2f}" if m in cells else "-" for m in systems] + [str(n)])
    return header, rows


def paired_table(results: dict, pairs: list[tuple[str, str]], n_boot: int = DEFAULT_N_BOOT,
                 seed: int = 0) -> tuple[list[str], list[list[str]], list[dict]]:
    """Paired bootstrap CI of A - B (average F1 per instance) on each task both have."""
    from cancerllm.errors import ConfigError
    header = ["A", "B", "task", "A - B", "95% CI", "share of resamples A <= B", "n"]
    rows, raw = [], []
    for a, b in pairs:
        for name in (a, b):
            if name not in results:
                raise ConfigError(f"--pair names {name!r}, which is not among the systems: {', '.join(results)}")
        for task in task_order(results):
            ea, eb = results[a].get(task, {}), results[b].get(task, {})
            if not (ea.get("per_instance") and eb.get("per_instance")):
                continue
            res = paired_bootstrap({x["id"]: x["average_f1"] for x in ea["per_instance"]},
                                   {x["id"]: x["average_f1"] for x in eb["per_instance"]}, n_boot, seed)
            raw.append({"a": a, "b": b, "task": task, **res})
            rows.append([a, b, task, f"{res['difference']:+.2f}", f"[{res['ci_low']:+.2f}, {res['ci_high']:+.2f}]",
                         f"{res['share_a_not_better']:.3f}", str(res["n"])])
    return header, rows, raw


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def default_floor(results: dict) -> str | None:
    return next((n for n in FLOOR_NAMES if n in results), None)


def plot_figure1(results: dict, means: dict, path: str | os.PathLike, floor: str | None = None,
                 title: str = "Average F1 (EM, BLEU-2, ROUGE-L): mean over tasks and per task") -> Path:
    """Figure 1: per system (sorted by its mean over tasks, best first) a bar for that mean
    and the per-task bars beside it, each with its 95 % CI as an error bar.

    A system not evaluated on a task has no bar there (not a bar at 0, which reads as a
    score), and no mean bar unless it has every task. The `floor` system (default: the
    majority-answer baseline) is drawn as dashed lines, one per task it answered (and
    its mean, if it has every task), not as bars: it is the line a model must clear.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = task_order(results)
    systems = [m for m in results if m != floor]
    systems.sort(key=lambda m: (m not in means, -means.get(m, {}).get("mean", 0)))
    colors = plt.get_cmap("tab10").colors
    kinds = ["mean over tasks"] + tasks
    width = 0.8 / len(kinds)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(systems) * len(kinds) / 3 + 2) + 2.5, 4.5))
    for k, kind in enumerate(kinds):
        xs, vals, errs = [], [], [[], []]
        for i, model in enumerate(systems):
            if k == 0:
                m = means.get(model)
                if not m:
                    continue
                val, low, high = m["mean"], m.get("ci_low"), m.get("ci_high")
            else:
                entry = results[model].get(kind, {})
                if "average_f1" not in entry.get("scores", {}):
                    continue
                val = entry["scores"]["average_f1"]
                ci = entry.get("average_f1_ci") or {}
                low, high = ci.get("ci_low"), ci.get("ci_high")
            xs.append(i + (k - (len(kinds) - 1) / 2) * width)
            vals.append(val)
            errs[0].append(val - low if low is not None else 0)
            errs[1].append(high - val if high is not None else 0)
        if not xs:
            continue
        color = "0.25" if k == 0 else colors[(k - 1) % len(colors)]
        bars = ax.bar(xs, vals, width, label=kind, color=color, yerr=errs, capsize=2, error_kw={"lw": 0.8})
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    if floor and floor in results:
        for k, task in enumerate(tasks, start=1):
            if task in results[floor]:
                v = results[floor][task]["scores"]["average_f1"]
                ax.axhline(v, ls="--", lw=1, color=colors[(k - 1) % len(colors)], label=f"{floor}: {task} {v:.1f}")
        if floor in means:
            ax.axhline(means[floor]["mean"], ls="--", lw=1, color="0.25", label=f"{floor}: mean {means[floor]['mean']:.1f}")
    ax.set_xticks(range(len(systems)), systems, rotation=15 if len(systems) > 4 else 0)
    ax.set_ylabel("average F1")
    ax.set_ylim(0, 105)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over a bar
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.+=-]+", "_", name).strip("._") or "system"


def add_cis(results: dict, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> None:
    """Set each entry's `average_f1_ci` from its per-instance scores (in place)."""
    from cancerllm.evaluate.scoring import bootstrap_ci
    for per_task in results.values():
        for entry in per_task.values():
            inst = entry.get("per_instance")
            if inst and n_boot > 0:
                entry["average_f1_ci"] = bootstrap_ci([x["average_f1"] for x in inst], n_boot, seed)


def write_comparison(results: dict, out_dir: str | os.PathLike, config: dict | None = None,
                     n_boot: int = DEFAULT_N_BOOT, seed: int = 0, floor: str | None = None,
                     pairs: list[tuple[str, str]] | None = None) -> dict[str, Path]:
    """Write every table (Markdown + CSV), results.json, scores/ and Figure 1; return their paths.

    `floor` names the system drawn as a line in Figure 1 (default: "majority" or
    "majority answer" when present); `pairs` lists (A, B) systems to compare by paired bootstrap.
    """
    from cancerllm.runs import versions
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    floor = floor or default_floor(results)
    add_cis(results, n_boot, seed)
    means = mean_over_tasks(results, n_boot, seed)
    written: dict[str, Path] = {}
    md_parts = []

    def table(stem: str, title: str, header, rows) -> None:
        written[f"{stem}.csv"] = atomic_write_text(out / f"{stem}.csv", _csv(header, rows))
        md_parts.append(f"### {title}\n\n{markdown_table(header, rows)}")

    tables = paper_tables()
    for task in task_order(results):
        stem = tables.get(task, f"table_{task}")
        number = stem[5] if task in tables else ""
        table(stem, f"Table {number}: {task}" if number else task, *task_table(results, task))
    table("table7_cost", "Table 7: generation time, peak memory, average F1", *cost_table(results))
    table("table7_cost_detail", "generation cost, detail", *cost_detail_table(results))
    table("table_mean_over_tasks", "Figure 1: mean average F1 over tasks", *mean_table(results, means))
    by_q = by_question_table(results)
    if by_q:
        table("table_phenotype_by_question", "phenotype: average F1 per question (entity type)", *by_q)
    paired = []
    if pairs:
        header, rows, paired = paired_table(results, pairs, n_boot, seed)
        table("table_paired", "paired bootstrap: difference in average F1 (A - B)", header, rows)
    ci_note = (f"CIs: 95 % percentile bootstrap over instances, {n_boot} resamples, seed {seed}."
               if n_boot > 0 else "No CIs (n_boot = 0).")
    written["tables.md"] = atomic_write_text(out / "tables.md", "\n".join(md_parts) + f"\n{ci_note}\n")
    for model, per_task in results.items():
        for task, entry in per_task.items():
            if entry.get("per_instance"):
                atomic_write_jsonl(out / "scores" / _safe(model) / f"{task}.jsonl", entry["per_instance"])
    lean = {m: {t: {k: v for k, v in e.items() if k != "per_instance"} for t, e in per.items()}
            for m, per in results.items()}
    written["results.json"] = atomic_write_json(out / "results.json", {
        "config": config or {}, "versions": versions(), "n_boot": n_boot, "seed": seed, "floor": floor,
        "results": lean, "mean_over_tasks": means, "paired": paired})
    written["average_f1.png"] = plot_figure1(results, means, out / "average_f1.png", floor)
    return written
