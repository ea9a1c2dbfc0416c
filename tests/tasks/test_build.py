import json

import pytest

from cancerllm.data.section_names import SECTIONS
from cancerllm.errors import ConfigError, InputError
from cancerllm.tasks.build import build_tasks
from cancerllm.tasks.phenotype import ENTITY_TYPES, INSTRUCTION, NOT_RELEVANT, QUESTIONS
from cancerllm.tasks.registry import get_task

PAPER_QUESTIONS = [
    "What is the tumor size in the given context?",
    "What is the histological type in the given context?",
    "Please identify the receptors mentioned in the provided context.",
    "What is the receptor type in the given context?",
    "Please identify the value of tumor laterality in the provided context.",
    "What is the stage of cancer in the given context?",
    "Please describe the tumor location in the given context",
    "What is the grade of cancer in the given context?",
]


def _sentence(i, patient, text, ents):
    entities = []
    for value, label in ents:
        start = text.index(value)
        entities.append({"start": start, "end": start + len(value), "label": label, "text": value})
    return {"id": f"s{i}", "patient_id": patient, "source_id": f"n{i}", "source_start": 0,
            "text": text, "entities": entities}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    sents = []
    for i in range(200):
        p = f"P{i % 50:03d}"
        if i % 3 == 0:
            sents.append(_sentence(i, p, "Patient tolerated the procedure well.", []))
        else:
            sents.append(_sentence(i, p, "Left breast IDC, 2.3 cm, ER and PR positive.",
                                   [("Left", "tumor_laterality"), ("IDC", "histological_type"),
                                    ("2.3 cm", "tumor_size"), ("ER", "hormone_receptor_type"),
                                    ("PR", "hormone_receptor_type"), ("positive", "hormone_receptor_status")]))
    (d / "phenotypes.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sents))
    notes = []
    for i in range(100):
        sections = {k: f"{k} text {i}" for k in SECTIONS}
        notes.append({"id": f"n{i}", "patient_id": f"P{i % 50:03d}", "text": "x", "sections": sections})
    notes.append({"id": "empty", "patient_id": "P999", "text": "", "sections": {k: "" for k in SECTIONS}})
    (d / "notes.jsonl").write_text("".join(json.dumps(n) + "\n" for n in notes))
    return d


@pytest.fixture(scope="module")
def tasks(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks")
    summary = build_tasks(corpus, out, "all", seed=0)
    return out, summary


def _load(out, task, split):
    return [json.loads(x) for x in (out / task / f"{split}.jsonl").read_text().splitlines()]


def test_questions_are_the_papers_table_1():
    assert list(QUESTIONS.values()) == PAPER_QUESTIONS
    assert sorted(QUESTIONS) == sorted(ENTITY_TYPES)
    assert INSTRUCTION == ("You are a medical expert, this task involves answering the question based on "
                           "the provided context or text.")


def test_phenotype_records(tasks):
    out, summary = tasks
    assert sum(summary["phenotype"].values()) == 200 * 8
    recs = [r for s in ("train", "validation", "test") for r in _load(out, "phenotype", s)]
    by_sentence = {}
    for r in recs:
        by_sentence.setdefault(r["id"].rsplit("-q", 1)[0], []).append(r)
        assert r["context"].endswith(QUESTIONS[r["entity_type"]])
        assert r["context"].startswith(r["sentence"])
    assert all(len(v) == 8 for v in by_sentence.values())
    empty = by_sentence["s0"]
    assert {r["response"] for r in empty} == {NOT_RELEVANT}
    full = {r["entity_type"]: r["response"] for r in by_sentence["s1"]}
    assert full["hormone_receptor_type"] == "ER, PR"        # several entities, comma-joined, in order
    assert full["tumor_size"] == "2.3 cm"
    assert full["cancer_grade"] == NOT_RELEVANT


def test_splits_are_disjoint_by_patient_and_shared_across_tasks(tasks):
    out, summary = tasks
    patients = {}
    for task in ("phenotype", "diagnosis", "treatment"):
        for split in ("train", "validation", "test"):
            for r in _load(out, task, split):
                assert patients.setdefault(r["patient_id"], split) == split
    shares = [sum(1 for s in patients.values() if s == k) / len(patients) for k in ("train", "validation", "test")]
    assert 0.6 < shares[0] < 0.95 and shares[1] > 0 and shares[2] > 0


def test_diagnosis_and_treatment_contexts(tasks):
    out, summary = tasks
    # the note with empty sections yields no record
    assert sum(summary["diagnosis"].values()) == 100 == sum(summary["treatment"].values())
    dx = _load(out, "diagnosis", "train")[0]
    assert dx["context"].startswith("1) Reason for visit: reason_for_visit text")
    assert "6) Laboratory results:" in dx["context"] and "diagnosis text" not in dx["context"]
    assert dx["response"].startswith("diagnosis text")
    tx = _load(out, "treatment", "train")[0]
    assert "7) Diagnosis:" in tx["context"] and "8) Assessment:" in tx["context"]
    assert "plan text" not in tx["context"] and tx["response"].startswith("plan text")
    assert get_task("treatment").max_input_tokens == 4000


def test_hf_dataset_saved(tasks):
    from datasets import load_from_disk
    out, summary = tasks
    ds = load_from_disk(str(out / "phenotype" / "hf"))
    assert ds["train"].num_rows == summary["phenotype"]["train"]
    assert {"instruction", "context", "response"} <= set(ds["train"].column_names)


def test_unknown_task_suggests(tmp_path, corpus):
    with pytest.raises(ConfigError, match="Did you mean 'diagnosis'"):
        build_tasks(corpus, tmp_path, "diagnosys")
    with pytest.raises(InputError):
        build_tasks(tmp_path / "missing", tmp_path / "o")
