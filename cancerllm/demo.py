"""The main job: every pipeline stage on the embedded default, then one report.

Each stage is a call to the same Python function its CLI command wraps, configured from
`recipes/demo.yaml` (which names the training recipes it uses). A stage that finished
writes a marker with its timing, so a killed demo resumes at the first unfinished stage
(and training stages resume from their own checkpoints). The report is assembled from
the stages' own output files.

Model line-up, the paper's central claim in miniature:
- base: a randomly initialised tiny Mistral after a short full-parameter pre-training on
  part of the corpus (a stand-in for a general-purpose base model);
- base+IT: base + LoRA instruction tuning on the three tasks;
- base+CPT+IT: base + LoRA continued pre-training on the whole corpus (merged) + the same
  instruction tuning; plus a rule-based phenotype extractor as a non-LLM baseline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from cancerllm.config import Config, load_config
from cancerllm.io import atomic_write_json, read_jsonl
from cancerllm.models.tiny import TinyModelConfig
from cancerllm.runs import start_run


class StageRecipe(Config):
    """A training stage of the demo: a shipped recipe plus key=value overrides."""

    recipe: str
    overrides: list[str] = []


class DemoConfig(Config):
    seed: int = 0
    patients: int = 400
    vocab_size: int = 4000
    model: TinyModelConfig = Field(default_factory=TinyModelConfig)
    corpus: dict = {}
    base: StageRecipe = StageRecipe(recipe="base-tiny")
    cpt: StageRecipe = StageRecipe(recipe="pretrain-tiny")
    finetune: StageRecipe = StageRecipe(recipe="finetune-tiny")
    heads: StageRecipe = StageRecipe(recipe="heads-tiny")
    single_task_fields: list[str] = ["pT", "pN", "grade", "ER", "PR", "HER2", "M"]
    eval_limits: dict[str, int] = {"phenotype": 160, "diagnosis": 40, "treatment": 40}
    eval_batch_size: int = 16
    # Caps below the paper's 50/500/500 so an untrained-to-stop model cannot eat the CPU budget;
    # every synthetic reference is far shorter (diagnosis ~12 words, plan ~27 words).
    eval_max_new_tokens: dict[str, int] = {"phenotype": 50, "diagnosis": 96, "treatment": 160}
    zero_shot_limit: int = 40
    robustness: dict = {}


class StageRunner:
    """Runs named stages once, records wall time and peak memory of each in OUT/stages.json."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out / "stages.json"
        self.done: dict = json.loads(self.path.read_text()) if self.path.exists() else {}

    def __call__(self, name: str, fn: Callable[[], dict | None]) -> dict:
        if name in self.done:
            print(f"[demo] {name}: done earlier ({self.done[name]['seconds']:.1f} s), skipping", flush=True)
            return self.done[name].get("result") or {}
        print(f"[demo] {name} ...", flush=True)
        t0 = time.perf_counter()
        result = fn() or {}
        seconds = time.perf_counter() - t0
        self.done[name] = {"seconds": round(seconds, 2), "peak_rss_mb": _peak_rss_mb(), "result": result}
        atomic_write_json(self.path, self.done)
        print(f"[demo] {name}: {seconds:.1f} s", flush=True)
        return result


def _peak_rss_mb() -> float:
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _train_summary(metrics: dict) -> dict:
    keys = ("train_loss", "eval_loss", "global_step", "wall_time_s", "tokens", "useful_tokens",
            "tokens_per_s", "useful_tokens_per_s", "padding_share", "trainable_params", "total_params")
    return {k: metrics[k] for k in keys if k in metrics}


def run_demo(out_dir: str, recipe: str = "demo", overrides: list[str] | None = None) -> Path:
    cfg = load_config(DemoConfig, recipe, overrides)
    out = start_run(out_dir, cfg, cfg.seed, stage="demo")
    stage = StageRunner(out)
    p = _Paths(out)
    _data_stages(cfg, p, stage)
    _training_stages(cfg, p, stage)
    _evaluation_stages(cfg, p, stage)
    _staging_stages(cfg, p, stage)
    _robustness_stages(cfg, p, stage)
    from cancerllm.report import write_demo_report
    return write_demo_report(out, cfg)


class _Paths:
    def __init__(self, out: Path):
        self.out = out
        self.data, self.tasks, self.corpus = out / "data", out / "tasks", out / "corpus"
        self.tokenizer, self.init = out / "models" / "tokenizer", out / "models" / "tiny-init"
        self.base_run, self.cpt_run = out / "train" / "base", out / "train" / "cpt"
        self.it_base, self.it_cpt = out / "train" / "it-base", out / "train" / "it-cpt"
        self.base, self.cpt = self.base_run / "model", self.cpt_run / "merged"
        self.compare = out / "eval" / "compare"
        self.heads, self.single = out / "train" / "heads", out / "train" / "heads-single"
        self.staging = out / "eval" / "staging"
        self.robust = out / "robustness"
        self.sections = out / "report_sections"


