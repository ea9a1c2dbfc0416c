"""The demo report: one Markdown page assembled from the stages' own output files."""

from __future__ import annotations

import json
from pathlib import Path

from cancerllm.io import atomic_write_text


def _stage_table(stages: dict) -> list[str]:
    lines = ["| stage | seconds | peak RSS (MB) |", "|---|---:|---:|"]
    for name, info in stages.items():
        lines.append(f"| {name} | {info['seconds']:.1f} | {info['peak_rss_mb']:.0f} |")
    total = sum(i["seconds"] for i in stages.values())
    lines.append(f"| **total** | **{total:.1f}** | |")
    return lines


def _task_counts(tasks_dir: Path) -> list[str]:
    summary = json.loads((tasks_dir / "summary.json").read_text())["counts"]
    lines = ["| task | train | validation | test |", "|---|---:|---:|---:|"]
    for task, c in summary.items():
        lines.append(f"| {task} | {c['train']} | {c['validation']} | {c['test']} |")
    return lines


def write_demo_report(out: Path, cfg) -> Path:
    stages = json.loads((out / "stages.json").read_text())
    parts = ["# cancerllm demo report", "",
             f"Embedded default: synthetic oncology corpus ({cfg.patients} patients, seed {cfg.seed}), "
             "tiny Mistral-architecture model trained here. Every number below was measured in this run.", "",
             "## Stages", "", *_stage_table(stages), ""]
    if (out / "tasks" / "summary.json").exists():
        parts += ["## Task datasets (records per split, split by patient)", "",
                  *_task_counts(out / "tasks"), ""]
    for section in sorted(out.glob("report_sections/*.md")):
        parts += [section.read_text(), ""]
    return atomic_write_text(out / "report.md", "\n".join(parts))
