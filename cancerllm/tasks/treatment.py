"""Treatment plan generation (paper 2.2.3): eight note sections in, the plan out."""

from __future__ import annotations

from collections.abc import Iterator

from cancerllm.data.section_names import TREATMENT_INPUT
from cancerllm.tasks.common import iter_note_sections, numbered_sections
from cancerllm.tasks.registry import TaskSpec, register

INSTRUCTION = ("You are a medical expert. This task involves generating the treatment plan based on "
               "the provided context or text")


def treatment_context(sections: dict[str, str]) -> str:
    return numbered_sections(sections, TREATMENT_INPUT)


def build(corpus_dir: str) -> Iterator[dict]:
    for rec, sections in iter_note_sections(corpus_dir):
        response = sections.get("plan", "").strip()
        if not response or not any(sections.get(k, "").strip() for k in TREATMENT_INPUT):
            continue
        yield {"id": f"{rec['id']}-tx", "patient_id": rec.get("patient_id", ""), "task": "treatment",
               "instruction": INSTRUCTION, "context": treatment_context(sections), "response": response,
               "source_id": rec["id"]}


SPEC = register(TaskSpec(name="treatment", instruction=INSTRUCTION, build=build,
                         max_input_tokens=4000, max_new_tokens=500,
                         description="Generate the treatment plan from eight clinic-note sections."))
