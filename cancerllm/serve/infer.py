"""One note in, one result out: the Python side of `cancerllm extract|diagnose|plan` (and of
any other served task's command).

`run_note` loads the model (local folder only), runs the note's job (the task's
`TaskSpec.job`, see `cancerllm.tasks.jobs`) and returns a JSON-ready dict with a `model`
entry; `extract`, `diagnose` and `plan` are it for the built-in tasks. To answer
many notes, load an `Engine` once and call `engine.run(kind, texts)`, or use
`cancerllm predict` for a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from cancerllm.errors import InputError


def read_note(text: str | None = None, file: str | os.PathLike | None = None) -> str:
    """The note from exactly one of `text` or `file` (UTF-8); refuses an empty note."""
    if (text is None) == (file is None):
        raise InputError("give the note either as --text or as --file, not both or neither")
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise InputError(f"note file {str(path)!r} does not exist")
        text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise InputError("the note is empty")
    return text


def run_note(kind: str, text: str, model: str | os.PathLike, adapter: str | os.PathLike | None,
         device: str | None = None, dtype: str | None = None, max_new_tokens: int | None = None,
         num_beams: int = 1) -> dict:
    """`kind`: a served task's command or name ('extract', 'phenotype', ...); `num_beams` > 1
    decodes with beam search (as an evaluation that chose it, e.g. the demo's diagnosis)."""
    from cancerllm.serve.engine import Engine
    engine = Engine.load(model, [str(adapter)] if adapter else None, device=device, dtype=dtype,
                         max_new_tokens=max_new_tokens, num_beams=num_beams)
    result = engine.run(kind, [text])[0]
    return {**result, "model": engine.info()}


def extract(text: str, model: str | os.PathLike, adapter: str | os.PathLike | None = None,
            device: str | None = None, dtype: str | None = None, max_new_tokens: int | None = None) -> dict:
    """Phenotypes of a note as JSON: per entity type, values with note offsets (grounded or not)."""
    return run_note("extract", text, model, adapter, device, dtype, max_new_tokens)


def diagnose(text: str, model: str | os.PathLike, adapter: str | os.PathLike | None = None,
             device: str | None = None, dtype: str | None = None, max_new_tokens: int | None = None) -> dict:
    """The diagnosis the model writes from the note's sections (`prediction`)."""
    return run_note("diagnose", text, model, adapter, device, dtype, max_new_tokens)


def plan(text: str, model: str | os.PathLike, adapter: str | os.PathLike | None = None,
         device: str | None = None, dtype: str | None = None, max_new_tokens: int | None = None) -> dict:
    """The treatment plan the model writes from the note's sections (`prediction`)."""
    return run_note("plan", text, model, adapter, device, dtype, max_new_tokens)
