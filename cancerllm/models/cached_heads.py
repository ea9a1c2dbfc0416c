"""Staging heads on cached features of a frozen encoder: the CPU mode of the heads.

Why: fine-tuning a 135 M encoder through whole 1,000-token reports is out of reach of a
2-core CPU, but encoding each window *once* is not. This mode reads every report whole
(the same windows as the LoRA heads: `cancerllm.models.windows.encode_reports`, sections
with staging first, overlapping windows, coverage counted), runs only the first
`encoder_layers` layers of the frozen base, mean-pools the hidden states of each window
at the `feature_layers` (an intermediate layer is a fair, cheaper reader; which one is
chosen on dev), caches one `.npy` per report on disk (a killed run resumes where it
stopped; a rerun is free), then trains only the heads: the shared `WindowPool`
(max / mean / attention over a report's windows) and one linear layer per field over
coarse classes, with inverse-frequency class weights.

The layer, the window pooling, the learning rate and the number of epochs are chosen on
the **dev** split (multi-task: mean dev macro F1 over the fields; single-task: per field);
heads are trained on train only. Not supported: fine classes, fine-tuning the encoder
(that is the LoRA mode, `cancerllm.train.heads`).

It sits in models/ (not train/) because the fitted model, its save format and its
prediction are what serving and the staging-system registry load; its small training
loop (a grid of head fits on cached arrays, no Trainer) comes with it, sklearn-style.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from cancerllm.config import Config
from cancerllm.errors import ConfigError, InputError
from cancerllm.io import atomic_write_json
from cancerllm.schema.staging import COARSE, FINE, to_coarse

WEIGHTS = "cached_heads.safetensors"
CONFIG = "cached_heads.json"


class CachedHeadsConfig(Config):
    """The `heads_cached` section of recipes/real-*.yaml."""

    seed: int = 0
    max_length: int = 512
    overlap: int = 64
    max_chunks: int = 64            # windows per report; a report needing more is counted as cut
    reorder_sections: bool = True
    encoder_layers: int = 6         # run only the first K layers of the base (CPU budget)
    feature_layers: list[int] = [3, 6]   # hidden states cached (1..K); chosen on dev
    dtype: str = "bfloat16"
    batch_windows: int = 4
    pooling_grid: list[Literal["max", "mean", "attention"]] = ["max", "mean", "attention"]
    lr_grid: list[float] = [1e-2, 3e-2]
    epochs_grid: list[int] = [100, 200, 400]   # full-batch epochs; evaluated on dev at each
    # What the heads read besides the report windows, chosen on dev: "window" = the evidence
    # text (rule findings + their sentences) encoded as one more window, its features beside
    # the pooled report; "findings" = the rule findings one-hot beside it; "both".
    evidence_grid: list[Literal["none", "window", "findings", "both"]] = ["none"]
    weight_decay_grid: list[float] = [1e-2]   # AdamW's (decoupled) weight decay, chosen on dev
    dropout: float = 0.1
    single_task: bool = True        # also one model per field (the single-task baseline)


# ---------------------------------------------------------------- features, cached

def load_truncated_encoder(base_dir: str | os.PathLike, layers: int, dtype: str):
    """The frozen base with only its first `layers` decoder layers (the rest never run)."""
    from cancerllm.models.loading import load_base_model
    model = load_base_model(base_dir, "training", dtype, encoder=True)
    stack = getattr(model, "layers", None)
    if stack is None:
        raise ConfigError(f"{base_dir}: no `layers` stack to truncate ({type(model).__name__})")
    if not 1 <= layers <= len(stack):
        raise ConfigError(f"encoder_layers={layers}: the base has {len(stack)} layers")
    model.layers = stack[:layers]
    model.config.num_hidden_layers = layers
    return model.eval().requires_grad_(False)


def cache_key(base_dir: str | os.PathLike, text: str, cfg: CachedHeadsConfig) -> str:
    """A report's cache file name: its text and every setting that changes its features."""
    settings = json.dumps([Path(base_dir).name, cfg.max_length, cfg.overlap, cfg.max_chunks, cfg.reorder_sections,
                           cfg.encoder_layers, sorted(cfg.feature_layers), cfg.dtype])
    return hashlib.sha256((settings + "\x00" + text).encode()).hexdigest()[:32]


