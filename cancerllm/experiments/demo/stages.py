"""The demo's stages, in order: data, base, continued pre-training, perplexity, instruction
tuning, comparison, staging, robustness, report (see `cancerllm.experiments.demo.run` for the line-up).

Each stage is a closure handed to `StageRunner`, which skips it when an earlier run of
the same folder finished it; every stage calls the function its CLI command wraps.
Training and evaluation modules (torch, transformers, peft: ~450 MB resident) are imported
inside the stage bodies, never while the stages are lined up: a stage the recipe isolates
runs in a child process, and the demo's own process, which stays alive beside the two
fine-tunes, then never holds them (its memory counts in the job's peak).
"""

from __future__ import annotations

import time
from pathlib import Path

from cancerllm.config import load_config
from cancerllm.experiments.demo.config import DemoConfig, PublicText
from cancerllm.io import atomic_write_jsonl, read_jsonl
from cancerllm.runs import StageRunner

# Seconds per stage of the default demo (two stages at once, one thread each), for the ETA and for
# which ready stage starts first (the most work waiting on it); estimated 2026-12-07 from side-by-side runs
# on a quiet 2-core CPU.
ESTIMATES = {"import_base": 20, "synth": 3, "tasks": 4, "public_text": 6, "corpus": 5, "pack": 9,
             "train_cpt": 100, "perplexity": 55, "finetune_base": 1000, "finetune_cpt": 1015,
             "generate_zero_shot": 250, "generate_it": 215, "evaluate_compare": 220, "error_analysis": 2,
             "train_staging_classical": 15, "train_heads": 140, "evaluate_staging": 17, "robustness_misspell": 85,
             "robustness_counterfactual": 190}
PUBLIC_PREFIXES = ("tcga:", "hoc:", "medtc:")


class Paths:
    def __init__(self, out: Path):
        self.out = out
        self.data, self.tasks, self.corpus = out / "data", out / "tasks", out / "corpus"
        self.public = out / "public"
        self.tokenizer, self.init = out / "models" / "tokenizer", out / "models" / "tiny-init"
        self.base_run, self.cpt_run = out / "train" / "base", out / "train" / "cpt"
        self.it_base, self.it_cpt = out / "train" / "it-base", out / "train" / "it-cpt"
        self.cpt = self.cpt_run / "merged"
        self.compare = out / "eval" / "compare"
        self.heads, self.single = out / "train" / "heads", out / "train" / "heads-single"
        self.classical = out / "train" / "staging-classical"
        self.staging = out / "eval" / "staging"
        self.robust = out / "robustness"


def plan(cfg: DemoConfig) -> list[str]:
    tiny = cfg.base_model == "tiny"
    names = ["synth", "tasks", "public_text", "corpus"]
    names += ["tokenizer", "init_model", "pack", "train_base"] if tiny else ["import_base", "pack"]
    names += ["train_cpt", "finetune_base", "finetune_cpt", "perplexity"]
    names += (["generate_zero_shot"] if cfg.zero_shot else []) + ["generate_it", "evaluate_compare", "error_analysis"]
    names += ["train_staging_classical"]
    if cfg.heads is not None:
        names += ["train_heads"] + (["train_single_task_heads"] if cfg.single_task_fields else [])
    names += ["evaluate_staging"]
    if cfg.robustness:
        names += ["robustness_misspell", "robustness_counterfactual"]
    return names


def depends_on(cfg: DemoConfig) -> dict[str, list[str]]:
    """What each stage reads, by stage (for running stages side by side, `parallel_stages`).

    A stage not named here waits for every stage before it. Only stages of this demo's plan
    are kept (e.g. no import for a local base directory)."""
    base = "train_base" if cfg.base_model == "tiny" else "import_base"
    after = {
        "train_cpt": ["pack", base],
        "finetune_base": ["tasks", base],
        "finetune_cpt": ["tasks", "train_cpt"],
        "perplexity": ["corpus", "public_text", base, "train_cpt"],
        "generate_zero_shot": ["tasks", base],
        "generate_it": ["tasks", base, "finetune_base"],
        "evaluate_compare": ["tasks", base, "finetune_base", "finetune_cpt", "generate_zero_shot", "generate_it"],
        "error_analysis": ["evaluate_compare"],
        "train_staging_classical": ["synth"],
        "train_heads": ["synth", "train_cpt"],
        "train_single_task_heads": ["synth", "train_cpt"],
        "evaluate_staging": ["synth", "train_cpt", "train_staging_classical", "train_heads",
                             "train_single_task_heads"],
        "robustness_misspell": ["tasks", "finetune_cpt"],
        "robustness_counterfactual": ["tasks", "train_cpt"],
    }
    names = set(plan(cfg))
    return {stage: [d for d in deps if d in names] for stage, deps in after.items() if stage in names}


