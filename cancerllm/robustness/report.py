"""The testbeds' outputs: Tables 5 and 6 of the paper (Markdown + CSV), results JSON, a chart.

Each run folder gets:
  results.json       config, library versions, seed, every rate's result, the curves
  tables.md          the tables below, as Markdown
  table_<task>.csv   rows = rate (x input for misspellings): EM, BLEU-2, ROUGE-L P/R/F1,
                     average F1, n, and the measured rate
  table_summary.csv  misspellings only: average F1 misspelled vs normalised per rate,
                     the share of the lost score recovered, the words restored
  average_f1.png     average F1 against rate, one panel per task (misspellings: with
                     and without the normaliser as two lines)
`robustness_section` turns one or more run folders into a Markdown section for a report.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from cancerllm.io import atomic_write_json, atomic_write_text, markdown_table
from cancerllm.robustness.bed_common import short_path

SCORE_COLUMNS = [("exact_match", "EM"), ("bleu2", "BLEU-2"), ("rouge_l", "ROUGE-L")]
PARTS = [("precision", "P"), ("recall", "R"), ("f1", "F1")]
SCORE_HEADER = [f"{m} {p}" for _, m in SCORE_COLUMNS for _, p in PARTS] + ["average F1", "n"]
# Below this loss (average-F1 points, x100 scale) the recovered share is not reported: on a
# small test set such a difference is noise, and dividing by it gives meaningless ratios.
MIN_LOSS = 0.5


def recovered_share(f1_clean: float, f1_misspelled: float, f1_normalized: float,
                    min_loss: float = MIN_LOSS) -> float | None:
    """(F1 normalised - F1 misspelled) / (F1 clean - F1 misspelled); None if under `min_loss` was lost.

    1.0: the normaliser won back everything the misspellings cost; 0: nothing; negative:
    it made things worse; above 1: the normalised inputs scored better than the clean ones.
    """
    lost = f1_clean - f1_misspelled
    if lost < min_loss:
        return None
    return (f1_normalized - f1_misspelled) / lost


# ---------------------------------------------------------------- table text


def score_cells(scores: dict) -> list[str]:
    return ([f"{scores[key][part]:.2f}" for key, _ in SCORE_COLUMNS for part, _ in PARTS]
            + [f"{scores['average_f1']:.2f}", str(scores["n"])])


def rate_label(rate: float) -> str:
    """0.2 -> '20%', 0.025 -> '2.5%': rates as the paper's tables write them."""
    return f"{100 * rate:.4g}%"


