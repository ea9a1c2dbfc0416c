"""`cancerllm predict` over a file: error entries, kill + restart, and the one-note commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cancerllm.errors import InputError, OfflineError
from cancerllm.serve.predict import predict
from tests.serve.lively import NOTES

ROOT = Path(__file__).resolve().parents[2]
LIMIT = max(len(n) for n in NOTES)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_bad_records_get_error_entries_and_the_rest_continue(engine, tmp_path):
    rows = [json.dumps({"id": "a", "text": NOTES[0]}), "{not json", json.dumps(["a list"]),
            json.dumps({"text": NOTES[1]}), json.dumps({"id": ["x"], "text": NOTES[1]}),
            json.dumps({"id": "b", "text": 42}), json.dumps({"id": "c", "text": "  "}),
            json.dumps({"id": "d", "text": "x" * (LIMIT + 1)}), json.dumps({"id": "a", "text": NOTES[2]}),
            "", json.dumps({"id": 7, "text": NOTES[2]})]
    source = tmp_path / "notes.jsonl"
    source.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.jsonl"
    counts = predict("diagnose", "unused", source, out, max_chars=LIMIT, progress=False, engine=engine)
    assert counts["records"] == 10 and counts["written"] == 2 and counts["errors"] == 8
    by_line = {r["line"]: r for r in _lines(out)}
    assert sorted(by_line) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]  # every non-blank line exactly once
    errors = {line: (r["id"], r["error"]) for line, r in by_line.items() if "error" in r}
    assert errors[2] == (None, "not valid JSON") and errors[3] == (None, "not a JSON object")
    assert errors[4] == (None, "missing id") and errors[5][0] is None and "string or integer" in errors[5][1]
    assert errors[6][0] == "b" and "must be a string" in errors[6][1]
    assert errors[7] == ("c", "empty text") and errors[8][0] == "d" and "too long" in errors[8][1]
    assert errors[9][0] is None and "duplicate id 'a'" in errors[9][1]
    assert by_line[1]["prediction"] == engine.run("diagnose", [NOTES[0]])[0]["prediction"]
    assert by_line[11]["id"] == 7 and by_line[11]["task"] == "diagnosis"
    assert all(NOTES[1][:20] not in r.get("error", "") for r in by_line.values())
    # A rerun has nothing left to do.
    again = predict("diagnose", "unused", source, out, max_chars=LIMIT, progress=False, engine=engine)
    assert again["resumed"] == 10 and again["written"] == 0 and len(_lines(out)) == 10


def test_killed_run_restarts_with_every_record_exactly_once(engine, lively_model_dir, tmp_path):
    notes = [{"id": f"n{i}", "text": f"{NOTES[i % len(NOTES)]}\nVisit number {i}."} for i in range(60)]
    notes[50]["id"] = "n3"  # a duplicate after the kill point must still get its error entry
    source, out = tmp_path / "notes.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(n) + "\n" for n in notes))
    cmd = [sys.executable, "-m", "cancerllm.cli", "predict", "--task", "diagnose", "--model", str(lively_model_dir),
           "--input", str(source), "--output", str(out), "--batch-size", "1", "--max-new-tokens", "12",
           "--device", "cpu", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 90
    while not (out.exists() and out.read_text().count("\n") >= 3):
        assert proc.poll() is None and time.time() < deadline, "predict did not start writing"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = out.read_text().count("\n")
    assert 3 <= done_before < len(notes)  # killed half way
    with open(out, "a") as fh:
        fh.write('{"id": "n59", "line": 60, "task": "diag')  # a torn last line, as a kill can leave

    counts = predict("diagnose", str(lively_model_dir), source, out, batch_size=8, progress=False, engine=engine)
    assert counts["resumed"] == done_before  # = the entries on disk before the rerun
    assert counts["written"] + counts["errors"] == len(notes) - done_before
    lines = _lines(out)
    assert sorted(r["line"] for r in lines) == list(range(1, len(notes) + 1))  # none lost, none twice
    (dup,) = [r for r in lines if "error" in r]
    assert dup["line"] == 51 and "duplicate id 'n3'" in dup["error"]
    answered = [(n, i + 1) for i, n in enumerate(notes) if i != 50]
    expected = engine.run("diagnose", [n["text"] for n, _ in answered])
    assert {r["line"]: r["prediction"] for r in lines if "prediction" in r} == \
        {line: e["prediction"] for (_, line), e in zip(answered, expected)}


def test_hub_name_is_refused(tmp_path):
    source = tmp_path / "notes.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "note"}) + "\n")
    with pytest.raises(OfflineError, match="hub name"):
        predict("extract", "mistralai/Mistral-7B-v0.1", source, tmp_path / "out.jsonl", progress=False)
    from cancerllm.cli import app
    result = CliRunner().invoke(app, ["diagnose", "--model", "BioMistral/BioMistral-7B", "--text", "note"])
    assert isinstance(result.exception, OfflineError)


def test_note_commands_print_answers(lively_model_dir, tmp_path):
    from cancerllm.cli import app
    runner = CliRunner()
    base = ["--model", str(lively_model_dir), "--device", "cpu", "--max-new-tokens", "6"]
    extracted = runner.invoke(app, ["extract", "--text", NOTES[4], *base])
    assert extracted.exit_code == 0, extracted.output
    result = json.loads(extracted.stdout)
    assert result["n_sentences"] == 2 and len(result["phenotypes"]) == 8
    assert result["model"]["model_dir"] == str(Path(lively_model_dir).resolve())
    note = tmp_path / "note.txt"
    note.write_text(NOTES[0])
    planned = runner.invoke(app, ["plan", "--file", str(note), "--json", *base])
    assert planned.exit_code == 0 and json.loads(planned.stdout)["task"] == "treatment"
    both = runner.invoke(app, ["diagnose", "--file", str(note), "--text", "x", *base])
    assert both.exit_code != 0 and "not both" in str(both.exception)


def test_readme_example_files_give_the_documented_counts(engine, tmp_path):
    """README's predict example: examples/notes.jsonl has 4 records, the empty one an error."""
    out = tmp_path / "out.jsonl"
    counts = predict("diagnose", "unused", ROOT / "examples" / "notes.jsonl", out, progress=False, engine=engine)
    assert (counts["records"], counts["written"], counts["errors"]) == (4, 3, 1)
    errors = [r for r in _lines(out) if "error" in r]
    assert errors == [{"id": "n3", "line": 3, "error": "empty text"}]
    note = (ROOT / "examples" / "note.txt").read_text()
    from cancerllm.data.sections import find_sections
    assert {"reason_for_visit", "subjective", "laboratory_results", "assessment"} <= {s.key for s in find_sections(note)}


