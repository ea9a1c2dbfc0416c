"""Run a whole JSONL file of notes through extract, diagnose or plan; resumable.

Input: one JSON object per line with an `id` (string or integer) and the note in `text`
(`text_field` to change it). Blank lines are not records; lines end at "\n" only, as
in the readers, so a stray "\r" cannot shift line numbers. Decoding follows the readers'
policy where it keeps offsets: bytes that are not UTF-8 and lone surrogates from JSON
escapes become U+FFFD (one for one), a leading BOM is dropped; control characters are
kept, so phenotype offsets index the note exactly as sent. Output: one JSON line per input
record, appended and flushed as each batch finishes (`cancerllm.io.JsonlAppender`):
- a result: `{"id", "line", "task", "model", ...}` - the fields of the command's result
  (`prediction` for diagnosis/treatment; `phenotypes`, `n_sentences`, ... for phenotype);
- an error: `{"id", "line", "error": reason}`, with `"id": null` when the record has no
  usable id (then the input line number identifies it). Reasons: not valid JSON, not a
  JSON object, missing id, id of the wrong type, duplicate id, text missing or not a
  string, empty text, text longer than `max_chars` (default `MAX_NOTE_CHARS`, 100,000
  characters: a long note is otherwise truncated per task by the token limits, and one
  runaway record must not hold the whole run). Reasons never quote note text.
Prompts still longer than the task's token limit are cut by the generation module's
rule (`cancerllm.models.generation`) and counted in the returned `truncated_prompts`.

Restart with the same command (and the same, or only appended-to, input) after a crash
or kill: an input line already answered in the output (result or error entry, matched
by line number) is skipped and counted in `resumed`, which therefore equals the entries
on disk; duplicate ids are decided the same way in every run (the first line with an id
wins), so a duplicate after the kill point still gets its error entry. A torn last
output line is dropped. A last *input* line that has no newline and is not valid JSON is
a record still being appended by its writer: it is counted in `incomplete`, gets no
entry, and is answered by a later run once complete. So every input record ends up in
the output exactly once.

The output is guarded, because resuming into the wrong file would destroy it or answer
nothing: `OUTPUT.run.json` (a sidecar, written first) records the task, model and adapter
folders, input file and text field that produce the output. A rerun
that differs in any of these is refused; so is an output that is the input file, and an
existing non-empty output without a sidecar (not written by `predict`): nothing is ever
truncated but a torn last line of a file `predict` wrote. Outputs are created 0600.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from cancerllm.errors import InputError

MAX_NOTE_CHARS = 100_000


INCOMPLETE = "incomplete last line"


def _records(path: Path, text_field: str, max_chars: int) -> Iterator[tuple[int, object, str | None, str | None]]:
    """(line, id or None, text or None, error or None) for each non-blank line.

    A torn last line (no newline, not JSON) comes with the error `INCOMPLETE`."""
    from cancerllm.data.records import fix_surrogates
    with open(path, encoding="utf-8-sig", errors="replace", newline="\n") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = fix_surrogates(json.loads(raw))
            except (ValueError, RecursionError):
                yield line_no, None, None, INCOMPLETE if not raw.endswith("\n") else "not valid JSON"
                continue
            if not isinstance(obj, dict):
                yield line_no, None, None, "not a JSON object"
                continue
            rid = obj.get("id")
            if rid is None:
                yield line_no, None, None, "missing id"
                continue
            if isinstance(rid, bool) or not isinstance(rid, (str, int)):
                yield line_no, None, None, f"id must be a string or integer, got {type(rid).__name__}"
                continue
            text = obj.get(text_field)
            if not isinstance(text, str):
                got = "missing" if text is None else type(text).__name__
                yield line_no, rid, None, f"field {text_field!r} must be a string ({got})"
            elif not text.strip():
                yield line_no, rid, None, "empty text"
            elif len(text) > max_chars:
                yield line_no, rid, None, f"text too long: {len(text)} characters > limit {max_chars}"
            else:
                yield line_no, rid, text, None


def run_file(output: Path) -> Path:
    """The sidecar recording what produces `output`."""
    return output.with_name(output.name + ".run.json")


def _claim_output(source: Path, out_path: Path, producer: dict) -> None:
    """Refuse an output that is the input, someone else's file, or another run's; else
    record `producer` in the sidecar (before the first line is written)."""
    from cancerllm.io import atomic_write_json
    if out_path.exists() and source.exists() and os.path.samefile(source, out_path):
        raise InputError(f"--output {str(out_path)!r} is the input file; give a new output path")
    sidecar = run_file(out_path)
    if sidecar.exists():
        try:
            earlier = json.loads(sidecar.read_text(encoding="utf-8"))
        except ValueError:
            earlier = None
        if not isinstance(earlier, dict):
            raise InputError(f"{sidecar}: not a predict run record; delete it and {out_path} to start over")
        differ = [k for k, v in producer.items() if earlier.get(k) != v]
        if differ:
            was = ", ".join(f"{k} {earlier.get(k)!r} (now {producer[k]!r})" for k in differ)
            raise InputError(f"{out_path} was written by another run: {was}. Resuming would skip records "
                             "answered differently; give a new output path")
        return
    if out_path.exists() and out_path.stat().st_size:
        raise InputError(f"{out_path} exists and was not written by cancerllm predict (no {sidecar.name}); "
                         "refusing to append to it or truncate it: give a new output path")
    atomic_write_json(sidecar, producer)


def _done_lines(path: Path) -> set[int]:
    """Input line numbers already answered in an output file."""
    from cancerllm.io import read_jsonl
    return {int(rec["line"]) for rec in read_jsonl(path) if rec.get("line") is not None} if path.exists() else set()


def predict(task: str, model: str | os.PathLike, input: str | os.PathLike, output: str | os.PathLike,
            adapter: str | os.PathLike | None = None, batch_size: int = 16, text_field: str = "text",
            max_chars: int = MAX_NOTE_CHARS, device: str | None = None, dtype: str | None = None,
            max_new_tokens: int | None = None, progress: bool = True, engine=None,
            quantization: str | None = None, num_beams: int = 1) -> dict:
    """Answer every note of `input` with `task` into `output` (see module doc); returns counts.

    `batch_size` notes are answered per step (extract asks 8 questions per sentence, so
    its generation batches are fuller); pass a loaded `engine` to reuse a model.
    """
    from tqdm import tqdm

    from cancerllm.models.generation import model_label
    from cancerllm.io import JsonlAppender
    from cancerllm.offline import local_model_dir
    from cancerllm.tasks.registry import task_for_command

    spec = task_for_command(task)
    kind = spec.command
    source, out_path = Path(input), Path(output)
    if not source.is_file():
        raise InputError(f"input file {str(source)!r} does not exist")
    if engine is None:
        model_dir = local_model_dir(model)
        adapters = {"*": str(local_model_dir(adapter, "adapter"))} if adapter else {}
        label = model_label(model_dir, adapter)
    else:
        model_dir, label = engine.model_dir.resolve(), engine.label
        adapters = {k or "*": str(v) for k, v in engine.adapters.items()}
    _claim_output(source, out_path, {"producer": "cancerllm predict", "task": spec.name,
                                     "model": label, "model_dir": str(model_dir), "adapters": adapters,
                                     "input": str(source.resolve()), "text_field": text_field})
    counts = {"output": str(out_path), "records": 0, "written": 0, "errors": 0, "resumed": 0,
              "incomplete": 0, "truncated_prompts": 0}
    t0 = time.perf_counter()
    with open(source, "rb") as fh:
        total = sum(1 for raw in fh if raw.strip())
    with JsonlAppender(out_path, key="line") as out:
        done_lines = _done_lines(out_path)
        seen: dict[str, int] = {}
        pending: list[tuple[int, object, str]] = []

        def flush() -> None:
            nonlocal engine
            if not pending:
                return
            if engine is None:
                from cancerllm.serve.engine import Engine
                engine = Engine.load(model, [str(adapter)] if adapter else None, device=device, dtype=dtype,
                                     batch_size=batch_size, max_new_tokens=max_new_tokens,
                                     quantization=quantization, num_beams=num_beams)
            before = engine.n_truncated
            results = engine.run(kind, [text for _, _, text in pending])
            counts["truncated_prompts"] += engine.n_truncated - before
            for (line_no, rid, _), result in zip(pending, results):
                out.write({"id": rid, "line": line_no, **result, "model": engine.label})
            counts["written"] += len(pending)
            bar.update(len(pending))
            pending.clear()

        with tqdm(total=total, unit="note", disable=not progress, desc=kind) as bar:
            for line_no, rid, text, error in _records(source, text_field, max_chars):
                if error == INCOMPLETE:  # still being written: a later run answers it
                    counts["incomplete"] += 1
                    continue
                counts["records"] += 1
                key = None if rid is None else str(rid)
                if key is not None and key in seen and error is None:
                    error = f"duplicate id {rid!r} (first on line {seen[key]})"
                    rid = None
                if key is not None:
                    seen.setdefault(key, line_no)
                if line_no in done_lines:  # after the duplicate check, so every run decides alike
                    counts["resumed"] += 1
                    bar.update(1)
                    continue
                if error is not None:
                    out.write({"id": rid, "line": line_no, "error": error})
                    counts["errors"] += 1
                    bar.update(1)
                    continue
                pending.append((line_no, rid, text))
                if len(pending) >= batch_size:
                    flush()
            flush()
    counts["seconds"] = round(time.perf_counter() - t0, 2)
    return counts
