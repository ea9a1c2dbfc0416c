"""The demo report: one Markdown page assembled from the stages' own output files.

Nothing here computes a score: every number is read from a file a stage wrote, so the
report cannot disagree with the artefacts beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from cancerllm.io import atomic_write_text

TRAIN_STAGES = {"train_base": "base (full-parameter, stand-in for a general base model)",
                "train_cpt": "continued pre-training (LoRA, merged)",
                "finetune_base": "instruction tuning of base (LoRA, 3 tasks)",
                "finetune_cpt": "instruction tuning of base+CPT (LoRA, 3 tasks)",
                "train_heads": "multi-task staging heads (LoRA encoder)"}


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows)]


def _stages(stages: dict) -> list[str]:
    rows = [[n, f"{i['seconds']:.1f}", f"{i['peak_rss_mb']:.0f}"] for n, i in stages.items()]
    rows.append(["**total**", f"**{sum(i['seconds'] for i in stages.values()):.1f}**", ""])
    return ["## Stages (wall time, peak resident memory of the process so far)", "",
            *_table(["stage", "seconds", "peak RSS (MB)"], rows), ""]


def _training(stages: dict) -> list[str]:
    rows = []
    for key, label in TRAIN_STAGES.items():
        r = stages.get(key, {}).get("result") or {}
        if r:
            fmt = lambda k, f="{:.3f}": f.format(r[k]) if isinstance(r.get(k), (int, float)) else ""  # noqa: E731
            rows.append([label, fmt("global_step", "{:.0f}"), fmt("train_loss"), fmt("eval_loss"),
                         fmt("tokens_per_s", "{:.0f}"), fmt("useful_tokens_per_s", "{:.0f}"),
                         fmt("padding_share", "{:.1%}"), fmt("trainable_params", "{:,}")])
    if not rows:
        return []
    return ["## Training", "", *_table(["stage", "steps", "train loss", "eval loss", "tokens/s",
                                        "useful tokens/s", "padding", "trainable params"], rows), "",
            "Useful tokens are the loss-bearing ones: every block token in pre-training, response "
            "tokens only in instruction tuning.", ""]


def _task_counts(tasks_dir: Path) -> list[str]:
    summary = json.loads((tasks_dir / "summary.json").read_text())["counts"]
    rows = [[t, c["train"], c["validation"], c["test"]] for t, c in summary.items()]
    return ["## Task datasets (records per split; patients never cross splits)", "",
            *_table(["task", "train", "validation", "test"], rows), ""]


def _include(path: Path, title: str, shift: int = 1) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("# "):  # the included report's own title: the section title replaces it
        lines = lines[1:]
    text = "\n".join(("#" * shift + line) if line.startswith("#") else line for line in lines)
    return [f"## {title}", "", text, ""]


def write_demo_report(out: Path, cfg) -> Path:
    stages = json.loads((out / "stages.json").read_text())
    parts = ["# cancerllm demo report", "",
             f"Embedded default: synthetic oncology corpus ({cfg.patients} patients, seed {cfg.seed}) and a tiny "
             "Mistral-architecture model trained in this run. Every number below was measured in this run; "
             "the synthetic data is a stand-in, so the scores show the pipeline works and how stages compare, "
             "not what a 7B model reaches on real notes.", ""]
    parts += _stages(stages)
    if (out / "tasks" / "summary.json").exists():
        parts += _task_counts(out / "tasks")
    parts += _training(stages)
    compare = out / "eval" / "compare"
    if (compare / "tables.md").exists():
        parts += ["## Generation tasks: base+IT vs base+CPT+IT vs rules (test split, reference scoring)", "",
                  "Tables 2-4 and 7 of the paper in miniature; scores x100, `--mode reference` "
                  "(see docs/design.md). The rule-based extractor answers the phenotype task only; "
                  "'majority answer' gives every phenotype question the most frequent training answer "
                  "(\"Not relevant\"), the floor a model has to beat.", "",
                  "How to read these scores: the embedded default is a model of a few million parameters "
                  "trained for minutes on a CPU. It can learn the phenotype answer format, but writing a "
                  "diagnosis or a plan takes a model that has read far more text, so near-zero diagnosis "
                  "and treatment scores here are expected; they show the stages run end to end. The same "
                  "commands take a real base model (`--model DIR`; `cancerllm report real` runs them on "
                  "SmolLM2-135M and real pathology reports).", "",
                  (compare / "tables.md").read_text(), "",
                  "![average F1 per model and task](eval/compare/average_f1.png)", ""]
    for task_dir in sorted((out / "eval" / "errors").glob("*")):
        parts += _include(task_dir / "error_counts.md", f"Error analysis: {task_dir.name} (base+CPT+IT)")
    parts += _include(out / "eval" / "staging" / "staging_report.md",
                      "Staging and biomarkers: multi-task heads vs single-task heads vs rules")
    zs = sorted((out / "eval" / "staging").glob("zero_shot_first_*"))
    if zs:
        parts += _include(zs[0] / "staging_report.md",
                          "Zero-shot prompting of the tiny LM (a stand-in for prompting a large model)")
    robust = out / "robustness"
    if robust.exists():
        from cancerllm.robustness.testbeds import robustness_section
        parts += ["## Robustness (small rates; full curves: `cancerllm robust ...`)", "",
                  robustness_section(robust), ""]
    return atomic_write_text(out / "report.md", "\n".join(parts))
