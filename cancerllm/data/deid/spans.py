"""A found identifier (`Span`) and the merging of overlapping finds into replaced spans."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# When two finds overlap and are equally long, the earlier type in this order names the merge.
_PRIORITY = {t: i for i, t in enumerate(("EMAIL", "URL", "IP", "PHONE", "MRN", "ID", "ADDRESS", "DATE", "AGE", "NAME"))}


@dataclass
class Span:
    """Characters [start, end) of a text that identify someone; `value` carries date parts."""
    start: int
    end: int
    type: str
    value: Any = field(default=None, compare=False)

    def __len__(self) -> int:
        return self.end - self.start


def merge(spans: list[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering every character any find covered.

    Overlapping finds become one span named after the longest (ties: `_PRIORITY`); a date
    merged with anything larger loses its parts and is replaced by a tag, not shifted.
    """
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -len(s), _PRIORITY[s.type])):
        if s.end <= s.start:
            continue
        if out and s.start < out[-1].end:
            last = out[-1]
            if s.end > last.end:
                bigger = s if len(s) > len(last) else last
                out[-1] = Span(last.start, s.end, bigger.type)
            # (a find inside the one before it is dropped: that one, value and all, stays)
            continue
        out.append(s)
    return out
