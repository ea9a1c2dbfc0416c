"""Exact Match, BLEU-2 and ROUGE-L per instance and averaged, as the paper reports them.

Two modes, named so nobody mixes their numbers up:

`reference` (default) reproduces the authors' public evaluation, the contract in
docs/metrics.md, so a hospital can set its numbers beside Tables 2-4:
- tokens: `normalize.reference_tokens` (punctuation deleted, Porter stems via nltk);
- exact_match: normalised token lists equal;
- bleu2: the COCO caption scorer's sentence BLEU with n = 2, *including* its constants
  (matched + 1e-15) / (total + 1e-9) and its brevity penalty on padded lengths. So a
  one-word answer, having no bigrams, scores about 0.001 even when right ("left" vs
  "left"). Hand-written: no maintained library reproduces these constants (pycocoevalcap
  is unmaintained and needs Java for other metrics); tests check it against values
  computed by hand from pycocoevalcap's formula;
- rouge_l: longest common subsequence, P = LCS/len(pred), R = LCS/len(ref),
  F = (1 + b^2)PR / (R + b^2 P) with b = 1.2 (the COCO ROUGE-L formula; the LCS length
  comes from rapidfuzz, the formula is hand-written);
- rouge1_set: the same formula on the overlap of the two token *sets* (what the
  published script actually calls, under the name ROUGE);
- per instance, precision = recall = F1 = the metric value: the reference computes
  P/R/F1 over lists of answers, and each list holds one string.

`standard` is a better-founded variant built on maintained libraries, for readers who
compare with other work rather than with the paper:
- tokens: rouge-score's tokeniser with stemming (punctuation separates tokens, so
  "pr,er" and "pr, er" agree; stems only tokens longer than 3 characters);
- exact_match: those token lists equal;
- bleu2: sacrebleu sentence BLEU, max n-gram order 2, effective order, exponential
  smoothing, on those tokens ("left" vs "left" = 1.0); P = R = F1 = BLEU, because BLEU
  is a precision with a length penalty and has no separate recall;
- rouge_l: rouge-score's ROUGE-L, with its own precision, recall and F-measure (b = 1);
- rouge1_set: set overlap with its own precision, recall and F1 (b = 1).
Its libraries (sacrebleu, rouge-score) are main dependencies.

Both modes: gold and prediction both empty after normalisation -> 1.0 for every metric;
exactly one empty -> 0.0. Aggregates are the mean over instances x 100, two decimals
(sums with math.fsum, so the order of instances cannot change a score), and
`average_f1` is the mean of the EM, BLEU-2 and ROUGE-L F1.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import LCSseq

from cancerllm.errors import ConfigError, InputError, RecordError
from cancerllm.evaluate.normalize import reference_tokens, standard_tokens
from cancerllm.io import markdown_table

MODES = ("reference", "standard")
METRICS = ("exact_match", "bleu2", "rouge_l", "rouge1_set")
AVERAGE_F1_METRICS = ("exact_match", "bleu2", "rouge_l")
PARTS = ("precision", "recall", "f1")
MAX_LISTED_IDS = 20

# COCO caption scorer constants (pycocoevalcap bleu_scorer.py: `tiny`, `small`).
_TINY = 1e-15
_SMALL = 1e-9
_BETA = 1.2  # COCO Rouge().beta; squared below exactly as the reference does
_BETA2 = _BETA**2

Triple = tuple[float, float, float]


# ---------------------------------------------------------------- reference metrics
def _clipped_matches(cand: list | tuple, ref: list | tuple) -> int:
    """Candidate items matched by reference items, each reference item used once."""
    available: dict = {}
    for item in ref:
        available[item] = available.get(item, 0) + 1
    matched = 0
    for item in cand:
        left = available.get(item, 0)
        if left:
            available[item] = left - 1
            matched += 1
    return matched


def coco_bleu2(ref: tuple[str, ...], cand: tuple[str, ...]) -> float:
    """BLEU-2 of one candidate against one reference, exactly as pycocoevalcap computes it."""
    c, r = len(cand), len(ref)
    bleu = (_clipped_matches(cand, ref) + _TINY) / (c + _SMALL)
    bigram_matches = _clipped_matches(list(zip(cand, cand[1:])), list(zip(ref, ref[1:])))
    bleu *= (bigram_matches + _TINY) / (max(0, c - 1) + _SMALL)
    score = bleu ** (1.0 / 2)
    ratio = (c + _TINY) / (r + _SMALL)  # < 1 even when c == r: the reference does this too
    if ratio < 1:
        score *= math.exp(1 - 1 / ratio)
    return score


def _f_beta(p: float, r: float) -> float:
    if p == 0 or r == 0:
        return 0.0
    return ((1 + _BETA2) * p * r) / float(r + _BETA2 * p)


def coco_rouge_l(ref: tuple[str, ...], cand: tuple[str, ...]) -> float:
    """ROUGE-L F (beta 1.2) from the longest common subsequence, as pycocoevalcap's Rouge."""
    lcs = LCSseq.similarity(ref, cand)
    return _f_beta(lcs / float(len(cand)), lcs / float(len(ref)))


