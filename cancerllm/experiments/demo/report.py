"""The demo report: one Markdown page assembled from the stages' own output files.

Nothing here computes a score: every number is read from a file a stage wrote, so the
report cannot disagree with the artefacts beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from cancerllm.io import atomic_write_text, markdown_table_lines
from cancerllm.runs import wall_seconds

TRAIN_STAGES = {"train_base": "tiny base (full-parameter, stand-in for a general base model)",
                "train_cpt": "continued pre-training (LoRA, merged)",
                "finetune_base": "instruction tuning of base (LoRA, 3 tasks)",
                "finetune_cpt": "instruction tuning of base+CPT (LoRA, 3 tasks)",
                "train_heads": "multi-task staging heads (LoRA encoder)"}


def _stages(stages: dict) -> list[str]:
    tree = lambda i: f"{i['tree_peak_rss_mb']:.0f}" if "tree_peak_rss_mb" in i else "–"  # noqa: E731
    rows = [[n, f"{i['seconds']:.1f}", f"{i['peak_rss_mb']:.0f}", tree(i)] for n, i in stages.items()]
    rows.append(["**total (wall; overlapping stages count once)**", f"**{wall_seconds(stages):.1f}**", "", ""])
    return ["## Stages (wall time; peak resident memory of the stage's process, and the peak memory of the "
            "job's processes together while it ran: the sum of their proportional set sizes, shared library "
            "pages counted once; stages that ran side by side show the same job peak)", "",
            *markdown_table_lines(["stage", "seconds", "process peak RSS (MB)", "job peak (MB)"], rows), ""]


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
    return ["## Training", "", *markdown_table_lines(["stage", "steps", "train loss", "eval loss", "tokens/s",
                                        "useful tokens/s", "padding", "trainable params"], rows), "",
            "Useful tokens are the loss-bearing ones: every block token in pre-training, response "
            "tokens only in instruction tuning.", ""]


def _task_counts(tasks_dir: Path) -> list[str]:
    summary = json.loads((tasks_dir / "summary.json").read_text())["counts"]
    rows = [[t, c["train"], c["validation"], c["test"]] for t, c in summary.items()]
    return ["## Task datasets (records per split; patients never cross splits)", "",
            *markdown_table_lines(["task", "train", "validation", "test"], rows), ""]


def _include(path: Path, title: str, shift: int = 1) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    if lines and lines[0].startswith("# "):  # the included report's own title: the section title replaces it
        lines = lines[1:]
    text = "\n".join(("#" * shift + line) if line.startswith("#") else line for line in lines)
    return [f"## {title}", "", text, ""]


SYSTEM_LABELS = {"zero_shot": "zero-shot base", "it": "base+IT", "cpt_it": "base+CPT+IT (CancerLLM)",
                 "floor": "always the majority answer", "rules": "rules (non-LLM)"}


def _f(x, spec="{:.2f}") -> str:
    return spec.format(x) if isinstance(x, (int, float)) else "–"


def _headline(out: Path) -> list[str]:
    """The demo's claim in words and one table, from headline.json."""
    path = out / "headline.json"
    if not path.exists():
        return []
    h = json.loads(path.read_text())
    systems, answered, n = h.get("systems", {}), h.get("phenotype_answered_avg_f1", {}), h.get("n_test", {})
    from cancerllm.tasks.registry import task_names
    tasks = [t for t in task_names() if any(t in v for v in systems.values())]
    rows = [[SYSTEM_LABELS.get(k, k), *[_f(v.get(t)) for t in tasks],
             _f((answered.get(k) or {}).get("value"))] for k, v in systems.items() if v]
    lines = ["## Headline", "",
             f"Base model: **{h.get('base_model')}**; whole demo {h.get('demo_seconds', 0) / 60:.1f} min, "
             f"peak memory of its processes together {_f(h.get('peak_rss_mb'), '{:.0f}')} MB. Average F1 (x100) on the test split "
             f"({', '.join(f'{t} n={n[t]}' for t in tasks if t in n)}); the last column scores phenotype on the "
             "records whose answer is not \"Not relevant\" only.", "",
             *markdown_table_lines(["system", *tasks, "phenotype, answered records"], rows), ""]
    lines += _claims(h, tasks)
    ppl = h.get("perplexity") or {}
    prow = [[name, _f(v.get("before")), _f(v.get("after")), _f(100 * v["change"], "{:+.1f} %"), v.get("n_texts", "")]
            for name, v in ppl.items() if isinstance(v, dict) and "before" in v]
    if prow:
        lines += ["Held-out perplexity before and after continued pre-training (first tokens of each document):", "",
                  *markdown_table_lines(["held-out text", "before CPT", "after CPT", "change", "documents"], prow), ""]
    return lines


