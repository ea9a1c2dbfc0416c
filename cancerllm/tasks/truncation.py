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


_HEADER = re.compile(r"^\d{1,3}\) ([^:\n]+):", re.MULTILINE)


def select_sections(context: str, names: list[str] | None) -> str:
    """The context's numbered sections whose header is in `names` (case-insensitive), in
    note order; the context unchanged when `names` is empty or it has no such sections.

    Why: a note's sections do not all bear on every task. A treatment plan follows the
    reason for visit, the history (current cycle, fractions left) and the diagnosis and
    assessment, not the review of systems, vitals and laboratory table that sit between
    them - and which, kept, push the history out of a CPU-sized prompt. A recipe names the
    sections per task (`context_sections: {treatment: [...]}`); training and evaluation
    apply the same choice (`train.finetune`, `models.generation`).
    """
    if not names:
        return context
    wanted = {n.strip().lower() for n in names}
    heads = list(_HEADER.finditer(context))
    if not heads:
        return context
    bounds = [m.start() for m in heads] + [len(context)]
    kept = [context[bounds[i]:bounds[i + 1]].rstrip("\n") for i, m in enumerate(heads)
            if m.group(1).strip().lower() in wanted]
    return "\n".join(kept) if kept else context
