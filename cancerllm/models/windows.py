"""Long reports as token windows, and the batches of windows a heads model reads.

`encode_reports` cuts each report (sections reordered first, `reorder_sections`) into
overlapping windows of `max_length` tokens, at most `max_chunks` per report, and reports
what was cut (`window_coverage`); `HeadsCollator` flattens the windows of a batch of
reports into one padded tensor. Used by the LoRA heads (`cancerllm.models.heads`, its
training in `cancerllm.train.heads`) and the cached-feature heads (`cancerllm.models.cached_heads`).
"""

from __future__ import annotations

import torch

from cancerllm.errors import ConfigError


def encode_reports(tokenizer, texts: list[str], max_length: int, overlap: int, max_chunks: int,
                   reorder: bool = True, coverage: dict | None = None) -> list[list[list[int]]]:
    """Token windows per report: [report][window][token ids].

    Windows come from the fast tokenizer's overflow mechanism (`stride` = overlap), so
    every token of the reordered report is in at least one window unless the report needs
    more than `max_chunks` windows. An empty report becomes one EOS token so it still has
    a last non-pad token to pool. `coverage`, when given, is filled with what was cut
    (`window_coverage`): nothing is dropped silently.
    """
    if overlap >= max_length // 2:
        raise ConfigError(f"overlap ({overlap}) must be less than half of max_length ({max_length})")
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("report windows need a fast (Rust) tokenizer: tokenizer.json in the model folder")
    from cancerllm.data.sections import reorder_sections  # the section parser (header rules)
    prepared = [reorder_sections(t) if reorder else t for t in texts]
    enc = tokenizer(prepared, truncation=True, max_length=max_length, stride=overlap,
                    return_overflowing_tokens=True, add_special_tokens=True)
    out: list[list[list[int]]] = [[] for _ in texts]
    needed = [0] * len(texts)
    tokens_all, tokens_kept = [0] * len(texts), [0] * len(texts)
    for ids, report in zip(enc["input_ids"], enc["overflow_to_sample_mapping"]):
        new = len(ids) - (overlap if needed[report] else 0)  # a later window repeats `overlap` tokens
        needed[report] += 1
        tokens_all[report] += new
        if len(out[report]) < max_chunks:
            out[report].append(list(ids))
            tokens_kept[report] += new
    if coverage is not None:
        coverage.update(window_coverage(needed, [len(c) for c in out], tokens_all, tokens_kept))
    fallback = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    for chunks in out:
        if not chunks or not any(chunks):
            chunks[:] = [[fallback]]
    return out


def window_coverage(needed: list[int], kept: list[int], tokens_all: list[int], tokens_kept: list[int]) -> dict:
    """What the windows cover: reports cut, windows dropped, share of report tokens seen."""
    total = sum(tokens_all)
    return {"reports": len(needed), "reports_cut": sum(k < n for k, n in zip(kept, needed)),
            "windows_needed": sum(needed), "windows_kept": sum(kept), "tokens": total,
            "tokens_seen": sum(tokens_kept), "share_tokens_seen": sum(tokens_kept) / total if total else 1.0,
            "max_windows_per_report": max(needed, default=0)}


class HeadsCollator:
    """Flattens the windows of a batch of reports into one padded tensor.

    `chunk_report[i]` is the index (in the batch) of the report window i belongs to;
    `labels` is [reports, fields] with -100 for an unlabelled field.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        rows, owner = [], []
        for i, feat in enumerate(features):
            for chunk in feat["input_ids"]:
                rows.append({"input_ids": list(chunk)})
                owner.append(i)
        batch = self.tokenizer.pad(rows, padding=True, return_tensors="pt")
        out = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
               "chunk_report": torch.tensor(owner, dtype=torch.long)}
        if "labels" in features[0]:
            out["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return out