def _data_stages(cfg: DemoConfig, p: _Paths, stage: StageRunner) -> None:
    from cancerllm.data.corpus import CorpusConfig
    ccfg = CorpusConfig(**{"seed": cfg.seed, **cfg.corpus})

    def synth():
        from cancerllm.data.synth import generate
        return generate(p.data, patients=cfg.patients, seed=cfg.seed)

    def tasks():
        from cancerllm.tasks.build import build_tasks
        return build_tasks(p.data, p.tasks, "all", cfg.seed)

    def corpus():
        from cancerllm.data.corpus import build_corpus
        s = build_corpus([str(p.data / "notes.jsonl"), str(p.data / "pathology.jsonl")], p.corpus, ccfg)
        return {k: s[k] for k in ("read", "kept", "exact_duplicates", "near_duplicates",
                                  "held_out_test_patients", "n_skipped_records")}

    def tokenizer():
        from cancerllm.models.tokenizer import train_tokenizer
        texts = (r["text"] for r in read_jsonl(p.corpus / "clean" / "train.jsonl"))
        return {"vocab_size": len(train_tokenizer(texts, p.tokenizer, vocab_size=cfg.vocab_size))}

    def init_model():
        from cancerllm.models.tiny import init_tiny_model
        model = init_tiny_model(p.tokenizer, p.init, cfg.model)
        return {"parameters": sum(x.numel() for x in model.parameters())}

    def pack():
        from cancerllm.data.corpus import pack_corpus
        return pack_corpus(p.corpus / "clean", p.tokenizer, p.corpus / "packed", ccfg.block_size, ccfg.num_proc)

    for name, fn in [("synth", synth), ("tasks", tasks), ("corpus", corpus), ("tokenizer", tokenizer),
                     ("init_model", init_model), ("pack", pack)]:
        stage(name, fn)


def _training_stages(cfg: DemoConfig, p: _Paths, stage: StageRunner) -> None:
    from cancerllm.train.finetune import FinetuneConfig, finetune
    from cancerllm.train.pretrain import PretrainConfig, pretrain

    def base():
        pcfg = load_config(PretrainConfig, cfg.base.recipe, cfg.base.overrides)
        return _train_summary(pretrain(p.init, p.corpus / "packed", p.base_run, pcfg, resume=True))

    def cpt():
        pcfg = load_config(PretrainConfig, cfg.cpt.recipe, cfg.cpt.overrides)
        return _train_summary(pretrain(p.base, p.corpus / "packed", p.cpt_run, pcfg, resume=True, merge=True))

    def it(model_dir: Path, run: Path):
        def fn():
            fcfg = load_config(FinetuneConfig, cfg.finetune.recipe, cfg.finetune.overrides)
            return _train_summary(finetune(model_dir, p.tasks, run, "all", fcfg, resume=True))
        return fn

    stage("train_base", base)
    stage("train_cpt", cpt)
    stage("finetune_base", it(p.base, p.it_base))
    stage("finetune_cpt", it(p.cpt, p.it_cpt))


def _evaluation_stages(cfg: DemoConfig, p: _Paths, stage: StageRunner) -> None:
    def compare():
        from cancerllm.evaluate.compare import ModelRef, compare_models
        models = [ModelRef("base+IT", str(p.base), str(p.it_base / "adapter")),
                  ModelRef("base+CPT+IT", str(p.cpt), str(p.it_cpt / "adapter"))]
        results = {}
        for task, limit in cfg.eval_limits.items():
            part = compare_models(models, [task], p.tasks, p.compare, "test", limit, cfg.eval_batch_size,
                                  max_new_tokens=cfg.eval_max_new_tokens)
            for model, per_task in part.items():
                results.setdefault(model, {}).update(per_task)
        results["rules (non-LLM)"] = {"phenotype": _rules_phenotype(cfg, p)}
        results["majority answer"] = {"phenotype": _majority_phenotype(cfg, p)}
        from cancerllm.evaluate.compare import write_comparison
        write_comparison(results, p.compare, {"eval_limits": cfg.eval_limits, "split": "test"})
        return {m: {t: r["scores"]["average_f1"] for t, r in per.items()} for m, per in results.items()}

    def errors():
        from cancerllm.evaluate.error_analysis import analyse_error_files, write_error_report
        counts = {}
        for task in cfg.eval_limits:
            rep = analyse_error_files(p.compare / "predictions" / "base+CPT+IT" / f"{task}.jsonl",
                                      p.compare / "references" / f"{task}.jsonl", task=task)
            write_error_report(rep, p.out / "eval" / "errors" / task)
            counts[task] = rep.counts.get(task, {})
        return counts

    stage("evaluate_compare", compare)
    stage("error_analysis", errors)


def _rules_phenotype(cfg: DemoConfig, p: _Paths) -> dict:
    from cancerllm.baselines.phenotype_rules import PhenotypeRules
    rules = PhenotypeRules.from_training(read_jsonl(p.tasks / "phenotype" / "train.jsonl"))
    return _score_phenotype_baseline(cfg, p, lambda test: {x["id"]: x["prediction"] for x in rules.predict(test)})


