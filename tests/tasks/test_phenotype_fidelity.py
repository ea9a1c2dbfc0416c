"""The phenotype task follows the paper's Table 10 (its phenotype error cases), the only
place the paper shows real records of the task."""

import json

import pytest
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.errors import ConfigError
from cancerllm.tasks.build import build_tasks
from cancerllm.tasks.phenotype import (NOT_RELEVANT, QUESTIONS, phenotype_context, records_for_sentence,
                                       sentence_of_context)


def _sentence(text, ents, sid="s1", patient="P1"):
    entities, pos = [], 0
    for value, label in ents:
        start = text.index(value, pos)
        pos = start + len(value)
        entities.append({"start": start, "end": pos, "label": label, "text": value})
    return {"id": sid, "patient_id": patient, "text": text, "entities": entities}


# Table 10, "Incomplete Generation": "In the text er/pr+, her2 negative, please identify the
# receptors mentioned in the provided context" -> expected output {pr, her2, er}.
TABLE10_RECEPTORS = _sentence("er/pr+, her2 negative", [
    ("er", "hormone_receptor_type"), ("pr", "hormone_receptor_type"), ("+", "hormone_receptor_status"),
    ("her2", "hormone_receptor_type"), ("negative", "hormone_receptor_status")])


def test_q3_asks_for_receptor_types_and_q4_for_their_status_as_in_table_10():
    recs = {r["question_id"]: r for r in records_for_sentence(TABLE10_RECEPTORS)}
    assert recs[3]["entity_type"] == "hormone_receptor_type"
    assert recs[3]["context"].endswith("please identify the receptors mentioned in the provided context.")
    assert set(recs[3]["response"].split(", ")) == {"pr", "her2", "er"}
    assert recs[4]["entity_type"] == "hormone_receptor_status" and recs[4]["response"] == "+, negative"


def test_default_context_is_table_10s_in_the_text_form():
    # Table 10: "In the text ypt2 ypn1bii mo, stage iib, what is the stage of cancer in the given context?"
    sent = _sentence("ypt2 ypn1bii mo, stage iib", [("ypt2 ypn1bii mo", "cancer_stage"), ("iib", "cancer_stage")])
    recs = {r["entity_type"]: r for r in records_for_sentence(sent)}
    assert recs["cancer_stage"]["context"] == ("In the text ypt2 ypn1bii mo, stage iib, "
                                               "what is the stage of cancer in the given context?")
    assert recs["cancer_stage"]["response"] == "ypt2 ypn1bii mo, iib"
    assert recs["tumor_size"]["response"] == NOT_RELEVANT
    for rec in recs.values():   # the record schema training and evaluation read is unchanged
        assert {"id", "patient_id", "instruction", "context", "response", "sentence"} <= set(rec)
        assert sentence_of_context(rec["context"]) == sent["text"]


def test_the_older_newline_form_stays_selectable():
    q = QUESTIONS["tumor_size"]
    assert phenotype_context("Mass 2 cm.", q, "newline") == f"Mass 2 cm.\n{q}"
    assert sentence_of_context(f"Mass 2 cm.\n{q}") == "Mass 2 cm."
    with pytest.raises(ConfigError, match="table10, newline"):
        phenotype_context("Mass 2 cm.", q, "inline")


def test_several_values_are_kept_as_written_repeats_included():
    # "ER positive, PR positive": de-duplicating would answer Q4 with a lone "positive".
    sent = _sentence("ER positive, PR positive", [("ER", "hormone_receptor_type"), ("positive", "hormone_receptor_status"),
                                                  ("PR", "hormone_receptor_type"), ("positive", "hormone_receptor_status")])
    recs = {r["entity_type"]: r["response"] for r in records_for_sentence(sent)}
    assert recs["hormone_receptor_status"] == "positive, positive"
    assert recs["hormone_receptor_type"] == "ER, PR"


@pytest.fixture()
def corpus(tmp_path):
    sents = [_sentence("Left breast IDC, 2.3 cm.", [("2.3 cm", "tumor_size")], f"s{i}", f"P{i}") for i in range(6)]
    (tmp_path / "phenotypes.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sents))
    return tmp_path


def _contexts(out):
    return [json.loads(line)["context"] for s in ("train", "validation", "test")
            for line in (out / "phenotype" / f"{s}.jsonl").read_text().splitlines()]


def test_cli_builds_either_form_and_records_it(corpus, tmp_path):
    runner = CliRunner()
    for form, start in (("table10", "In the text Left breast IDC"), ("newline", "Left breast IDC, 2.3 cm.\n")):
        out = tmp_path / form
        res = runner.invoke(app, ["data", "tasks", "--in", str(corpus), "--out", str(out), "--tasks", "phenotype",
                                  "--phenotype-context", form])
        assert res.exit_code == 0, res.output
        assert all(c.startswith(start) for c in _contexts(out))
        assert json.loads((out / "summary.json").read_text())["options"]["phenotype"]["context_form"] == form
    res = runner.invoke(app, ["data", "tasks", "--in", str(corpus), "--out", str(tmp_path / "x"),
                              "--phenotype-context", "inline"])
    assert res.exit_code != 0 and "unknown phenotype context form" in res.output


def test_an_option_no_task_declares_is_refused(corpus, tmp_path):
    with pytest.raises(ConfigError, match="unknown task option"):
        build_tasks(corpus, tmp_path / "o", "diagnosis", options={"context_form": "newline"})