def rouge1_set(ref: tuple[str, ...], cand: tuple[str, ...]) -> float:
    """The published script's unigram variant: the beta-1.2 F on token-set overlap."""
    ref_set, cand_set = set(ref), set(cand)
    overlap = len(ref_set & cand_set)
    return _f_beta(overlap / float(len(cand_set)), overlap / float(len(ref_set)))


def _reference_scores(ref: tuple[str, ...], cand: tuple[str, ...]) -> dict[str, Triple]:
    if not ref or not cand:
        v = 1.0 if not ref and not cand else 0.0
        return {m: (v, v, v) for m in METRICS}
    em = 1.0 if ref == cand else 0.0
    bleu = coco_bleu2(ref, cand)
    rl = coco_rouge_l(ref, cand)
    rs = rouge1_set(ref, cand)
    return {"exact_match": (em, em, em), "bleu2": (bleu, bleu, bleu),
            "rouge_l": (rl, rl, rl), "rouge1_set": (rs, rs, rs)}


# ----------------------------------------------------------------- standard metrics
class _SplitTokenizer:
    """Hands rouge-score tokens we already made (joined by spaces) back unchanged."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


@lru_cache(maxsize=1)
def _standard_backends():
    try:
        from rouge_score.rouge_scorer import RougeScorer
        from sacrebleu.metrics import BLEU
    except ImportError as exc:
        raise ConfigError("scoring mode 'standard' needs sacrebleu and rouge-score: "
                          "pip install sacrebleu rouge-score (main dependencies of cancerllm)") from exc
    bleu = BLEU(tokenize="none", max_ngram_order=2, effective_order=True)
    rouge = RougeScorer(["rougeL"], tokenizer=_SplitTokenizer())
    return bleu, rouge


def _standard_scores(ref: tuple[str, ...], cand: tuple[str, ...]) -> dict[str, Triple]:
    if not ref or not cand:
        v = 1.0 if not ref and not cand else 0.0
        return {m: (v, v, v) for m in METRICS}
    bleu_metric, rouge = _standard_backends()
    ref_text, cand_text = " ".join(ref), " ".join(cand)
    em = 1.0 if ref == cand else 0.0
    # sacrebleu can return 100.00000000000004 for a perfect match; keep scores in [0, 1]
    bleu = min(1.0, bleu_metric.sentence_score(cand_text, [ref_text]).score / 100.0)
    rl = rouge.score(ref_text, cand_text)["rougeL"]
    ref_set, cand_set = set(ref), set(cand)
    overlap = len(ref_set & cand_set)
    p, r = overlap / len(cand_set), overlap / len(ref_set)
    f1 = 2 * p * r / (p + r) if overlap else 0.0
    return {"exact_match": (em, em, em), "bleu2": (bleu, bleu, bleu),
            "rouge_l": (rl.precision, rl.recall, rl.fmeasure), "rouge1_set": (p, r, f1)}


_TOKENIZERS = {"reference": reference_tokens, "standard": standard_tokens}
_SCORERS = {"reference": _reference_scores, "standard": _standard_scores}


def check_mode(mode: str) -> str:
    """Return `mode` if known, else a ConfigError naming the modes (and a near miss)."""
    if mode not in MODES:
        near = difflib.get_close_matches(str(mode), MODES, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise ConfigError(f"unknown scoring mode '{mode}'{hint}; choose one of {', '.join(MODES)}")
    return mode


# ---------------------------------------------------------------------- public API
def score_instance(reference: str, prediction: str, mode: str = "reference") -> dict[str, Triple]:
    """Score one gold/predicted pair: {metric: (precision, recall, f1)} in [0, 1]."""
    check_mode(mode)
    tok = _TOKENIZERS[mode]
    return _SCORERS[mode](tok(reference), tok(prediction))


@dataclass
class ScoreResult:
    """`aggregate`: metrics x 100, two decimals; `per_instance`: one dict per id, in [0, 1]."""

    aggregate: dict
    per_instance: list[dict] = field(default_factory=list)


def _listing(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED_IDS])
    more = len(ids) - MAX_LISTED_IDS
    return shown + (f" (+{more} more)" if more > 0 else "")


def check_ids(ref_ids, pred_ids, ref_name: str, pred_name: str,
               duplicates: dict[str, list[str]] | None = None) -> None:
    """One InputError naming every id problem at once: missing, unexpected, duplicated."""
    problems = []
    for name, dups in (duplicates or {}).items():
        if dups:
            problems.append(f"{len(dups)} duplicate id(s) in {name}: {_listing(dups)}")
    pred_set = set(pred_ids)
    missing = [i for i in ref_ids if i not in pred_set]
    if missing:
        problems.append(f"{len(missing)} id(s) of {ref_name} have no prediction in "
                        f"{pred_name}: {_listing(missing)}")
    ref_set = set(ref_ids)
    extra = [i for i in pred_ids if i not in ref_set]
    if extra:
        problems.append(f"{len(extra)} id(s) of {pred_name} are not in {ref_name}: "
                        f"{_listing(extra)}")
    if problems:
        raise InputError("; ".join(problems))


def aggregate_scores(per_instance: list[dict], mode: str) -> dict:
    """Mean P, R, F1 of every metric x 100 (two decimals) and the paper's average F1."""
    n = len(per_instance)
    if n == 0:
        raise InputError("nothing to score: no instances")
    means = {m: {k: math.fsum(rec[m][k] for rec in per_instance) / n for k in PARTS}
             for m in METRICS}
    agg: dict = {"mode": mode, "n": n}
    for m in METRICS:
        agg[m] = {k: round(100 * means[m][k], 2) for k in PARTS}
    agg["average_f1"] = round(100 * math.fsum(means[m]["f1"] for m in AVERAGE_F1_METRICS) / 3, 2)
    return agg


