"""Pieces the clinic-note tasks share: section rendering and note iteration."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from cancerllm.data.sections import render_sections


def numbered_sections(sections: dict[str, str], keys: list[str]) -> str:
    """The paper's task input: the chosen sections, numbered, one per line."""
    return render_sections(sections, keys, numbered=True)


def iter_note_sections(corpus_dir: str) -> Iterator[tuple[dict, dict[str, str]]]:
    """Yield (note record, sections) for every clinic note of a corpus folder.

    Synthetic notes carry a `sections` dict; other notes are parsed from their text.
    """
    from cancerllm.io import read_jsonl
    path = Path(corpus_dir) / "notes.jsonl"
    if not path.exists():
        return
    for rec in read_jsonl(path):
        sections = rec.get("sections")
        if not sections:
            from cancerllm.data.sections import parse_sections
            sections = parse_sections(rec.get("text", ""))
        yield rec, sections


def section_task_builder(task: str, instruction: str, input_keys: list[str], response_key: str,
                         id_suffix: str) -> Callable[[str], Iterator[dict]]:
    """A `build` for a note task: numbered `input_keys` sections in, `response_key` section out.

    Notes whose response section is empty, or whose input sections are all empty, give no record.
    """
    def build(corpus_dir: str) -> Iterator[dict]:
        for rec, sections in iter_note_sections(corpus_dir):
            response = sections.get(response_key, "").strip()
            if not response or not any(sections.get(k, "").strip() for k in input_keys):
                continue
            yield {"id": f"{rec['id']}-{id_suffix}", "patient_id": rec.get("patient_id", ""), "task": task,
                   "instruction": instruction, "context": numbered_sections(sections, input_keys),
                   "response": response, "source_id": rec["id"]}
    return build
