"""Pathology records (`text`, `labels` {field: fine class}): the one reader and splitter.

Training the heads, evaluating them, the classical staging baselines and
`cancerllm eval staging-rules` all read their reports here, with one validation policy.
A line of the JSONL file is rejected (reported as a `RecordError` naming file and line,
never the text) when it is:
- not valid JSON (the file is read as UTF-8; undecodable bytes become U+FFFD), or not a
  JSON object;
- without a string `text`;
- carrying `labels` that are not an object (null or absent means unlabelled), or a label
  of a schema field that is not one of that field's fine classes
  (`cancerllm.schema.staging.FINE`; null means unlabelled, unknown fields are kept);
- a repeat of an earlier record's id (the id is `id` as a string, else FILE:LINE), so no
  report is counted twice.
Blank lines are skipped.

Splits (`load_splits`): a folder with train/validation/test JSONL, a `split` field on the
record, or else `cancerllm.data.partition.assign_split` by patient, the assignment every
task uses.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from cancerllm.errors import InputError, RecordError
from cancerllm.schema.staging import FINE

log = logging.getLogger(__name__)

SPLIT_ALIASES = {"train": "train", "validation": "validation", "val": "validation", "valid": "validation",
                 "dev": "validation", "test": "test"}


def _check_record(rec, source: str, line: int) -> str:
    """The record's id (see the module doc); RecordError when the record is rejected."""
    if not isinstance(rec, dict):
        raise RecordError(source, line, "not a JSON object")
    given = str(rec.get("id")) if rec.get("id") is not None else None
    if not isinstance(rec.get("text"), str):
        raise RecordError(source, line, "no 'text' string", given)
    labels = rec.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise RecordError(source, line, "'labels' is not an object", given)
    for field, value in (labels or {}).items():
        if field in FINE and value is not None and value not in FINE[field]:
            raise RecordError(source, line, f"labels.{field}: {value!r} is not one of {FINE[field]}", given)
    return str(rec.get("id", f"{Path(source).name}:{line}"))


def _read(path: Path, errors: list[RecordError]) -> Iterator[tuple[str, dict]]:
    """(id, record as read) of every valid line; each rejected line is appended to `errors`."""
    if not path.is_file():
        raise InputError(f"{path}: reports file not found")
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                errors.append(RecordError(str(path), line_no, "not valid JSON"))
                continue
            try:
                rid = _check_record(rec, str(path), line_no)
            except RecordError as err:
                errors.append(err)
                continue
            if rid in seen:
                errors.append(RecordError(str(path), line_no, "duplicate id", rid))
                continue
            seen.add(rid)
            yield rid, rec


def read_reports(path: str | os.PathLike) -> tuple[list[dict], list[RecordError]]:
    """(valid records with `id` as a string, rejected lines) of one reports JSONL file."""
    errors: list[RecordError] = []
    records = [{**rec, "id": rid} for rid, rec in _read(Path(path), errors)]
    return records, errors


def read_records(path: str | os.PathLike, split: str | None = None) -> list[dict]:
    """Valid pathology records of one JSONL file, as written; a rejected line is logged
    (no text) and skipped; no valid record at all is an InputError. `split` is set on
    every record when given."""
    path = Path(path)
    errors: list[RecordError] = []
    records = [rec for _, rec in _read(path, errors)]
    for err in errors:
        log.warning("%s", err)
    if not records:
        raise InputError(f"{path}: no valid pathology records ({len(errors)} rejected)")
    if split is not None:
        for rec in records:
            rec["split"] = split
    return records


def load_splits(data: str | os.PathLike, split_seed: int = 0) -> dict[str, list[dict]]:
    """{train, validation, test: records}. Shared by training and evaluation.

    `data` is a JSONL file, a corpus folder holding pathology.jsonl, or a folder with
    train.jsonl (+ validation.jsonl, test.jsonl). Records without a `split` field get
    `cancerllm.data.partition.assign_split(patient_id, split_seed)`: 80/10/10 by patient,
    the same assignment every task uses, so no patient is on both sides.
    """
    from cancerllm.data.partition import assign_split
    path = Path(data)
    if path.is_dir() and (path / "train.jsonl").is_file():
        records = [r for s in ("train", "validation", "test") if (path / f"{s}.jsonl").is_file()
                   for r in read_records(path / f"{s}.jsonl", split=s)]
    elif path.is_dir() and (path / "pathology.jsonl").is_file():
        records = read_records(path / "pathology.jsonl")
    elif path.is_file():
        records = read_records(path)
    else:
        raise InputError(f"{data}: expected pathology.jsonl, a corpus folder holding it, or a folder "
                         "with train.jsonl / validation.jsonl / test.jsonl")
    splits: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for rec in records:
        given = rec.get("split")
        if given is not None and str(given).lower() not in SPLIT_ALIASES:
            raise InputError(f"{data}: record {rec.get('id')!r} has unknown split {given!r}")
        split = (SPLIT_ALIASES[str(given).lower()] if given is not None
                 else assign_split(str(rec.get("patient_id") or rec.get("id")), split_seed))
        splits[split].append(rec)
    return splits
