"""Phenotype extraction as question answering (paper 2.2.1, Table 1).

Each annotated sentence is asked all 8 questions; the response is the entity text(s) of
the asked type, comma-joined in order of appearance, or "Not relevant".

Table 1 has two receptor questions. We map "Please identify the receptors mentioned ..."
to the receptor *status* findings (positive/negative/+) and "What is the receptor type
..." to the receptor *type* (ER/PR/HER2); the paper does not say which is which.
"""

from __future__ import annotations

from collections.abc import Iterator

from cancerllm.data.readers import ReadReport
from cancerllm.tasks.registry import TaskSpec, register

INSTRUCTION = ("You are a medical expert, this task involves answering the question based on "
               "the provided context or text.")
NOT_RELEVANT = "Not relevant"

# Table 1, in the paper's order; key = entity type the question asks for.
QUESTIONS: dict[str, str] = {
    "tumor_size": "What is the tumor size in the given context?",
    "histological_type": "What is the histological type in the given context?",
    "hormone_receptor_status": "Please identify the receptors mentioned in the provided context.",
    "hormone_receptor_type": "What is the receptor type in the given context?",
    "tumor_laterality": "Please identify the value of tumor laterality in the provided context.",
    "cancer_stage": "What is the stage of cancer in the given context?",
    "tumor_site": "Please describe the tumor location in the given context",
    "cancer_grade": "What is the grade of cancer in the given context?",
}
ENTITY_TYPES: list[str] = ["hormone_receptor_type", "hormone_receptor_status", "tumor_size", "tumor_site",
                           "cancer_grade", "histological_type", "tumor_laterality", "cancer_stage"]


def phenotype_context(sentence: str, question: str) -> str:
    """The paper's context: the sentence to process, followed by the question."""
    return f"{sentence}\n{question}"


def answer(entities: list[dict], entity_type: str) -> str:
    values: list[str] = []
    for ent in sorted(entities, key=lambda e: e["start"]):
        if ent["label"] == entity_type and ent["text"] not in values:
            values.append(ent["text"])
    return ", ".join(values) if values else NOT_RELEVANT


def records_for_sentence(sent: dict) -> Iterator[dict]:
    for qid, (etype, question) in enumerate(QUESTIONS.items(), start=1):
        yield {
            "id": f"{sent['id']}-q{qid}", "patient_id": sent.get("patient_id", ""),
            "task": "phenotype", "instruction": INSTRUCTION,
            "context": phenotype_context(sent["text"], question),
            "response": answer(sent.get("entities", []), etype),
            "entity_type": etype, "question_id": qid, "sentence": sent["text"],
            "source_id": sent.get("source_id", ""),
        }


def entities_problem(entities) -> str | None:
    """Why a sentence's `entities` cannot be used, or None: a list of {start, label, text}."""
    if not isinstance(entities, list):
        return f"field 'entities' is {type(entities).__name__}, not a list"
    for i, ent in enumerate(entities):
        if not (isinstance(ent, dict) and isinstance(ent.get("label"), str) and isinstance(ent.get("text"), str)
                and isinstance(ent.get("start"), int) and not isinstance(ent.get("start"), bool)):
            return f"entity {i} is not an object with integer 'start' and string 'label' and 'text'"
    return None


def build(corpus_dir: str, reports: list[ReadReport]) -> Iterator[dict]:
    """Eight question records per sentence of CORPUS/phenotypes.jsonl; bad lines go to `reports`."""
    from cancerllm.tasks.common import iter_corpus_file
    for sent, doc, report in iter_corpus_file(corpus_dir, "phenotypes.jsonl", reports):
        problem = entities_problem(sent.get("entities", []))
        if problem:
            report.reject(doc, problem)
            continue
        yield from records_for_sentence(sent)


SPEC = register(TaskSpec(name="phenotype", instruction=INSTRUCTION, build=build,
                         max_input_tokens=1500, max_new_tokens=50,
                         description="Answer 8 phenotype questions per sentence (Table 1)."))
