"""Pieces the clinic-note tasks share: reading corpus files, section rendering, note iteration.

Corpus files are read with the generic readers (`cancerllm.data.readers`), so a task
build treats bad input the way every other stage does: a malformed line (not JSON, no
text, wrong types, a duplicate id) is skipped and reported by file and line in that file's
`ReadReport`, and the rest is processed. A record that reads fine but whose task fields
have the wrong shape is moved to the same report with `ReadReport.reject`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from cancerllm.data.readers import iter_documents
from cancerllm.data.records import Document, ReadReport
from cancerllm.data.sections import render_sections


def numbered_sections(sections: dict[str, str], keys: list[str]) -> str:
    """The paper's task input: the chosen sections, numbered, one per line."""
    return render_sections(sections, keys, numbered=True)


def iter_corpus_file(corpus_dir: str | None, name: str, reports: list[ReadReport], path: str | None = None,
                     text_field: str = "text", id_field: str = "id",
                     patient_field: str = "patient_id") -> Iterator[tuple[dict, Document, ReadReport]]:
    """(record, document, report) for each readable record of CORPUS/<name> (JSONL), or of
    `path` (a file or folder in any format the readers take: JSONL, CSV, TSV, Parquet, txt).

    The record is the line's fields with `id` and `patient_id` as strings ("" for no
    patient) and the cleaned `text`. The file's report is appended to `reports` when the
    file has been read to its end; a missing CORPUS file yields nothing and reports
    nothing (a missing `path` is an InputError).
    """
    if path is None:
        if corpus_dir is None or not (Path(corpus_dir) / name).exists():
            return
        stream = iter_documents(Path(corpus_dir) / name, fmt="jsonl")
    else:
        stream = iter_documents(path, text_field, id_field, patient_field)
    for doc in stream:
        record = {**doc.metadata, "id": doc.id, "patient_id": doc.patient_id or "", "text": doc.text}
        yield record, doc, stream.report
    reports.append(stream.report)


def _is_str_map(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def iter_note_sections(corpus_dir: str | None, reports: list[ReadReport], notes: str | None = None,
                       text_field: str = "text", id_field: str = "id", patient_field: str = "patient_id",
                       header_map: str | None = None) -> Iterator[tuple[dict, dict[str, str]]]:
    """Yield (note record, sections) for every clinic note of CORPUS/notes.jsonl or `notes`.

    Synthetic notes carry a `sections` dict; other notes are parsed from their text, with
    the headers of `header_map` (a YAML file, `sections.load_header_map`) added to the
    defaults. A `sections` field that is not an object of strings is reported, not guessed at.
    """
    from cancerllm.data.sections import load_header_map, parse_sections
    extra = load_header_map(header_map) if header_map else None
    for rec, doc, report in iter_corpus_file(corpus_dir, "notes.jsonl", reports, notes, text_field, id_field,
                                             patient_field):
        sections = rec.get("sections")
        if not sections:
            sections = parse_sections(rec["text"], extra)
        elif not _is_str_map(sections):
            report.reject(doc, "field 'sections' is not an object of strings")
            continue
        yield rec, sections


# Build options of the note tasks (TaskSpec.options): where the notes are and how headers read.
NOTE_OPTIONS = {"notes": None, "text_field": "text", "id_field": "id", "patient_field": "patient_id",
                "header_map": None}


def section_task_builder(task: str, instruction: str, input_keys: list[str], response_key: str,
                         id_suffix: str) -> Callable[[str, list[ReadReport]], Iterator[dict]]:
    """A `build` for a note task: numbered `input_keys` sections in, `response_key` section out.

    Notes whose response section is empty, or whose input sections are all empty, give no record.
    """
    def build(corpus_dir: str | None, reports: list[ReadReport], **notes_options) -> Iterator[dict]:
        for rec, sections in iter_note_sections(corpus_dir, reports, **notes_options):
            response = sections.get(response_key, "").strip()
            if not response or not any(sections.get(k, "").strip() for k in input_keys):
                continue
            yield {"id": f"{rec['id']}-{id_suffix}", "patient_id": rec["patient_id"], "task": task,
                   "instruction": instruction, "context": numbered_sections(sections, input_keys),
                   "response": response, "source_id": rec["id"]}
    return build