def percent(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def csv_table(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _write_table(out: Path, name: str, header: list[str], rows: list[list[str]]) -> str:
    atomic_write_text(out / f"{name}.csv", csv_table(header, rows))
    return markdown_table(header, rows)


# ---------------------------------------------------------------- counterfactual


def counterfactual_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["rate", "corrupted share"] + SCORE_HEADER
    body = [[rate_label(r["rate"]), percent(r["measured_rate"])] + score_cells(r["scores"]) for r in rows]
    return header, body


def write_counterfactual_report(out: Path, config: dict, rows: list[dict]) -> dict:
    """Table 5 analogue, results.json and the chart; returns the curve summary."""
    from cancerllm.runs import versions
    curve = [{"rate": r["rate"], "measured_rate": r["measured_rate"],
              "average_f1": r["scores"]["average_f1"]} for r in rows]
    summary = {"testbed": "counterfactual", "out": str(out), "curves": {"phenotype": curve}}
    header, body = counterfactual_table(rows)
    md = _write_table(out, "table_phenotype", header, body)
    atomic_write_text(out / "tables.md", f"## Counterfactual robustness: phenotype, {short_path(config['model'])}"
                      f" fine-tuned with {config['recipe']}\n\n{md}")
    atomic_write_json(out / "results.json", {"testbed": "counterfactual", "config": config, "seed": config["seed"],
                                             "versions": versions(), "results": rows, "curves": summary["curves"]})
    plot_curves({"phenotype": {"trained on corrupted labels": [(c["measured_rate"], c["average_f1"]) for c in curve]}},
                out / "average_f1.png", "Counterfactual training labels (clean test split)",
                "share of phenotype training instances mislabelled")
    return summary


# ---------------------------------------------------------------- misspellings


def misspell_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """One task: a row per rate and input (misspelled, normalised when run)."""
    header = ["rate", "measured rate (eligible words)", "measured rate (all words)", "input"] + SCORE_HEADER
    body = []
    for r in rows:
        for key, label in (("misspelled", "misspelled" if r["rate"] else "clean"), ("normalized", "normalised")):
            if key in r:
                body.append([rate_label(r["rate"]), percent(r["measured_rate"]),
                             percent(r.get("measured_rate_all_words")), label] + score_cells(r[key]["scores"]))
    return header, body


def misspell_curves(results: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Per task and rate: average F1 misspelled / normalised, recovered share, words restored."""
    curves = {}
    for task, rows in results.items():
        clean = next(r for r in rows if r["rate"] == 0)["misspelled"]["scores"]["average_f1"]
        curve = []
        for r in rows:
            point = {"rate": r["rate"], "measured_rate": r["measured_rate"],
                     "measured_rate_all_words": r.get("measured_rate_all_words"),
                     "average_f1": r["misspelled"]["scores"]["average_f1"]}
            if "normalized" in r:
                point["average_f1_normalized"] = r["normalized"]["scores"]["average_f1"]
                point["recovered_share"] = recovered_share(clean, point["average_f1"],
                                                           point["average_f1_normalized"])
                point["words_restored_share"] = r["normalizer"]["restored_share"]
            curve.append(point)
        curves[task] = curve
    return curves


def summary_table(curves: dict[str, list[dict]]) -> tuple[list[str], list[list[str]]]:
    header = ["task", "rate", "measured rate (eligible words)", "measured rate (all words)", "average F1 misspelled",
              "average F1 normalised", "recovered share", "misspelled words restored"]
    body = []
    for task, curve in curves.items():
        for c in curve:
            norm = "average_f1_normalized" in c
            body.append([task, rate_label(c["rate"]), percent(c["measured_rate"]),
                         percent(c.get("measured_rate_all_words")), f"{c['average_f1']:.2f}",
                         f"{c['average_f1_normalized']:.2f}" if norm else "–",
                         percent(c.get("recovered_share"), 0), percent(c.get("words_restored_share"), 0)])
    return header, body


def write_misspell_report(out: Path, config: dict, results: dict[str, list[dict]]) -> dict:
    """Table 6 analogue per task, the summary table, results.json and the chart."""
    from cancerllm.runs import versions
    curves = misspell_curves(results)
    parts = [f"## Misspelling robustness: {config['model_label']}\n"]
    for task, rows in results.items():
        parts.append(f"### {task}\n\n" + _write_table(out, f"table_{task}", *misspell_table(rows)))
    parts.append("### Average F1 and recovered share\n\n" + _write_table(out, "table_summary", *summary_table(curves)))
    atomic_write_text(out / "tables.md", "\n".join(parts))
    atomic_write_json(out / "results.json", {"testbed": "misspell", "config": config, "seed": config["seed"],
                                             "versions": versions(), "results": results, "curves": curves})
    lines = {}
    for task, curve in curves.items():
        lines[task] = {"misspelled input": [(c["measured_rate"], c["average_f1"]) for c in curve]}
        if config["normalize_spelling"]:
            lines[task]["normalised input"] = [(c["measured_rate"], c["average_f1_normalized"]) for c in curve]
    plot_curves(lines, out / "average_f1.png", f"Misspelled inputs: {config['model_label']}",
                "share of eligible words misspelled (measured)")
    return {"testbed": "misspell", "out": str(out), "curves": curves}


# ---------------------------------------------------------------- chart


def plot_curves(panels: dict[str, dict[str, list[tuple[float, float]]]], path: Path, title: str,
                xlabel: str) -> Path:
    """Line chart, one panel per task, one line per input kind: average F1 against rate."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False, sharey=True)
    styles = [dict(marker="o", linestyle="-"), dict(marker="s", linestyle="--")]
    for ax, (task, lines) in zip(axes[0], panels.items()):
        for style, (label, points) in zip(styles, lines.items()):
            xs, ys = zip(*sorted(points))
            ax.plot(xs, ys, label=label, **style)
        ax.set_title(task)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlim(left=-0.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    top = max((y for lines in panels.values() for pts in lines.values() for _, y in pts), default=0.0)
    axes[0][0].set_ylabel("average F1 (EM, BLEU-2, ROUGE-L)")
    axes[0][0].set_ylim(0, max(1.0, 1.15 * top))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- report section


def _link(target: Path, base: Path) -> str:
    return Path(os.path.relpath(target, base)).as_posix()


def robustness_section(out_dir: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> str:
    """Markdown for a report: each testbed run in `out_dir` (or `out_dir` itself if it is one).

    Image links are relative to `relative_to`, by default the folder holding `out_dir`
    (where the demo's report.md sits beside its robustness/ folder).
    """
    out_dir = Path(out_dir)
    base = Path(relative_to) if relative_to is not None else out_dir.parent
    runs = [out_dir] if (out_dir / "results.json").is_file() else sorted(
        p.parent for p in out_dir.glob("*/results.json"))
    parts = []
    for run in runs:
        data = json.loads((run / "results.json").read_text(encoding="utf-8"))
        cfg = data["config"]
        if data.get("testbed") == "misspell":
            n = {t: rows[0]["n"] for t, rows in data["results"].items() if rows}
            where = {"test": "trained on clean data, misspelled test inputs",
                     "train": "trained on misspelled inputs at each rate, clean test inputs",
                     "both": "trained and tested on misspelled inputs"}[cfg.get("where", "test")]
            parts += [f"### Misspelled inputs ({cfg['model_label']}, {where})", "",
                      f"Test records per task: {n}; seed {data['seed']}; normaliser "
                      f"{'on' if cfg['normalize_spelling'] else 'off'}. Recovered share = (F1 normalised "
                      "- F1 misspelled) / (F1 clean - F1 misspelled), '–' when under "
                      f"{MIN_LOSS} points were lost. Full tables: `{_link(run / 'tables.md', base)}`.", "",
                      markdown_table(*summary_table(data["curves"])),
                      f"![average F1 against misspelling rate]({_link(run / 'average_f1.png', base)})", ""]
        elif data.get("testbed") == "counterfactual":
            rows = data["results"]
            parts += [f"### Counterfactual training labels (phenotype, {short_path(cfg['model'])} fine-tuned "
                      f"with {cfg['recipe']})", "",
                      f"Fine-tuned on {rows[0]['n_train'] if rows else 0} phenotype records with the given "
                      f"share mislabelled, scored on {rows[0]['n_test'] if rows else 0} clean test records; "
                      f"seed {data['seed']}.", "",
                      markdown_table(*counterfactual_table(rows)),
                      f"![average F1 against counterfactual rate]({_link(run / 'average_f1.png', base)})", ""]
    return "\n".join(parts) if parts else "No robustness results yet.\n"
