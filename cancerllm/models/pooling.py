"""Pooling of a decoder's hidden states: token -> window vector -> report vector.

`pool_hidden` takes each window's last non-pad token (or a masked mean), `pool_chunks` /
`WindowPool` combine the windows of a report (max, mean or learned attention). Shared by
the LoRA heads (`cancerllm.models.heads`) and the cached-feature heads
(`cancerllm.models.cached_heads`).
"""

from __future__ import annotations

import torch
from torch import nn

from cancerllm.errors import ConfigError


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-pad token of each row, for left or right padding.

    The last 1 of the mask, found from the right: argmax returns the first maximum, so on
    the flipped mask it is the distance of the last 1 from the end.
    """
    length = attention_mask.shape[-1]
    return length - 1 - attention_mask.flip(-1).long().argmax(-1)


def pool_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """[rows, tokens, hidden] -> [rows, hidden] (`last` non-pad token or masked `mean`)."""
    if how == "last":
        idx = last_token_index(attention_mask)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]
    mask = attention_mask.bool().unsqueeze(-1)
    # where(), not multiply: pad positions may hold NaN (fully masked attention rows).
    summed = torch.where(mask, hidden, torch.zeros((), dtype=hidden.dtype, device=hidden.device)).sum(1)
    return summed / mask.sum(1).clamp(min=1).to(hidden.dtype)


def pool_chunks(vectors: torch.Tensor, owner: torch.Tensor, how: str, scores: torch.Tensor | None = None
                ) -> torch.Tensor:
    """[windows, hidden] -> [reports, hidden]: max, mean or (`scores`: [windows]) attention
    weights softmaxed within each report's windows."""
    n_reports = int(owner.max().item()) + 1
    if how == "attention":
        if scores is None:
            raise ConfigError("attention pooling needs window scores (WindowPool)")
        top = torch.full((n_reports,), float("-inf"), dtype=scores.dtype, device=scores.device)
        top = top.scatter_reduce(0, owner, scores, reduce="amax", include_self=True)
        weight = torch.exp(scores - top[owner])
        total = torch.zeros(n_reports, dtype=scores.dtype, device=scores.device).index_add(0, owner, weight)
        weight = (weight / total[owner]).unsqueeze(-1).to(vectors.dtype)
        out = torch.zeros(n_reports, vectors.shape[-1], dtype=vectors.dtype, device=vectors.device)
        return out.index_add(0, owner, weight * vectors)
    index = owner.unsqueeze(-1).expand_as(vectors)
    out = torch.zeros(n_reports, vectors.shape[-1], dtype=vectors.dtype, device=vectors.device)
    return out.scatter_reduce(0, index, vectors, reduce="amax" if how == "max" else "mean",
                              include_self=False)


class WindowPool(nn.Module):
    """Window vectors -> report vectors: `max`, `mean`, or `attention` (a learned score per
    window, softmax within the report). Shared by the LoRA heads and the cached-feature heads."""

    def __init__(self, hidden: int, how: str):
        super().__init__()
        self.how = how
        self.score = nn.Linear(hidden, 1) if how == "attention" else None

    def forward(self, vectors: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        scores = self.score(vectors).squeeze(-1).float() if self.score is not None else None
        return pool_chunks(vectors, owner, self.how, scores)
