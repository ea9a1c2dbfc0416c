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

Gold variants. The labels are registry values, not annotations of the text:
- `registry`: the registry value wherever the registry has one (N for 205 of the 207
  test reports, M for 182; ER/PR/HER2 only on breast reports);
- `mention`: the same, except that a field the text never mentions counts as NR
  ("not reported"). A field is mentioned when the rule-based extractor found any
  candidate for it (including NR-valued ones such as "MX" or "pending"), OR the mention
  detector `MENTION_PATTERNS` below matches. The detector is deliberately lenient (a
  keyword list, not a parser): it errs towards keeping the registry value. T counts as
  mentioned only by an explicit T category (pT2, T2N0, "Pathological T") - a tumour size
  alone does not state T; N by an N category or any lymph-node wording (a node count
  states N); M by an M category or "distant metastasis"; ER/PR/HER2 by the marker's
  name or abbreviation.
Heads are trained on the registry labels (what a hospital would have), on train only.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import Field

from cancerllm.baselines.staging_classical import ClassicalConfig
from cancerllm.config import RECIPES_DIR, Config, load_config
from cancerllm.errors import ConfigError, InputError
from cancerllm.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, read_jsonl
from cancerllm.models.tiny import TinyModelConfig
from cancerllm.tasks.staging.schema import FINE, KEFELI_T_CLASSES, NR, to_coarse
from cancerllm.train.finetune import FinetuneConfig
from cancerllm.train.heads import HeadsTrainConfig
from cancerllm.train.heads_cached import CachedHeadsConfig
from cancerllm.train.pretrain import PretrainConfig

REPO = RECIPES_DIR.parent
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"
TCGA_FOLDER = "tcga_reports_kefeli_t14"
RECEPTOR_FIELDS = ("ER", "PR", "HER2")
BREAST = "BRCA"
ANCHOR = ("Kefeli et al. (Nat Commun 2024) report macro AUROC 0.945 for T1-T4 with Clinical-BigBird on these "
          "same 1,034 reports (their held-out test set), trained on ~8,500 other TCGA reports.")


# ---------------------------------------------------------------- config

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


# ---------------------------------------------------------------- gold: registry vs mention-aware

# A T (N) category may run on into the next one: "T2N0M0", "pT2pN1a".
_T = r"(?<![A-Za-z0-9])(?:[yra]?p|y|c)?T\s?(?:[0-4]|is|x)(?:mi|[a-d])?(?![A-LOQ-Za-loq-z0-9])"
_N = r"(?<![A-Za-z])(?:[yra]?p|y|c)?N\s?(?:[0-3]|x)(?:mi|[a-c])?(?![A-LN-OQ-Za-ln-oq-z0-9])"
_M = r"(?:(?<![A-Za-z])|(?<=N[0-3][a-c]))(?:[yra]?p|c)?M\s?(?:[01]|x)[a-c]?(?![A-Za-z0-9])"
# field -> [(pattern, flags)]; see the module docstring for what counts as a mention.
MENTION_PATTERNS: dict[str, list[tuple[str, int]]] = {
    "pT": [(_T, re.I), (r"(?<![A-Za-z])p?T[lIO](?![A-Za-z0-9])", 0),          # OCR: pTl, TO
           (r"primary\s+tumou?r\s*\(\s*p?T\s*\)|\bpT\s*(?:category|stage)|\bT\s*(?:category|stage)\b"
            r"|patholog\w*\s+T\b|\btumou?r\s+stage\b", re.I)],
    "pN": [(_N, re.I), (r"(?<![A-Za-z])p?N[O](?![A-Za-z0-9])", 0),
           (r"lymph\s*-?\s*nod|\bnod(?:e|es|al)\b|\bLNs?\b|sentinel|\bp?N\s*(?:category|stage)\b", re.I)],
    "M": [(_M, re.I), (r"(?<![A-Za-z])[pc]?M[O](?![A-Za-z0-9])", 0),
          (r"distant\s+metasta|\bpM\b|\bM\s*(?:category|stage)\b", re.I)],
    "ER": [(r"o?estrogen|\bER\b|\bER[+-]|\bE\.R\.", 0), (r"o?estrogen", re.I)],
    "PR": [(r"progesterone|\bPR\b|\bPR[+-]|\bPgR\b|\bP\.R\.", 0), (r"progesterone", re.I)],
    "HER2": [(r"\bher\s*-?\s*2|\bneu\b|erb\s*-?\s*b\s*-?\s*2|herceptest|c-erb", re.I)],
    "grade": [(r"\bgrade\b|differentiat|nottingham|\bG[1-4X]\b", re.I)],
}
_MENTION_RES = {f: [re.compile(p, fl) for p, fl in pats] for f, pats in MENTION_PATTERNS.items()}


def mentions(field: str, text: str) -> bool:
    """True when the mention detector finds the field named in `text` (module docstring)."""
    return any(rx.search(text) for rx in _MENTION_RES[field])


def mention_aware_gold(gold: dict, text: str, rules_result=None) -> dict:
    """Registry gold with every field that the text never mentions set to NR.

    A field is mentioned when the rule-based extractor found a candidate for it or the
    mention detector matches; unlabelled fields (None) stay None, NR stays NR.
    """
    if rules_result is None:
        from cancerllm.baselines.staging_rules import extract_staging
        rules_result = extract_staging(text)
    found = {c.field for c in rules_result.candidates}
    return {f: (NR if g is not None and g != NR and f not in found and not mentions(f, text) else g)
            for f, g in gold.items()}


# ---------------------------------------------------------------- data

