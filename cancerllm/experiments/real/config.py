"""Settings of the real-data report (`recipes/real-smollm2.yaml`, `recipes/real-tiny.yaml`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cancerllm.baselines.staging_classical import ClassicalConfig
from cancerllm.config import RECIPES_DIR, Config
from cancerllm.models.tiny import TinyModelConfig
from cancerllm.train.finetune import FinetuneConfig
from cancerllm.train.heads import HeadsTrainConfig
from cancerllm.models.cached_heads import CachedHeadsConfig
from cancerllm.train.pretrain import PretrainConfig

REPO = RECIPES_DIR.parent
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
TCGA_FOLDER = "tcga_reports_kefeli_t14"


class CorpusSources(Config):
    """What the continued pre-training corpus is made of (text read from `data_dir`)."""

    tcga_train: bool = True
    hallmarks_of_cancer: bool = True
    medical_abstracts: Literal["neoplasms", "all", "none"] = "neoplasms"
    block_size: int = 256
    near_dup_threshold: float = 0.85


class PerplexitySettings(Config):
    """Sliding-window perplexity on the TCGA test reports (`cancerllm.evaluate.perplexity`)."""

    window: int = 512
    stride: int = 256
    max_tokens: int | None = 512   # first tokens of each report (CPU budget); null = whole reports
    max_texts: int | None = None
    batch_size: int = 4
    dtype: str | None = None       # null: float32 on CPU; bfloat16 is ~3x faster on AVX512-BF16 CPUs


class ZeroShotSettings(Config):
    """Zero-shot staging with the real base. `chat` uses the model's chat template, puts the
    report first and scores the coarse options with a shared KV cache; `template` runs
    `cancerllm.baselines.zero_shot.ZeroShotStaging` unchanged (the project's prompt, fine labels)."""

    prompt: Literal["chat", "template"] = "chat"
    max_context_tokens: int = 512
    dtype: str | None = None
    limit: int | None = None       # a seeded random sample of this many test reports (CPU budget); null = all


class TinyBase(Config):
    """The tiny default trained from scratch on the corpus, then given heads."""

    vocab_size: int = 8000
    model: TinyModelConfig = Field(default_factory=TinyModelConfig)
    pretrain: PretrainConfig = Field(default_factory=lambda: PretrainConfig(method="full", lora=None))
    heads: HeadsTrainConfig = Field(default_factory=HeadsTrainConfig)


class RealConfig(Config):
    """recipes/real-smollm2.yaml, recipes/real-tiny.yaml. `base: null` skips the real base;
    `tiny: null` skips the tiny one. The top-level `pretrain`, `heads` and `finetune`
    sections are the real base's stage settings (load one with
    `load_config(PretrainConfig, "real-smollm2", section="pretrain")`); `finetune` is not
    run here (there is no real instruction data), it is the recipe for instruction tuning."""

    seed: int = 0
    data_dir: str | None = None
    base: str | None = "models/smollm2-135m"
    fields: list[str] = Field(default_factory=lambda: ["pT", "pN", "M", "ER", "PR", "HER2"])
    n_boot: int = 1000
    min_group_n: int = 20
    limit: int | None = None       # score only the first N test reports (a quick check, not a result)
    corpus: CorpusSources = Field(default_factory=CorpusSources)
    perplexity: PerplexitySettings = Field(default_factory=PerplexitySettings)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    heads: HeadsTrainConfig = Field(default_factory=HeadsTrainConfig)
    heads_cached: CachedHeadsConfig | None = Field(default_factory=CachedHeadsConfig)  # frozen base, cached features
    lora_heads: bool = True        # the LoRA heads (`heads`) on the base; false skips them (CPU budget)
    heads_on_adapted: bool = True
    zero_shot: ZeroShotSettings | None = Field(default_factory=ZeroShotSettings)
    classical: ClassicalConfig | None = Field(default_factory=ClassicalConfig)  # also the cancer-type prior
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    tiny: TinyBase | None = Field(default_factory=TinyBase)
