"""Error analysis: each documented rule on hand-written examples (many from Tables 8-10)."""

import csv
import json

import pytest
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.errors import InputError
from cancerllm.evaluate.error_analysis import (analyse_error_files, analyse_errors,
                                               classify_error, load_abbreviations,
                                               write_error_report)


@pytest.mark.parametrize("ref, pred, rule", [
    # Table 10, repeat generation
    ("ypn1bii, iib,mo,ypt2", "iib,iib,iib,iib,iib, iib,iib,iib", "repeated.consecutive"),
    ("lung cancer", "lung cancer lung cancer lung cancer", "repeated.consecutive"),
    ("1. continue therapy. 2. follow up", "1. continue therapy 2. continue therapy 3. continue therapy",
     "repeated.ngram"),
    # Table 8, abbreviation
    ("lung ca", "lung cancer", "abbreviation.expansion"),
    ("er positive", "estrogen receptor positive", "abbreviation.expansion"),
    ("status post mastectomy", "s/p mastectomy", "abbreviation.expansion"),
    ("pr", "pgr", "abbreviation.expansion"),
    # Tables 8 and 10, incomplete
    ("pr, her2, er", "pr,er", "incomplete.subset"),
    ("nsclc t4n2mo-1a", "nsclc t4n2mo", "incomplete.subset"),
    ("metastatic lung cancer with brain mets", "metastatic lung cancer", "incomplete.subset"),
    ("left", "", "incomplete.empty"),
    # Tables 8 and 10, redundant
    ("ductal carcinoma", "ductal carcinoma, residual lumen formation", "redundant.superset"),
    ("nsclc", "nsclc,t2n0, s/p lobectomy and chemotherapy", "redundant.superset"),
    ("lung cancer", "lung cancer with brain mets", "redundant.superset"),
    # Tables 8 and 10, irrelevant
    ("1:00", "it is not a relevant question", "irrelevant.low_overlap"),
    ("dcis (Ductal carcinoma in situ)", "invasive ductal carcinoma", "irrelevant.low_overlap"),
    ("nsclc", "lung cancer", "irrelevant.low_overlap"),
    # other
    ("pr, er", "pr,er", "other.formatting"),
    ("er, pr, her2", "pr, her2, er", "other.reordered"),
    ("breast and lung cancer", "metastatic breast cancer", "other.partial"),
    # not an error
    ("Tumors", "tumor", "correct.exact_match"),
])
def test_each_rule_on_hand_written_examples(ref, pred, rule):
    label = classify_error(ref, pred)
    assert label.rule == rule and label.category == rule.split(".")[0]


def test_repetition_in_the_reference_itself_is_not_an_error_of_repeating():
    # the reference already holds the run of three; the extra word makes it redundant
    assert classify_error("iib iib iib", "iib iib iib stage").rule == "redundant.superset"


def test_rule_order_repeated_before_redundant_and_abbreviation_before_incomplete():
    assert classify_error("ductal carcinoma", "ductal carcinoma ductal carcinoma ductal carcinoma"
                          ).rule == "repeated.consecutive"
    assert classify_error("er, pr", "estrogen receptor, progesterone receptor"
                          ).rule == "abbreviation.expansion"
    # abbreviations are mapped before the containment rules
    assert classify_error("metastatic lung ca with brain mets", "metastatic lung cancer"
                          ).rule == "incomplete.subset"


def test_irrelevant_threshold_is_rouge_l_below_0_2():
    five = "alpha bravo charlie delta echo"
    # LCS 1 of 5 and 5: P = R = 0.2, F = 0.2 -> not below the threshold
    assert classify_error(five, "alpha xray yankee zulu kilo").rule == "other.partial"
    # LCS 1 of 6 and 6: F = 1/6 -> irrelevant
    assert classify_error(five + " foxtrot", "alpha xray yankee zulu kilo lima"
                          ).rule == "irrelevant.low_overlap"


@pytest.mark.parametrize("suffix, content", [
    (".json", json.dumps({"tnbc": ["triple negative breast cancer"]})),
    (".tsv", "# extra\ntnbc\ttriple negative breast cancer\n"),
])
def test_abbreviation_map_extends_from_a_file(tmp_path, suffix, content):
    ref, pred = "tnbc", "triple negative breast cancer"
    assert classify_error(ref, pred).rule == "irrelevant.low_overlap"
    path = tmp_path / f"abbr{suffix}"
    path.write_text(content)
    assert classify_error(ref, pred, load_abbreviations(path)).rule == "abbreviation.expansion"


def test_bad_abbreviation_file_names_the_line(tmp_path):
    path = tmp_path / "abbr.tsv"
    path.write_text("tnbc\ttriple negative breast cancer\nno tab here\n")
    with pytest.raises(InputError, match="abbr.tsv:2"):
        load_abbreviations(path)


def test_counts_per_task_and_overall():
    refs = {"1": "left", "2": "pr, her2, er", "3": "lung cancer", "4": "lung ca"}
    preds = {"1": "left", "2": "pr,er", "3": "lung cancer with brain mets", "4": "lung cancer"}
    tasks = {"1": "phenotype", "2": "phenotype", "3": "diagnosis", "4": "diagnosis"}
    report = analyse_errors(refs, preds, tasks)
    assert report.counts["phenotype"]["correct"] == 1
    assert report.counts["phenotype"]["incomplete"] == 1
    assert report.counts["diagnosis"]["redundant"] == 1
    assert report.counts["diagnosis"]["abbreviation"] == 1
    assert sum(report.counts["all"].values()) == 4
    assert [r["rule"] for r in report.per_instance] == [
        "correct.exact_match", "incomplete.subset", "redundant.superset", "abbreviation.expansion"]


def test_files_task_filter_and_written_report(tmp_path):
    refs = tmp_path / "r.jsonl"
    refs.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "response": "ductal carcinoma", "task": "phenotype"},
        {"id": "b", "response": "lung cancer", "task": "diagnosis"}]))
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "a", "prediction": "ductal carcinoma, residual lumen formation"}\n'
                     '{"id": "b", "prediction": "lung ca"}\n')
    report = analyse_error_files(preds, refs, task="phenotype")
    assert [r["id"] for r in report.per_instance] == ["a"]
    assert list(report.counts) == ["phenotype"]
    paths = write_error_report(report, tmp_path / "out")
    rows = list(csv.DictReader(open(paths["csv"])))
    redundant = [r for r in rows if r["category"] == "redundant"][0]
    assert redundant["count"] == "1" and redundant["share_of_errors"] == "100.0"
    line = json.loads(paths["jsonl"].read_text().splitlines()[0])
    assert line == {"id": "a", "task": "phenotype", "category": "redundant", "rule": "redundant.superset",
                    "gold": "ductal carcinoma", "prediction": "ductal carcinoma, residual lumen formation"}
    assert "| phenotype | redundant | 1 | 100.00 |" in paths["markdown"].read_text()
    with pytest.raises(InputError, match="no reference record has task 'treatment'"):
        analyse_error_files(preds, refs, task="treatment")


def test_cli_errors(tmp_path):
    refs = tmp_path / "r.jsonl"
    refs.write_text('{"id": "a", "response": "1:00"}\n')
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "a", "prediction": "it is not a relevant question"}\n')
    res = CliRunner().invoke(app, ["eval", "errors", "--predictions", str(preds), "--references",
                                   str(refs), "--out", str(tmp_path / "err")])
    assert res.exit_code == 0, res.output
    assert "| unknown | irrelevant | 1 | 100.00 |" in res.output
    assert (tmp_path / "err" / "errors.jsonl").exists()