# ---------------------------------------------------------------- guarded output, exact resume


def _notes_file(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


SHORT = [{"id": f"s{i}", "text": f"{NOTES[2]} Visit {i}."} for i in range(6)]


def test_output_that_is_the_input_or_a_foreign_file_is_refused_untouched(engine, tmp_path):
    source = _notes_file(tmp_path / "notes.jsonl", SHORT)
    before = source.read_bytes()
    with pytest.raises(InputError, match="is the input file"):
        predict("diagnose", "unused", source, source, progress=False, engine=engine)
    assert source.read_bytes() == before
    foreign = tmp_path / "other.jsonl"
    foreign.write_text('{"a": 1}\nplain text line\n{"b": 2}\n')
    with pytest.raises(InputError, match="not written by cancerllm predict"):
        predict("diagnose", "unused", source, foreign, progress=False, engine=engine)
    assert foreign.read_text() == '{"a": 1}\nplain text line\n{"b": 2}\n'


def test_appender_refuses_a_file_with_a_bad_middle_line_and_leaves_it_whole(tmp_path):
    from cancerllm.io import JsonlAppender
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1}\nnot json\n{"id": 2}\n')
    with pytest.raises(InputError, match="line 2 is not a JSON record"):
        JsonlAppender(path)
    assert path.read_text() == '{"id": 1}\nnot json\n{"id": 2}\n'
    path.write_text('{"id": 1}\n{"id": 2, "te')  # a torn last line is still dropped
    with JsonlAppender(path) as out:
        assert out.done == {"1"}
    assert path.read_text() == '{"id": 1}\n'


def test_rerun_with_another_task_or_model_is_refused(engine, tmp_path):
    source = _notes_file(tmp_path / "notes.jsonl", SHORT[:2])
    out = tmp_path / "out.jsonl"
    predict("diagnose", "unused", source, out, progress=False, engine=engine)
    written = out.read_text()
    with pytest.raises(InputError, match="another run: task 'diagnosis'"):
        predict("plan", "unused", source, out, progress=False, engine=engine)
    other_model = tmp_path / "other-model"
    other_model.mkdir()
    (other_model / "config.json").write_text("{}")   # looks like a model folder: the run check refuses it
    with pytest.raises(InputError, match="another run: model"):
        predict("diagnose", other_model, source, out, progress=False)  # refused before any load
    assert out.read_text() == written
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "out.jsonl.run.json").stat().st_mode & 0o777) == "0o600"


def test_duplicate_after_the_kill_point_still_gets_its_entry(engine, tmp_path):
    rows = SHORT[:3] + [{"id": "s0", "text": NOTES[4]}] + SHORT[3:5]
    source = _notes_file(tmp_path / "notes.jsonl", rows)
    out = tmp_path / "out.jsonl"
    predict("diagnose", "unused", source, out, batch_size=1, progress=False, engine=engine)
    full = out.read_text().splitlines(keepends=True)
    assert [json.loads(x)["line"] for x in full] == list(range(1, len(rows) + 1))  # batch 1: in order
    out.write_text("".join(full[:2]))  # what a kill after two lines leaves
    counts = predict("diagnose", "unused", source, out, progress=False, engine=engine)
    assert counts["resumed"] == 2 and counts["written"] + counts["errors"] == len(rows) - 2
    by_line = {r["line"]: r for r in _lines(out)}
    assert sorted(by_line) == list(range(1, len(rows) + 1))
    assert "duplicate id 's0'" in by_line[4]["error"]
    assert sorted(out.read_text().splitlines()) == sorted(x.rstrip("\n") for x in full)


def test_a_torn_last_input_line_is_answered_once_complete(engine, tmp_path):
    source = tmp_path / "notes.jsonl"
    whole = json.dumps(SHORT[1])
    source.write_text(json.dumps(SHORT[0]) + "\n" + whole[:15])  # a writer mid-append
    out = tmp_path / "out.jsonl"
    first = predict("diagnose", "unused", source, out, progress=False, engine=engine)
    assert (first["written"], first["errors"], first["incomplete"]) == (1, 0, 1)
    source.write_text(json.dumps(SHORT[0]) + "\n" + whole + "\n")
    second = predict("diagnose", "unused", source, out, progress=False, engine=engine)
    assert (second["resumed"], second["written"], second["incomplete"]) == (1, 1, 0)
    assert [r["id"] for r in _lines(out)] == ["s0", "s1"]