def encode_cached(base_dir: str | os.PathLike, texts: list[str], cache_dir: str | os.PathLike,
                  cfg: CachedHeadsConfig, group: int = 16, log_every: int = 64) -> tuple[list[np.ndarray], dict]:
    """Per report an array [windows, feature layers, hidden] (float32), read from or written to
    `cache_dir`; plus the window coverage of all `texts` (`window_coverage`).

    Reports are encoded `group` at a time (windows sorted by length inside a group, so
    little padding) and written when their group is done: a kill loses at most one group.
    """
    import torch

    from cancerllm.models.pooling import pool_hidden
    from cancerllm.models.windows import encode_reports
    from cancerllm.models.loading import load_tokenizer
    bad = [k for k in cfg.feature_layers if not 1 <= k <= cfg.encoder_layers]
    if bad:
        raise ConfigError(f"feature_layers {bad} outside 1..encoder_layers ({cfg.encoder_layers})")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(base_dir)
    coverage: dict = {}
    windows = encode_reports(tokenizer, texts, cfg.max_length, cfg.overlap, cfg.max_chunks, cfg.reorder_sections,
                             coverage=coverage)
    paths = [cache / f"{cache_key(base_dir, t, cfg)}.npy" for t in texts]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    coverage["reports_from_cache"] = len(texts) - len(todo)
    model = load_truncated_encoder(base_dir, cfg.encoder_layers, cfg.dtype) if todo else None
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    t0, done = time.perf_counter(), 0
    for start in range(0, len(todo), group):
        reports = todo[start:start + group]
        rows = sorted(((r, w) for r in reports for w in range(len(windows[r]))), key=lambda x: len(windows[x[0]][x[1]]))
        feats: dict[tuple[int, int], np.ndarray] = {}
        for b in range(0, len(rows), cfg.batch_windows):
            batch = rows[b:b + cfg.batch_windows]
            width = max(len(windows[r][w]) for r, w in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, (r, w) in enumerate(batch):
                seq = windows[r][w]
                ids[j, :len(seq)], mask[j, :len(seq)] = torch.tensor(seq), 1
            with torch.no_grad():
                hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            pooled = torch.stack([pool_hidden(hidden[k].float(), mask, "mean") for k in cfg.feature_layers], 1)
            for j, key in enumerate(batch):
                feats[key] = pooled[j].numpy()
        for r in reports:
            arr = np.stack([feats[(r, w)] for w in range(len(windows[r]))]).astype(np.float32)
            tmp = paths[r].with_suffix(".tmp.npy")
            np.save(tmp, arr)
            os.replace(tmp, paths[r])
        done += len(reports)
        if log_every and (done % log_every < group or done == len(todo)):
            rate = done / (time.perf_counter() - t0)
            print(f"[heads-cached] encoded {done}/{len(todo)} reports ({rate:.2f}/s)", flush=True)
    return [np.load(p) for p in paths], coverage


# ---------------------------------------------------------------- the heads


@dataclass
class ReportFeatures:
    """What the heads read, per report: its window features and, optionally, the evidence.

    `windows`: [windows, feature layers, hidden] per report (`encode_cached`);
    `evidence`: [reports, feature layers, hidden], the frozen encoder's features of an
    evidence text (the rule findings and their sentences, written out); `findings`: a
    sparse {name: value} dict per report (the rule findings as features). Both are built
    outside this module (`cancerllm.baselines.staging_findings.report_features`): models/
    does not import the rule extractor.
    """

    windows: list[np.ndarray]
    evidence: np.ndarray | None = None
    findings: list[dict] | None = None

    def part(self, start: int, stop: int) -> ReportFeatures:
        """Reports start:stop (a split of one encoded list)."""
        return ReportFeatures(self.windows[start:stop], None if self.evidence is None else self.evidence[start:stop],
                              None if self.findings is None else self.findings[start:stop])


def _as_features(feats) -> ReportFeatures:
    return feats if isinstance(feats, ReportFeatures) else ReportFeatures(list(feats))


def _heads_module(hidden: int, fields: list[str], pooling: str, dropout: float, evidence_dim: int = 0,
                  findings_dim: int = 0):
    import torch
    from torch import nn

    from cancerllm.models.pooling import WindowPool

    class CachedHeads(nn.Module):
        """Standardised window features -> WindowPool -> [+ standardised evidence-window
        features, + findings one-hot] -> dropout -> a linear head per field."""

        def __init__(self):
            super().__init__()
            for name in ("mean", "std", "ev_mean", "ev_std"):
                self.register_buffer(name, None)
            self.pool = WindowPool(hidden, pooling)
            self.dropout = nn.Dropout(dropout)
            width = hidden + evidence_dim + findings_dim
            self.heads = nn.ModuleDict({f: nn.Linear(width, len(COARSE[f])) for f in fields})

        def forward(self, x, owner, ev=None, fx=None):
            parts = [self.pool((x - self.mean) / self.std, owner)]
            if ev is not None:
                parts.append((ev - self.ev_mean) / self.ev_std)
            if fx is not None:
                parts.append(fx)
            reports = self.dropout(torch.cat(parts, -1))
            return {f: h(reports) for f, h in self.heads.items()}

    return CachedHeads()


def _stack(feats: ReportFeatures, layer: int, evidence: str = "none", vocab: list[str] | None = None) -> tuple:
    """(windows [all windows, hidden], owner, evidence window [reports, hidden] | None,
    findings [reports, len(vocab)] | None) as tensors, for one feature layer."""
    import torch
    x = torch.from_numpy(np.concatenate([f[:, layer] for f in feats.windows]))
    owner = torch.from_numpy(np.concatenate([np.full(len(f), i) for i, f in enumerate(feats.windows)]))
    ev = fx = None
    if evidence in ("window", "both"):
        if feats.evidence is None:
            raise InputError("these heads read an evidence window: build the features with evidence")
        ev = torch.from_numpy(np.ascontiguousarray(feats.evidence[:, layer], dtype=np.float32))
    if evidence in ("findings", "both"):
        if feats.findings is None:
            raise InputError("these heads read the rule findings: build the features with evidence")
        index = {name: j for j, name in enumerate(vocab or [])}
        fx = torch.zeros(len(feats.findings), len(index))
        for i, row in enumerate(feats.findings):
            for name, value in row.items():
                if name in index:
                    fx[i, index[name]] = float(value)
    return x, owner, ev, fx


def _targets(records: list[dict], fields: list[str]):
    """[reports, fields] coarse class indices; -100 where unlabelled."""
    import torch
    rows = []
    for r in records:
        labels = r.get("labels") or {}
        rows.append([COARSE[f].index(to_coarse(f, labels[f])) if labels.get(f) is not None else -100
                     for f in fields])
    return torch.tensor(rows, dtype=torch.long)


def _macro_f1(logits, y) -> float:
    from sklearn.metrics import f1_score
    keep = y != -100
    if not bool(keep.any()):
        return 0.0
    return 100 * float(f1_score(y[keep].numpy(), logits.argmax(-1)[keep].numpy(), average="macro", zero_division=0))


def train_heads_grid(train: tuple, y_train, dev: tuple, y_dev, fields: list[str], pooling: str, lr: float,
                     cfg: CachedHeadsConfig, weight_decay: float = 1e-2) -> list[tuple[int, dict, dict]]:
    """Full-batch AdamW over the train reports (`train`, `dev`: `_stack` tuples); at each
    epoch of `epochs_grid`: (epochs, dev macro F1 per field, a copy of the weights)."""
    import copy

    import torch
    from torch.nn import functional as F
    torch.manual_seed(cfg.seed)
    x, owner, ev, fx = train
    model = _heads_module(x.shape[-1], fields, pooling, cfg.dropout, 0 if ev is None else ev.shape[-1],
                          0 if fx is None else fx.shape[-1])
    model.mean, model.std = x.mean(0), x.std(0).clamp(min=1e-4)
    if ev is not None:
        model.ev_mean, model.ev_std = ev.mean(0), ev.std(0).clamp(min=1e-4)
    weights = {}
    for i, f in enumerate(fields):
        counts = torch.bincount(y_train[:, i][y_train[:, i] != -100], minlength=len(COARSE[f])).float()
        seen = int((counts > 0).sum())
        weights[f] = torch.where(counts > 0, counts.sum() / (max(seen, 1) * counts.clamp(min=1)), torch.ones(()))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    out = []
    for epoch in range(1, max(cfg.epochs_grid) + 1):
        model.train()
        logits = model(*train)
        loss = sum(F.cross_entropy(logits[f], y_train[:, i], weight=weights[f], ignore_index=-100)
                   for i, f in enumerate(fields) if bool((y_train[:, i] != -100).any()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch in cfg.epochs_grid:
            model.eval()
            with torch.no_grad():
                logits = model(*dev)
            out.append((epoch, {f: _macro_f1(logits[f], y_dev[:, i]) for i, f in enumerate(fields)},
                        copy.deepcopy(model.state_dict())))
    return out


class CachedHeadsModel:
    """A trained set of cached-feature heads: one (evidence, layer, pooling, weights) per field group.

    `groups` is a list of {fields, evidence, layer, pooling, lr, epochs, dev, state};
    multi-task has one group holding every field, single-task one group per field.
    `findings_vocab`: the findings features seen in training (their column order).
    """

    def __init__(self, cfg: CachedHeadsConfig, hidden: int, groups: list[dict], base_model: str,
                 findings_vocab: list[str] | None = None):
        self.cfg, self.hidden, self.groups, self.base_model = cfg, hidden, groups, base_model
        self.findings_vocab = findings_vocab or []

    @property
    def evidence(self) -> set[str]:
        """The evidence modes its groups read ("none" for plain heads)."""
        return {g.get("evidence", "none") for g in self.groups}

    @classmethod
    def fit(cls, train_feats, train: list[dict], dev_feats, dev: list[dict], fields: list[str],
            cfg: CachedHeadsConfig, single_task: bool, base_model: str = "") -> CachedHeadsModel:
        """Every (evidence, layer, pooling, lr, epochs) of the grids trained on train, the best
        by dev macro F1 (mean over a group's fields) kept per field group."""
        if not train or not dev:
            raise InputError("cached heads need train and dev records (settings are chosen on dev)")
        train_feats, dev_feats = _as_features(train_feats), _as_features(dev_feats)
        vocab = sorted({k for row in train_feats.findings or [] for k in row})
        field_sets = [[f] for f in fields] if single_task else [list(fields)]
        y_train, y_dev = _targets(train, fields), _targets(dev, fields)
        best: dict[tuple, dict] = {}
        for evidence, (li, layer) in itertools.product(cfg.evidence_grid, enumerate(cfg.feature_layers)):
            tr, dv = _stack(train_feats, li, evidence, vocab), _stack(dev_feats, li, evidence, vocab)
            for fs in field_sets:
                cols = [fields.index(f) for f in fs]
                for pooling, lr, wd in itertools.product(cfg.pooling_grid, cfg.lr_grid, cfg.weight_decay_grid):
                    for epochs, dev_f1, state in train_heads_grid(tr, y_train[:, cols], dv, y_dev[:, cols], fs,
                                                                  pooling, lr, cfg, wd):
                        score = float(np.mean([dev_f1[f] for f in fs]))
                        key = tuple(fs)
                        if key not in best or score > best[key]["dev_score"]:
                            best[key] = {"fields": fs, "evidence": evidence, "layer": layer, "layer_index": li,
                                         "pooling": pooling, "lr": lr, "weight_decay": wd, "epochs": epochs,
                                         "dev_macro_f1": dev_f1, "dev_score": score, "state": state}
        hidden = train_feats.windows[0].shape[-1]
        return cls(cfg, hidden, [best[tuple(fs)] for fs in field_sets], base_model, vocab)

    def predict_features(self, feats) -> list[dict]:
        """{field: {"label": coarse, "probs"}} per report from its cached window features."""
        import torch
        feats = _as_features(feats)
        out = [dict() for _ in feats.windows]
        for g in self.groups:
            evidence = g.get("evidence", "none")
            inputs = _stack(feats, g["layer_index"], evidence, self.findings_vocab)
            state = g["state"]
            model = _heads_module(self.hidden, g["fields"], g["pooling"], self.cfg.dropout,
                                  0 if inputs[2] is None else inputs[2].shape[-1],
                                  0 if inputs[3] is None else inputs[3].shape[-1])
            for name in ("mean", "std", "ev_mean", "ev_std"):
                setattr(model, name, state.get(name))
            model.load_state_dict(state)
            model.eval()
            with torch.no_grad():
                logits = model(*inputs)
            for f in g["fields"]:
                probs = torch.softmax(logits[f], -1).tolist()
                for row, p in zip(out, probs):
                    best = int(np.argmax(p))
                    row[f] = {"label": COARSE[f][best], "probs": dict(zip(COARSE[f], p))}
        return out

    def predict_texts(self, texts: list[str], cache_dir: str | os.PathLike | None = None) -> list[dict]:
        """Encode raw reports with the base this model was trained on (a scratch cache unless
        `cache_dir` is given), then `predict_features`."""
        import tempfile
        if self.evidence != {"none"}:
            raise InputError("these heads read the rule findings too: load them through the staging-system "
                             "registry (`cancerllm stage --system heads_cached`), which builds the evidence")
        if not self.base_model:
            raise InputError("this cached-heads model does not record its base model")
        with tempfile.TemporaryDirectory() as scratch:
            feats, _ = encode_cached(self.base_model, list(texts), cache_dir or scratch, self.cfg, log_every=0)
        return self.predict_features(feats)

    def summary(self) -> list[dict]:
        return [{k: v for k, v in g.items() if k not in ("state", "layer_index")} for g in self.groups]

    def save_pretrained(self, out_dir: str | os.PathLike) -> Path:
        from safetensors.torch import save_file
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {f"{i}.{k}": v.contiguous() for i, g in enumerate(self.groups) for k, v in g["state"].items()}
        save_file(tensors, str(out / WEIGHTS))
        atomic_write_json(out / CONFIG, {"base_model": self.base_model, "hidden": self.hidden,
                                         "findings_vocab": self.findings_vocab, "config": self.cfg.model_dump(mode="json"),
                                         "groups": [{**s, "layer_index": g["layer_index"]}
                                                    for s, g in zip(self.summary(), self.groups)]})
        return out

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike) -> CachedHeadsModel:
        from safetensors.torch import load_file
        path = Path(model_dir)
        if not (path / CONFIG).is_file():
            raise InputError(f"{model_dir}: no {CONFIG} (not a cached-heads model folder)")
        saved = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        tensors = load_file(str(path / WEIGHTS))
        groups = []
        for i, g in enumerate(saved["groups"]):
            prefix = f"{i}."
            groups.append({**g, "state": {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}})
        conf = saved["config"]
        if "weight_decay" in conf:  # folders written before the weight decay became a grid
            conf["weight_decay_grid"] = [conf.pop("weight_decay")]
        return cls(CachedHeadsConfig.model_validate(conf), saved["hidden"], groups, saved["base_model"],
                   saved.get("findings_vocab"))


def check_fields(fields: list[str]) -> None:
    unknown = [f for f in fields if f not in FINE]
    if unknown:
        raise ConfigError(f"unknown fields {unknown}; fields are {list(FINE)}")
