"""The paper keeps its instruction-tuning notes out of the continued pre-training corpus."""

import json

from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.data.partition import assign_split


def _setup(tmp_path):
    patients = [p for p in (f"P{i}" for i in range(40)) if assign_split(p, 0) == "train"][:6]
    notes = [{"id": f"n{i}", "patient_id": p, "text": f"Clinic note {i} of {p}: follow-up, stable, plan letrozole."}
             for i, p in enumerate(patients)]
    (tmp_path / "notes.jsonl").write_text("".join(json.dumps(n) + "\n" for n in notes))
    tasks = tmp_path / "tasks" / "diagnosis"
    tasks.mkdir(parents=True)
    (tasks / "train.jsonl").write_text("".join(json.dumps({"id": f"n{i}-dx", "source_id": f"n{i}"}) + "\n"
                                               for i in (0, 2, 4)))
    (tasks / "test.jsonl").write_text("")
    return tmp_path / "notes.jsonl", tmp_path / "tasks"


def _kept_ids(out):
    return {json.loads(x)["id"] for s in ("train", "validation") for x in (out / "clean" / f"{s}.jsonl").read_text().splitlines()}


def test_task_notes_are_left_out_unless_asked_for(tmp_path):
    notes, tasks = _setup(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["data", "corpus", str(notes), "--out", str(tmp_path / "a"), "--tasks-dir", str(tasks)])
    assert res.exit_code == 0, res.output
    assert _kept_ids(tmp_path / "a") == {"n1", "n3", "n5"}
    summary = json.loads((tmp_path / "a" / "corpus.json").read_text())
    assert summary["task_notes"] == "excluded" and summary["task_notes_excluded"] == 3
    res = runner.invoke(app, ["data", "corpus", str(notes), "--out", str(tmp_path / "b"), "--tasks-dir", str(tasks),
                              "--include-task-notes"])
    assert res.exit_code == 0 and _kept_ids(tmp_path / "b") == {f"n{i}" for i in range(6)}
    assert json.loads((tmp_path / "b" / "corpus.json").read_text())["task_notes"] == "included"
    res = runner.invoke(app, ["data", "corpus", str(notes), "--out", str(tmp_path / "c")])
    assert res.exit_code == 0 and "were not checked" in res.output
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["task_notes"] == "not checked"
    res = runner.invoke(app, ["data", "corpus", str(notes), "--out", str(tmp_path / "d"), "--tasks-dir",
                              str(tmp_path / "nowhere")])
    assert res.exit_code != 0 and "has no TASK/<split>.jsonl" in str(res.exception)