def train_summary(metrics: dict) -> dict:
    keys = ("train_loss", "eval_loss", "global_step", "wall_time_s", "tokens", "useful_tokens",
            "tokens_per_s", "useful_tokens_per_s", "padding_share", "trainable_params", "total_params",
            "best_checkpoint", "tasks")
    return {k: metrics[k] for k in keys if k in metrics}


def public_documents(cfg: PublicText, out: Path) -> dict:
    """OUT/public.jsonl (TCGA train reports + abstracts) and OUT/tcga_test.jsonl; counts.

    Reads `../shared/data`-style folders when present; a missing source is skipped and
    reported, so the demo also runs where there is no public data.
    """
    from cancerllm.experiments.real.config import CorpusSources
    from cancerllm.experiments.real.data import corpus_documents, prepare_tcga, resolve_data_dir
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


def data_stages(cfg: DemoConfig, p: Paths, stage: StageRunner) -> None:
    from cancerllm.data.corpus import CorpusConfig, build_corpus
    ccfg = CorpusConfig(**{"seed": cfg.seed, **cfg.corpus})

    def synth():
        from cancerllm.data.synth import generate
        return generate(p.data, patients=cfg.patients, seed=cfg.seed)

    def tasks():
        from cancerllm.tasks.build import build_tasks
        return build_tasks(p.data, p.tasks, "all", cfg.seed)

    def corpus():
        inputs = [str(p.data / "notes.jsonl"), str(p.data / "pathology.jsonl"), str(p.public / "public.jsonl")]
        s = build_corpus(inputs, p.corpus, ccfg)
        return {k: s[k] for k in ("read", "kept", "exact_duplicates", "near_duplicates",
                                  "held_out_test_patients", "n_skipped_records")}

    stage("synth", synth)
    stage("tasks", tasks)
    stage("public_text", lambda: public_documents(cfg.public_text, p.public))
    stage("corpus", corpus)


def base_stages(cfg: DemoConfig, p: Paths, stage: StageRunner) -> Path:
    """The base model directory (trained here for `tiny`, imported once for `smollm2`)."""
    from cancerllm.data.corpus import CorpusConfig, pack_corpus
    block = CorpusConfig(**{"seed": cfg.seed, **cfg.corpus})
    if cfg.base_model == "tiny":
        def tokenizer():
            from cancerllm.models.tokenizer import train_tokenizer
            texts = (r["text"] for r in read_jsonl(p.corpus / "clean" / "train.jsonl"))
            return {"vocab_size": len(train_tokenizer(texts, p.tokenizer, vocab_size=cfg.vocab_size))}

        def init_model():
            from cancerllm.models.tiny import init_tiny_model
            model = init_tiny_model(p.tokenizer, p.init, cfg.model)
            return {"parameters": sum(x.numel() for x in model.parameters())}

        def base():
            from cancerllm.train.pretrain import PretrainConfig, pretrain
            pcfg = load_config(PretrainConfig, cfg.base.recipe, cfg.base.overrides)
            return train_summary(pretrain(p.init, p.corpus / "packed", p.base_run, pcfg, resume=True))

        stage("tokenizer", tokenizer)
        stage("init_model", init_model)
        stage("pack", lambda: pack_corpus(p.corpus / "clean", p.tokenizer, p.corpus / "packed",
                                          block.block_size, block.num_proc))
        stage("train_base", base)
        return p.base_run / "model"
    base_dir = _resolve_base(cfg, stage)
    stage("pack", lambda: pack_corpus(p.corpus / "clean", base_dir, p.corpus / "packed",
                                      block.block_size, block.num_proc))
    return base_dir


def _resolve_base(cfg: DemoConfig, stage: StageRunner) -> Path:
    if cfg.base_model != "smollm2":
        from cancerllm.offline import local_model_dir
        return local_model_dir(cfg.base_model)
    from cancerllm.models.smollm2 import DEFAULT_OUT, import_smollm2
    out = Path(DEFAULT_OUT).resolve()
    stage("import_base", lambda: import_smollm2(out))
    return out


