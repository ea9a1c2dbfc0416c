"""A hospital's own files in: annotated notes (BRAT, BIO, span JSON) with a label map, and
clinic notes in CSV/Parquet with their own headers ("Assessment and Plan:")."""

import json

import pytest
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.errors import InputError
from cancerllm.tasks.build import build_tasks

NOTE = "FINAL DIAGNOSIS: Left breast, IDC, 2.3 cm.\nER: positive\nPR positive (Dr. Ames). Grade 2."
# BRAT offsets into NOTE, labelled as an annotator might
ANN = [("T1", "LATERALITY", "Left"), ("T2", "HISTO", "IDC"), ("T3", "TUMOR_SIZE", "2.3 cm"),
       ("T4", "HR_TYPE", "ER"), ("T5", "HR_STATUS", "positive"), ("T6", "HR_TYPE", "PR"),
       ("T7", "HR_STATUS", "positive"), ("T8", "GRADE", "Grade 2")]
LABELS = """labels:
  LATERALITY: tumor_laterality
  HISTO: histological_type
  TUMOR_SIZE: tumor_size
  HR_TYPE: hormone_receptor_type
  HR_STATUS: hormone_receptor_status
  GRADE: cancer_grade
"""


def _brat(folder, n=4):
    folder.mkdir()
    for i in range(n):
        (folder / f"note{i}.txt").write_text(NOTE)
        lines, pos = [], 0
        for tid, label, value in ANN:
            start = NOTE.index(value, pos)
            pos = start + len(value)
            lines.append(f"{tid}\t{label} {start} {pos}\t{value}")
        (folder / f"note{i}.ann").write_text("\n".join(lines) + "\n")
    return folder


def _records(out):
    return [json.loads(x) for s in ("train", "validation", "test")
            for x in (out / "phenotype" / f"{s}.jsonl").read_text().splitlines()]