def score_records(refs: dict[str, str], preds: dict[str, str], mode: str = "reference",
                  tasks: dict[str, str] | None = None) -> ScoreResult:
    """Score predictions against references joined on id (reference order kept).

    Every reference id needs a prediction and every prediction a reference; otherwise an
    InputError lists the ids. `tasks` (id -> task name), when given, is copied into each
    per-instance record so later steps can split by task.
    """
    check_mode(mode)
    check_ids(list(refs), list(preds), "references", "predictions")
    tok, scorer = _TOKENIZERS[mode], _SCORERS[mode]
    per_instance = []
    for id_, ref in refs.items():
        rt, pt = tok(ref), tok(preds[id_])
        rec: dict = {"id": id_}
        if tasks and id_ in tasks:
            rec["task"] = tasks[id_]
        for m, (p, r, f1) in scorer(rt, pt).items():
            rec[m] = {"precision": p, "recall": r, "f1": f1}
        rec["reference_tokens"] = list(rt)
        rec["prediction_tokens"] = list(pt)
        per_instance.append(rec)
    return ScoreResult(aggregate_scores(per_instance, mode), per_instance)


# -------------------------------------------------------------------- file inputs
@dataclass
class PairedInputs:
    """References and predictions read from JSONL and checked to pair up one-to-one."""

    refs: dict[str, str]
    preds: dict[str, str]
    tasks: dict[str, str]