def cpt_stages(cfg: DemoConfig, p: Paths, stage: StageRunner, base: Path) -> None:
    def cpt():
        from cancerllm.train.pretrain import PretrainConfig, pretrain
        pcfg = load_config(PretrainConfig, cfg.cpt.recipe, cfg.cpt.overrides)
        return train_summary(pretrain(base, p.corpus / "packed", p.cpt_run, pcfg, resume=True, merge=True))

    stage("train_cpt", cpt)


def perplexity_stage(cfg: DemoConfig, p: Paths, stage: StageRunner, base: Path) -> None:
    """Held-out perplexity of the base and of base+CPT (TCGA test reports, synthetic notes)."""

    def perplexity():
        from cancerllm.evaluate.perplexity import evaluate_perplexity
        s = cfg.perplexity
        held_out = {}
        tcga_test = p.public / "tcga" / "test.jsonl"
        if tcga_test.is_file():
            held_out["tcga_test"] = [r["text"] for r in read_jsonl(tcga_test)][:s.max_texts]
        held_out["synthetic_validation"] = [r["text"] for r in read_jsonl(p.corpus / "clean" / "validation.jsonl")
                                            if not str(r.get("id", "")).startswith(PUBLIC_PREFIXES)][:s.max_texts]
        result = {}
        for name, texts in held_out.items():
            for when, model in (("before", base), ("after", p.cpt)):
                r = evaluate_perplexity(model, p.corpus / "clean" / "validation.jsonl", window=s.window,
                                        stride=s.stride, max_tokens=s.max_tokens, batch_size=s.batch_size,
                                        texts=texts)
                result.setdefault(name, {})[when] = r["perplexity"]
                result[name]["n_texts"], result[name]["n_tokens"] = len(texts), r.get("n_tokens")
            result[name]["change"] = result[name]["after"] / result[name]["before"] - 1
        main = result.get("tcga_test") or result["synthetic_validation"]
        result["perplexity_before"], result["perplexity_after"] = main["before"], main["after"]
        result["perplexity_on"] = "tcga_test" if "tcga_test" in result else "synthetic_validation"
        return result

    stage("perplexity", perplexity)


def finetune_stages(cfg: DemoConfig, p: Paths, stage: StageRunner, base: Path) -> None:
    def it(model_dir: Path, run: Path):
        def fn():
            from cancerllm.train.finetune import FinetuneConfig, finetune
            fcfg = load_config(FinetuneConfig, cfg.finetune.recipe, cfg.finetune.overrides)
            return train_summary(finetune(model_dir, p.tasks, run, "all", fcfg, resume=True))
        return fn

    stage("finetune_base", it(base, p.it_base))
    stage("finetune_cpt", it(p.cpt, p.it_cpt))


def _finetune_cfg(cfg: DemoConfig):
    from cancerllm.train.finetune import FinetuneConfig
    return load_config(FinetuneConfig, cfg.finetune.recipe, cfg.finetune.overrides)


SYSTEMS = {"zero_shot": "zero-shot base", "it": "base+IT", "cpt_it": "base+CPT+IT",
           "floor": "majority", "rules": "rules"}


def _compared_models(cfg: DemoConfig, p: Paths, base: Path) -> dict:
    from cancerllm.evaluate.compare import ModelRef
    models = {"zero_shot": ModelRef(SYSTEMS["zero_shot"], str(base))} if cfg.zero_shot else {}
    return {**models, "it": ModelRef(SYSTEMS["it"], str(base), str(p.it_base / "adapter")),
            "cpt_it": ModelRef(SYSTEMS["cpt_it"], str(p.cpt), str(p.it_cpt / "adapter"))}


def _generation_settings(cfg: DemoConfig) -> dict:
    """What every compared system is generated with, in whichever stage it runs."""
    ft = _finetune_cfg(cfg)
    return dict(max_new_tokens=cfg.eval_max_new_tokens, num_beams=cfg.eval_num_beams,
                max_input_tokens=ft.max_input_tokens,
                context_truncation={t: ft.truncation(t) for t in cfg.eval_limits},
                context_sections=ft.context_sections, sample="random", seed=cfg.seed)


