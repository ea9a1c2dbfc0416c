"""No note text in logs, terminal output, reports or error messages: ids and positions only.

A unique marker is planted in note texts, in malformed records, in reference and
prediction texts; every stage below runs on them through the CLI with all logging
captured at DEBUG; the marker must appear in none of what a user or a log collector
would see (it may of course appear in the data outputs themselves).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cancerllm.cli import app

MARKER = "Qzxv7LeakMarker"
LOGGERS = ["", "cancerllm", "datasets", "transformers", "tokenizers", "huggingface_hub", "presidio-analyzer"]


@pytest.fixture
def seen(caplog):
    """Run CLI commands, collect everything they show; `seen.text()` is all of it."""
    for name in LOGGERS:
        logging.getLogger(name).addHandler(caplog.handler)
        logging.getLogger(name).setLevel(logging.DEBUG)
    shown: list[str] = []

    def run(*args: str, ok: bool = True):
        res = CliRunner().invoke(app, [str(a) for a in args])
        shown.append(res.output)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            shown.append("".join(traceback.format_exception(res.exception)))
            shown.append(repr(res.exception) + repr(getattr(res.exception, "args", ())))
        if ok:
            assert res.exit_code == 0, res.output
        return res

    run.text = lambda: "\n".join(shown) + caplog.text
    yield run
    for name in LOGGERS:
        logging.getLogger(name).removeHandler(caplog.handler)
        logging.getLogger(name).setLevel(logging.NOTSET)


def _notes_folder(tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    good = [{"id": f"n{i}", "patient_id": f"p{i % 4}", "text": f"Dr. Smith saw the patient {MARKER} on 3/4/2021. "
             f"Invasive ductal carcinoma, ER positive, grade 2, tumor size 2.1 cm. {MARKER}"} for i in range(12)]
    lines = [json.dumps(r) for r in good]
    lines += [f"{{not json {MARKER}", json.dumps({"id": "b1", "text": [MARKER]}),
              json.dumps({"id": {MARKER: 1}, "text": MARKER}), json.dumps({"id": "n1", "text": f"dup {MARKER}"}),
              json.dumps({"id": "b3", "patient_id": [MARKER], "text": MARKER}),
              json.dumps({"id": "b4", "note": MARKER}), json.dumps({"id": "b5", "text": ""})]
    (d / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / "b.jsonl").write_bytes(b'{"id": "u1", "text": "bad bytes \xff\xfe ' + MARKER.encode() + b'"}\n')
    (d / "c.csv").write_text(f'id,patient_id,text\nc1,p1,"{MARKER} note text long enough to keep"\n'
                             f'c2,p2,{MARKER},extra,columns\nc3,p3\n', encoding="utf-8")
    return d


def test_readers_corpus_and_deid_show_no_note_text(tmp_path, seen):
    notes = _notes_folder(tmp_path)
    res = seen("data", "read", notes)
    assert "skipped" in res.output and "a.jsonl:" in res.output       # problems are reported, by place
    seen("data", "read", notes, "--json")
    seen("data", "corpus", notes, "--out", tmp_path / "corpus")
    seen("data", "deid", "--in", notes, "--out", tmp_path / "deid.jsonl", "--report", tmp_path / "r.json")
    report = (tmp_path / "r.json").read_text(encoding="utf-8") + (tmp_path / "corpus" / "corpus.json").read_text()
    assert MARKER not in seen.text() + report


def test_task_building_shows_no_note_text(tmp_path, seen):
    from cancerllm.data.synth import generate
    corpus = tmp_path / "synth"
    generate(corpus, patients=10, seed=3)
    for name in ("notes.jsonl", "phenotypes.jsonl", "pathology.jsonl"):
        path = corpus / name
        recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for r in recs:
            r["text"] += f" {MARKER}"
        path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    seen("data", "tasks", "--in", corpus, "--out", tmp_path / "tasks", "--tasks", "diagnosis,treatment")
    assert MARKER not in seen.text()


def test_a_crash_prints_no_local_variables(tmp_path):
    """An unexpected error goes through Typer's pretty traceback, in a real process: locals
    (which hold note text) must not be printed. The fault is injected where the frames
    above it hold a note (malformed input no longer crashes this stage)."""
    from cancerllm.data.synth import generate
    corpus = tmp_path / "synth"
    generate(corpus, patients=3, seed=1)
    with open(corpus / "notes.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "x", "patient_id": "px",
                             "text": f"Reason for Visit: {MARKER}\nDiagnosis: carcinoma."}) + "\n")
    driver = ("import sys, cancerllm.tasks.common as common\n"
              "real = common.numbered_sections\n"
              "def fault(sections, keys):\n"
              f"    if any('{MARKER}' in v for v in sections.values()):\n"
              "        raise RuntimeError('injected fault')\n"
              "    return real(sections, keys)\n"
              "common.numbered_sections = fault\n"
              "from cancerllm.cli import main\nsys.argv[0] = 'cancerllm'\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", driver, "data", "tasks", "--in", str(corpus),
                           "--out", str(tmp_path / "tasks"), "--tasks", "diagnosis"],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    shown = proc.stderr + proc.stdout
    assert proc.returncode != 0 and "Traceback" in shown and "injected fault" in shown
    assert MARKER not in shown


def test_scorer_with_missing_and_malformed_records_shows_no_text(tmp_path, seen):
    refs, preds = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl"
    refs.write_text("".join(json.dumps({"id": f"r{i}", "response": f"{MARKER} answer {i}"}) + "\n"
                            for i in range(3)), encoding="utf-8")
    preds.write_text("".join(json.dumps({"id": f"r{i}", "prediction": f"{MARKER} answer"}) + "\n"
                             for i in (0, 2)), encoding="utf-8")
    res = seen("eval", "score", "--predictions", preds, "--references", refs, ok=False)
    assert res.exit_code != 0 and "r1" in str(res.exception)                 # the id is named
    with open(preds, "a", encoding="utf-8") as fh:
        fh.write(f'{{"id": "r1", "prediction": "{MARKER}" oops\n')
    res = seen("eval", "score", "--predictions", preds, "--references", refs, ok=False)
    assert res.exit_code != 0 and "preds.jsonl:3" in str(res.exception)       # the place is named
    assert MARKER not in seen.text()


def test_the_capture_sees_logs_and_output(seen):
    """Guard against a vacuous pass: what the stages log or print does reach `seen`."""
    logging.getLogger("transformers.some_module").debug("debug %s", MARKER)
    logging.getLogger("cancerllm.data").warning("warning %s", MARKER)
    seen("data", "read", "/no/such/place", ok=False)
    text = seen.text()
    assert f"debug {MARKER}" in text and f"warning {MARKER}" in text and "/no/such/place" in text
