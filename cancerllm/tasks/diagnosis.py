"""Diagnosis generation (paper 2.2.2): six note sections in, the diagnosis out."""

from __future__ import annotations

from cancerllm.data.section_names import DIAGNOSIS_INPUT
from cancerllm.tasks.common import NOTE_OPTIONS, numbered_sections, section_task_builder
from cancerllm.tasks.jobs import section_job
from cancerllm.tasks.registry import TaskSpec, register

INSTRUCTION = ("You are a medical expert. This task involves generating the diagnosis based on "
               "the provided context or text")


def diagnosis_context(sections: dict[str, str]) -> str:
    return numbered_sections(sections, DIAGNOSIS_INPUT)


SPEC = register(TaskSpec(name="diagnosis", instruction=INSTRUCTION,
                         build=section_task_builder("diagnosis", INSTRUCTION, DIAGNOSIS_INPUT, "diagnosis", "dx"),
                         max_input_tokens=1500, max_new_tokens=500, options=NOTE_OPTIONS,
                         description="Generate the diagnosis from six clinic-note sections.",
                         command="diagnose", job=section_job("diagnosis", DIAGNOSIS_INPUT, diagnosis_context),
                         paper_table="table2_diagnosis"))