def _majority_phenotype(cfg: DemoConfig, p: _Paths) -> dict:
    """The most frequent training answer for every question: the floor a model must beat.

    Most phenotype questions do not apply to their sentence, so always answering
    "Not relevant" already scores high; without this row a model that learnt only that
    answer would look good.
    """
    from collections import Counter
    answers = Counter(r["response"] for r in read_jsonl(p.tasks / "phenotype" / "train.jsonl"))
    majority = answers.most_common(1)[0][0]
    return _score_phenotype_baseline(cfg, p, lambda test: {r["id"]: majority for r in test})


def _score_phenotype_baseline(cfg: DemoConfig, p: _Paths, predict: Callable[[list[dict]], dict]) -> dict:
    from cancerllm.evaluate.scoring import score_records
    test = list(read_jsonl(p.tasks / "phenotype" / "test.jsonl"))[:cfg.eval_limits.get("phenotype")]
    t0 = time.perf_counter()
    preds = predict(test)
    seconds = time.perf_counter() - t0
    scored = score_records({r["id"]: r["response"] for r in test}, preds)
    return {"scores": scored.aggregate,
            "generation": {"n_instances": len(test), "wall_seconds": seconds, "device": "cpu"}}


def _staging_stages(cfg: DemoConfig, p: _Paths, stage: StageRunner) -> None:
    from cancerllm.train.heads import HeadsTrainConfig, load_splits, train_heads
    pathology = p.data / "pathology.jsonl"

    def heads():
        hcfg = load_config(HeadsTrainConfig, cfg.heads.recipe, cfg.heads.overrides)
        return _train_summary(train_heads(p.cpt, pathology, p.heads, hcfg, resume=True))

    def single():
        hcfg = load_config(HeadsTrainConfig, cfg.heads.recipe, cfg.heads.overrides)
        train_heads(p.cpt, pathology, p.single, hcfg, fields=cfg.single_task_fields, single_task=True,
                    resume=True)
        return {"fields": cfg.single_task_fields}

    def evaluate():
        from cancerllm.baselines.staging_rules import predict_staging
        from cancerllm.baselines.zero_shot import ZeroShotStaging
        from cancerllm.evaluate.heads import load_predictor
        from cancerllm.evaluate.staging_report import (difficulty_shares, headline_by_difficulty,
                                                       score_systems, write_staging_report)
        test = load_splits(pathology, cfg.seed)["test"]
        texts = [r["text"] for r in test]
        labels = lambda preds: [{f: v["label"] for f, v in row.items()} for row in preds]  # noqa: E731
        systems = {
            "multi-task heads": labels(load_predictor(p.heads).predict(texts)),
            "single-task heads": labels(load_predictor(p.single).predict(texts)),
            "rule-based": [x["labels"] for x in predict_staging(test)],
        }
        zs_n = min(cfg.zero_shot_limit, len(test))
        zero = labels(ZeroShotStaging(str(p.cpt)).predict(texts[:zs_n]))
        result = score_systems([r["labels"] for r in test], systems)
        by_diff = headline_by_difficulty(test, systems)
        write_staging_report(result, p.staging, difficulty_shares(test), by_diff)
        zs = score_systems([r["labels"] for r in test[:zs_n]],
                           {"zero-shot (tiny LM)": zero, "multi-task heads": systems["multi-task heads"][:zs_n]})
        write_staging_report(zs, p.staging / f"zero_shot_first_{zs_n}")
        return {"n_test_reports": len(test), "zero_shot_reports": zs_n,
                "headline": {s: v["headline"]["macro_f1"] for s, v in result["systems"].items()}}

    stage("train_heads", heads)
    stage("train_single_task_heads", single)
    stage("evaluate_staging", evaluate)


def _robustness_stages(cfg: DemoConfig, p: _Paths, stage: StageRunner) -> None:
    """Small-rate versions of the two testbeds (the full curves: `cancerllm robust ...`)."""
    if not cfg.robustness:
        return
    from cancerllm.robustness import testbeds

    def misspell():
        r = cfg.robustness
        return testbeds.run_misspell(model=str(p.cpt), adapter=str(p.it_cpt / "adapter"), tasks_dir=p.tasks,
                                     out=p.robust / "misspell", rates=r.get("misspell_rates", [0.05, 0.2]),
                                     normalize_spelling=True, limit=r.get("limit", 30), seed=cfg.seed)

    def counterfactual():
        r = cfg.robustness
        return testbeds.run_counterfactual(model=str(p.cpt), tasks_dir=p.tasks, out=p.robust / "counterfactual",
                                           rates=r.get("counterfactual_rates", [0.4]),
                                           recipe=cfg.finetune.recipe,
                                           overrides=cfg.finetune.overrides + r.get("counterfactual_overrides", []),
                                           limit_test=r.get("limit", 30) * 4, seed=cfg.seed)

    stage("robustness_misspell", misspell)
    stage("robustness_counterfactual", counterfactual)
