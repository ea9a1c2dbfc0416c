"""Treatment plan generation (paper 2.2.3): eight note sections in, the plan out."""

from __future__ import annotations

from cancerllm.data.section_names import TREATMENT_INPUT
from cancerllm.tasks.common import NOTE_OPTIONS, numbered_sections, section_task_builder
from cancerllm.tasks.jobs import section_job
from cancerllm.tasks.registry import TaskSpec, register

INSTRUCTION = ("You are a medical expert. This task involves generating the treatment plan based on "
               "the provided context or text")


def treatment_context(sections: dict[str, str]) -> str:
    return numbered_sections(sections, TREATMENT_INPUT)


SPEC = register(TaskSpec(name="treatment", instruction=INSTRUCTION,
                         build=section_task_builder("treatment", INSTRUCTION, TREATMENT_INPUT, "plan", "tx"),
                         max_input_tokens=4000, max_new_tokens=500, options=NOTE_OPTIONS,
                         description="Generate the treatment plan from eight clinic-note sections.",
                         command="plan", job=section_job("treatment", TREATMENT_INPUT, treatment_context),
                         paper_table="table3_treatment"))
