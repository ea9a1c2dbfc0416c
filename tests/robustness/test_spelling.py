"""Spelling normaliser: restores typos, never touches numbers or abbreviations."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cancerllm.robustness.misspell import TOKEN, misspell_records
from cancerllm.robustness.spelling import Correction, SpellingNormalizer, load_abbreviations
from tests.robustness import clinical_sentences

SHARED_ABBREVIATIONS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clinical_abbreviation_sources"


@pytest.fixture(scope="module")
def normalizer() -> SpellingNormalizer:
    return SpellingNormalizer.from_texts(clinical_sentences(3000, seed=7))


def test_restores_a_misspelled_note_sentence(normalizer):
    text = "Pt with invasive ductl carcinoma of the lft breast, ER/PR+ HER2-, tumor 2.3 cm, dinosis confirmed"
    fixed, report = normalizer.normalize_with_report(text)
    # "lft" stays: three letters, and an abbreviation (liver function test) in its own right.
    assert fixed == ("Pt with invasive ductal carcinoma of the lft breast, ER/PR+ HER2-, tumor 2.3 cm, "
                     "diagnosis confirmed")
    assert report == [Correction(17, 22, "ductl", "ductal"), Correction(80, 87, "dinosis", "diagnosis")]
    assert all(text[c.start:c.end] == c.old for c in report)


def test_case_whitespace_and_punctuation_kept(normalizer):
    assert normalizer.normalize("Dinosis:\n\tDUCTTAL  carcinma;  (Lumpectmy)") == \
        "Diagnosis:\n\tDUCTAL  carcinoma;  (Lumpectomy)"


def test_never_alters_numbers_abbreviations_or_short_words(normalizer):
    text = ("s/p TCHP x6, q3w; HER2 3+, ER 95%, PR <1%, Ki-67 40%, T2N1M0, 2.3cm, 15 mm, CEA 4.1 ng/mL, "
            "nsclc vs sclc, dcis, folfox, capox, brca, IDC, ILC, NSCLC, hx, f/u, Pt, ca, bx, pmhx, mets, "
            "McKay, xyzzy@example.com, http://host/carcinma")
    assert normalizer.normalize(text) == text


def test_correct_text_is_left_unchanged(normalizer):
    sentences = clinical_sentences(2000, seed=11)
    assert [normalizer.normalize(s) for s in sentences] == sentences
    extra = "The weather was unusually warm; her granddaughter brought cookies to the infusion center."
    assert normalizer.normalize(extra) == extra


def test_restores_most_misspelled_words(normalizer):
    sentences = clinical_sentences(2000, seed=12)
    records = [{"id": str(i), "context": s} for i, s in enumerate(sentences)]
    noisy, report = misspell_records(records, 0.2, seed=13)
    restored = long_restored = misspelled = long_misspelled = 0
    for clean, rec in zip(sentences, noisy):
        fixed = normalizer.normalize(rec["context"])
        for a, m, f in zip(TOKEN.findall(clean), TOKEN.findall(rec["context"]), TOKEN.findall(fixed)):
            if a != m:
                misspelled += 1
                restored += f == a
                if len(m) >= 4:  # typos left with 3 letters or fewer are out of reach by design
                    long_misspelled += 1
                    long_restored += f == a
    assert misspelled == report["misspelled_words"]
    assert restored / misspelled >= 0.80
    assert long_restored / long_misspelled >= 0.93


def test_heavy_phonetic_drop_in_long_words(normalizer):
    # 3 letters lost from "lymphadenopathy": beyond SymSpell's distance 2, found by the long-word pass.
    assert normalizer.normalize("bulky lymphadpathy") == "bulky lymphadenopathy"
    assert normalizer.correct_word("Lymphadpathy") == "Lymphadenopathy"


def test_fast_enough_for_a_corpus(normalizer):
    sentences = clinical_sentences(10_000, seed=14)
    noisy, _ = misspell_records([{"context": s} for s in sentences], 0.1, seed=1)
    start = time.perf_counter()
    for rec in noisy:
        normalizer.normalize(rec["context"])
    assert time.perf_counter() - start < 15


def test_save_load_round_trip(normalizer, tmp_path):
    path = normalizer.save(tmp_path / "vocab.json")
    again = SpellingNormalizer.load(path)
    text = "Dinosis of invasive ductl carcinma, lymphadpathy, folfox q3w, 2.3 cm"
    assert again.normalize_with_report(text) == normalizer.normalize_with_report(text)
    assert again.scores == normalizer.scores and again.abbreviations == normalizer.abbreviations
    plain = tmp_path / "frequency.txt"
    plain.write_text("diagnosis 50\ncarcinoma 40\ninvasive 10\n")
    assert SpellingNormalizer.load(plain).normalize("invasve carcinma, dinosis") == "invasive carcinoma, diagnosis"


def test_corpus_typos_are_not_learnt_as_words():
    texts = ["Diagnosis confirmed by biopsy."] * 60 + ["Dinosis confirmed."] * 3
    assert SpellingNormalizer.from_texts(texts).normalize("dinosis") == "diagnosis"
    assert SpellingNormalizer.from_texts(texts, typo_ratio=None).normalize("dinosis") == "dinosis"


def test_given_abbreviations_are_protected():
    texts = ["Metastatic carcinoma of the breast."] * 5
    assert SpellingNormalizer.from_texts(texts).normalize("carcinomax") == "carcinoma"
    assert SpellingNormalizer.from_texts(texts, abbreviations=["carcinomax"]).normalize("carcinomax") == "carcinomax"


def test_load_abbreviations_reads_the_inventory_formats(tmp_path):
    (tmp_path / "berman.txt").write_text("dcis = ductal carcinoma in situ \nca = carcinoma \n")
    (tmp_path / "vanderbilt.txt").write_text("abbreviation\tsense\tvariation\tCUI\tfrequency\n"
                                              "a_p\tassessment and plan\tA/P_2|a/p_4\tc1\t0.9\n")
    (tmp_path / "adam_database").write_text("# comment\n$Can\t$Can:18\tCanadian dollars:18:0.8\t0.8\t18\n")
    (tmp_path / "wiki.csv").write_text('"abr","long_form"\n"A1C","glycosylated hemoglobin"\n')
    (tmp_path / "trials.txt").write_text(' "A-HeFT":"African-American Heart Failure Trial"\n')
    (tmp_path / "obgyn.txt").write_text("AFP Alpha-fetoprotein \n")
    (tmp_path / "README.md").write_text("not = a list\n")
    found = load_abbreviations(tmp_path)
    assert found == {"dcis", "ca", "a_p", "a/p", "$can", "a1c", "a-heft", "afp"}
    assert load_abbreviations(tmp_path / "berman.txt") == {"dcis", "ca"}


@pytest.mark.skipif(not SHARED_ABBREVIATIONS.is_dir(), reason="shared abbreviation inventories not present")
def test_shared_abbreviation_inventories_load_and_protect():
    found = load_abbreviations(SHARED_ABBREVIATIONS)
    assert {"dcis", "er/pr", "lft", "s/p", "htn", "po", "a/p"} <= found
    norm = SpellingNormalizer.from_texts(clinical_sentences(500, seed=3), abbreviations=SHARED_ABBREVIATIONS)
    assert norm.normalize("Pt with invasive ductl carcinoma, dinosis confirmed") == \
        "Pt with invasive ductal carcinoma, diagnosis confirmed"
    text = "HTN, GERD, ESRD on HD, s/p CABG; abx per ID"
    assert norm.normalize(text) == text


def test_normalize_records_copies_and_summarises(normalizer):
    records = [{"id": "a", "context": "dinosis of ductl carcinoma", "response": "dinosis"}]
    out, summary = normalizer.normalize_records(records)
    assert out[0]["context"] == "diagnosis of ductal carcinoma" and out[0]["response"] == "dinosis"
    assert records[0]["context"] == "dinosis of ductl carcinoma"
    assert summary["corrections"] == {"context": 2} and summary["top_corrections"]["dinosis -> diagnosis"] == 1