def _claims(h: dict, tasks: list[str]) -> list[str]:
    """Sentences that say whether each model beat its floor, and whether CPT helped."""
    systems, out = h.get("systems", {}), []
    cpt, floor, zs = systems.get("cpt_it", {}), systems.get("floor", {}), systems.get("zero_shot", {})
    for t in tasks:
        if t in cpt and t in floor:
            verdict = "beats" if cpt[t] > floor[t] else "does **not** beat"
            out.append(f"- {t}: base+CPT+IT {verdict} the always-majority floor ({cpt[t]:.2f} vs {floor[t]:.2f})"
                       + (f"; zero-shot base {zs[t]:.2f}." if t in zs else "."))
    for t, d in (h.get("cpt_vs_it") or {}).items():
        lo, hi = d.get("ci_low"), d.get("ci_high")
        if lo is None or hi is None:
            continue
        sig = ("significant at 95 %" if lo > 0 or hi < 0 else "not significant at 95 % (the CI contains 0)")
        word = "helped" if d.get("difference", 0) > 0 else "did not help"
        out.append(f"- {t}: continued pre-training {word}: base+CPT+IT minus base+IT = "
                   f"{_f(d.get('difference'))} [{_f(lo)}, {_f(hi)}] (paired bootstrap), {sig}.")
    return out + [""] if out else []


def write_demo_report(out: Path, cfg) -> Path:
    stages = json.loads((out / "stages.json").read_text())
    tiny = getattr(cfg, "base_model", "tiny") == "tiny"
    base = ("a tiny Mistral-architecture model trained in this run (the smoke profile: a pipeline check; "
            "its scores are not a result)" if tiny else f"the pretrained base `{getattr(cfg, 'base_model', '')}`")
    parts = ["# cancerllm demo report", "",
             f"Embedded default: synthetic oncology corpus ({cfg.patients} patients, seed {cfg.seed}), real public "
             f"cancer text where `../shared/data` is present, and {base}. Every number below was measured in this "
             "run; the synthetic notes are a stand-in for a hospital's own, so the scores show what the pipeline "
             "does and how systems compare, not what a 7B model reaches on real notes.", ""]
    parts += _headline(out)
    parts += _stages(stages)
    if (out / "tasks" / "summary.json").exists():
        parts += _task_counts(out / "tasks")
    parts += _training(stages)
    if (out / "eval" / "loss_curves.png").exists():
        parts += ["![training and validation loss per step](eval/loss_curves.png)", ""]
    compare = out / "eval" / "compare"
    if (compare / "tables.md").exists():
        parts += ["## Generation tasks: the paper's Tables 2-4 and 7 in miniature (test split)", "",
                  "Scores x100, `--mode reference` (docs/evaluation.md), 95 % bootstrap CIs. The rule-based "
                  "extractor answers the phenotype task only; 'majority' gives every record the most frequent "
                  "training answer (\"Not relevant\" for phenotype), the floor a model has to beat.", "",
                  (compare / "tables.md").read_text(), "",
                  "![average F1 per model and task](eval/compare/average_f1.png)", ""]
    for task_dir in sorted((out / "eval" / "errors").glob("*")):
        parts += _include(task_dir / "error_counts.md", f"Error analysis: {task_dir.name} (base+CPT+IT)")
    parts += _include(out / "eval" / "staging" / "staging_report.md",
                      "Staging and biomarkers (synthetic pathology reports, test split)")
    parts += [f"![{png.stem}](eval/staging/{png.name})" for png in sorted((out / "eval" / "staging").glob("*.png"))]
    zs = sorted((out / "eval" / "staging").glob("zero_shot_first_*"))
    if zs:
        parts += _include(zs[0] / "staging_report.md", "Zero-shot prompting of the base for staging")
    robust = out / "robustness"
    if robust.exists():
        from cancerllm.robustness.testbeds import robustness_section
        parts += ["## Robustness (a few rates; full curves: `cancerllm robust ...`)", "",
                  robustness_section(robust), ""]
    return atomic_write_text(out / "report.md", "\n".join(parts))