def resolve_data_dir(data_dir: str | None) -> Path:
    path = Path(data_dir) if data_dir else DEFAULT_DATA_DIR
    if not (path / TCGA_FOLDER).is_dir():
        raise InputError(f"{path} has no {TCGA_FOLDER}/ folder: pass --data-dir (the folder holding "
                         f"{TCGA_FOLDER}, hallmarks_of_cancer, medical_abstracts_tc); default {DEFAULT_DATA_DIR}")
    return path


def registry_gold(record: dict, fields: list[str]) -> dict:
    """Labels where the registry has a value; None (unlabelled) elsewhere and for
    ER/PR/HER2 outside breast reports."""
    out = {}
    for f in fields:
        labelled = record["label_sources"].get(f) is not None
        if f in RECEPTOR_FIELDS and record["cancer_type"] != BREAST:
            labelled = False
        out[f] = record["labels"][f] if labelled else None
    return out


def prepare_tcga(data_dir: Path, out: Path, fields: list[str]) -> dict:
    """OUT/data/{train,dev,test}.jsonl (id, patient_id, cancer_type, text, labels = registry
    gold) and OUT/data/heads/train.jsonl (the heads' training input)."""
    from cancerllm.data.tcga import load_tcga_reports, split_records
    loaded = load_tcga_reports(data_dir / TCGA_FOLDER)
    splits = split_records(loaded.records)
    counts = {}
    for name, recs in splits.items():
        rows = [{"id": r["id"], "patient_id": r["patient_id"], "cancer_type": r["cancer_type"], "text": r["text"],
                 "labels": registry_gold(r, fields)} for r in recs]
        atomic_write_jsonl(out / f"{name}.jsonl", rows)
        counts[name] = len(rows)
    atomic_write_jsonl(out / "heads" / "train.jsonl", read_jsonl(out / "train.jsonl"))
    test = list(read_jsonl(out / "test.jsonl"))
    labelled = {f: dict(Counter(r["labels"][f] for r in test if r["labels"][f] is not None)) for f in fields}
    return {"counts": counts, "test_labels": labelled, "unmapped": dict(loaded.unmapped)}


def _detokenise(sentence_text: str) -> str:
    """HoC sentences are tokenised ("growth ( GHS-R ) ."); undo the spaces around punctuation."""
    text = re.sub(r"\s+([.,;:!?%)\]])", r"\1", sentence_text)
    return re.sub(r"([(\[])\s+", r"\1", text)


