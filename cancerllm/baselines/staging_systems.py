"""Staging systems, registered by name: what `stage`, `/v1/stage` and `eval staging` run.

A staging system turns pathology report texts into {field: {"label", "probs"}} rows
(`probs` None when it has none). Each registers two ways of getting one:
- `load(model_dir, device)`: from the folder its training wrote (`cancerllm train
  staging`, `train heads`); the serving side (`cancerllm stage`, `serve --heads`);
- `fit(train, dev, fields)`: fitted on the spot on a split's train records, settings
  chosen on dev (never the test split); `cancerllm eval staging` scores every named
  system side by side on the test split this way. A system that needs its own long
  training (the LoRA heads) has no `fit`.

Registered: `rules` (the rule extractor; no model folder), `classical` (TF-IDF + rule
findings, a linear model per field), `cancer_type_prior` (the cancer type alone),
`heads` (LoRA heads), `heads_cached` (heads over cached frozen features). A plugin adds
its own with `register_staging_system` from a module named in CANCERLLM_PLUGINS (or the
`cancerllm.tasks` entry-point group), without touching this package; a misspelt name
is an error with a "did you mean".
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass

from cancerllm.errors import InputError

Predict = Callable[[list[str]], list[dict]]
"""Report texts -> one {field: {"label", "probs"}} dict each."""


@dataclass(frozen=True)
class StagingSystem:
    name: str
    description: str
    load: Callable[[str | os.PathLike | None, str | None], Predict]
    fit: Callable[[list[dict], list[dict], list[str] | None], Predict] | None = None
    needs_model: bool = True


def _rules_predict(texts: list[str]) -> list[dict]:
    from cancerllm.baselines.staging_rules import extract_staging
    return [{f: {"label": r.coarse(f), "probs": None} for f, r in extract_staging(t).fields.items()} for t in texts]


def _on_texts(model) -> Predict:
    return lambda texts: model.predict([{"text": t} for t in texts])


def _load_linear(model_dir, _device) -> Predict:
    from cancerllm.baselines.staging_classical import load_staging_system
    return _on_texts(load_staging_system(model_dir))


def _fit_linear(name: str):
    def fit(train: list[dict], dev: list[dict], fields: list[str] | None) -> Predict:
        from cancerllm.baselines.staging_classical import SYSTEM_CLASSES, ClassicalConfig
        return _on_texts(SYSTEM_CLASSES[name](ClassicalConfig()).fit(train, dev, fields))
    return fit


def _load_heads(model_dir, device) -> Predict:
    from cancerllm.models.heads import MultiTaskHeads
    return MultiTaskHeads.from_pretrained(model_dir, device=device).predict  # fine labels, as trained


def _load_cached_heads(model_dir, _device) -> Predict:
    from cancerllm.models.cached_heads import CachedHeadsModel
    model = CachedHeadsModel.from_pretrained(model_dir)
    if model.evidence == {"none"}:
        return model.predict_texts

    def predict(texts: list[str]) -> list[dict]:  # heads that read the rule findings too: build them here
        import tempfile

        from cancerllm.baselines.staging_findings import report_features
        with tempfile.TemporaryDirectory() as scratch:
            feats, _ = report_features(model.base_model, list(texts), scratch, model.cfg, log_every=0)
        return model.predict_features(feats)
    return predict


_SYSTEMS: dict[str, StagingSystem] = {s.name: s for s in (
    StagingSystem("rules", "rule-based extractor (patterns; no model folder)", lambda _dir, _dev: _rules_predict,
                  fit=lambda _train, _dev, _fields: _rules_predict, needs_model=False),
    StagingSystem("classical", "TF-IDF + rule findings, a linear classifier per field", _load_linear,
                  fit=_fit_linear("classical")),
    StagingSystem("cancer_type_prior", "the cancer type alone (one-hot), a linear classifier per field",
                  _load_linear, fit=_fit_linear("cancer_type_prior")),
    StagingSystem("heads", "LoRA multi-task heads (cancerllm train heads)", _load_heads),
    StagingSystem("heads_cached", "heads over cached frozen features (report real)", _load_cached_heads),
)}


def register_staging_system(system: StagingSystem) -> StagingSystem:
    _SYSTEMS[system.name] = system
    return system


def staging_system_names() -> list[str]:
    from cancerllm.tasks.registry import discover
    discover()  # plugin modules register their systems on import
    return list(_SYSTEMS)


def get_staging_system(name: str) -> StagingSystem:
    names = staging_system_names()
    if name not in _SYSTEMS:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown staging system {name!r}; choose one of {names}.{hint}")
    return _SYSTEMS[name]
