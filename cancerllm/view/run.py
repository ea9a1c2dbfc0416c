"""`cancerllm view RUN_OR_FILE`: one self-contained HTML page of a run folder or an output file.

What it recognises (by the records' fields, not by file names, so a renamed file works):
- extraction output (`extract --json`, `predict --task extract`): records with
  `phenotypes` -> each note with its values highlighted at their offsets;
- staging output (rule-based `labels`+`evidence`, heads rows `{field: {label, probs}}`,
  `eval heads` predictions `gold`+`pred`) -> each report with evidence spans and probabilities;
- generation predictions (`id`, `prediction`) with `--references` -> the evaluation table;
- a run folder -> its report.md rendered (figures embedded), every other PNG in it, the
  evaluation table of each compare folder (`predictions/<model>/<task>.jsonl` +
  `references/`), and any extraction/staging output files.
Outputs hold no note text, so the text comes from the record's own `text`, from
`--notes` (JSONL with id + text, or one plain-text note), or, in a run folder, from its
`data/*.jsonl`; gold staging `labels` found there fill in staging predictions that have none. Large inputs are capped at `max_cards` notes per file (said on the page).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.io import atomic_write_text, read_jsonl
from cancerllm.view.evaluation import compare_rows, eval_rows, eval_table, staging_rows
from cancerllm.view.notes import extraction_card, staging_card
from cancerllm.view.page import ENTITY_COLOURS, esc, legend, page

MAX_CARDS = 200
SKIP_DIRS = {"checkpoints", "corpus", "tasks", "data", "models", ".hf_cache", "tensorboard"}


# ------------------------------------------------------------------------- inputs
def read_records(path: Path) -> list[dict]:
    """A JSONL file, or a JSON file holding one object or a list of objects."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        recs = obj if isinstance(obj, list) else [obj]
    else:
        recs = list(read_jsonl(path))
    return [r for r in recs if isinstance(r, dict)]


def kind_of(record: dict) -> str | None:
    """'extraction', 'staging', 'generation' or None for a record of an unknown shape."""
    from cancerllm.schema.staging import FIELDS
    if isinstance(record.get("phenotypes"), dict):
        return "extraction"
    if "evidence" in record or ("gold" in record and "pred" in record):
        return "staging"
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else record  # /v1/stage nests them
    if any(isinstance(fields.get(f), dict) and "label" in fields[f] for f in FIELDS):
        return "staging"
    if "prediction" in record:
        return "generation"
    return None


def read_notes(path: str | os.PathLike | None) -> dict[str, str]:
    """id -> text from a JSONL of notes; a non-JSONL file is one note (id '' matches any record)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: notes file not found")
    if path.suffix.lower() in (".jsonl", ".json"):
        return {str(r["id"]): r["text"] for r in read_records(path) if "id" in r and isinstance(r.get("text"), str)}
    return {"": path.read_text(encoding="utf-8", errors="replace")}


def read_labels(path: str | os.PathLike | None) -> dict[str, dict]:
    """id -> gold staging `labels` from a JSONL of reports (pathology.jsonl carries them)."""
    if path is None or Path(path).suffix.lower() not in (".jsonl", ".json"):
        return {}
    return {str(r["id"]): r["labels"] for r in read_records(Path(path))
            if "id" in r and isinstance(r.get("labels"), dict)}


def with_gold(records: list[dict], labels: dict[str, dict]) -> list[dict]:
    """Staging predictions without `gold` get the report's gold labels, when known."""
    return [{**r, "gold": labels[str(r.get("id"))]}
            if kind_of(r) == "staging" and "gold" not in r and str(r.get("id")) in labels else r for r in records]


def _text_for(rec: dict, notes: dict[str, str]) -> str | None:
    if isinstance(rec.get("text"), str):
        return rec["text"]
    key = str(rec.get("id"))
    return notes.get(key, notes.get("") if len(notes) == 1 and "" in notes else None)


# ------------------------------------------------------------------------ sections
def extraction_section(records: list[dict], notes: dict[str, str], max_cards: int = MAX_CARDS) -> str:
    shown = [r for r in records if kind_of(r) == "extraction"][:max_cards]
    missing = sum(_text_for(r, notes) is None for r in shown)
    cards = "".join(extraction_card(str(r.get("id", f"note {i + 1}")), _text_for(r, notes), r)
                    for i, r in enumerate(shown))
    note = f'<p class="muted">{missing} notes without text: pass --notes.</p>' if missing else ""
    return legend(list(ENTITY_COLOURS)) + _cap_note(records, max_cards) + note + cards


def staging_section(records: list[dict], notes: dict[str, str], max_cards: int = MAX_CARDS) -> str:
    shown = [r for r in records if kind_of(r) == "staging"][:max_cards]
    return _cap_note(records, max_cards) + "".join(
        staging_card(str(r.get("id", f"report {i + 1}")), _text_for(r, notes), r) for i, r in enumerate(shown))


def _cap_note(records: list, max_cards: int) -> str:
    return (f'<p class="muted">Showing the first {max_cards} of {len(records)} records.</p>'
            if len(records) > max_cards else "")


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def markdown_html(md_path: Path, root: Path) -> tuple[str, set[Path]]:
    """report.md as HTML (markdown-it-py, raw HTML off, tables on); local PNGs become data
    URIs, any other image is dropped (the page loads nothing). Returns the PNGs embedded."""
    from markdown_it import MarkdownIt
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(md_path.read_text(encoding="utf-8", errors="replace"))
    used: set[Path] = set()
    for tok in tokens:
        for child in tok.children or []:
            if child.type != "image":
                continue
            src = Path(md_path.parent, str(child.attrGet("src") or "")).resolve()
            inside = src.is_relative_to(root.resolve()) and src.suffix.lower() == ".png" and src.is_file()
            if inside:
                child.attrSet("src", _data_uri(src))
                child.attrSet("class", "fig")
                used.add(src)
            else:  # shown as text: the page must not fetch anything
                child.type, child.tag, child.children = "text", "", None
                child.content = f"[image not embedded: {child.attrGet('src')}]"
    return f'<div class="md">{md.renderer.render(tokens, md.options, {})}</div>', used


