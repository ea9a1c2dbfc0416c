"""`cancerllm view`: self-contained pages whose highlights sit exactly on the note's text.

The browser tests render the page in headless Chromium (Debian's `chromium`; `.ci/run`
installs it) and read the DOM *after* scripts ran, so they check what a user sees:
every highlighted element's text equals the note at its offsets, and a note holding
`<script>` or an `onerror` handler runs nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cancerllm.cli import app
from cancerllm.errors import InputError
from cancerllm.view import view, write_run_html

HOSTILE = ('Pt with <script>document.body.setAttribute("data-pwned","1")</script> left breast IDC.\r\n'
           'ER positive, <img src=x onerror="document.body.setAttribute(\'data-pwned\',\'2\')"> 2.1 cm.')
NOTE2 = "Right breast mass, grade 2 invasive ductal carcinoma. ER positive, PR negative."


ANSWERS = {"tumor_site": "left breast", "tumor_laterality": "left", "hormone_receptor_status": "positive",
           "cancer_stage": "stage IV"}   # stage IV is in neither note: an ungrounded value


def _extraction(text: str, id_: str) -> dict:
    """The record `predict --task extract` writes, built by the serving code from fixed answers."""
    from cancerllm.tasks.phenotype import extract_job
    from cancerllm.tasks.phenotype import QUESTIONS
    job = extract_job(text)
    answers = []
    for ctx in job.contexts:
        etype = next(e for e, q in QUESTIONS.items() if q[1:] in ctx)  # Table 10 form lower-cases its first letter
        answers.append(ANSWERS.get(etype, "Not relevant"))
    return {"id": id_, "line": 1, "task": "phenotype", "model": {"name": "tiny"}, **job.finish(answers)}


@pytest.fixture
def small_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    notes = [{"id": "n1", "text": HOSTILE}, {"id": "n2", "text": NOTE2}]
    (run / "data" / "notes.jsonl").write_text("".join(json.dumps(n) + "\n" for n in notes))
    (run / "extract").mkdir()
    (run / "extract" / "predictions.jsonl").write_text(
        "".join(json.dumps(_extraction(n["text"], n["id"])) + "\n" for n in notes))
    i = NOTE2.index("grade 2")
    staging = {"id": "n2", "labels": {"grade": "G2"},
               "evidence": {"grade": {"label": "G2", "start": i, "end": i + 7, "rule": "grade.numeric"}},
               "grade": {"label": "G2", "probs": {"G2": 0.7, "G1": 0.2, "G3": 0.1}}}
    (run / "staging").mkdir()
    (run / "staging" / "predictions.jsonl").write_text(json.dumps(staging) + "\n")
    cmp = run / "eval" / "compare"
    (cmp / "references").mkdir(parents=True)
    (cmp / "predictions" / "m1").mkdir(parents=True)
    (cmp / "references" / "diagnosis.jsonl").write_text(
        json.dumps({"id": "d1", "response": "breast cancer"}) + "\n"
        + json.dumps({"id": "d2", "response": "<b>lung</b> cancer"}) + "\n")
    (cmp / "predictions" / "m1" / "diagnosis.jsonl").write_text(
        json.dumps({"id": "d1", "task": "diagnosis", "prediction": "breast cancer"}) + "\n"
        + json.dumps({"id": "d2", "task": "diagnosis", "prediction": "cancer"}) + "\n")
    (run / "report.md").write_text("# Demo\n\n| a | b |\n|---|---|\n| 1 | <script>x()</script> |\n\n"
                                   "![chart](eval/compare/chart.png)\n![remote](http://example.org/x.png)\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    fig.savefig(cmp / "chart.png")
    fig.savefig(run / "loss.png")
    plt.close(fig)
    return run


class _Marks(HTMLParser):
    """Collect (attrs, text) of every <mark> and whether a body attribute was set."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.marks, self._open, self.body_attrs, self.scripts, self.card = [], None, {}, 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and "card" in (attrs.get("class") or "").split():
            self.card = attrs.get("data-id")
        if tag == "mark":
            self._open = [attrs, "", self.card]
        elif tag == "body":
            self.body_attrs = dict(attrs)
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        if self._open is not None:
            self._open[1] += data

    def handle_endtag(self, tag):
        if tag == "mark" and self._open is not None:
            self.marks.append(tuple(self._open))
            self._open = None


def test_run_page_is_self_contained_and_escaped(small_run: Path):
    out = write_run_html(small_run)
    assert out == small_run / "report.html"
    html = out.read_text()
    assert 'src="http' not in html                     # remote image not loaded, named as text
    assert "[image not embedded: http://example.org/x.png]" in html
    assert html.count("data:image/png;base64,") == 2   # the report's chart + the other PNG
    assert "<script>document" not in html and "&lt;script&gt;document" in html
    assert "<script>x()" not in html                   # raw HTML in report.md is not rendered
    assert "Content-Security-Policy" in html
    parser = _Marks()
    parser.feed(html)
    assert parser.scripts == 1                         # only the page's own (nonce) script
    # the evaluation table holds the rows with their error categories
    assert 'data-category="correct"' in html and 'data-category="incomplete"' in html
    assert "&lt;b&gt;lung&lt;/b&gt;" in html
    assert "not in note" in html                       # the ungrounded 'stage IV' is flagged


