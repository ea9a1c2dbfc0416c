"""Evaluate staging/biomarker classifiers: heads models, single-task sets, zero-shot prompting.

All three predictors return the same per-report format ({field: {"label", "probs"}}),
so one scorer serves them and the numbers are comparable: the scoring is
`cancerllm.evaluate.staging_report.score_systems` (the same tables as the rule-based
baseline): per field, macro F1 on coarse classes with NR included (the headline, mean
over HEADLINE_FIELDS; M apart), on reported-only reports, and on fine classes, each
with the label list it averaged over, a bootstrap CI and a coarse confusion matrix.
Macro F1 is `sklearn.metrics.f1_score(average="macro", labels=<schema classes present
in gold or prediction>)`, x100.
"""

from __future__ import annotations

import os
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.schema.staging import FINE


def score_predictions(records: list[dict], preds: list[dict], fields: list[str], system: str = "heads",
                      n_boot: int = 1000, seed: int = 0) -> dict:
    """staging_report scores of `preds` (label dicts) against the records' gold labels.

    Only `fields` are scored; a record without a gold label for a field is skipped there
    (unlabelled is not NR).
    """
    from cancerllm.evaluate.staging_report import score_systems
    gold = [{f: (r.get("labels") or {}).get(f) for f in fields} for r in records]
    return score_systems(gold, {system: preds}, fields=fields, n_boot=n_boot, seed=seed)


# ---------------------------------------------------------------- predictors


class _SingleTaskSet:
    """Single-task baseline folder (OUT/<field>/ heads models) behind one `predict`."""

    def __init__(self, models: dict):
        self.models = models
        self.fields = list(models)

    def predict(self, texts: list[str], batch_size: int = 8) -> list[dict]:
        out: list[dict] = [{} for _ in texts]
        for model in self.models.values():
            for row, pred in zip(out, model.predict(texts, batch_size=batch_size)):
                row.update(pred)
        return out


def load_predictor(model: str | os.PathLike, zero_shot: bool = False, base_model: str | None = None,
                   device: str | None = None):
    """A heads model dir, a single-task folder of them, or (zero_shot) any causal-LM dir."""
    from cancerllm.models.heads import MultiTaskHeads, is_heads_dir
    if zero_shot:
        from cancerllm.baselines.zero_shot import ZeroShotStaging
        return ZeroShotStaging(model, device=device)
    path = Path(model)
    if is_heads_dir(path):
        return MultiTaskHeads.from_pretrained(path, base_model=base_model, device=device)
    subdirs = sorted(p for p in path.iterdir() if is_heads_dir(p)) if path.is_dir() else []
    if not subdirs:
        raise InputError(f"{model} is neither a heads model (heads_config.json) nor a folder of "
                         "single-task heads models; for a plain causal LM pass --zero-shot")
    models = {}
    for sub in subdirs:
        m = MultiTaskHeads.from_pretrained(sub, base_model=base_model, device=device)
        models[m.fields[0] if len(m.fields) == 1 else sub.name] = m
    return _SingleTaskSet(models)


def evaluate_heads(model: str | os.PathLike, data: str | os.PathLike, out_dir: str | os.PathLike,
                   split: str = "test", batch_size: int = 8, zero_shot: bool = False,
                   split_seed: int = 0, base_model: str | None = None, device: str | None = None,
                   limit: int | None = None, n_boot: int = 1000, seed: int = 0) -> dict:
    """Predict the `split` of `data`; write predictions.jsonl, metrics.json and the staging report.

    OUT gets predictions.jsonl (id, gold, pred and probs per field, difficulties), metrics.json
    (the scores below plus model/split), staging_scores.json/.csv and staging_report.md
    (tables with bootstrap CIs, confusion matrices, difficulty shares and slices).

    The split is chosen exactly as in training (`cancerllm.data.pathology.load_splits`,
    same `split_seed`), so test reports were never trained on.
    """
    from cancerllm.evaluate.staging_report import (difficulty_shares, headline_by_difficulty,
                                                   write_staging_report)
    from cancerllm.io import atomic_write_jsonl
    from cancerllm.runs import start_run, write_metrics
    from cancerllm.data.pathology import SPLIT_ALIASES, load_splits
    if split not in SPLIT_ALIASES:
        raise InputError(f"unknown split {split!r}; use train, validation or test")
    split = SPLIT_ALIASES[split]

    out = start_run(out_dir, {"model": str(model), "data": str(data), "split": split,
                              "zero_shot": zero_shot, "split_seed": split_seed,
                              "batch_size": batch_size, "limit": limit, "n_boot": n_boot},
                    seed=seed, stage="eval.heads")
    records = load_splits(data, split_seed=split_seed).get(split, [])
    if limit is not None:
        records = records[:limit]
    if not records:
        raise InputError(f"{data}: no records in split {split!r}")
    predictor = load_predictor(model, zero_shot=zero_shot, base_model=base_model, device=device)
    preds = predictor.predict([r["text"] for r in records], batch_size=batch_size)
    fields = [f for f in FINE if f in preds[0]]
    system = "zero_shot" if zero_shot else ("single_task" if isinstance(predictor, _SingleTaskSet) else "heads")
    pred = [{f: p[f]["label"] for f in fields} for p in preds]
    atomic_write_jsonl(out / "predictions.jsonl", (
        {"id": r.get("id"), "gold": {f: (r.get("labels") or {}).get(f) for f in fields}, "pred": p,
         "probs": {f: row[f].get("probs") for f in fields if row[f].get("probs")},
         "difficulties": r.get("difficulties", [])} for r, p, row in zip(records, pred, preds)))
    result = score_predictions(records, pred, fields, system, n_boot=n_boot, seed=seed)
    # Difficulty slices score only the fields predicted (gold restricted to them).
    sliced = [{"labels": {f: (r.get("labels") or {}).get(f) for f in fields},
               "difficulties": r.get("difficulties") or []} for r in records]
    tagged = any(r["difficulties"] for r in sliced)
    write_staging_report(result, out, difficulty_shares(sliced) if tagged else None,
                         headline_by_difficulty(sliced, {system: pred}) if tagged else None)
    metrics = {"model": str(model), "system": system, "split": split, "n": len(records),
               "headline_coarse_macro_f1": result["systems"][system]["headline"]["macro_f1"], **result}
    write_metrics(out, metrics)
    return metrics


def format_scores(metrics: dict) -> str:
    """A small Markdown table of the per-field macro F1 values (x100) of one evaluation."""
    def pct(d: dict) -> str:
        return "-" if d["macro_f1"] is None else f"{d['macro_f1']:.1f}"
    from cancerllm.io import markdown_table_lines
    s = metrics["systems"][metrics["system"]]
    rows = markdown_table_lines(["field", "n", "coarse macro F1", "reported-only", "fine macro F1"],
                                ([f, d["n"], pct(d["coarse"]), pct(d["reported"]), pct(d["fine"])]
                                 for f, d in s["fields"].items()))
    rows.append(f"\nheadline (mean coarse macro F1 over {', '.join(metrics['headline_fields'])}): "
                f"{pct(s['headline'])}")
    return "\n".join(rows)
