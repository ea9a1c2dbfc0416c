"""Diagnosis generation (paper 2.2.2): six note sections in, the diagnosis out."""

from __future__ import annotations

from collections.abc import Iterator

from cancerllm.data.section_names import DIAGNOSIS_INPUT
from cancerllm.tasks.common import iter_note_sections, numbered_sections
from cancerllm.tasks.registry import TaskSpec, register

INSTRUCTION = ("You are a medical expert. This task involves generating the diagnosis based on "
               "the provided context or text")


def diagnosis_context(sections: dict[str, str]) -> str:
    return numbered_sections(sections, DIAGNOSIS_INPUT)


def build(corpus_dir: str) -> Iterator[dict]:
    for rec, sections in iter_note_sections(corpus_dir):
        response = sections.get("diagnosis", "").strip()
        if not response or not any(sections.get(k, "").strip() for k in DIAGNOSIS_INPUT):
            continue
        yield {"id": f"{rec['id']}-dx", "patient_id": rec.get("patient_id", ""), "task": "diagnosis",
               "instruction": INSTRUCTION, "context": diagnosis_context(sections), "response": response,
               "source_id": rec["id"]}


SPEC = register(TaskSpec(name="diagnosis", instruction=INSTRUCTION, build=build,
                         max_input_tokens=1500, max_new_tokens=500,
                         description="Generate the diagnosis from six clinic-note sections."))