def evaluation_stages(cfg: DemoConfig, p: Paths, stage: StageRunner, base: Path) -> None:
    """The zero-shot base and base+IT are generated in stages of their own, as soon as their
    model exists (a lane is free then, while the fine-tune from base+CPT still runs); the
    comparison then generates base+CPT+IT only (the others' predictions are resumed, all
    written) and scores and tabulates all of them."""
    def generate(key: str):
        def fn():
            from cancerllm.evaluate.compare import compare_models
            compare_models([_compared_models(cfg, p, base)[key]], list(cfg.eval_limits), p.tasks, p.compare,
                           "test", cfg.eval_limits, cfg.eval_batch_size, write=False, **_generation_settings(cfg))
            return {"system": SYSTEMS[key]}
        return fn

    def compare():
        from cancerllm.evaluate.compare import compare_models
        results = compare_models(list(_compared_models(cfg, p, base).values()), list(cfg.eval_limits), p.tasks,
                                 p.compare, "test", cfg.eval_limits, cfg.eval_batch_size,
                                 baselines=[SYSTEMS["rules"], SYSTEMS["floor"]], n_boot=cfg.n_boot,
                                 floor=SYSTEMS["floor"], pairs=[(SYSTEMS["cpt_it"], SYSTEMS["it"])],
                                 **_generation_settings(cfg))
        return _compare_summary(results, p, cfg)

    def errors():
        from cancerllm.evaluate.error_analysis import analyse_error_files, write_error_report
        counts = {}
        for task in cfg.eval_limits:
            rep = analyse_error_files(p.compare / "predictions" / SYSTEMS["cpt_it"] / f"{task}.jsonl",
                                      p.compare / "references" / f"{task}.jsonl", task=task)
            write_error_report(rep, p.out / "eval" / "errors" / task)
            counts[task] = rep.counts.get(task, {})
        return counts

    if cfg.zero_shot:
        stage("generate_zero_shot", generate("zero_shot"))
    stage("generate_it", generate("it"))
    stage("evaluate_compare", compare)
    stage("error_analysis", errors)


def _compare_summary(results: dict, p: Paths, cfg: DemoConfig) -> dict:
    """Average F1 per system and task, the answered-records phenotype score, the paired CI."""
    from cancerllm.evaluate.scoring import bootstrap_ci, paired_bootstrap
    refs = {r["id"]: r["response"] for r in read_jsonl(p.compare / "references" / "phenotype.jsonl")}
    none = "Not relevant"
    out: dict = {"average_f1": {}, "phenotype_answered_avg_f1": {}, "n": {}, "paired": {}}
    for key, name in SYSTEMS.items():
        per_task = results.get(name, {})
        out["average_f1"][key] = {t: round(e["scores"]["average_f1"], 2) for t, e in per_task.items()}
        if "phenotype" in per_task:
            answered = [x["average_f1"] for x in per_task["phenotype"]["per_instance"] if refs.get(x["id"]) != none]
            ci = bootstrap_ci(answered, cfg.n_boot, cfg.seed) if answered else {}
            out["phenotype_answered_avg_f1"][key] = {"value": round(sum(answered) / len(answered), 2)
                                                     if answered else None, "n": len(answered),
                                                     **{k: ci[k] for k in ("ci_low", "ci_high") if k in ci}}
    for task, entry in results.get(SYSTEMS["cpt_it"], {}).items():
        out["n"][task] = entry["scores"]["n"]
        other = results.get(SYSTEMS["it"], {}).get(task)
        if other:
            a = {x["id"]: x["average_f1"] for x in entry["per_instance"]}
            b = {x["id"]: x["average_f1"] for x in other["per_instance"]}
            ids = sorted(set(a) & set(b))
            out["paired"][task] = paired_bootstrap([a[i] for i in ids], [b[i] for i in ids], cfg.n_boot, cfg.seed)
    return out


