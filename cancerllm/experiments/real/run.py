"""The real-data experiment: TCGA pathology reports, cancer abstracts, SmolLM2-135M.

`cancerllm report real --output runs/real --recipe real-smollm2` runs, resumably (each stage
records itself in OUT/stages.json and is skipped on a rerun unless a recipe key it reads
changed, see STAGE_INPUTS; training stages also resume from their own checkpoints):

1. data     the 1,034 TCGA reports (`cancerllm.data.tcga`) in the package's fixed
            patient split (train 620 / dev 207 / test 207), written as JSONL under
            OUT/data (never into the package);
2. corpus   continued-pre-training text: TCGA *train* reports + Hallmarks-of-Cancer
            abstracts + Medical-Abstracts neoplasm abstracts, cleaned and de-duplicated
            with `cancerllm.data.corpus` and shuffled; TCGA *dev* reports are the LM
            validation split; TCGA test reports are never in it;
3. tiny     the tiny default trained from scratch on the same corpus (tokenizer, init,
            full-parameter pre-training), then staging heads: the "no real base" line;
4. SmolLM2  perplexity on TCGA test before, LoRA continued pre-training
            (`cancerllm.train.pretrain`), perplexity after (adapter unmerged); heads on
            the base as imported; zero-shot prompting (on a seeded sample when
            `zero_shot.limit` is set); the adapter merged and the same heads on it;
5. report   every system on the TCGA test split: macro F1 with bootstrap CIs
            (`cancerllm.evaluate.staging_report`) under two gold variants, the Kefeli
            T1-T4 anchor, per cancer type (n >= min_group_n), perplexity; a system run
            on a sample is also tabled with every other system on that same sample.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from cancerllm.config import load_config
from cancerllm.errors import ConfigError, InputError
from cancerllm.experiments.real.config import REPO, RealConfig, ZeroShotSettings
from cancerllm.experiments.real.data import build_real_corpus, prepare_tcga, resolve_data_dir
from cancerllm.experiments.real.gold import fields_for, mention_aware_gold
from cancerllm.experiments.real.report import write_report
from cancerllm.experiments.real.scoring import headline, score_all
from cancerllm.experiments.real.stages import forget_stale_stages, measured
from cancerllm.io import atomic_write_json, atomic_write_jsonl, read_jsonl
from cancerllm.runs import StageRunner, start_run
from cancerllm.schema.staging import FINE
from cancerllm.train.heads import HeadsTrainConfig


def zero_shot_predictions(model_dir: Path, records: list[dict], fields: list[str], zs: ZeroShotSettings) -> list[dict]:
    if zs.prompt == "chat":
        from cancerllm.baselines.zero_shot_chat import ChatZeroShot
        model = ChatZeroShot(model_dir, fields, dtype=zs.dtype, max_context_tokens=zs.max_context_tokens)
        rows = []
        for i, r in enumerate(records):
            rows.append(model.predict_fields(r["text"], fields_for(r, fields)))
            if (i + 1) % 20 == 0:
                print(f"[real] zero-shot {i + 1}/{len(records)}", flush=True)
        return rows
    from cancerllm.baselines.zero_shot import ZeroShotStaging
    model = ZeroShotStaging(model_dir, fields=fields, dtype=zs.dtype, max_context_tokens=zs.max_context_tokens)
    rows = []
    for r in records:
        model.fields = fields_for(r, fields)  # candidates exist for all; score only these
        rows.append(model.predict([r["text"]])[0])
    return rows


def resolve_base(base: str) -> Path:
    """The real base's model folder; imported from the `smollm2` extra if missing."""
    for cand in (Path(base), REPO / base):
        if (cand / "config.json").is_file():
            return cand
    from cancerllm.models.smollm2 import INSTALL_HINT, import_smollm2, smollm2_available
    if not smollm2_available():
        raise InputError(f"base model {base!r} not found and {INSTALL_HINT}")
    print(f"[real] importing SmolLM2 into {base}", flush=True)
    import_smollm2(base)
    return Path(base)


def sample_rows(n: int, k: int | None, seed: int) -> list[int]:
    """Indices of a seeded random sample of k of n rows, in order (all rows when k is None)."""
    if k is None or k >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), k))