def _read_field(path: str | os.PathLike, text_field: str) -> tuple[list, dict[str, str], list[str]]:
    """Read (id, text, task) from a JSONL file; RecordError names file and line.

    A malformed line stops scoring (a score over some of the instances would mislead).
    Bytes that are not UTF-8 and lone surrogates from JSON escapes become U+FFFD, as in
    the readers; a leading BOM is dropped; lines end at "\n" only.
    """
    from cancerllm.data.records import fix_surrogates
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows, tasks, seen, dups = [], {}, set(), []
    with open(path, encoding="utf-8-sig", errors="replace", newline="\n") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError) as exc:
                reason = getattr(exc, "msg", None) or type(exc).__name__
                raise RecordError(str(path), line_no, f"not valid JSON ({reason})") from None
            if not isinstance(rec, dict):
                raise RecordError(str(path), line_no, "not a JSON object")
            rec_id = rec.get("id")
            if rec_id is None:
                raise RecordError(str(path), line_no, "no 'id' field")
            if isinstance(rec_id, bool) or not isinstance(rec_id, (str, int)):
                raise RecordError(str(path), line_no, f"'id' is a {type(rec_id).__name__}, "
                                  "expected a string or integer")
            id_ = fix_surrogates(str(rec_id))
            value = rec.get(text_field)
            if not isinstance(value, str):
                got = "missing" if text_field not in rec else f"a {type(value).__name__}"
                raise RecordError(str(path), line_no, f"field '{text_field}' is {got}, "
                                  "expected a string", record_id=id_)
            if id_ in seen:
                dups.append(id_)
            seen.add(id_)
            rows.append((id_, fix_surrogates(value)))
            if isinstance(rec.get("task"), str):
                tasks.setdefault(id_, fix_surrogates(rec["task"]))
    return rows, tasks, dups


def read_paired_inputs(pred_path: str | os.PathLike, ref_path: str | os.PathLike) -> PairedInputs:
    """Read references (`response`) and predictions (`prediction`) and check their ids pair."""
    ref_rows, ref_tasks, ref_dups = _read_field(ref_path, "response")
    pred_rows, pred_tasks, pred_dups = _read_field(pred_path, "prediction")
    ref_name, pred_name = f"references {Path(ref_path).name}", f"predictions {Path(pred_path).name}"
    check_ids([i for i, _ in ref_rows], [i for i, _ in pred_rows], ref_name, pred_name,
               duplicates={ref_name: ref_dups, pred_name: pred_dups})
    return PairedInputs(dict(ref_rows), dict(pred_rows), {**pred_tasks, **ref_tasks})


def score_files(pred_path: str | os.PathLike, ref_path: str | os.PathLike,
                mode: str = "reference") -> ScoreResult:
    """Score a predictions JSONL (`id`, `prediction`) against references (`id`, `response`)."""
    check_mode(mode)
    inputs = read_paired_inputs(pred_path, ref_path)
    return score_records(inputs.refs, inputs.preds, mode, tasks=inputs.tasks)


def format_aggregate(agg: dict) -> str:
    """A Markdown table of one aggregate, laid out like the paper's Tables 2-4."""
    table = markdown_table(["metric", "precision", "recall", "f1"],
                           ([m, f"{agg[m]['precision']:.2f}", f"{agg[m]['recall']:.2f}", f"{agg[m]['f1']:.2f}"]
                            for m in METRICS), "lrrr")
    return (f"mode: {agg['mode']}, instances: {agg['n']}\n\n{table}\n"
            f"average F1 (EM, BLEU-2, ROUGE-L): {agg['average_f1']:.2f}\n")


# -------------------------------------------------------------------- confidence intervals
# Percentile bootstrap over instances by scipy.stats.bootstrap (a maintained implementation;
# BCa is not used because it is undefined when every instance scores the same, which a
# baseline answering "Not relevant" to a one-answer split does). Seeded, so a table is
# reproducible; 1000 resamples by default, as the staging report.
DEFAULT_N_BOOT = 1000
CI_LEVEL = 0.95


