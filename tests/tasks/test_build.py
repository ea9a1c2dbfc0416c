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
    assert sum(summary["counts"]["phenotype"].values()) == 200 * 8
    recs = [r for s in ("train", "validation", "test") for r in _load(out, "phenotype", s)]
    by_sentence = {}
    for r in recs:
        by_sentence.setdefault(r["id"].rsplit("-q", 1)[0], []).append(r)
        question = QUESTIONS[r["entity_type"]]
        assert r["context"] == f"In the text {r['sentence']}, {question[0].lower()}{question[1:]}"
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
    assert sum(summary["counts"]["diagnosis"].values()) == 100 == sum(summary["counts"]["treatment"].values())
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
    assert ds["train"].num_rows == summary["counts"]["phenotype"]["train"]
    assert {"instruction", "context", "response"} <= set(ds["train"].column_names)
    # the datasets cache (full copies of the notes) is not left hidden in the task folder
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.name.startswith("cache-")]


def test_unknown_task_suggests(tmp_path, corpus):
    with pytest.raises(ConfigError, match="Did you mean 'diagnosis'"):
        build_tasks(corpus, tmp_path, "diagnosys")
    with pytest.raises(InputError):
        build_tasks(tmp_path / "missing", tmp_path / "o")


def test_malformed_records_are_reported_by_file_and_line_and_the_rest_built(tmp_path):
    from typer.testing import CliRunner

    from cancerllm.cli import app
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = _sentence(1, "P1", "Left breast IDC, SECRET 2.3 cm.", [("2.3 cm", "tumor_size")])
    phen = [json.dumps(good), "{not json SECRET", json.dumps({**good, "id": "s2", "entities": "SECRET"}),
            json.dumps({**good, "id": "s3", "entities": [{"label": "tumor_size"}]}),
            json.dumps({**good, "id": "s4", "text": 7}), json.dumps(good), json.dumps({**good, "id": "s5"})]
    (corpus / "phenotypes.jsonl").write_bytes("\n".join(phen).encode() + b"\n\xff\xfe{\n")
    note = {"id": "n1", "patient_id": "P1", "text": "x", "sections": {k: f"{k} SECRET" for k in SECTIONS}}
    notes = [json.dumps(note), json.dumps({**note, "id": "n2", "sections": ["SECRET"]}),
             json.dumps({**note, "id": "n3", "text": None}), "[1, 2]", json.dumps({**note, "id": "n4"})]
    (corpus / "notes.jsonl").write_text("\n".join(notes) + "\n")
    result = CliRunner().invoke(app, ["data", "tasks", "--in", str(corpus), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert sum(summary["counts"]["phenotype"].values()) == 2 * 8  # s1 and s5
    assert sum(summary["counts"]["diagnosis"].values()) == 2      # n1 and n4
    phen_src, notes_src = str(corpus / "phenotypes.jsonl"), str(corpus / "notes.jsonl")
    assert summary["n_skipped"]["phenotype"] == 6
    lines = {int(s.split(":")[1].split(" ")[0]) for s in summary["skipped"]["phenotype"]}
    assert lines == {2, 3, 4, 5, 6, 8} and all(s.startswith(phen_src) for s in summary["skipped"]["phenotype"])
    assert any("duplicate id" in s for s in summary["skipped"]["phenotype"])
    assert [s.split(":")[1].split(" ")[0] for s in summary["skipped"]["diagnosis"]] == ["2", "3", "4"]
    assert all(s.startswith(notes_src) for s in summary["skipped"]["treatment"])
    assert "skipped 6 malformed record(s)" in result.output and f"{phen_src}:2" in result.output
    assert "SECRET" not in result.output and "SECRET" not in json.dumps(summary["skipped"])


def test_only_malformed_records_is_an_input_error_naming_the_first(tmp_path):
    (tmp_path / "notes.jsonl").write_text("{bad\n")
    with pytest.raises(InputError, match=r"1 record\(s\) skipped, first: .*notes.jsonl:1"):
        build_tasks(tmp_path, tmp_path / "o", "diagnosis")
