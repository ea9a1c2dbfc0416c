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
The instruction and the prompt's headers are never cut; a record whose template and
instruction alone do not fit is skipped and counted by the caller. The rule is applied on
token ids by `tasks.prompts.PromptFormat.encode_prompt`, the one encoder of training,
evaluation and serving; this module finds the section boundaries.
"""

from __future__ import annotations

import re

_SECTION_START = re.compile(r"^\d{1,3}\) ", re.MULTILINE)


def section_starts(context: str) -> list[int]:
    """Character offsets where a numbered section line begins (after the first)."""
    return [m.start() for m in _SECTION_START.finditer(context) if m.start() > 0]