class _Run:
    """Paths and shared helpers of one real-data run (the stages are in `run_real`)."""

    def __init__(self, out: Path, cfg: RealConfig, test: list[dict]):
        self.out, self.cfg, self.test = out, cfg, test
        self.tcga, self.corpus, self.preds = out / "data", out / "corpus", out / "predictions"

    def classical(self, system: str):
        """Fit a classical system on train (C chosen on dev, refit per `classical.refit_on_dev`),
        save it under OUT/models/SYSTEM, predict the test split."""
        def run():
            from cancerllm.baselines.staging_classical import SYSTEM_CLASSES
            train, dev = list(read_jsonl(self.tcga / "train.jsonl")), list(read_jsonl(self.tcga / "dev.jsonl"))
            t0 = time.perf_counter()
            model = SYSTEM_CLASSES[system](self.cfg.classical).fit(train, dev, self.cfg.fields)
            fit_s = time.perf_counter() - t0
            model.save_pretrained(self.out / "models" / system)
            t0 = time.perf_counter()
            preds = model.predict(self.test)
            return {**self.save_preds(system, preds), "fit_seconds": round(fit_s, 2),
                    "predict_seconds": round(time.perf_counter() - t0, 2), "selection": model.selection}
        return run

    def features(self, base: Path) -> tuple[dict, dict]:
        """What the cached heads read for train, dev and test: window features (OUT/features/<base>;
        encoded once) and, when the recipe's `evidence_grid` asks for it, the evidence
        (`cancerllm.baselines.staging_findings.report_features`). Built once per process."""
        if getattr(self, "_features", None) is None:
            from cancerllm.baselines.staging_findings import report_features
            hc = self.cfg.heads_cached
            splits = {"train": list(read_jsonl(self.tcga / "train.jsonl")),
                      "dev": list(read_jsonl(self.tcga / "dev.jsonl")), "test": self.test}
            texts = [r["text"] for s in splits.values() for r in s]
            evidence = any(e != "none" for e in hc.evidence_grid)
            feats, coverage = report_features(base, texts, self.out / "features" / base.name, hc, evidence)
            out, start = {}, 0
            for name, recs in splits.items():
                out[name] = feats.part(start, start + len(recs))
                start += len(recs)
            self._features = {"records": splits, "features": out}, coverage
        return self._features

    def cached_heads(self, name: str, base: Path, single_task: bool, evidence: bool = False):
        """Heads on cached features: evidence (with `evidence`: from the recipe's grid, else
        none), layer, pooling, lr, weight decay, epochs chosen on dev; trained on train."""
        def run():
            from cancerllm.models.cached_heads import CachedHeadsModel
            data, coverage = self.features(base)
            recs, feats = data["records"], data["features"]
            hc = self.cfg.heads_cached
            hc = hc if evidence else hc.model_copy(update={"evidence_grid": ["none"]})
            t0 = time.perf_counter()
            model = CachedHeadsModel.fit(feats["train"], recs["train"], feats["dev"], recs["dev"], self.cfg.fields,
                                         hc, single_task, str(base))
            fit_s = time.perf_counter() - t0
            model.save_pretrained(self.out / "heads" / name)
            return {**self.save_preds(name, model.predict_features(feats["test"])), "fit_seconds": round(fit_s, 1),
                    "chosen": model.summary(), "coverage": coverage}
        return run

    def save_preds(self, name: str, rows: list[dict], records: list[dict] | None = None) -> dict:
        records = self.test if records is None else records
        atomic_write_jsonl(self.preds / f"{name}.jsonl", ({"id": r["id"], **p} for r, p in zip(records, rows)))
        return {"n": len(rows)}

    def pack(self, tokenizer_dir: Path, name: str):
        from cancerllm.data.corpus import pack_corpus
        return lambda: pack_corpus(self.corpus / "clean", tokenizer_dir, self.corpus / f"packed-{name}",
                                   self.cfg.corpus.block_size)

    def perplexity(self, name: str, model_dir: Path, adapter: Path | None = None):
        def run():
            from cancerllm.evaluate.perplexity import evaluate_perplexity
            p = self.cfg.perplexity
            texts = [r["text"] for r in self.test][:p.max_texts]
            res = evaluate_perplexity(model_dir, self.tcga / "test.jsonl", adapter_dir=adapter, window=p.window,
                                      stride=p.stride, max_tokens=p.max_tokens, batch_size=p.batch_size,
                                      dtype=p.dtype, texts=texts, log_every=10)
            atomic_write_json(self.out / "perplexity" / f"{name}.json", res)
            return res
        return run

    def train_heads(self, name: str, model_dir: Path, hcfg: HeadsTrainConfig):
        def run():
            from cancerllm.train.heads import train_heads
            m = train_heads(model_dir, self.tcga / "heads", self.out / "heads" / name, hcfg,
                            fields=self.cfg.fields, resume=True)
            return {k: m.get(k) for k in ("global_step", "epoch", "train_loss", "first_logged_loss",
                                          "last_logged_loss", "wall_time_s", "n_train", "trainable_params")}
        return run

    def predict_heads(self, name: str, model_dir: Path, batch_size: int):
        def run():
            from cancerllm.models.heads import MultiTaskHeads
            model = MultiTaskHeads.from_pretrained(self.out / "heads" / name, base_model=model_dir)
            return self.save_preds(name, model.predict([r["text"] for r in self.test], batch_size=batch_size))
        return run