def test_phenotype_task_from_a_brat_folder_with_a_label_map(tmp_path):
    brat = _brat(tmp_path / "brat")
    (tmp_path / "labels.yaml").write_text(LABELS)
    (tmp_path / "patients.csv").write_text("id,patient_id\nnote0,P1\nnote1,P1\nnote2,P2\nnote3,P3\n")
    res = CliRunner().invoke(app, ["data", "tasks", "--annotations", str(brat), "--label-map",
                                   str(tmp_path / "labels.yaml"), "--patient-map", str(tmp_path / "patients.csv"),
                                   "--out", str(tmp_path / "out"), "--tasks", "phenotype"])
    assert res.exit_code == 0, res.output
    recs = _records(tmp_path / "out")
    # spaCy's sentencizer, line by line: 4 sentences per note ("Dr." does not end one)
    by_sentence = {}
    for r in recs:
        by_sentence.setdefault(r["sentence"], {})[r["entity_type"]] = r["response"]
    assert set(by_sentence) == {"FINAL DIAGNOSIS: Left breast, IDC, 2.3 cm.", "ER: positive",
                                "PR positive (Dr. Ames).", "Grade 2."}
    first = by_sentence["FINAL DIAGNOSIS: Left breast, IDC, 2.3 cm."]
    assert (first["tumor_laterality"], first["histological_type"], first["tumor_size"]) == ("Left", "IDC", "2.3 cm")
    assert by_sentence["ER: positive"]["hormone_receptor_status"] == "positive"
    assert by_sentence["Grade 2."]["cancer_grade"] == "Grade 2"
    assert len(recs) == 4 * 4 * 8
    splits = {}
    for r in recs:   # the patient map keeps note0 and note1 (both P1) in one split
        assert splits.setdefault(r["patient_id"], r["split"]) == r["split"]
    assert {r["patient_id"] for r in recs} == {"P1", "P2", "P3"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["phenotype"][0]["documents_without_patient"] == 0


def test_an_unmapped_label_fails_loudly_listing_labels_with_counts(tmp_path):
    brat = _brat(tmp_path / "brat", n=2)
    (tmp_path / "partial.yaml").write_text("labels:\n  LATERALITY: tumor_laterality\n  GRADE: cancer_grade\n")
    with pytest.raises(InputError) as err:
        build_tasks(None, tmp_path / "out", "phenotype",
                    options={"annotations": str(brat), "label_map": str(tmp_path / "partial.yaml")})
    msg = str(err.value)
    assert "'HR_TYPE' (4)" in msg and "'HR_STATUS' (4)" in msg and "'TUMOR_SIZE' (2)" in msg and "'HISTO' (2)" in msg
    assert "--ignore-labels" in msg and "positive" not in msg          # labels and counts, never note text
    assert not list((tmp_path / "out").rglob("*.jsonl*"))               # nothing half-written
    # asked to, the unmapped labels are dropped and counted
    summary = build_tasks(None, tmp_path / "out", "phenotype", save_hf=False,
                          options={"annotations": str(brat), "label_map": str(tmp_path / "partial.yaml"),
                                   "ignore_labels": True})
    assert summary["inputs"]["phenotype"][0]["dropped_labels"] == {"HISTO": 2, "TUMOR_SIZE": 2, "HR_TYPE": 4,
                                                                   "HR_STATUS": 4}
    answers = {(r["sentence"], r["entity_type"]): r["response"] for r in _records(tmp_path / "out")}
    assert answers[("Grade 2.", "cancer_grade")] == "Grade 2"
    assert answers[("ER: positive", "hormone_receptor_type")] == "Not relevant"


def test_phenotype_task_from_a_bio_file_with_a_label_map(tmp_path):
    bio = tmp_path / "notes.conll"
    bio.write_text("# id = n1\nTumor\tO\nis\tO\nER\tB-HR_TYPE\npositive\tB-HR_STATUS\n,\tO\ngrade\tB-GRADE\n2\tI-GRADE\n"
                   ".\tO\nNo\tO\nnodes\tO\n.\tO\n\n# id = n2\nRight\tB-LATERALITY\nbreast\tO\n")
    (tmp_path / "labels.yaml").write_text(LABELS)
    summary = build_tasks(None, tmp_path / "out", "phenotype", save_hf=False,
                          options={"annotations": str(bio), "label_map": str(tmp_path / "labels.yaml")})
    assert summary["inputs"]["phenotype"][0]["format"] == "bio"
    answers = {(r["sentence"], r["entity_type"]): r["response"] for r in _records(tmp_path / "out")}
    assert answers[("Tumor is ER positive , grade 2 .", "cancer_grade")] == "grade 2"
    assert answers[("Tumor is ER positive , grade 2 .", "hormone_receptor_type")] == "ER"
    assert answers[("No nodes .", "cancer_grade")] == "Not relevant"
    assert answers[("Right breast", "tumor_laterality")] == "Right"
    assert summary["inputs"]["phenotype"][0]["documents_without_patient"] == 2
    with pytest.raises(InputError, match=r"'HR_TYPE' \(1\)"):
        build_tasks(None, tmp_path / "o2", "phenotype", options={"annotations": str(bio)})


def test_a_sentence_cut_inside_an_entity_is_joined():
    from cancerllm.data.annotations import AnnotatedText, Entity
    from cancerllm.data.sentences import annotated_sentences
    text = "Mass 2. 3 cm. Next one."
    doc = AnnotatedText("d", text, [Entity(5, 12, "tumor_size", "2. 3 cm")])
    sents = annotated_sentences(doc, "P", lambda label: label)
    assert [s["text"] for s in sents] == ["Mass 2. 3 cm.", "Next one."]
    assert sents[0]["entities"] == [{"start": 5, "end": 12, "label": "tumor_size", "text": "2. 3 cm"}]
    assert sents[1]["source_start"] == text.index("Next")


CLINIC = ("Reason for visit: follow-up of breast cancer\nHPI: doing well on letrozole\n"
          "Diagnosis: invasive ductal carcinoma of the left breast\n"
          "Assessment and Plan: Stable disease.\n1. continue letrozole\n2. return in 3 months")


def _notes_frame(n=6):
    import pandas as pd
    texts = [CLINIC, CLINIC.replace("Assessment and Plan:", "A/P:"),
             CLINIC.replace("Assessment and Plan:", "Impression and Plan:")]
    return pd.DataFrame({"note_id": [f"n{i}" for i in range(n)], "mrn": [f"P{i % 3}" for i in range(n)],
                         "note_text": [texts[i % 3] for i in range(n)]})


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_diagnosis_answer_holds_no_plan_text_with_combined_headers(tmp_path, ext):
    path = tmp_path / f"notes.{ext}"
    frame = _notes_frame()
    frame.to_csv(path, index=False) if ext == "csv" else frame.to_parquet(path)
    res = CliRunner().invoke(app, ["data", "tasks", "--notes", str(path), "--text-field", "note_text",
                                   "--id-field", "note_id", "--patient-field", "mrn", "--tasks", "diagnosis,treatment",
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    for task in ("diagnosis", "treatment"):
        recs = [json.loads(x) for s in ("train", "validation", "test")
                for x in (tmp_path / "out" / task / f"{s}.jsonl").read_text().splitlines()]
        assert len(recs) == 6, task
        for r in recs:
            if task == "diagnosis":
                assert r["response"] == "invasive ductal carcinoma of the left breast"
                assert "letrozole" not in r["response"] and "Stable disease" not in r["response"]
            else:
                assert r["response"] == "Stable disease.\n1. continue letrozole\n2. return in 3 months"
                assert "7) Diagnosis: invasive ductal carcinoma" in r["context"]
        assert {r["patient_id"] for r in recs} == {"P0", "P1", "P2"}


def test_own_headers_from_a_yaml_file(tmp_path):
    notes = tmp_path / "notes.jsonl"
    note = "Onc Hx: ER+ IDC of the right breast\nReason for visit: follow-up\nNext Steps: start tamoxifen"
    notes.write_text("".join(json.dumps({"id": f"n{i}", "patient_id": f"P{i}", "text": note}) + "\n"
                             for i in range(3)))
    (tmp_path / "h.yaml").write_text("headers:\n  diagnosis: [Onc Hx]\n  plan: [Next Steps]\n")
    with pytest.raises(InputError, match="no task records"):        # headers unknown: no diagnosis, no plan
        build_tasks(None, tmp_path / "a", "diagnosis,treatment", save_hf=False, options={"notes": str(notes)})
    summary = build_tasks(None, tmp_path / "b", "diagnosis,treatment", save_hf=False,
                          options={"notes": str(notes), "header_map": str(tmp_path / "h.yaml")})
    assert sum(summary["counts"]["diagnosis"].values()) == 3 == sum(summary["counts"]["treatment"].values())
    (tmp_path / "bad.yaml").write_text("combined:\n  nonsense: [X and Y]\n")
    from cancerllm.errors import ConfigError
    with pytest.raises(ConfigError, match="combined.nonsense"):
        build_tasks(None, tmp_path / "c", "diagnosis", options={"notes": str(notes),
                                                                "header_map": str(tmp_path / "bad.yaml")})


def test_data_sections_reports_coverage_and_unrecognised_headers(tmp_path):
    notes = tmp_path / "notes.jsonl"
    rows = [CLINIC + "\nSocial History: lives with family"] * 3 + ["Plan: labs only"]
    notes.write_text("".join(json.dumps({"id": f"n{i}", "text": t}) + "\n" for i, t in enumerate(rows)))
    res = CliRunner().invoke(app, ["data", "sections", str(notes), "--out", str(tmp_path / "cov.json")])
    assert res.exit_code == 0, res.output
    cov = json.loads((tmp_path / "cov.json").read_text())
    assert cov["n_notes"] == 4 and cov["records"] == {"diagnosis": 3, "treatment": 3}
    assert cov["headers_seen"]["plan"] == {"Assessment and Plan": 3, "Plan": 1}
    assert cov["notes_without"]["diagnosis"] == 1 and cov["notes_without"]["objective"] == 4
    assert cov["unrecognised_headers"] == {"Social History": 3}
    assert "Social History (3)" in res.output and "| diagnosis | 1 of 4 |" in res.output
