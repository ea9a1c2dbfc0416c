"""The evaluation table: one row per (model, task, instance) with gold, prediction, scores, error type.

HELM-style: every prompt's gold answer and prediction side by side, so a reader can see
*why* a score is what it is. Scores are recomputed per instance with the toolkit's own
scorer (`cancerllm.evaluate.scoring.score_instance`, reference mode, the mode the demo
reports) and the error category with `cancerllm.evaluate.error_analysis.classify_error`,
so the rows agree with the tables and error counts beside them.
"""

from __future__ import annotations

from pathlib import Path

from cancerllm.io import read_jsonl
from cancerllm.view.page import esc, filter_bar

METRICS = (("exact_match", "EM"), ("bleu2", "BLEU-2"), ("rouge_l", "ROUGE-L"))


def eval_rows(ref_path: Path, pred_path: Path, model: str, task: str, mode: str = "reference") -> list[dict]:
    """Rows for one predictions file against its references (ids paired; unpaired ids are listed
    as rows with an empty side, not dropped, so a missing prediction is visible)."""
    from cancerllm.evaluate.error_analysis import classify_error
    from cancerllm.evaluate.scoring import score_instance
    refs = {str(r.get("id")): r for r in read_jsonl(ref_path)}
    preds = {str(r.get("id")): r for r in read_jsonl(pred_path)}
    rows = []
    for id_ in list(refs) + [i for i in preds if i not in refs]:
        ref, pred = refs.get(id_), preds.get(id_)
        gold = None if ref is None else str(ref.get("response", ""))
        answer = None if pred is None else str(pred.get("prediction", ""))
        row = {"id": id_, "task": (pred or {}).get("task") or task, "model": model, "gold": gold,
               "prediction": answer, "scores": {}, "category": "missing", "rule": ""}
        if gold is not None and answer is not None:
            row["scores"] = {k: s[2] for k, s in score_instance(gold, answer, mode).items()}
            label = classify_error(gold, answer)
            row["category"], row["rule"] = label.category, label.rule
        rows.append(row)
    return rows


def compare_rows(compare_dir: Path) -> list[dict]:
    """Rows of a compare folder: `predictions/<model>/<task>.jsonl` against `references/<task>.jsonl`."""
    rows: list[dict] = []
    for pred_path in sorted((compare_dir / "predictions").glob("*/*.jsonl")):
        ref_path = compare_dir / "references" / pred_path.name
        if ref_path.is_file():
            rows += eval_rows(ref_path, pred_path, pred_path.parent.name, pred_path.stem)
    return rows


def staging_rows(records: list[dict], system: str) -> list[dict]:
    """Rows for staging predictions that carry gold (`eval heads` output): one per report x field."""
    from cancerllm.view.notes import staging_fields
    rows = []
    for rec in records:
        for f, d in staging_fields(rec).items():
            if d.get("gold") is None:
                continue
            right = d.get("label") == d["gold"]
            rows.append({"id": str(rec.get("id")), "task": f"staging {f}", "model": system,
                         "gold": d["gold"], "prediction": d.get("label"), "scores": {"exact_match": float(right)},
                         "category": "correct" if right else "wrong", "rule": ""})
    return rows


def eval_table(rows: list[dict], table_id: str = "eval") -> str:
    """A filterable table (task, model, error category, free text) of `rows`."""
    if not rows:
        return '<p class="muted">no predictions with references found</p>'
    options = {k: sorted({str(r[k]) for r in rows}) for k in ("task", "model", "category")}
    head = "".join(f"<th>{h}</th>" for h in ["model", "task", "id", "gold", "prediction",
                                             *(m for _, m in METRICS), "error category", "rule"])
    body = []
    for r in rows:
        cells = "".join(f'<td class="num">{r["scores"][k] * 100:.1f}</td>' if k in r["scores"] else "<td></td>"
                        for k, _ in METRICS)
        state = "correct" if r["category"] == "correct" else "wrong"
        body.append(f'<tr class="{state}" data-task="{esc(r["task"])}" data-model="{esc(r["model"])}" '
                    f'data-category="{esc(r["category"])}"><td>{esc(r["model"])}</td><td>{esc(r["task"])}</td>'
                    f'<td>{esc(r["id"])}</td><td class="txt">{esc("" if r["gold"] is None else r["gold"])}</td>'
                    f'<td class="txt">{esc("" if r["prediction"] is None else r["prediction"])}</td>{cells}'
                    f'<td class="cat">{esc(r["category"])}</td><td class="muted">{esc(r["rule"])}</td></tr>')
    return (filter_bar(f"{table_id}-filters", options)
            + f'<table class="filterable" id="{esc(table_id)}" data-filters="{esc(table_id)}-filters">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            '<p class="muted">Scores x100 per instance, reference mode (docs/design.md); '
            "error categories by the rules of cancerllm.evaluate.error_analysis.</p>")
