"""Staging a pathology report with the system the user trained: label, probabilities, evidence.

`cancerllm stage --system classical --model DIR --file report.txt` and `/v1/stage` (when
the service is started with `--heads DIR`) both go through `load_stager`. Systems (the
registry in `cancerllm.baselines.staging_systems`; plugins add theirs):
- `rules`: the rule-based extractor (no model folder; no probabilities);
- `classical` / `cancer_type_prior`: a folder from `cancerllm train staging`;
- `heads`: a LoRA heads folder from `cancerllm train heads`;
- `heads_cached`: a cached-feature heads folder (`report real` writes them under
  OUT/heads/); its base model is read from the folder.

Every field comes back as {"label", "probs" (None for rules), "evidence"}: the evidence
is the span the rule extractor found for that field (start, end, text, the rules' own
label and whether it agrees with `label`), or None when the report states nothing the
rules recognise. Learned systems do not point at text themselves, so the span is the
auditable part a reviewer checks, and a disagreement is worth a look.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.schema.staging import to_coarse

def evidence(text: str, rows: list[dict]) -> list[dict]:
    """`rows` ({field: {"label", "probs"}}) with each field's rule-extractor evidence added."""
    from cancerllm.baselines.staging_rules import extract_staging
    out = []
    for row in rows:
        found = extract_staging(text).fields
        full = {}
        for field, pred in row.items():
            r = found.get(field)
            span = None
            if r is not None and r.start is not None:
                rules_label = r.coarse(field)
                span = {"start": r.start, "end": r.end, "text": text[r.start:r.end], "rules_label": rules_label,
                        "agrees": rules_label == to_coarse(field, pred["label"])}
            full[field] = {"label": pred["label"], "probs": pred.get("probs"), "evidence": span}
        out.append(full)
    return out


def load_stager(system: str, model_dir: str | os.PathLike | None = None,
                device: str | None = None) -> Callable[[list[str]], list[dict]]:
    """texts -> [{field: {"label", "probs", "evidence"}}] for the chosen system (the
    staging-system registry: `cancerllm.baselines.staging_systems`)."""
    from cancerllm.baselines.staging_systems import get_staging_system
    spec = get_staging_system(system)
    if spec.needs_model and not model_dir:
        raise InputError(f"--system {system} needs --model DIR (the folder its training wrote)")
    predict = spec.load(model_dir, device)

    def stage(texts: list[str]) -> list[dict]:
        rows = predict(list(texts))
        return [evidence(t, [row])[0] for t, row in zip(texts, rows)]
    return stage


def system_of(model_dir: str | os.PathLike) -> str:
    """Which system a model folder holds (for `serve --heads DIR`)."""
    path = Path(model_dir)
    if (path / "classical.json").is_file():
        import json
        return json.loads((path / "classical.json").read_text(encoding="utf-8"))["system"]
    if (path / "cached_heads.json").is_file():
        return "heads_cached"
    return "heads"