def test_marks_match_offsets_in_source(small_run: Path):
    parser = _Marks()
    parser.feed(write_run_html(small_run).read_text())
    notes = {"n1": HOSTILE, "n2": NOTE2}
    assert parser.marks
    # every mark's text must be the note's text at its offsets; find its note by content
    for attrs, text, note_id in parser.marks:
        a, b = int(attrs["data-start"]), int(attrs["data-end"])
        assert notes[note_id][a:b] == text, (note_id, a, b, text)


def test_single_file_needs_notes_or_references(tmp_path: Path, small_run: Path):
    preds = small_run / "eval" / "compare" / "predictions" / "m1" / "diagnosis.jsonl"
    with pytest.raises(InputError, match="--references"):
        view(preds)
    out = view(preds, tmp_path / "d.html", references=small_run / "eval" / "compare" / "references" / "diagnosis.jsonl")
    assert 'data-model="m1"' in out.read_text()          # the compare folder names the model
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"foo": 1}\n')
    with pytest.raises(InputError, match="no extraction"):
        view(junk)


def test_cli_view_and_version(small_run: Path, tmp_path: Path):
    runner = CliRunner()
    res = runner.invoke(app, ["view", str(small_run / "extract" / "predictions.jsonl"),
                              "--notes", str(small_run / "data" / "notes.jsonl"), "--output", str(tmp_path / "x.html")])
    assert res.exit_code == 0, res.output
    assert "left breast" in (tmp_path / "x.html").read_text()
    assert runner.invoke(app, ["view", "--help"]).exit_code == 0
    (small_run / "train" / "base").mkdir(parents=True)
    (small_run / "train" / "base" / "metrics.csv").write_text("step,epoch,name,value\n1,0.1,loss,4.0\n")
    res = runner.invoke(app, ["view", str(small_run)])
    assert res.exit_code == 0, res.output
    assert "figure " in res.output and (small_run / "train" / "base" / "loss.png").is_file()
    assert "train/base/loss.png" in (small_run / "report.html").read_text()   # embedded, with its caption
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("cancerllm ")


# ------------------------------------------------------------------------- in a browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                                    "(apt-get install chromium; .ci/run installs it)")


def _chromium(*args: str) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-extensions", "--user-data-dir=" + args[0], *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


@needs_chromium
def test_browser_marks_equal_note_text_and_script_runs_nothing(small_run: Path, tmp_path: Path):
    page = write_run_html(small_run)
    dom = _chromium(str(tmp_path / "profile"), "--virtual-time-budget=2000", "--dump-dom", page.as_uri())
    parser = _Marks()
    parser.feed(dom)
    assert "data-pwned" not in parser.body_attrs       # neither <script> nor onerror ran
    by_note = {"n1": HOSTILE, "n2": NOTE2}
    checked = 0
    for attrs, text, note_id in parser.marks:
        a, b = int(attrs["data-start"]), int(attrs["data-end"])
        assert by_note[note_id][a:b] == text, (note_id, a, b, text)
        checked += 1
    # n1: 'left' (inside 'left breast', so cut in two pieces), ' breast', positive;
    # n2: positive; staging evidence 'grade 2'
    assert checked >= 5
    texts = [t for _, t, _ in parser.marks]
    assert "left" in texts and " breast" in texts and "grade 2" in texts
    assert "&lt;script&gt;document.body" in dom          # the note's markup is shown as text
    assert "rows" in dom                               # the filter script ran and counted rows


def test_staging_gold_comes_from_the_notes_file(small_run: Path, tmp_path: Path):
    notes = tmp_path / "reports.jsonl"
    notes.write_text(json.dumps({"id": "n2", "text": NOTE2, "labels": {"grade": "G3"}}) + "\n")
    html = view(small_run / "staging" / "predictions.jsonl", tmp_path / "s.html", notes=notes).read_text()
    assert 'data-task="staging grade"' in html and 'data-category="wrong"' in html   # G2 predicted, G3 gold


def test_http_stage_response_is_staging(tmp_path: Path):
    rec = {"id": "r1", "text": NOTE2, "fields": {"grade": {"label": "2", "probs": {"2": 0.8, "3": 0.2}}}}
    path = tmp_path / "stage.json"
    path.write_text(json.dumps(rec))
    html = view(path).read_text()
    assert "0.80" in html and 'class="card staging"' in html