def corpus_documents(data_dir: Path, tcga_dir: Path, sources: CorpusSources):
    """(id, patient_id, text) of every corpus source; TCGA train reports only."""
    if sources.tcga_train:
        for r in read_jsonl(tcga_dir / "train.jsonl"):
            yield f"tcga:{r['id']}", r["patient_id"], r["text"]
    if sources.hallmarks_of_cancer:
        for r in read_jsonl(data_dir / "hallmarks_of_cancer" / "hoc.jsonl"):
            yield f"hoc:{r['pmid']}", "", _detokenise(" ".join(r["sentences"]))
    if sources.medical_abstracts != "none":
        csv.field_size_limit(2**31 - 1)
        with open(data_dir / "medical_abstracts_tc" / "medical_tc_test.csv", encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if sources.medical_abstracts == "all" or row["condition_label"].strip() == "1":
                    yield f"medtc:{i}", "", row["medical_abstract"]


def build_real_corpus(data_dir: Path, tcga_dir: Path, out: Path, sources: CorpusSources, seed: int) -> dict:
    """OUT/clean/train.jsonl (shuffled, de-duplicated corpus) and validation.jsonl (TCGA dev).

    The corpus module's cleaning and near-duplicate filter; not its patient partition:
    the TCGA split is fixed, and abstracts have no patients.
    """
    from cancerllm.data.corpus import NearDuplicateFilter, clean_text
    near = NearDuplicateFilter(sources.near_dup_threshold, 128, 5)
    seen: set[str] = set()
    kept, stats = [], Counter()
    for doc_id, patient, text in corpus_documents(data_dir, tcga_dir, sources):
        source = doc_id.split(":", 1)[0]
        text = clean_text(text)
        digest = hashlib.blake2b(" ".join(text.lower().split()).encode(), digest_size=16).hexdigest()
        if len(text) < 20 or digest in seen or near.seen(text):
            stats[f"{source}_dropped"] += 1
            continue
        seen.add(digest)
        stats[source] += 1
        stats[f"{source}_chars"] += len(text)
        kept.append({"id": doc_id, "patient_id": patient, "text": text})
    random.Random(seed).shuffle(kept)  # blocks are taken from the start: mix the sources
    atomic_write_jsonl(out / "clean" / "train.jsonl", kept)
    atomic_write_jsonl(out / "clean" / "validation.jsonl", (
        {"id": f"tcga:{r['id']}", "patient_id": r["patient_id"], "text": clean_text(r["text"])}
        for r in read_jsonl(tcga_dir / "dev.jsonl")))
    return dict(stats)


# ---------------------------------------------------------------- zero-shot with a chat model

ZS_OPTIONS = {"pT": KEFELI_T_CLASSES + [NR], "pN": ["N0", "N1", "N2", "N3", "NX", NR], "M": ["M0", "M1", NR],
              "grade": ["1", "2", "3", NR], "ER": ["positive", "negative", NR], "PR": ["positive", "negative", NR],
              "HER2": ["positive", "negative", "equivocal", NR]}
ZS_QUESTIONS = {
    "pT": "What is the pathologic primary tumor category (T, AJCC TNM) of this cancer?",
    "pN": "What is the pathologic regional lymph node category (N, AJCC TNM)?",
    "M": "What is the distant metastasis category (M, AJCC TNM)?",
    "grade": "What is the histologic grade?",
    "ER": "What is the estrogen receptor (ER) status?",
    "PR": "What is the progesterone receptor (PR) status?",
    "HER2": "What is the HER2 status?",
}


def _zs_option_text(label: str) -> str:
    return "not reported" if label == NR else label


def zs_question(field: str) -> str:
    options = ", ".join(_zs_option_text(x) for x in ZS_OPTIONS[field])
    return f"{ZS_QUESTIONS[field]} Answer with exactly one of: {options}."


def _chat_zero_shot_class():
    from cancerllm.baselines.zero_shot import ZeroShotStaging

    class ChatZeroShot(ZeroShotStaging):
        """Zero-shot for an instruction-tuned model: its chat template, coarse options.

        The user turn is "Pathology report:\\n<report>\\n\\n<question>", so the report's
        keys and values are computed once per report (KV cache) and each field only adds
        its question and the options (label + end-of-turn token, scored by summed log
        probability, as in the parent class). Context: the parent's rule (sections
        reordered, cut to `max_context_tokens`).
        """

        def __init__(self, model_dir, fields, **kwargs):
            super().__init__(model_dir, fields=fields, **kwargs)
            tok = self.tokenizer
            if not getattr(tok, "chat_template", None):
                raise ConfigError(f"{model_dir}: zero_shot.prompt=chat needs a tokenizer with a chat template; "
                                  "use zero_shot.prompt=template")
            rendered = tok.apply_chat_template([{"role": "user", "content": "\x00"}], tokenize=False,
                                               add_generation_prompt=True)
            self.head, self.tail = rendered.split("\x00")
            end = tok.convert_tokens_to_ids(tok.eos_token)
            self.options = {f: [self._ids(_zs_option_text(x)) + [end] for x in ZS_OPTIONS[f]] for f in fields}

        def predict_fields(self, text: str, fields: list[str]) -> dict[str, dict]:
            import torch
            context = self._context(text)
            device = next(self.model.parameters()).device
            prefix = self._ids(self.head + "Pathology report:\n" + context)
            row = {}
            with torch.no_grad():
                cache = self.model(input_ids=torch.tensor([prefix], device=device), use_cache=True).past_key_values
                for f in fields:
                    q = self._ids("\n\n" + zs_question(f) + self.tail)
                    q_out = self.model(input_ids=torch.tensor([q], device=device), past_key_values=cache,
                                       use_cache=True)
                    first = torch.log_softmax(q_out.logits[0, -1].float(), -1)
                    cands = self.options[f]
                    width = max(len(c) for c in cands)
                    ids = torch.tensor([c + [c[-1]] * (width - len(c)) for c in cands], device=device)
                    branch = copy.deepcopy(cache)
                    branch.batch_repeat_interleave(len(cands))
                    logp = torch.log_softmax(self.model(input_ids=ids, past_key_values=branch,
                                                        use_cache=True).logits.float(), -1)
                    scores = [float(first[c[0]] + sum(logp[b, j - 1, c[j]] for j in range(1, len(c))))
                              for b, c in enumerate(cands)]
                    cache.crop(-len(q))  # back to the report prefix
                    probs = torch.softmax(torch.tensor(scores, dtype=torch.float64), 0).tolist()
                    best = max(range(len(scores)), key=scores.__getitem__)
                    row[f] = {"label": ZS_OPTIONS[f][best], "probs": dict(zip(ZS_OPTIONS[f], probs))}
            return row

    return ChatZeroShot


def fields_for(record: dict, fields: list[str]) -> list[str]:
    """The fields scored on a report: receptors only on breast reports."""
    return [f for f in fields if f not in RECEPTOR_FIELDS or record["cancer_type"] == BREAST]


def zero_shot_predictions(model_dir: Path, records: list[dict], fields: list[str], zs: ZeroShotSettings) -> list[dict]:
    if zs.prompt == "chat":
        model = _chat_zero_shot_class()(model_dir, fields, dtype=zs.dtype, max_context_tokens=zs.max_context_tokens)
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


# ---------------------------------------------------------------- scoring

def t14_scores(gold: list[str | None], pred: list[str], probs: list[dict | None] | None, weights) -> dict:
    """Kefeli's task: macro F1 over exactly T1-T4 (an NR/Tis/TX prediction is a miss), and
    one-vs-rest macro AUROC from the T1-T4 probabilities when a system has them."""
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    from cancerllm.evaluate.staging_report import bootstrap_macro_f1
    coarse = [to_coarse("pT", g) if g is not None else None for g in gold]  # T1b, T4a ... -> T1, T4
    rows = [i for i, g in enumerate(coarse) if g in KEFELI_T_CLASSES]
    g = [coarse[i] for i in rows]
    p = [to_coarse("pT", pred[i]) for i in rows]
    w = weights[:, rows]
    # Classes of T1-T4 present in gold or prediction (a subset may lack T4), as in the bootstrap.
    present = [c for c in KEFELI_T_CLASSES if c in set(g) | set(p)]
    out = {"n": len(rows), "labels": present,
           "macro_f1": 100 * float(f1_score(g, p, labels=present, average="macro", zero_division=0))}
    boots = bootstrap_macro_f1(g, p, present, w)
    out["ci_low"], out["ci_high"] = float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))
    out["_boots"] = boots
    if probs is not None and all(probs[i] for i in rows):
        mat = np.array([[sum(v for k, v in probs[i].items() if k != NR and to_coarse("pT", k) == c)
                         for c in KEFELI_T_CLASSES] for i in rows])
        mat = mat / np.clip(mat.sum(1, keepdims=True), 1e-12, None)
        y = np.array([KEFELI_T_CLASSES.index(x) for x in g])
        out["auroc"] = None
        if len(set(y)) == 4:  # one-vs-rest AUROC needs every class in the gold
            out["auroc"] = float(roc_auc_score(y, mat, multi_class="ovr", average="macro", labels=[0, 1, 2, 3]))
        aucs = []
        for counts in w if out["auroc"] is not None else []:
            idx = np.repeat(np.arange(len(rows)), counts.astype(int))
            if len(set(y[idx])) == 4:
                aucs.append(roc_auc_score(y[idx], mat[idx], multi_class="ovr", average="macro", labels=[0, 1, 2, 3]))
        if aucs:
            out["auroc_ci"] = [float(np.percentile(aucs, 2.5)), float(np.percentile(aucs, 97.5))]
    return out