def _walk(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.rglob(pattern)
                  if not (set(p.relative_to(root).parts[:-1]) & SKIP_DIRS))


def _run_notes(run: Path) -> tuple[dict[str, str], dict[str, dict]]:
    notes: dict[str, str] = {}
    labels: dict[str, dict] = {}
    for name in ("notes.jsonl", "pathology.jsonl"):
        if (run / "data" / name).is_file():
            notes.update(read_notes(run / "data" / name))
            labels.update(read_labels(run / "data" / name))
    return notes, labels


def _first_kind(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return kind_of(json.loads(fh.readline() or "{}"))
    except (OSError, ValueError, AttributeError):
        return None


def run_sections(run: Path, max_cards: int = MAX_CARDS) -> list[tuple[str, str, str]]:
    sections = []
    used: set[Path] = set()
    if (run / "report.md").is_file():
        body, used = markdown_html(run / "report.md", run)
        sections.append(("report", "Report", body))
    others = [p for p in _walk(run, "*.png") if p.resolve() not in used]
    if others:
        figs = "".join(f'<figure><img class="fig" src="{_data_uri(p)}" alt="{esc(p.name)}">'
                       f'<figcaption class="muted">{esc(p.relative_to(run))}</figcaption></figure>' for p in others)
        sections.append(("figures", "Figures", figs))
    rows: list[dict] = []
    for refs in _walk(run, "references"):
        if refs.is_dir() and (refs.parent / "predictions").is_dir():
            rows += compare_rows(refs.parent)
    extraction, staging, notes, labels = [], [], None, {}
    for path in _walk(run, "*.jsonl"):
        kind = _first_kind(path)
        if kind in ("extraction", "staging"):
            notes, labels = _run_notes(run) if notes is None else (notes, labels)
            recs = with_gold(read_records(path), labels)
            label = str(path.relative_to(run))
            if kind == "extraction":
                extraction.append(f"<h3>{esc(label)}</h3>" + extraction_section(recs, notes, max_cards))
            else:
                staging.append(f"<h3>{esc(label)}</h3>" + staging_section(recs, notes, max_cards))
                rows += staging_rows(recs, path.parent.name)
    sections.append(("evaluation", "Evaluation: every instance", eval_table(rows)))
    if extraction:
        sections.append(("extraction", "Extractions", "".join(extraction)))
    if staging:
        sections.append(("staging", "Staging", "".join(staging)))
    return sections


# ------------------------------------------------------------------------ entry points
def write_run_html(run_dir: str | os.PathLike, out: str | os.PathLike | None = None,
                   max_cards: int = MAX_CARDS) -> Path:
    """Write RUN/report.html (or `out`): the run's report, figures and per-instance tables."""
    run = Path(run_dir)
    if not run.is_dir():
        raise InputError(f"{run}: not a run folder")
    html = page(f"cancerllm run: {run.name}", str(run.name) + " - self-contained page, loads nothing",
                run_sections(run, max_cards))
    return atomic_write_text(Path(out) if out else run / "report.html", html)


def view(path: str | os.PathLike, out: str | os.PathLike | None = None, notes: str | os.PathLike | None = None,
         references: str | os.PathLike | None = None, max_cards: int = MAX_CARDS) -> Path:
    """An HTML page for a run folder or one output file (see the module docstring).

    Default output: RUN/report.html for a folder, FILE with `.html` for a file.
    """
    path = Path(path)
    if path.is_dir():
        return write_run_html(path, out, max_cards)
    records = with_gold(read_records(path), read_labels(notes))
    kinds = {kind_of(r) for r in records} - {None}
    if not kinds:
        raise InputError(f"{path}: no extraction, staging or prediction records (looked for 'phenotypes', "
                         "'evidence', 'gold'+'pred', staging fields or 'prediction')")
    texts = read_notes(notes)
    sections = []
    if "extraction" in kinds:
        sections.append(("extraction", "Extractions", extraction_section(records, texts, max_cards)))
    if "staging" in kinds:
        sections.append(("staging", "Staging", staging_section(records, texts, max_cards)))
        rows = staging_rows([r for r in records if kind_of(r) == "staging"], path.stem)
        if rows:
            sections.append(("evaluation", "Evaluation: every instance", eval_table(rows)))
    if "generation" in kinds:
        if references is None:
            raise InputError(f"{path}: holds predictions; pass --references (task JSONL with id + response)")
        task = next((r.get("task") for r in records if r.get("task")), path.stem)
        # in a compare folder (predictions/<model>/<task>.jsonl) the folder names the model
        model = (path.parent.name if path.parent.parent.name == "predictions" else
                 next((r["model"] for r in records if isinstance(r.get("model"), str)), path.parent.name))
        rows = eval_rows(Path(references), path, str(model), str(task))
        sections.append(("evaluation", "Evaluation: every instance", eval_table(rows)))
    target = Path(out) if out else path.with_suffix(".html")
    return atomic_write_text(target, page(f"cancerllm: {path.name}", "self-contained page, loads nothing", sections))
