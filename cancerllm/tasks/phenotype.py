"""Phenotype extraction as question answering (paper 2.2.1, Table 1).

Each annotated sentence is asked all 8 questions; the response is the entity text(s) of
the asked type, comma-joined in order of appearance, or "Not relevant".

Three choices follow the paper's Table 10 (its phenotype error cases), the only place
the paper shows real records:
- Q3 "Please identify the receptors mentioned ..." asks for the receptor *types*:
  "In the text er/pr+, her2 negative, please identify the receptors mentioned ..." is
  answered {pr, her2, er}. Q4 "What is the receptor type ..." is left with the receptor
  *status* (positive/negative/+), the one entity type no other question asks for.
- The context is "In the text <sentence>, <question>" with the question's first letter
  lower-cased, as every Table 10 row reads. The older "<sentence>\\n<question>" form is
  kept as `context_form="newline"` (`cancerllm data tasks --phenotype-context newline`)
  for models trained on it; a model must be asked in the form it was trained on.
- Several values of one type are all kept, as annotated, in order of appearance; a
  value annotated twice appears twice ("ER positive, PR positive" -> Q4 "positive,
  positive"), as Table 10's {ypn1bii, iib, mo, ypt2} keeps one value per mention. The
  scorer compares whole strings, so dropping the repeat would change the gold answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from cancerllm.data.records import ReadReport
from cancerllm.errors import ConfigError
from cancerllm.tasks.registry import TaskSpec, register

INSTRUCTION = ("You are a medical expert, this task involves answering the question based on "
               "the provided context or text.")
NOT_RELEVANT = "Not relevant"

# Table 1, in the paper's order; key = entity type the question asks for.
QUESTIONS: dict[str, str] = {
    "tumor_size": "What is the tumor size in the given context?",
    "histological_type": "What is the histological type in the given context?",
    "hormone_receptor_type": "Please identify the receptors mentioned in the provided context.",
    "hormone_receptor_status": "What is the receptor type in the given context?",
    "tumor_laterality": "Please identify the value of tumor laterality in the provided context.",
    "cancer_stage": "What is the stage of cancer in the given context?",
    "tumor_site": "Please describe the tumor location in the given context",
    "cancer_grade": "What is the grade of cancer in the given context?",
}
ENTITY_TYPES: list[str] = ["hormone_receptor_type", "hormone_receptor_status", "tumor_size", "tumor_site",
                           "cancer_grade", "histological_type", "tumor_laterality", "cancer_stage"]


CONTEXT_FORMS = ("table10", "newline")
DEFAULT_CONTEXT_FORM = "table10"
TABLE10_PREFIX = "In the text "


def phenotype_context(sentence: str, question: str, form: str = DEFAULT_CONTEXT_FORM) -> str:
    """The model's context for one question about one sentence (see the module docstring).

    "table10": "In the text <sentence>, <question>" (the paper's Table 10);
    "newline": "<sentence>\\n<question>" (this toolkit's form before it followed Table 10).
    The sentence is kept verbatim (final punctuation too): the answer is copied from it.
    """
    if form == "table10":
        return f"{TABLE10_PREFIX}{sentence.strip()}, {question[:1].lower()}{question[1:]}"
    if form == "newline":
        return f"{sentence}\n{question}"
    raise ConfigError(f"unknown phenotype context form {form!r}; known: {', '.join(CONTEXT_FORMS)}")


def sentence_of_context(context: str) -> str:
    """The sentence inside a phenotype context of either form (for records without `sentence`)."""
    for question in QUESTIONS.values():
        asked = f", {question[:1].lower()}{question[1:]}"
        if context.startswith(TABLE10_PREFIX) and context.endswith(asked):
            return context[len(TABLE10_PREFIX):-len(asked)]
        if context.endswith("\n" + question):
            return context[:-len(question) - 1]
    return context.split("\n", 1)[0]


def answer(entities: list[dict], entity_type: str) -> str:
    """Every annotated value of `entity_type`, in order of appearance, repeats kept."""
    values = [ent["text"] for ent in sorted(entities, key=lambda e: e["start"]) if ent["label"] == entity_type]
    return ", ".join(values) if values else NOT_RELEVANT


def records_for_sentence(sent: dict, context_form: str = DEFAULT_CONTEXT_FORM) -> Iterator[dict]:
    for qid, (etype, question) in enumerate(QUESTIONS.items(), start=1):
        yield {
            "id": f"{sent['id']}-q{qid}", "patient_id": sent.get("patient_id", ""),
            "task": "phenotype", "instruction": INSTRUCTION,
            "context": phenotype_context(sent["text"], question, context_form),
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


def build(corpus_dir: str | None, reports: list[ReadReport], context_form: str = DEFAULT_CONTEXT_FORM,
          annotations: str | None = None, annotation_format: str = "auto", label_map: str | None = None,
          ignore_labels: bool = False, patient_map: str | None = None) -> Iterator[dict]:
    """Eight question records per sentence; bad input records go to `reports`.

    Sentences come from CORPUS/phenotypes.jsonl, or, with `annotations`, from a
    hospital's annotated notes (span JSON, BIO/CoNLL or BRAT; see phenotype_annotations).
    """
    from cancerllm.tasks.common import iter_corpus_file
    phenotype_context("x", "Q?", context_form)  # an unknown form fails before any file is read
    if annotations:
        from cancerllm.tasks.phenotype_annotations import annotation_sentences
        for sent in annotation_sentences(annotations, reports, annotation_format, label_map, ignore_labels,
                                         patient_map):
            yield from records_for_sentence(sent, context_form)
        return
    for sent, doc, report in iter_corpus_file(corpus_dir, "phenotypes.jsonl", reports):
        problem = entities_problem(sent.get("entities", []))
        if problem:
            report.reject(doc, problem)
            continue
        yield from records_for_sentence(sent, context_form)


def extract_job(text: str):
    """All 8 phenotype questions for every sentence of the note."""
    from cancerllm.tasks.jobs import Job, answer_values, find_value, split_sentences
    sentences = split_sentences(text)
    asks = [(s_i, etype) for s_i in range(len(sentences)) for etype in QUESTIONS]
    contexts = [phenotype_context(sentences[s_i].text, QUESTIONS[etype]) for s_i, etype in asks]

    def finish(answers: list[str]) -> dict:
        found: dict[str, dict[str, dict]] = {etype: {} for etype in ENTITY_TYPES}
        for (s_i, etype), answer in zip(asks, answers):
            sent = sentences[s_i]
            for value in answer_values(answer):
                entry = found.setdefault(etype, {}).setdefault(
                    value.lower(), {"value": value, "grounded": False, "spans": [], "sentences": []})
                if s_i in entry["sentences"]:
                    continue
                entry["sentences"].append(s_i)
                for a, b in find_value(value, sent.text):
                    entry["spans"].append({"start": sent.start + a, "end": sent.start + b,
                                           "text": text[sent.start + a:sent.start + b]})
                entry["grounded"] = bool(entry["spans"])
        phenotypes = {etype: list(values.values()) for etype, values in found.items()}
        return {"task": "phenotype", "phenotypes": phenotypes, "n_sentences": len(sentences),
                "n_ungrounded": sum(not v["grounded"] for vs in phenotypes.values() for v in vs),
                "sentences": [{"start": s.start, "end": s.end} for s in sentences]}

    return Job("phenotype", contexts, finish)


OPTIONS = {"context_form": DEFAULT_CONTEXT_FORM, "annotations": None, "annotation_format": "auto",
           "label_map": None, "ignore_labels": False, "patient_map": None}
SPEC = register(TaskSpec(name="phenotype", instruction=INSTRUCTION, build=build,
                         max_input_tokens=1500, max_new_tokens=50, options=OPTIONS,
                         description="Answer 8 phenotype questions per sentence (Table 1).",
                         command="extract", job=extract_job, result="phenotype", group_field="entity_type",
                         paper_table="table4_phenotype"))