def score_all(test: list[dict], gold_variants: dict[str, list[dict]], systems: dict[str, list[dict]],
              fields: list[str], n_boot: int, seed: int, min_group_n: int) -> dict:
    """Scores per gold variant (score_systems), the T1-T4 anchor, per cancer type, paired deltas."""
    import numpy as np

    from cancerllm.evaluate.staging_report import score_systems
    # Prediction rows are {field: {"label", "probs"?}}; a field a system did not predict is NR.
    labels = {s: [{f: (p.get(f) or {}).get("label", NR) for f in fields} for p in preds]
              for s, preds in systems.items()}
    t_probs = {s: [(p.get("pT") or {}).get("probs") for p in preds] for s, preds in systems.items()}
    result: dict = {"variants": {}, "t14": {}, "by_cancer_type": {}, "deltas": {}}
    for variant, gold in gold_variants.items():
        result["variants"][variant] = score_systems(gold, labels, fields=fields, n_boot=n_boot, seed=seed)
    rng = np.random.default_rng(seed)
    n = len(test)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    gold_t = [g.get("pT") for g in gold_variants["registry"]]
    for s in systems:
        probs = t_probs[s] if any(t_probs[s]) else None
        result["t14"][s] = t14_scores(gold_t, [x["pT"] for x in labels[s]], probs, weights)
    pairs = [("heads-smollm2", "heads-smollm2-cpt"), ("heads-tiny", "heads-smollm2")]
    for a, b in pairs:
        if a in result["t14"] and b in result["t14"]:
            diff = result["t14"][b]["_boots"] - result["t14"][a]["_boots"]
            result["deltas"][f"{b} - {a}"] = {
                "t14_macro_f1": result["t14"][b]["macro_f1"] - result["t14"][a]["macro_f1"],
                "ci_low": float(np.percentile(diff, 2.5)), "ci_high": float(np.percentile(diff, 97.5))}
    for s in result["t14"]:
        result["t14"][s].pop("_boots")
    types = Counter(r["cancer_type"] for r in test)
    for ctype, count in sorted(types.items(), key=lambda kv: -kv[1]):
        if count < min_group_n:
            continue
        rows = [i for i, r in enumerate(test) if r["cancer_type"] == ctype]
        sub_gold = [gold_variants["registry"][i] for i in rows]
        sub = score_systems(sub_gold, {s: [labels[s][i] for i in rows] for s in systems}, fields=fields,
                            n_boot=n_boot, seed=seed)
        sub_w = np.random.default_rng(seed).multinomial(len(rows), np.full(len(rows), 1.0 / len(rows)),
                                                         size=n_boot).astype(float)
        t14 = {s: t14_scores([gold_t[i] for i in rows], [labels[s][i]["pT"] for i in rows],
                             [t_probs[s][i] for i in rows] if any(t_probs[s]) else None, sub_w)
               for s in systems}
        for v in t14.values():
            v.pop("_boots")
        result["by_cancer_type"][ctype] = {"n": count, "t14": t14, "scores": sub}
    return result


# ---------------------------------------------------------------- the headline: one entry per system

# A system's name in this run -> its key in headline.json (the issue's names; the heads'
# mode is the suffix: lora = LoRA-tuned encoder, cached = frozen encoder, cached features).
HEADLINE_KEYS = {"rules": "rules", "cancer_type_prior": "cancer_type_prior", "classical": "classical",
                 "zero-shot-smollm2": "zero_shot", "heads-smollm2": "multitask_heads_lora",
                 "heads-smollm2-cpt": "multitask_heads_lora_cpt", "heads-tiny": "multitask_heads_lora_tiny",
                 "heads-cached-smollm2": "multitask_heads_cached",
                 "single-heads-cached-smollm2": "single_task_heads_cached"}
# Stages a system needs besides its own (`NAME`) and its prediction stage (`predict-NAME`).
SHARED_STAGES = {"heads-cached-smollm2": ["encode-smollm2"], "single-heads-cached-smollm2": ["encode-smollm2"]}


def system_cost(name: str, stages: dict) -> dict:
    """Seconds and peak RSS (MB) of the stages that make a system (training + prediction)."""
    own = [s for s in (name, f"predict-{name}", *SHARED_STAGES.get(name, [])) if s in stages]
    peaks = [(stages[s].get("result") or {}).get("rss_peak_mb") or stages[s].get("peak_rss_mb") for s in own]
    return {"stages": own, "seconds": round(sum(stages[s]["seconds"] for s in own), 1),
            "peak_rss_mb": max((p for p in peaks if p is not None), default=None)}


