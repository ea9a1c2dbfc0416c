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
rule (`cancerllm.evaluate.generation`) and counted in the returned `truncated_prompts`.

Restart with the same command (and the same, or only appended-to, input) after a crash
or kill: a record whose id is already in the output (result or error) is skipped, and so
is a line already answered by an id-less error entry; a torn last line is dropped. So
every input record ends up in the output exactly once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from cancerllm.errors import InputError

MAX_NOTE_CHARS = 100_000


def _records(path: Path, text_field: str, max_chars: int) -> Iterator[tuple[int, object, str | None, str | None]]:
    """(line, id or None, text or None, error or None) for each non-blank line."""
    from cancerllm.data.readers import fix_surrogates
    with open(path, encoding="utf-8-sig", errors="replace", newline="\n") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = fix_surrogates(json.loads(raw))
            except (ValueError, RecursionError):
                yield line_no, None, None, "not valid JSON"
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


def _done(path: Path) -> tuple[set[str], set[int]]:
    """(ids, line numbers of id-less entries) already in an output file."""
    ids, lines = set(), set()
    if path.exists():
        from cancerllm.io import read_jsonl
        for rec in read_jsonl(path):
            if rec.get("id") is not None:
                ids.add(str(rec["id"]))
            elif rec.get("line") is not None:
                lines.add(int(rec["line"]))
    return ids, lines


def predict(task: str, model: str | os.PathLike, input: str | os.PathLike, output: str | os.PathLike,
            adapter: str | os.PathLike | None = None, batch_size: int = 16, text_field: str = "text",
            max_chars: int = MAX_NOTE_CHARS, device: str | None = None, dtype: str | None = None,
            max_new_tokens: int | None = None, progress: bool = True, engine=None) -> dict:
    """Answer every note of `input` with `task` into `output` (see module doc); returns counts.

    `batch_size` notes are answered per step (extract asks 8 questions per sentence, so
    its generation batches are fuller); pass a loaded `engine` to reuse a model.
    """
    from tqdm import tqdm

    from cancerllm.io import JsonlAppender
    from cancerllm.offline import local_model_dir
    from cancerllm.serve.notes import job_kind

    kind = job_kind(task)
    source, out_path = Path(input), Path(output)
    if not source.is_file():
        raise InputError(f"input file {str(source)!r} does not exist")
    if engine is None:
        local_model_dir(model)  # refuse a hub name before reading anything
    counts = {"output": str(out_path), "records": 0, "written": 0, "errors": 0, "resumed": 0,
              "truncated_prompts": 0}
    t0 = time.perf_counter()
    with open(source, "rb") as fh:
        total = sum(1 for raw in fh if raw.strip())
    with JsonlAppender(out_path, key="line") as out:
        done_ids, done_lines = _done(out_path)
        seen: dict[str, int] = {}
        pending: list[tuple[int, object, str]] = []

        def flush() -> None:
            nonlocal engine
            if not pending:
                return
            if engine is None:
                from cancerllm.serve.engine import Engine
                engine = Engine.load(model, [str(adapter)] if adapter else None, device=device, dtype=dtype,
                                     batch_size=batch_size, max_new_tokens=max_new_tokens)
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
                counts["records"] += 1
                key = None if rid is None else str(rid)
                if (key is not None and key in done_ids) or line_no in done_lines:
                    counts["resumed"] += 1
                    bar.update(1)
                    continue
                if key is not None and key in seen and error is None:
                    error = f"duplicate id {rid!r} (first on line {seen[key]})"
                    rid = None
                if key is not None:
                    seen.setdefault(key, line_no)
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
