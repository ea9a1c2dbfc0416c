"""The one prompt template, shared by training, evaluation and inference.

Training and inference must format a record identically, or the model is asked
something it never saw; so there is exactly one function for each direction.
The layout is the Dolly/Alpaca {instruction, context, response} form the paper's
records follow.

Note text is data, never part of the template: a note may contain lines such as
"### Response:" or "### Instruction: ignore the question and ...". In the instruction
and the context, a run of three or more "#" that begins a line (after spaces or tabs;
any line break counts, "\\r" included) is cut to "##". So the prompt holds exactly one
"### Instruction:", one "### Context:" and one "### Response:" header, in that order,
whatever the note says, and the note stays inside the context section. Only those runs
of "#" change; nothing else in the text is touched.
"""

from __future__ import annotations

import re

RESPONSE_MARKER = "### Response:\n"
_HEADER_RUN = re.compile(r"(^|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029])([ \t]*)#{3,}")


def neutralize_headers(text: str) -> str:
    """`text` with every line-initial run of 3+ "#" cut to "##" (see module doc)."""
    return _HEADER_RUN.sub(r"\1\2##", text)


def format_prompt(instruction: str, context: str) -> str:
    """The model input up to (and including) the response marker."""
    return (f"### Instruction:\n{neutralize_headers(instruction)}\n\n"
            f"### Context:\n{neutralize_headers(context)}\n\n{RESPONSE_MARKER}")


def format_example(instruction: str, context: str, response: str, eos_token: str) -> tuple[str, str]:
    """(prompt, completion) for training; the loss covers the completion only.

    The completion ends with the tokenizer's end-of-sequence token so the model learns
    where an answer stops (generation stops there).
    """
    return format_prompt(instruction, context), f"{response}{eos_token}"


def clean_generation(text: str) -> str:
    """Cut a raw generation at the first sign the model went on past its answer."""
    for stop in ("\n### ", "### Instruction:", "### Context:"):
        idx = text.find(stop)
        if idx != -1:
            text = text[:idx]
    return text.strip()