def staging_stages(cfg: DemoConfig, p: Paths, stage: StageRunner) -> None:
    from cancerllm.data.pathology import load_splits
    pathology = p.data / "pathology.jsonl"

    def heads():
        from cancerllm.train.heads import HeadsTrainConfig, train_heads
        hcfg = load_config(HeadsTrainConfig, cfg.heads.recipe, cfg.heads.overrides)
        return train_summary(train_heads(p.cpt, pathology, p.heads, hcfg, resume=True))

    def single():
        from cancerllm.train.heads import HeadsTrainConfig, train_heads
        hcfg = load_config(HeadsTrainConfig, cfg.heads.recipe, cfg.heads.overrides)
        train_heads(p.cpt, pathology, p.single, hcfg, fields=cfg.single_task_fields, single_task=True,
                    resume=True)
        return {"fields": cfg.single_task_fields}

    def evaluate():
        from cancerllm.baselines.staging_rules import predict_staging
        from cancerllm.evaluate.heads import load_predictor
        from cancerllm.evaluate.staging_report import (difficulty_shares, headline_by_difficulty,
                                                       score_systems, write_staging_report)
        test = load_splits(pathology, cfg.seed)["test"]
        texts = [r["text"] for r in test]
        labels = lambda preds: [{f: v["label"] for f, v in row.items()} for row in preds]  # noqa: E731
        t0 = time.perf_counter()
        systems = {"rule-based": [x["labels"] for x in predict_staging(test)]}
        if (p.classical / "metrics.json").is_file():
            from cancerllm.baselines.staging_classical import load_staging_system, predict_labels
            systems["classical (TF-IDF + rule findings)"] = predict_labels(load_staging_system(p.classical), test)
        if cfg.heads is not None:
            from cancerllm.evaluate.figures import staging_predictions
            from cancerllm.io import atomic_write_jsonl
            rows = load_predictor(p.heads).predict(texts)
            # with gold and probabilities: the heads' reliability plot and the HTML viewer read it
            atomic_write_jsonl(p.staging / "predictions.jsonl", staging_predictions(test, rows))
            systems["multi-task heads"] = labels(rows)
            if cfg.single_task_fields:
                systems["single-task heads"] = labels(load_predictor(p.single).predict(texts))
        result = score_systems([r["labels"] for r in test], systems)
        write_staging_report(result, p.staging, difficulty_shares(test), headline_by_difficulty(test, systems))
        zs_n = min(cfg.zero_shot_limit, len(test))
        if zs_n and "multi-task heads" in systems:
            from cancerllm.baselines.zero_shot import ZeroShotStaging
            zero = labels(ZeroShotStaging(str(p.cpt)).predict(texts[:zs_n]))
            zs = score_systems([r["labels"] for r in test[:zs_n]],
                               {"zero-shot LM": zero, "multi-task heads": systems["multi-task heads"][:zs_n]})
            write_staging_report(zs, p.staging / f"zero_shot_first_{zs_n}")
        return {"n_test_reports": len(test), "zero_shot_reports": zs_n, "seconds": time.perf_counter() - t0,
                "headline": {s: v["headline"]["macro_f1"] for s, v in result["systems"].items()}}

    def classical():
        from cancerllm.baselines.staging_classical import train_staging
        return train_staging(pathology, p.classical, "classical")

    stage("train_staging_classical", classical)
    if cfg.heads is not None:
        stage("train_heads", heads)
        if cfg.single_task_fields:
            stage("train_single_task_heads", single)
    stage("evaluate_staging", evaluate)


def robustness_stages(cfg: DemoConfig, p: Paths, stage: StageRunner) -> None:
    """Small-rate versions of the two testbeds (the full curves: `cancerllm robust ...`)."""
    if not cfg.robustness:
        return
    from cancerllm.robustness import testbeds
    r = cfg.robustness

    def misspell():
        return testbeds.run_misspell(model=str(p.cpt), adapter=str(p.it_cpt / "adapter"), tasks_dir=p.tasks,
                                     out=p.robust / "misspell", rates=r.get("misspell_rates", [0.05, 0.2]),
                                     normalize_spelling=True, limit=r.get("limit", 30), seed=cfg.seed,
                                     batch_size=cfg.eval_batch_size,
                                     **({"tasks": r["misspell_tasks"]} if "misspell_tasks" in r else {}))

    def counterfactual():
        return testbeds.run_counterfactual(model=str(p.cpt), tasks_dir=p.tasks, out=p.robust / "counterfactual",
                                           rates=r.get("counterfactual_rates", [0.4]),
                                           recipe=cfg.finetune.recipe,
                                           overrides=cfg.finetune.overrides + r.get("counterfactual_overrides", []),
                                           limit_test=r.get("counterfactual_limit", r.get("limit", 30) * 4),
                                           seed=cfg.seed, batch_size=cfg.eval_batch_size)

    stage("robustness_misspell", misspell)
    stage("robustness_counterfactual", counterfactual)
