"""`cancerllm eval staging`: several staging systems fitted and scored side by side.

Why: a hospital choosing a staging system wants each candidate on the same reports, with
the same scorer and confidence intervals (`staging_report.score_systems`), and a new
system (a plugin's) should appear in that table without wiring. Each named system of the
registry (`cancerllm.baselines.staging_systems`) with a `fit` is fitted on the data's
train split, its settings chosen on the validation split, and scored on the split asked
(test by default); the gold labels of that split are read only to score. A system given
as NAME=DIR is loaded from the folder its training wrote instead of being fitted.
"""

from __future__ import annotations

import os

from cancerllm.errors import InputError


def _system_args(systems: list[str]) -> list[tuple[str, str | None]]:
    out = []
    for item in systems:
        name, sep, folder = item.partition("=")
        out.append((name.strip(), folder.strip() if sep else None))
    return out


def eval_staging(data: str | os.PathLike, out_dir: str | os.PathLike, systems: list[str],
                 split: str = "test", fields: list[str] | None = None, n_boot: int = 1000, seed: int = 0,
                 split_seed: int = 0, device: str | None = None) -> dict:
    """Fit (or load) each system, predict `split`, write the staging report; returns a summary.

    Writes OUT/predictions/<system>.jsonl, staging_scores.{json,csv}, staging_report.md
    and summary.json (per system: headline macro F1 with its CI, fitted or loaded).
    """
    from cancerllm.baselines.staging_systems import get_staging_system
    from cancerllm.evaluate.staging_report import score_systems, write_staging_report
    from cancerllm.io import atomic_write_json, atomic_write_jsonl
    from cancerllm.runs import start_run
    from cancerllm.data.pathology import load_splits

    chosen = _system_args(systems)
    if not chosen:
        raise InputError("name at least one staging system (--system rules,classical,...)")
    specs = {name: get_staging_system(name) for name, _ in chosen}  # a typo fails before any fitting
    for name, folder in chosen:
        if folder is None and specs[name].fit is None:
            raise InputError(f"staging system {name!r} cannot be fitted here; give its trained folder as "
                             f"{name}=DIR")
    splits = load_splits(data, split_seed)
    if split not in splits:
        raise InputError(f"unknown split {split!r}; choose train, validation or test")
    test = [r for r in splits[split] if isinstance(r.get("labels"), dict)]
    if not test:
        raise InputError(f"{data}: no labelled records in the {split} split")
    out = start_run(out_dir, {"data": str(data), "systems": systems, "split": split, "fields": fields,
                              "n_boot": n_boot, "seed": seed, "split_seed": split_seed},
                    seed=seed, stage="eval staging")
    texts = [r["text"] for r in test]
    predictions, how = {}, {}
    (out / "predictions").mkdir(exist_ok=True)
    for name, folder in chosen:
        spec = specs[name]
        if folder is not None:
            predict, how[name] = spec.load(folder, device), f"loaded from {folder}"
        else:
            predict, how[name] = spec.fit(splits["train"], splits["validation"], fields), "fitted on train, chosen on dev"
        rows = predict(texts)
        atomic_write_jsonl(out / "predictions" / f"{name}.jsonl",
                           [{"id": r.get("id"), **row} for r, row in zip(test, rows)])
        predictions[name] = [{f: (v or {}).get("label") for f, v in row.items()} for row in rows]
    result = score_systems([r["labels"] for r in test], predictions, fields=fields, n_boot=n_boot, seed=seed)
    files = write_staging_report(result, out)
    summary = {"n_reports": len(test), "split": split,
               "systems": {name: {"headline": result["systems"][name]["headline"], "how": how[name]}
                           for name, _ in chosen},
               "files": {k: str(v) for k, v in files.items()}}
    atomic_write_json(out / "summary.json", summary)
    return summary
