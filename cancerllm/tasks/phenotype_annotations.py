"""A hospital's annotated notes as phenotype sentences: span JSON, BIO/CoNLL or BRAT in.

`cancerllm data tasks --annotations PATH [--label-map labels.yaml]` reads the notes with
`data.annotations`, maps their labels onto the 8 entity types (`tasks.label_map`:
unmapped labels are an error naming them, unless `--ignore-labels`), splits each note
into sentences with offsets (`data.sentences`), and hands the sentences to the
phenotype task exactly as a corpus folder's phenotypes.jsonl would.

Patients: splits are by patient, so each note needs one. It comes from the span
record's "patient_id", else from `--patient-map` (CSV with `id,patient_id` columns, or a
JSON object id -> patient), else the note is its own patient; summary.json counts the
notes in that last case, because notes of one patient may then land in different
splits. (A BIO file's documents are its sentence blocks, named by "# id = X" lines.)
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cancerllm.data.records import FileStats, ReadReport
from cancerllm.errors import ConfigError, InputError

FORMATS = ("auto", "spans", "bio", "brat")
_BIO_SUFFIXES = {".bio", ".conll", ".iob", ".iob2", ".bioes", ".tsv", ".txt"}


@dataclass
class AnnotationReport(ReadReport):
    """A read report plus what the label map and the patient lookup did (for summary.json)."""
    info: dict = field(default_factory=dict)


def detect_format(path: str | os.PathLike, fmt: str = "auto") -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown annotation format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    p = Path(path)
    if p.is_dir() or p.suffix.lower() == ".ann" or (p.suffix.lower() == ".txt" and p.with_suffix(".ann").exists()):
        return "brat"
    if p.suffix.lower() in {".json", ".jsonl", ".ndjson"}:
        return "spans"
    if p.suffix.lower() in _BIO_SUFFIXES:
        return "bio"
    raise InputError(f"{p}: cannot tell the annotation format from the name; give --annotation-format "
                     f"spans, bio or brat")


def read_annotations(path: str | os.PathLike, fmt: str = "auto"):
    from cancerllm.data import annotations
    readers = {"spans": annotations.read_spans, "bio": annotations.read_bio, "brat": annotations.read_brat}
    return readers[detect_format(path, fmt)](path)


def load_patient_map(path: str | os.PathLike | None) -> dict[str, str]:
    """{document id: patient id} from a CSV (`id`, `patient_id` columns) or a JSON object."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"patient map {str(p)!r} does not exist")
    if p.suffix.lower() == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConfigError(f"patient map {p}: expected a JSON object {{document id: patient id}}")
        return {str(k): str(v) for k, v in data.items()}
    with open(p, encoding="utf-8-sig", newline="") as fh:
        rows = csv.DictReader(fh)
        if not rows.fieldnames or not {"id", "patient_id"} <= set(rows.fieldnames):
            raise ConfigError(f"patient map {p}: needs the columns id and patient_id, has {rows.fieldnames}")
        return {r["id"]: r["patient_id"] for r in rows if r["id"] and r["patient_id"]}


def annotation_sentences(path: str | os.PathLike, reports: list[ReadReport], fmt: str = "auto",
                         label_map: str | os.PathLike | None = None, ignore_labels: bool = False,
                         patient_map: str | os.PathLike | None = None) -> Iterator[dict]:
    """Phenotype sentence records of the annotated notes at `path` (see the module doc)."""
    from cancerllm.tasks.label_map import load_label_map, map_labels
    from cancerllm.data.sentences import annotated_sentences
    mapping = load_label_map(label_map)
    patients = load_patient_map(patient_map)
    docs, errors = read_annotations(path, fmt)
    resolved, dropped = map_labels(Counter(e.label for d in docs for e in d.entities), mapping, ignore_labels)
    report = AnnotationReport(files={str(path): FileStats(n_read=len(docs), n_skipped=len(errors))},
                              skipped=list(errors))
    without_patient = 0
    n_sentences = 0
    for doc in docs:
        patient = doc.patient_id or patients.get(doc.id)
        if not patient:
            without_patient += 1
            patient = doc.id
        for sent in annotated_sentences(doc, patient, resolved.get):
            n_sentences += 1
            yield sent
    report.info = {"annotations": str(path), "format": detect_format(path, fmt), "documents": len(docs),
                   "sentences": n_sentences, "labels": {k: v for k, v in resolved.items() if v},
                   "dropped_labels": dict(dropped), "documents_without_patient": without_patient}
    reports.append(report)