def instance_average_f1(per_instance: list[dict]) -> list[float]:
    """Each instance's average F1 x 100: the mean of its EM, BLEU-2 and ROUGE-L F1.

    Their mean over instances is the task's `average_f1`, so a bootstrap over these
    values is a bootstrap of the paper's headline number.
    """
    return [100 * math.fsum(rec[m]["f1"] for m in AVERAGE_F1_METRICS) / 3 for rec in per_instance]


def bootstrap_distribution(values, n_boot: int = DEFAULT_N_BOOT, seed: int = 0):
    """`n_boot` resampled means of `values` (numpy array), for CIs and for combining tasks."""
    import numpy as np
    from scipy.stats import bootstrap
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise InputError("no instances to bootstrap")
    if x.size == 1 or np.all(x == x[0]):
        return np.full(n_boot, x.mean())
    res = bootstrap((x,), np.mean, n_resamples=n_boot, method="percentile", confidence_level=CI_LEVEL,
                    random_state=np.random.default_rng(seed), vectorized=True)
    return np.asarray(res.bootstrap_distribution)


def percentile_ci(distribution, level: float = CI_LEVEL) -> tuple[float, float]:
    import numpy as np
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(np.asarray(distribution, dtype=float), [tail, 100 - tail])
    return round(float(low), 2), round(float(high), 2)


def bootstrap_ci(values, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict:
    """{mean, ci_low, ci_high, n, n_boot, level}: percentile bootstrap 95 % CI of the mean."""
    import numpy as np
    dist = bootstrap_distribution(values, n_boot, seed)
    low, high = percentile_ci(dist)
    return {"mean": round(float(np.mean(values)), 2), "ci_low": low, "ci_high": high,
            "n": len(values), "n_boot": n_boot, "level": CI_LEVEL}


def paired_bootstrap(scores_a, scores_b, n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict:
    """95 % CI of mean(A) - mean(B) over the same instances, resampled in pairs.

    Pairing matters: two systems scored on the same instances share each instance's
    difficulty, so resampling them together gives a much tighter (and honest) interval
    on their difference than two separate CIs would. `scores_a` / `scores_b` are
    per-instance scores (e.g. `instance_average_f1`), either two sequences in the same
    instance order or two {id: score} mappings with the same ids (anything else is an
    InputError naming the ids). Returns {difference, ci_low, ci_high, n, n_boot, level,
    share_a_not_better}: the last is the share of resamples where A's mean is not above
    B's (a one-sided bootstrap p-value for "A is better").
    """
    from collections.abc import Mapping

    import numpy as np
    from scipy.stats import bootstrap
    if isinstance(scores_a, Mapping) or isinstance(scores_b, Mapping):
        if not (isinstance(scores_a, Mapping) and isinstance(scores_b, Mapping)):
            raise InputError("paired_bootstrap: give two sequences or two {id: score} mappings, not one of each")
        check_ids(list(scores_b), list(scores_a), "system B", "system A")
        ids = list(scores_a)
        scores_a, scores_b = [scores_a[i] for i in ids], [scores_b[i] for i in ids]
    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"paired_bootstrap needs two equally long lists of per-instance scores, "
                         f"got {a.size} and {b.size}")
    if a.size == 0:
        raise InputError("paired_bootstrap: no instances")
    d = a - b
    if a.size == 1 or np.all(d == d[0]):
        dist = np.full(n_boot, d.mean())
    else:
        res = bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), paired=True,
                        n_resamples=n_boot, method="percentile", confidence_level=CI_LEVEL,
                        random_state=np.random.default_rng(seed), vectorized=True)
        dist = np.asarray(res.bootstrap_distribution)
    low, high = percentile_ci(dist)
    return {"difference": round(float(d.mean()), 2), "ci_low": low, "ci_high": high, "n": int(a.size),
            "n_boot": n_boot, "level": CI_LEVEL, "share_a_not_better": round(float(np.mean(dist <= 0)), 4)}
