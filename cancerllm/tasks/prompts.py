"""The one prompt template, shared by training, evaluation and inference.

Training and inference must format a record identically, or the model is asked
something it never saw; so there is exactly one function for each direction.
The layout is the Dolly/Alpaca {instruction, context, response} form the paper's
records follow.
"""

from __future__ import annotations

RESPONSE_MARKER = "### Response:\n"


def format_prompt(instruction: str, context: str) -> str:
    """The model input up to (and including) the response marker."""
    return f"### Instruction:\n{instruction}\n\n### Context:\n{context}\n\n{RESPONSE_MARKER}"


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