def headline(scores: dict, stages: dict, info: dict) -> dict:
    """runs/real/headline.json: per system, per field {macro_f1, ci_low, ci_high, n} (coarse,
    registry gold, test split), T_auroc (T1-T4 one-vs-rest macro), seconds and peak RSS.

    A system run on a sample (zero-shot) is scored on that sample: `n_reports` says so.
    """
    reg = scores["variants"]["registry"]
    out = {"split": "test", "gold": "registry", "metric": reg["metric"], "ci": reg["ci"], "n_boot": reg["n_boot"],
           "anchor": {"system": "Kefeli et al. Clinical-BigBird", "T_auroc": 0.945, "note": ANCHOR}, "systems": {}}
    for name in info["systems"]:
        if name in reg["systems"]:
            res, t14, n_rep = reg, scores["t14"][name], reg["n_reports"]
        elif name in scores.get("subsets", {}):
            sub = scores["subsets"][name]
            res, t14, n_rep = sub["variants"]["registry"], sub["t14"][name], sub["variants"]["registry"]["n_reports"]
        else:
            continue
        fields = res["systems"][name]["fields"]
        entry = {f: {k: d["coarse"][k] for k in ("macro_f1", "ci_low", "ci_high", "n")} for f, d in fields.items()}
        entry.update({"T_auroc": t14.get("auroc"), "T_auroc_ci": t14.get("auroc_ci"), "T14_macro_f1": t14["macro_f1"],
                      "n_reports": n_rep, **system_cost(name, stages), "run_name": name})
        out["systems"][HEADLINE_KEYS.get(name, name)] = entry
    return out


# ---------------------------------------------------------------- report

def _cell(d: dict | None) -> str:
    if not d or d.get("macro_f1") is None:
        return "–"
    ci = f" [{d['ci_low']:.1f}, {d['ci_high']:.1f}]" if d.get("ci_low") is not None else ""
    return f"{d['macro_f1']:.1f}{ci}"


def _field_table(result: dict, fields: list[str], key: str = "coarse") -> list[str]:
    head = ["| system | " + " | ".join(fields) + " |", "|---" * (len(fields) + 1) + "|"]
    any_sys = next(iter(result["systems"].values()))
    ns = " | ".join(f"n={any_sys['fields'][f]['n']} ({any_sys['fields'][f]['n_reported']} reported)"
                    for f in fields)
    rows = [f"| *labelled reports* | {ns} |"]
    for name, s in result["systems"].items():
        rows.append(f"| {name} | " + " | ".join(_cell(s["fields"][f][key]) for f in fields) + " |")
    return head + rows


def _t14_table(t14: dict) -> list[str]:
    lines = ["| system | T1–T4 macro F1 | macro AUROC (one-vs-rest) | n |", "|---|---|---|---:|"]
    for name, t in t14.items():
        auc = "–" if t.get("auroc") is None else f"{t['auroc']:.3f}" + (
            f" [{t['auroc_ci'][0]:.3f}, {t['auroc_ci'][1]:.3f}]" if t.get("auroc_ci") else "")
        lines.append(f"| {name} | {_cell(t)} | {auc} | {t['n']} |")
    return lines


def _settings_lines(cfg: RealConfig, info: dict) -> list[str]:
    """What each stage was capped to (the CPU budget), from the resolved recipe and stage results."""
    lines = ["## Settings (CPU caps)", ""]
    if cfg.tiny is not None:
        t, h = cfg.tiny, info.get("heads-tiny", {})
        lines.append(f"- tiny base: tokenizer {t.vocab_size} tokens, {t.model.num_hidden_layers} layers × "
                     f"{t.model.hidden_size}, full pre-training on {t.pretrain.max_train_blocks} blocks × "
                     f"{cfg.corpus.block_size} tokens; heads: {t.heads.model.max_chunks} window(s) of "
                     f"{t.heads.model.max_length} tokens, {t.heads.train.num_train_epochs:g} epochs "
                     f"({h.get('global_step')} steps, train loss {_num(h.get('train_loss'))}).")
    if cfg.base:
        h, c = info.get("heads-smollm2", {}), info.get("cpt", {})
        lines.append(f"- SmolLM2 continued pre-training: LoRA r={cfg.pretrain.lora.r if cfg.pretrain.lora else '-'} "
                     f"({cfg.pretrain.lora.target_modules if cfg.pretrain.lora else 'full'}), "
                     f"{c.get('blocks')} blocks × {cfg.corpus.block_size} tokens ({c.get('tokens')} tokens, "
                     f"{100 * c.get('share', 0):.1f} % of the {c.get('corpus_blocks')}-block corpus), "
                     f"{c.get('global_step')} steps; train loss {_num(c.get('train_loss'))}, "
                     f"loss on TCGA dev {_num(c.get('eval_loss'))}.")
        if not cfg.lora_heads:
            lines.append("- SmolLM2 LoRA heads: not run (`lora_heads: false`, the CPU budget); on a GPU, "
                         "`benchmarks/bench_heads_lora_gpu.py` trains them on whole reports.")
        else:
            lines.append(f"- SmolLM2 LoRA heads: LoRA on `{cfg.heads.model.lora.target_modules}`, "
                         f"{cfg.heads.model.max_chunks} window(s) of {cfg.heads.model.max_length} tokens, "
                         f"{cfg.heads.train.num_train_epochs:g} epoch(s) ({h.get('global_step')} steps, "
                         f"train loss {_num(h.get('train_loss'))}).")
        enc = info.get("encode-smollm2")
        if cfg.heads_cached is not None and enc:
            lines.append(f"- heads on cached features: {enc['reports']} reports (train, dev, test) in "
                         f"{enc['windows_kept']} windows of up to {cfg.heads_cached.max_length} tokens; share of report "
                         f"tokens seen {100 * enc['share_tokens_seen']:.1f} % ({enc['reports_cut']} reports cut, "
                         f"{enc['windows_needed'] - enc['windows_kept']} windows dropped; longest report "
                         f"{enc['max_windows_per_report']} windows); first {cfg.heads_cached.encoder_layers} layers.")
            for name in ("heads-cached-smollm2", "single-heads-cached-smollm2"):
                for g in (info.get(name) or {}).get("chosen", []):
                    lines.append(f"  - {name} {'/'.join(g['fields'])}: layer {g['layer']}, {g['pooling']} pooling, "
                                 f"lr {g['lr']:g}, {g['epochs']} epochs (dev macro F1 {g['dev_score']:.1f})")
        if cfg.zero_shot is not None:
            lines.append(f"- zero-shot: {cfg.zero_shot.prompt} prompt, first {cfg.zero_shot.max_context_tokens} "
                         f"tokens of each report, {cfg.zero_shot.limit or 'all'} test reports.")
    p = cfg.perplexity
    lines.append(f"- perplexity: first {p.max_tokens or 'all'} tokens of each test report, window {p.window}, "
                 f"stride {p.stride}, dtype {p.dtype or 'float32'}.")
    return lines + [""]


