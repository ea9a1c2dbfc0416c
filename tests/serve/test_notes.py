"""Sentences with offsets, phenotype grounding, section jobs (no model needed)."""

from __future__ import annotations

from cancerllm.tasks.jobs import answer_values, find_value, split_sentences
from cancerllm.tasks.phenotype import ENTITY_TYPES, NOT_RELEVANT, QUESTIONS, extract_job
from cancerllm.tasks.registry import get_task


def diagnose_job(text):
    return get_task("diagnosis").make_job(text)


def plan_job(text):
    return get_task("treatment").make_job(text)
from tests.serve.lively import NOTES


def test_sentences_keep_note_offsets():
    note = "Dr. Smith saw the pt. today.  Tumor 2.3 cm, grade 2! ER+ vs. PR-?\nPlan:\n  start letrozole.\n\n"
    sents = split_sentences(note)
    assert [s.text for s in sents] == ["Dr. Smith saw the pt. today.", "Tumor 2.3 cm, grade 2!",
                                       "ER+ vs. PR-?", "Plan:", "start letrozole."]
    assert all(note[s.start:s.end] == s.text for s in sents)
    assert split_sentences("   \n ... \n") == []


def test_long_sentence_is_cut_at_spaces():
    note = "word " * 1000
    sents = split_sentences(note)
    assert len(sents) > 1 and all(len(s.text) <= 2000 and note[s.start:s.end] == s.text for s in sents)


def test_answer_values_and_search():
    assert answer_values(NOT_RELEVANT) == [] and answer_values("") == []
    assert answer_values("ER, PR ,ER, Not relevant") == ["ER", "PR"]
    assert find_value("er", "ER positive, other ER") == [(0, 2), (19, 21)]  # whole words only
    assert find_value("2.3  cm", "size 2.3 cm.") == [(5, 11)]
    assert find_value("HER2 3+", "HER2 3+ by IHC") == [(0, 7)]


def test_extract_job_grounds_values_and_flags_hallucinations():
    note = "History: none.\nInvasive ductal carcinoma of the LEFT breast, ER positive."
    job = extract_job(note)
    sents = split_sentences(note)
    assert job.task == "phenotype" and len(job.contexts) == len(sents) * len(QUESTIONS)
    answers = []
    for s_i in range(len(sents)):
        for etype in QUESTIONS:
            if s_i == 1 and etype == "tumor_laterality":
                answers.append("left")
            elif s_i == 1 and etype == "histological_type":
                answers.append("invasive ductal carcinoma, lobular carcinoma")
            else:
                answers.append(NOT_RELEVANT)
    result = job.finish(answers)
    assert set(result["phenotypes"]) == set(ENTITY_TYPES) and result["n_sentences"] == 2
    (left,) = result["phenotypes"]["tumor_laterality"]
    assert left["grounded"] and note[left["spans"][0]["start"]:left["spans"][0]["end"]] == "LEFT"
    idc, lobular = result["phenotypes"]["histological_type"]
    assert idc["grounded"] and idc["spans"][0]["text"] == "Invasive ductal carcinoma"
    assert lobular == {"value": "lobular carcinoma", "grounded": False, "spans": [], "sentences": [1]}
    assert result["n_ungrounded"] == 1 and result["phenotypes"]["tumor_size"] == []


def test_section_jobs_use_parsed_sections_or_the_whole_note():
    job = diagnose_job(NOTES[0])
    assert job.task == "diagnosis" and len(job.contexts) == 1
    assert "1) Reason for visit: follow-up" in job.contexts[0] and "letrozole" not in job.contexts[0]
    result = job.finish(["IDC"])
    assert result["prediction"] == "IDC" and not result["whole_note_as_context"]
    assert "reason_for_visit" in result["sections_used"]
    assert "letrozole" not in plan_job(NOTES[0]).contexts[0]  # the plan is what is asked
    free = diagnose_job(NOTES[2])
    assert free.contexts == [NOTES[2]] and free.finish(["x"])["whole_note_as_context"]