def run_real(out_dir: str, recipe: str = "real-smollm2", overrides: list[str] | None = None,
             data_dir: str | None = None) -> Path:
    """Run the real-data experiment into OUT (resumable) and write OUT/report.md."""
    cfg = load_config(RealConfig, recipe, overrides)
    if data_dir:
        cfg.data_dir = data_dir
    unknown = [f for f in cfg.fields if f not in FINE]
    if unknown:
        raise ConfigError(f"unknown fields {unknown}; fields are {list(FINE)}")
    data_root = resolve_data_dir(cfg.data_dir)
    base = resolve_base(cfg.base) if cfg.base else None  # fail early, before hours of work
    forget_stale_stages(Path(out_dir), cfg)
    out = start_run(out_dir, cfg, cfg.seed, stage="report.real")
    stage = StageRunner(out)
    tcga, corpus = out / "data", out / "corpus"
    info: dict = {"recipe": str(recipe), "systems": {}, "perplexity": {}}
    systems = info["systems"]

    info["data"] = stage("data", lambda: prepare_tcga(data_root, tcga, cfg.fields))
    stage("corpus", lambda: build_real_corpus(data_root, tcga, corpus, cfg.corpus, cfg.seed))
    run = _Run(out, cfg, list(read_jsonl(tcga / "test.jsonl"))[:cfg.limit])

    def rules():
        from cancerllm.baselines.staging_rules import predict_staging
        return run.save_preds("rules", [{f: {"label": p["labels"][f]} for f in cfg.fields}
                                        for p in predict_staging(run.test)])
    stage("rules", measured(rules))
    systems["rules"] = "rule-based extractor (cancerllm.baselines.staging_rules), no training"
    if cfg.classical is not None:
        c = cfg.classical
        refit = "train + dev" if c.refit_on_dev else "train"
        stage("cancer_type_prior", measured(run.classical("cancer_type_prior")))
        systems["cancer_type_prior"] = (f"logistic regression on the one-hot cancer type only (C per field chosen "
                                        f"on dev, refitted on {refit}); never reads the report")
        stage("classical", measured(run.classical("classical")))
        systems["classical"] = (f"TF-IDF word {tuple(c.word_ngrams)} + char {c.char_ngrams and tuple(c.char_ngrams)} "
                                f"n-grams + findings (rule values, tumour size bin and the T it implies by organ, "
                                f"node counts, cancer type) -> a logistic regression per field, balanced class "
                                f"weights, C from {c.C_grid} and the findings' weight from {c.findings_weight_grid} "
                                f"chosen per field on dev, refitted on {refit} (cancerllm.baselines.staging_classical)")

    if cfg.tiny is not None:
        t = cfg.tiny
        tok_dir, init_dir, tiny_run = out / "tiny" / "tokenizer", out / "tiny" / "init", out / "tiny" / "base"

        def tokenizer():
            from cancerllm.models.tokenizer import train_tokenizer
            return {"vocab": len(train_tokenizer((r["text"] for r in read_jsonl(corpus / "clean" / "train.jsonl")),
                                                 tok_dir, vocab_size=t.vocab_size))}

        def init():
            from cancerllm.models.tiny import init_tiny_model
            return {"parameters": sum(p.numel() for p in init_tiny_model(tok_dir, init_dir, t.model).parameters())}

        def tiny_base():
            from cancerllm.train.pretrain import pretrain
            return pretrain(init_dir, corpus / "packed-tiny", tiny_run, t.pretrain, resume=True)

        stage("tiny_tokenizer", tokenizer)
        stage("tiny_init", init)
        stage("tiny_pack", run.pack(tok_dir, "tiny"))
        tb = stage("tiny_base", tiny_base)
        tiny_dir = tiny_run / ("adapter" if t.pretrain.uses_lora else "model")
        info["perplexity"]["tiny (trained here)"] = stage("ppl_tiny", run.perplexity("tiny", tiny_dir))
        info["heads-tiny"] = stage("heads-tiny", measured(run.train_heads("heads-tiny", tiny_dir, t.heads)))
        stage("predict-heads-tiny", measured(run.predict_heads("heads-tiny", tiny_dir,
                                                               t.heads.train.per_device_eval_batch_size)))
        systems["heads-tiny"] = (f"multi-task heads on the tiny default ({t.model.hidden_size}-wide, "
                                 f"{t.model.num_hidden_layers} layers) pre-trained from scratch on the corpus "
                                 f"({tb.get('global_step')} steps)")

    if base is not None:
        cpt_run, merged = out / "smollm2" / "cpt", out / "smollm2" / "merged"
        stage("smollm2_pack", run.pack(base, "smollm2"))
        info["perplexity"]["SmolLM2-135M (base)"] = stage("ppl_base", run.perplexity("smollm2-base", base))

        def cpt():
            from datasets import load_from_disk

            from cancerllm.train.pretrain import pretrain
            m = pretrain(base, corpus / "packed-smollm2", cpt_run, cfg.pretrain, resume=True)
            total = len(load_from_disk(str(corpus / "packed-smollm2"))["train"])
            blocks = min(cfg.pretrain.max_train_blocks or total, total)
            return {**{k: m.get(k) for k in ("global_step", "train_loss", "eval_loss", "wall_time_s", "tokens")},
                    "blocks": blocks, "corpus_blocks": total, "share": blocks / total}
        info["cpt"] = stage("cpt", cpt)
        info["perplexity"]["SmolLM2-135M + CPT adapter"] = stage(
            "ppl_adapted", run.perplexity("smollm2-cpt", base, cpt_run / "adapter"))

        if cfg.heads_cached is not None:
            hc = cfg.heads_cached
            info["encode-smollm2"] = stage("encode-smollm2", measured(lambda: run.features(base)[1]))
            what = (f"frozen SmolLM2, first {hc.encoder_layers} of its layers, every report whole in windows of "
                    f"{hc.max_length} tokens (overlap {hc.overlap}), mean-pooled hidden states cached; layer "
                    f"{hc.feature_layers}, window pooling {hc.pooling_grid}, lr {hc.lr_grid}, weight decay "
                    f"{hc.weight_decay_grid}, epochs {hc.epochs_grid} chosen on dev")
            evidence = [e for e in hc.evidence_grid if e != "none"]
            kinds = [("", False, "")] + ([("-evidence", True, f"; with evidence ({'/'.join(evidence)}, chosen on dev: "
                                          f"the rule findings and their sentences encoded as one more window, "
                                          f"and/or the findings one-hot, beside the pooled report)")]
                                         if evidence else [])
            for suffix, with_evidence, note in kinds:
                # single-task heads: with the evidence when there is some (the plain ones only without)
                for single in ([False, True] if hc.single_task and (with_evidence or not evidence) else [False]):
                    name = f"{'single-' if single else ''}heads-cached{suffix}-smollm2"
                    info[name] = stage(name, measured(run.cached_heads(name, base, single, with_evidence)))
                    kind = "single-task heads (one per field)" if single else "multi-task heads"
                    systems[name] = f"{kind} on cached features: {what}{note}"
        batch = cfg.heads.train.per_device_eval_batch_size
        if cfg.lora_heads:
            info["heads-smollm2"] = stage("heads-smollm2",
                                          measured(run.train_heads("heads-smollm2", base, cfg.heads)))
            stage("predict-heads-smollm2", measured(run.predict_heads("heads-smollm2", base, batch)))
            systems["heads-smollm2"] = "multi-task heads (LoRA) on SmolLM2-135M-Instruct as imported"
        if cfg.zero_shot is not None:
            zs = cfg.zero_shot
            rows = sample_rows(len(run.test), zs.limit, cfg.seed)

            def zero_shot():
                subset = [run.test[i] for i in rows]
                return run.save_preds("zero-shot-smollm2", zero_shot_predictions(base, subset, cfg.fields, zs), subset)
            stage("zero-shot-smollm2", measured(zero_shot))
            systems["zero-shot-smollm2"] = (
                f"SmolLM2-135M-Instruct prompted ({zs.prompt} prompt, report cut to {zs.max_context_tokens} tokens), "
                f"options scored by log-likelihood; {len(rows)} of the {len(run.test)} test reports "
                f"(seeded sample)")
        if cfg.heads_on_adapted:
            def merge():
                from cancerllm.train.merge import merge_adapter
                return {"merged": str(merge_adapter(cpt_run / "adapter", merged, base))}
            stage("merge", merge)
            info["heads-smollm2-cpt"] = stage("heads-smollm2-cpt",
                                              measured(run.train_heads("heads-smollm2-cpt", merged, cfg.heads)))
            stage("predict-heads-smollm2-cpt", measured(run.predict_heads("heads-smollm2-cpt", merged, batch)))
            systems["heads-smollm2-cpt"] = "the same heads on SmolLM2 after continued pre-training (adapter merged)"
    return score_and_report(run, stage.done, info)