FIELD_TITLES = {"pT": "T", "pN": "N"}


def _staging_table(head: dict, fields: list[str]) -> list[str]:
    """The one staging table: every system, macro F1 [95 % CI] per field, T1-T4 AUROC, cost."""
    cols = [FIELD_TITLES.get(f, f) for f in fields]
    lines = ["| system | " + " | ".join(cols) + " | T1–T4 AUROC | reports | seconds | peak RSS (MB) |",
             "|---" * (len(fields) + 1) + "|---:|---:|---:|---:|"]
    any_sys = next(iter(head["systems"].values()), None)
    if any_sys:
        lines.append("| *labelled test reports (n)* | " + " | ".join(str(any_sys[f]["n"]) for f in fields)
                     + " | | | | |")
    for key, e in head["systems"].items():
        auc = "–" if e["T_auroc"] is None else f"{e['T_auroc']:.3f}" + (
            f" [{e['T_auroc_ci'][0]:.3f}, {e['T_auroc_ci'][1]:.3f}]" if e.get("T_auroc_ci") else "")
        mem = "–" if e["peak_rss_mb"] is None else f"{e['peak_rss_mb']:.0f}"
        lines.append(f"| {key} | " + " | ".join(_cell(e[f]) for f in fields)
                     + f" | {auc} | {e['n_reports']} | {e['seconds']:.0f} | {mem} |")
    return lines


def _confusions(result: dict, fields: list[str]) -> list[str]:
    """Coarse confusion matrices (registry gold) per system for T and N, rows gold."""
    lines = []
    for f in [f for f in ("pT", "pN") if f in fields]:
        for name, s in result["systems"].items():
            conf = s["fields"][f]["coarse"].get("confusion")
            if not conf:
                continue
            labs = conf["labels"]
            lines += [f"{FIELD_TITLES.get(f, f)}, **{name}** (rows gold, columns predicted):", "",
                      "| gold \\ pred | " + " | ".join(labs) + " |", "|---" * (len(labs) + 1) + "|"]
            lines += [f"| {g} | " + " | ".join(str(v) for v in row) + " |" for g, row in zip(labs, conf["matrix"])]
            lines.append("")
    return lines


