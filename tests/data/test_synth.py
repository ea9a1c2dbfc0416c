"""The synthetic corpus generator: the file contracts later stages rely on, exact gold spans,
gold staging labels, planted PHI, determinism, variety and the CLI."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from cancerllm.data.section_names import SECTIONS
from cancerllm.data.synth import generate
from cancerllm.schema.staging import FIELDS, FINE

FILES = ["patients", "notes", "pathology", "phenotypes"]
DIFFICULTIES = {"synoptic", "narrative", "ypT", "multiple_specimens", "addendum_amends", "words_only", "ocr_noise"}


def read(folder: Path, name: str) -> list[dict]:
    with open(folder / f"{name}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("synth500")
    counts = generate(out, patients=500, seed=7)
    data = {name: read(out, name) for name in FILES}
    data.update(dir=out, counts=counts)
    return data


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, patients=40, seed=3)
    generate(b, patients=40, seed=3)
    generate(c, patients=40, seed=4)
    for name in FILES:
        assert (a / f"{name}.jsonl").read_bytes() == (b / f"{name}.jsonl").read_bytes(), name
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    assert (a / "notes.jsonl").read_bytes() != (c / "notes.jsonl").read_bytes()


def test_manifest_and_counts(corpus):
    manifest = json.loads((corpus["dir"] / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["version"]
    assert manifest["counts"] == corpus["counts"]
    assert corpus["counts"] == {name: len(corpus[name]) for name in FILES}
    assert corpus["counts"]["patients"] == 500
    assert not list(corpus["dir"].glob(".*.tmp"))  # temp files renamed into place


def test_phenotype_spans_are_exact_and_sentences_sit_in_their_source(corpus):
    from cancerllm.tasks.phenotype import ENTITY_TYPES
    sources = {r["id"]: r["text"] for r in corpus["notes"] + corpus["pathology"]}
    for sent in corpus["phenotypes"]:
        text, start = sent["text"], sent["source_start"]
        assert sources[sent["source_id"]][start:start + len(text)] == text
        assert sent["patient_id"] == sent["source_id"].split("-")[0]
        for ent in sent["entities"]:
            assert 0 <= ent["start"] < ent["end"] <= len(text)
            assert text[ent["start"]:ent["end"]] == ent["text"]
            assert ent["label"] in ENTITY_TYPES
    labels = Counter(e["label"] for s in corpus["phenotypes"] for e in s["entities"])
    assert set(labels) == set(ENTITY_TYPES)


def test_a_quarter_to_a_third_of_phenotype_sentences_have_no_entity(corpus):
    empty = sum(not s["entities"] for s in corpus["phenotypes"]) / len(corpus["phenotypes"])
    assert 0.2 <= empty <= 0.4


def test_phenotype_sentences_include_lists_and_negations(corpus):
    texts = [s for s in corpus["phenotypes"] if s["entities"]]
    several = [s for s in texts if Counter(e["label"] for e in s["entities"])["hormone_receptor_type"] >= 2]
    assert len(several) > 20
    assert any(re.search(r"\b(no|negative for|not identified)\b", s["text"], re.I) for s in texts)


def test_planted_phi_spans_match_and_cover_the_identifiers(corpus):
    people = {p["id"]: p["phi"] for p in corpus["patients"]}
    for rec in corpus["notes"] + corpus["pathology"]:
        text = rec["text"]
        spans = [(p["start"], p["end"]) for p in rec["phi"]]
        for p in rec["phi"]:
            assert text[p["start"]:p["end"]] == p["text"]
            assert p["type"] in {"NAME", "DATE", "MRN", "PHONE", "ADDRESS", "EMAIL", "AGE"}
        ident = people[rec["patient_id"]]
        patterns = [re.escape(ident[k]) for k in ("mrn", "phone", "email", "address")]
        patterns.append(r"\b\d{2,3}(?=(-year-old| yo\b| y/o| year old|-yo| YO\b))")  # ages
        for pattern in patterns:
            for m in re.finditer(pattern, text):
                assert any(a <= m.start() and m.end() <= b for a, b in spans), (rec["id"], m.group())
    types = Counter(p["type"] for r in corpus["notes"] + corpus["pathology"] for p in r["phi"])
    assert set(types) == {"NAME", "DATE", "MRN", "PHONE", "ADDRESS", "EMAIL", "AGE"}
    assert any(p["age"] > 89 for p in corpus["patients"])


def test_pathology_labels_are_schema_classes_and_difficulties_all_occur(corpus):
    seen = Counter()
    for rec in corpus["pathology"]:
        assert list(rec["labels"]) == FIELDS
        for fld, value in rec["labels"].items():
            assert value in FINE[fld], (fld, value)
        assert set(rec["difficulties"]) <= DIFFICULTIES
        seen.update(rec["difficulties"])
        if rec["cancer_type"] not in ("breast", "gastric"):
            assert rec["labels"]["HER2"] == "NR"
        if rec["cancer_type"] != "breast":
            assert rec["labels"]["ER"] == rec["labels"]["PR"] == "NR"
    assert set(seen) == DIFFICULTIES
    m = Counter(r["labels"]["M"] for r in corpus["pathology"])
    assert m["NR"] > 0.8 * len(corpus["pathology"]) and m["M1"] > 0


def _de_ocr(text: str) -> str:
    return re.sub(r"(?<=[TNM])O", "0", re.sub(r"(?<=[TN])l", "1", text))


def test_stated_tnm_is_in_the_text_and_nr_means_not_stated(corpus):
    for rec in corpus["pathology"]:
        text = _de_ocr(rec["text"])
        if rec["labels"]["pT"] == "NR":
            assert not re.search(r"\by?pT(is|[0-4X])", text), rec["id"]
        else:
            assert rec["attributes"]["pT"]["stated"] in text
        if rec["labels"]["pN"] != "NR":
            assert rec["attributes"]["pN"]["stated"].lstrip("yp") in text
        if rec["labels"]["M"] != "NR":
            assert rec["attributes"]["M"]["stated"] in text


def test_addendum_supersedes_the_first_value(corpus):
    amended_her2 = [r for r in corpus["pathology"] if "addendum_amends" in r["difficulties"]
                    and "equivocal" in r["text"] and "Final HER2 status" in r["text"]]
    assert amended_her2
    for rec in amended_her2:
        assert rec["labels"]["HER2"] in ("positive", "negative")
        assert rec["attributes"]["HER2"]["ish"] in ("amplified", "not_amplified")


def test_many_cancer_types_with_breast_most_common(corpus):
    types = Counter(p["cancer_type"] for p in corpus["patients"])
    assert len(types) >= 12
    assert types.most_common(1)[0][0] == "breast"


def test_notes_have_the_nine_sections_in_their_text(corpus):
    for note in corpus["notes"]:
        assert list(note["sections"]) == SECTIONS
        for key, body in note["sections"].items():
            assert body and body == body.strip() and body in note["text"], (note["id"], key)
    per_patient = Counter(n["patient_id"] for n in corpus["notes"])
    assert min(per_patient.values()) >= 2 and max(per_patient.values()) <= 4


def test_lengths_and_variety_of_notes(corpus):
    notes = corpus["notes"]
    words = lambda s: len(s.split())  # noqa: E731
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    assert 150 <= median([words(n["text"]) for n in notes]) <= 400
    assert 8 <= median([words(n["sections"]["diagnosis"]) for n in notes]) <= 30
    assert 20 <= median([words(n["sections"]["plan"]) for n in notes]) <= 80
    for key in ("diagnosis", "plan"):
        prefixes = {" ".join(n["sections"][key].split()[:5]) for n in notes}
        assert len(prefixes) > 0.5 * len(notes), key
    headers = {line.split(":")[0] for n in notes for line in n["text"].splitlines() if line.isupper()}
    assert len(headers) > 10  # upper-case headers, with and without colons and numbers


def test_plans_follow_the_diagnosis():
    from cancerllm.data.synth.case import biomarker, sample_case
    from cancerllm.data.synth.course import plan_course
    rng = random.Random(11)
    checked = Counter()
    for _ in range(3000):
        case = sample_case(rng)
        course = plan_course(case, rng)
        regimens = " ".join(r.name for r in (course.neoadjuvant, course.adjuvant, course.first_line) if r)
        if case.key == "breast" and case.her2_positive and not case.insitu:
            checked["her2"] += 1
            assert re.search("TCHP|THP|trastuzumab|T-DM1", regimens)
        if case.key == "breast" and case.hr_positive and not case.metastatic:
            assert course.maintenance and course.maintenance.kind == "endocrine"
        pdl1 = biomarker(case, "PD-L1") or ""
        if case.key == "lung" and case.metastatic and not biomarker(case, "EGFR") and not biomarker(case, "ALK") \
                and int(pdl1.split()[1].rstrip("%")) >= 50:
            checked["pdl1"] += 1
            assert course.first_line.name == "pembrolizumab"
        if course.surgery and "lumpectomy" in course.surgery:
            assert course.radiation and course.radiation.target == "whole breast"
    assert checked["her2"] and checked["pdl1"]


def test_cli_writes_the_folder(tmp_path):
    from typer.testing import CliRunner
    from cancerllm.cli import app
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(tmp_path), "--patients", "5", "--seed", "1"])
    assert result.exit_code == 0, result.output
    for name in FILES:
        assert (tmp_path / f"{name}.jsonl").stat().st_size > 0
    assert json.loads((tmp_path / "manifest.json").read_text())["counts"]["patients"] == 5
