"""The demo's settings (`recipes/demo.yaml`, `recipes/demo-smoke.yaml`): the line-up, the
training recipes each stage uses, and the evaluation caps."""

from __future__ import annotations

from pydantic import Field

from cancerllm.config import Config
from cancerllm.models.tiny import TinyModelConfig

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
    # records scored per task, drawn with the seed across the test split; null: the whole split
    eval_limits: dict[str, int | None] = {"phenotype": 160, "diagnosis": 40, "treatment": 40}
    eval_batch_size: int = 16
    # Caps below the paper's 50/500/500 so a model that does not stop cannot eat the CPU budget;
    # every synthetic reference is far shorter (diagnosis ~12 words, plan ~27 words).
    eval_max_new_tokens: dict[str, int] = {"phenotype": 50, "diagnosis": 96, "treatment": 160}
    eval_num_beams: dict[str, int] = {}   # beam search per task, every system alike (absent: greedy)
    zero_shot: bool = True          # the base model without an adapter as a compared system
    zero_shot_limit: int = 40       # staging zero-shot reports (0: skip)
    n_boot: int = 1000
    robustness: dict = {}
    # Stages run in a process of their own, so their memory is handed back when they end
    # (runs.StageRunner); [] runs every stage in the demo's process.
    isolate_stages: list[str] = []
    # How many stages run at once (each as soon as what it reads is done; the CPU's cores are
    # shared out among the isolated ones, runs.StageRunner). 1: one after another.
    parallel_stages: int = Field(default=1, ge=1)