def _num(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def write_report(out: Path, cfg: RealConfig, stages: dict, scores: dict, info: dict) -> Path:
    fields = cfg.fields
    reg, men = scores["variants"]["registry"], scores["variants"]["mention"]
    total = sum(s["seconds"] for s in stages.values())
    counts = info["data"]["counts"]
    lines = ["# Real data: TCGA pathology reports, cancer abstracts, SmolLM2-135M", "",
             f"Recipe `{info['recipe']}`; TCGA T14 reports in the package's fixed patient split "
             f"(train {counts['train']}, dev {counts['dev']}, test {counts['test']}); every system is scored on "
             "the **test** split; nothing was tuned on it (nor on dev). Macro F1 ×100 with 95 % percentile "
             f"bootstrap CIs ({cfg.n_boot} resamples over reports, seed {cfg.seed}).", "",
             f"Total run time {total / 60:.1f} min on this machine (stages below).", ""]
    head = headline(scores, stages, info)
    lines += ["## The staging table", "",
              "Test split, registry gold, coarse macro F1 ×100 [95 % bootstrap CI] per field (NR a class; "
              "n = labelled reports; ER/PR/HER2 on breast reports only), T1–T4 one-vs-rest macro AUROC [CI] "
              "where a system gives probabilities; seconds and peak resident memory of the stages that train "
              "and run the system (peak RSS includes what the process already held). The same numbers are in "
              "`headline.json`. A system with fewer reports ran on a seeded sample: compare it with the other "
              "systems on that sample (below).", "", *_staging_table(head, fields), "",
              f"Published anchor: {ANCHOR} Training sizes differ: our trained systems see the {counts['train']} "
              f"train reports (the classical systems also {counts['dev']} dev reports after choosing their "
              f"settings on them), about a tenth of Kefeli's; their test set is all 1,034 reports, ours the "
              f"{reg['n_reports']} of them in our test split, so our AUROC CI is wide.", ""]
    lines += _settings_lines(cfg, info)
    if info.get("perplexity"):
        lines += ["## Domain adaptation: perplexity on the TCGA test reports", "",
                  "| model | perplexity | bits/byte | predicted tokens | texts | dtype | seconds |",
                  "|---|---:|---:|---:|---:|---|---:|"]
        for name, p in info["perplexity"].items():
            lines.append(f"| {name} | {p['perplexity']:.2f} | {p['bits_per_byte']:.3f} | {p['n_predicted']} | "
                         f"{p['n_texts']} | {p['dtype']} | {p['seconds']:.0f} |")
        lines += ["", "Perplexity per token compares only models sharing a tokenizer (SmolLM2 before/after); "
                  "bits per byte compares the tiny model too.", ""]
    lines += ["## Staging on the TCGA test reports", "",
              "Coarse macro F1 (NR included as a class), per field; n = reports with a registry value "
              "(ER/PR/HER2: breast reports only). Registry gold:", "", *_field_table(reg, fields), "",
              "Mention-aware gold (a field the text never mentions counts as NR; rule in docs/real-data.md):",
              "", *_field_table(men, fields), "",
              "Gold values turned into NR by the mention rule: "
              + ", ".join(f"{f} {n}" for f, n in info["mention_flips"].items()) + ".", "",
              "Reported-only variant (reports whose gold is not NR; NR is not averaged, a predicted NR is a "
              "miss), registry gold:", "", *_field_table(reg, fields, "reported"), ""]
    lines += ["## The anchor: T1–T4", "", ANCHOR, "", *_t14_table(scores["t14"]), "",
              f"How this differs from the anchor: (1) our test set is {reg['n_reports']} of their 1,034 reports and "
              f"our heads train on {counts['train']} of the same 1,034, not on ~8,500 other reports (about 14× less "
              "data); (2) macro F1 counts hard decisions (an abstention - NR, Tis, TX - is a miss) while AUROC "
              "ranks probabilities and is usually much higher than macro F1 for the same model; we give AUROC for "
              f"the systems with probabilities, on {reg['n_reports']} reports, so its CI is wide; (3) "
              "Clinical-BigBird reads 2,048 tokens and was fine-tuned fully; our heads on cached features read "
              "every report whole but through a frozen encoder (its first layers only, settings above), the "
              "classical system reads whole reports as n-grams; (4) the rule-based extractor has no "
              "probabilities and no training.", ""]
    if scores["deltas"]:
        lines += ["Downstream effect (paired bootstrap on the same resamples, T1–T4 macro F1):", ""]
        lines += [f"- {k}: {d['t14_macro_f1']:+.1f} [{d['ci_low']:+.1f}, {d['ci_high']:+.1f}]"
                  for k, d in scores["deltas"].items()]
        lines.append("")
    for part, sub in scores.get("subsets", {}).items():
        r = sub["variants"]["registry"]
        lines += [f"## Every system on the {part} sample (n = {r['n_reports']} test reports)", "",
                  "Registry gold, coarse macro F1:", "", *_field_table(r, fields), "",
                  "Mention-aware gold:", "", *_field_table(sub["variants"]["mention"], fields), "",
                  "T1–T4:", "", *_t14_table(sub["t14"]), ""]
    lines += ["## Confusion matrices (T, N)", "", *_confusions(reg, fields)]
    lines += [f"## Per cancer type (n ≥ {cfg.min_group_n} in the test split)", ""]
    if not scores["by_cancer_type"]:
        lines.append("No cancer type reaches the threshold.")
    for ctype, d in scores["by_cancer_type"].items():
        lines += [f"**{ctype}** (n = {d['n']}), registry gold, coarse macro F1; T1–T4 column = Kefeli task:", "",
                  "| system | T1–T4 | " + " | ".join(fields) + " |", "|---" * (len(fields) + 2) + "|"]
        for name, s in d["scores"]["systems"].items():
            lines.append(f"| {name} | {_cell(d['t14'][name])} | "
                         + " | ".join(_cell(s["fields"][f]["coarse"]) for f in fields) + " |")
        lines.append("")
    small = {k: v for k, v in info["test_types"].items() if v < cfg.min_group_n}
    lines += ["Types below the threshold (test n): " + ", ".join(f"{k} {v}" for k, v in small.items()) + ".", ""]
    lines += ["## Systems", ""] + [f"- **{k}**: {v}" for k, v in info["systems"].items()]
    lines += ["", "## Stages", "", "| stage | seconds | peak RSS (MB) |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['seconds']:.1f} | {v['peak_rss_mb']:.0f} |" for k, v in stages.items()]
    lines += [f"| **total** | **{total:.1f}** | |", "",
              "Files: `scores.json` (everything above, with label lists and confusion matrices), "
              "`staging/{registry,mention}/staging_report.md`, `predictions/*.jsonl`, `perplexity/*.json`.", ""]
    return atomic_write_text(out / "report.md", "\n".join(lines))


# ---------------------------------------------------------------- the driver

# stage -> (upstream stages, recipe keys it reads). A rerun redoes a stage when a key it
# or an upstream stage reads has changed since the run that produced it (resume is only
# safe for unchanged settings); its output folder is deleted first, so that a training
# stage does not resume from a checkpoint of other settings. Code changes are not tracked.
STAGE_INPUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "data": ((), ("data_dir", "fields")),
    "corpus": (("data",), ("corpus", "seed")),
    "rules": (("data",), ("limit",)),
    "cancer_type_prior": (("data",), ("classical", "limit")),
    "classical": (("data",), ("classical", "limit")),
    "tiny_tokenizer": (("corpus",), ("tiny.vocab_size",)),
    "tiny_init": (("tiny_tokenizer",), ("tiny.model",)),
    "tiny_pack": (("tiny_init",), ()),
    "tiny_base": (("tiny_pack",), ("tiny.pretrain",)),
    "ppl_tiny": (("tiny_base",), ("perplexity", "limit")),
    "heads-tiny": (("tiny_base",), ("tiny.heads",)),
    "predict-heads-tiny": (("heads-tiny",), ("limit",)),
    "smollm2_pack": (("corpus",), ("base",)),
    "ppl_base": (("data",), ("base", "perplexity", "limit")),
    "cpt": (("smollm2_pack",), ("pretrain",)),
    "ppl_adapted": (("cpt",), ("perplexity", "limit")),
    "encode-smollm2": (("data",), ("base", "heads_cached", "limit")),
    "heads-cached-smollm2": (("encode-smollm2",), ("heads_cached", "fields")),
    "single-heads-cached-smollm2": (("encode-smollm2",), ("heads_cached", "fields")),
    "heads-smollm2": (("data",), ("base", "heads")),
    "predict-heads-smollm2": (("heads-smollm2",), ("limit",)),
    "zero-shot-smollm2": (("data",), ("base", "zero_shot", "limit", "seed")),
    "merge": (("cpt",), ()),
    "heads-smollm2-cpt": (("merge",), ("heads",)),
    "predict-heads-smollm2-cpt": (("heads-smollm2-cpt",), ("limit",)),
}
STAGE_DIRS = {"data": "data", "corpus": "corpus", "tiny_tokenizer": "tiny/tokenizer", "tiny_init": "tiny/init",
              "tiny_pack": "corpus/packed-tiny", "tiny_base": "tiny/base", "smollm2_pack": "corpus/packed-smollm2",
              "cpt": "smollm2/cpt", "merge": "smollm2/merged", "heads-tiny": "heads/heads-tiny",
              "heads-smollm2": "heads/heads-smollm2", "heads-smollm2-cpt": "heads/heads-smollm2-cpt"}


