"""One rule for shortening a context that is too long, for training and evaluation alike.

Training and evaluation must cut a long input the same way, or the model is evaluated on
inputs shaped unlike the ones it learnt from (before this rule, training dropped the end
of a treatment context, i.e. "Diagnosis" and "Assessment", which evaluation kept).

The rule: **keep the end of the context, the sections nearest the answer.** Every task
puts what matters most last: the phenotype question ends its context ("In the text ...,
what is the tumor size ..."); the diagnosis input ends with the laboratory results
right before the note's diagnosis; the treatment input ends with the diagnosis and the
assessment right before the plan. So:
1. whole leading sections (numbered lines "1) Reason for visit: ...") are dropped first,
   earliest first;
2. if the last sections alone are still too long, the first tokens of what is left are cut.
The instruction and the prompt's headers are never cut. `shorten_context` returns the
shortened context and how many tokens were cut, or None when even an empty context does
not fit (the caller skips that record and counts it).

(The lead wires this into train/finetune.py and evaluate/generation.py; see docs.)
"""

from __future__ import annotations

import re
from collections.abc import Callable

_SECTION_START = re.compile(r"^\d{1,3}\) ", re.MULTILINE)


def section_starts(context: str) -> list[int]:
    """Character offsets where a numbered section line begins (after the first)."""
    return [m.start() for m in _SECTION_START.finditer(context) if m.start() > 0]


def shorten_context(tokenizer, instruction: str, context: str, max_prompt_tokens: int,
                    prompt: Callable[[str, str], str] | None = None) -> tuple[str, int] | None:
    """(context, tokens cut) with `prompt(instruction, context)` within `max_prompt_tokens`.

    `prompt` defaults to `tasks.prompts.format_prompt`, so counts include the template.
    """
    if prompt is None:
        from cancerllm.tasks.prompts import format_prompt as prompt

    def n_tokens(ctx: str) -> int:
        return len(tokenizer(prompt(instruction, ctx))["input_ids"])

    if n_tokens(context) <= max_prompt_tokens:
        return context, 0
    if n_tokens("") > max_prompt_tokens:
        return None
    full = len(tokenizer(context, add_special_tokens=False)["input_ids"])
    # 1. drop whole leading sections while the rest does not fit
    for start in section_starts(context):
        if n_tokens(context[start:]) <= max_prompt_tokens:
            kept = context[start:]
            return kept, full - len(tokenizer(kept, add_special_tokens=False)["input_ids"])
    # 2. cut the first tokens of the last section(s): the largest tail that fits (binary search
    #    on the token position; tokenising a tail can differ by a token at the cut, hence the check)
    tail_start = section_starts(context)[-1] if section_starts(context) else 0
    tail = context[tail_start:]
    enc = tokenizer(tail, add_special_tokens=False, return_offsets_mapping=True)
    offsets = [a for a, _ in enc["offset_mapping"]]
    lo, hi = 0, len(offsets)          # keep tokens offsets[k:], smallest k that fits
    while lo < hi:
        mid = (lo + hi) // 2
        if n_tokens(tail[offsets[mid]:]) <= max_prompt_tokens:
            hi = mid
        else:
            lo = mid + 1
    kept = tail[offsets[lo]:] if lo < len(offsets) else ""
    return kept, full - len(tokenizer(kept, add_special_tokens=False)["input_ids"])