def score_and_report(run: _Run, stages: dict, info: dict) -> Path:
    """Score every system's predictions (registry and mention-aware gold), write the report."""
    from cancerllm.baselines.staging_rules import extract_staging
    from cancerllm.evaluate.staging_report import write_staging_report
    cfg, test, out = run.cfg, run.test, run.out
    registry = [r["labels"] for r in test]
    mention = [mention_aware_gold(g, r["text"], extract_staging(r["text"])) for g, r in zip(registry, test)]
    info["mention_flips"] = {f: sum(1 for a, b in zip(registry, mention) if a[f] != b[f]) for f in cfg.fields}
    info["test_types"] = dict(Counter(r["cancer_type"] for r in test).most_common())
    by_id = {name: {row.pop("id"): row for row in read_jsonl(run.preds / f"{name}.jsonl")}
             for name in info["systems"]}
    full = [s for s in by_id if all(r["id"] in by_id[s] for r in test)]
    golds = {"registry": registry, "mention": mention}
    scores = score_all(test, golds, {s: [by_id[s][r["id"]] for r in test] for s in full},
                       cfg.fields, cfg.n_boot, cfg.seed, cfg.min_group_n)
    for variant, res in scores["variants"].items():
        write_staging_report(res, out / "staging" / variant)
    scores["subsets"] = {}
    for part in (s for s in by_id if s not in full):  # e.g. zero-shot on a sample: every system on that sample
        rows = [i for i, r in enumerate(test) if r["id"] in by_id[part]]
        sub = [test[i] for i in rows]
        scores["subsets"][part] = score_all(
            sub, {k: [g[i] for i in rows] for k, g in golds.items()},
            {s: [by_id[s][r["id"]] for r in sub] for s in [*full, part]}, cfg.fields, cfg.n_boot, cfg.seed,
            min_group_n=len(sub) + 1)
    atomic_write_json(out / "scores.json", {**scores, "info": info})
    atomic_write_json(out / "headline.json", headline(scores, stages, info))
    atomic_write_jsonl(out / "data" / "test_gold_mention.jsonl",
                       ({"id": r["id"], "registry": a, "mention": b} for r, a, b in zip(test, registry, mention)))
    return write_report(out, cfg, stages, scores, info)