def _lookup(cfg: dict | None, dotted: str):
    for part in dotted.split("."):
        cfg = cfg.get(part) if isinstance(cfg, dict) else None
    return cfg


def stage_keys(cfg: dict | None) -> dict[str, str]:
    """A hash per stage of the settings it depends on (its own and its upstream stages')."""
    keys: dict[str, str] = {}
    for name, (upstream, paths) in STAGE_INPUTS.items():
        parts = [keys[u] for u in upstream] + [json.dumps(_lookup(cfg, p), sort_keys=True) for p in paths]
        keys[name] = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return keys


def forget_stale_stages(out: Path, cfg: RealConfig) -> list[str]:
    """Drop the stages of OUT whose settings differ from `cfg` (and their folders).

    Compares with OUT/config.yaml, the settings of the run that produced OUT's stages;
    call it before `start_run` overwrites that file.
    """
    import shutil

    import yaml
    saved = out / "config.yaml"
    if not saved.is_file():
        return []
    old = stage_keys(yaml.safe_load(saved.read_text(encoding="utf-8")))
    new = stage_keys(yaml.safe_load(cfg.to_yaml()))
    stale = [s for s in STAGE_INPUTS if old[s] != new[s]]
    path = out / "stages.json"
    done = json.loads(path.read_text()) if path.is_file() else {}
    for name in stale:
        done.pop(name, None)
        if name in STAGE_DIRS and (out / STAGE_DIRS[name]).exists():
            shutil.rmtree(out / STAGE_DIRS[name])
    if stale:
        atomic_write_json(path, done)
        print(f"[real] settings changed since the last run in {out}; redoing: {', '.join(stale)}", flush=True)
    return stale


def measured(fn):
    """`fn` with its peak resident memory recorded: RSS sampled every 50 ms while it runs.

    Why: StageRunner's `peak_rss_mb` is the process's peak so far (it never goes down), so
    it cannot tell systems apart; this is the peak *during* the stage (it still includes
    what the process held before: `rss_start_mb`).
    """
    def run():
        import psutil
        proc = psutil.Process()
        start = peak = proc.memory_info().rss
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, proc.memory_info().rss)
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            result = fn() or {}
        finally:
            done.set()
            thread.join()
        peak = max(peak, proc.memory_info().rss)
        return {**result, "rss_start_mb": round(start / 2**20, 1), "rss_peak_mb": round(peak / 2**20, 1)}
    return run


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

    def features(self, base: Path) -> tuple[dict[str, list], dict]:
        """Cached window features of train, dev and test (OUT/features/<base>; encoded once)."""
        from cancerllm.train.heads_cached import encode_cached
        splits = {"train": list(read_jsonl(self.tcga / "train.jsonl")), "dev": list(read_jsonl(self.tcga / "dev.jsonl")),
                  "test": self.test}
        texts = [r["text"] for s in splits.values() for r in s]
        feats, coverage = encode_cached(base, texts, self.out / "features" / base.name, self.cfg.heads_cached)
        out, start = {}, 0
        for name, recs in splits.items():
            out[name] = feats[start:start + len(recs)]
            start += len(recs)
        return {"records": splits, "features": out}, coverage

    def cached_heads(self, name: str, base: Path, single_task: bool):
        """Heads on cached features: layer, pooling, lr, epochs chosen on dev; trained on train."""
        def run():
            from cancerllm.train.heads_cached import CachedHeadsModel
            data, coverage = self.features(base)
            recs, feats = data["records"], data["features"]
            t0 = time.perf_counter()
            model = CachedHeadsModel.fit(feats["train"], recs["train"], feats["dev"], recs["dev"], self.cfg.fields,
                                         self.cfg.heads_cached, single_task, str(base))
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
    from cancerllm.runs import StageRunner, start_run
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
                                f"n-grams + rule findings (+ tumour size bin, cancer type) -> a logistic regression "
                                f"per field, balanced class weights, C per field chosen on dev from {c.C_grid}, "
                                f"refitted on {refit} (cancerllm.baselines.staging_classical)")

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
            info["heads-cached-smollm2"] = stage("heads-cached-smollm2",
                                                 measured(run.cached_heads("heads-cached-smollm2", base, False)))
            what = (f"frozen SmolLM2, first {hc.encoder_layers} of its layers, every report whole in windows of "
                    f"{hc.max_length} tokens (overlap {hc.overlap}), mean-pooled hidden states cached; layer "
                    f"{hc.feature_layers}, window pooling {hc.pooling_grid}, lr {hc.lr_grid}, epochs "
                    f"{hc.epochs_grid} chosen on dev")
            systems["heads-cached-smollm2"] = f"multi-task heads on cached features: {what}"
            if hc.single_task:
                info["single-heads-cached-smollm2"] = stage(
                    "single-heads-cached-smollm2", measured(run.cached_heads("single-heads-cached-smollm2", base, True)))
                systems["single-heads-cached-smollm2"] = f"single-task heads (one per field) on cached features: {what}"
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
