"""Staging report: per-field macro F1 with bootstrap CIs for several systems, as tables.

Why a separate report: staging fields are classification, not generation, and a
hospital comparing the rule-based baseline, zero-shot prompting and trained heads needs
the same numbers for each, with their uncertainty, in files it can paste into a paper.

For every system x field (docs/staging-schema.md 2.8 and 6):
- `coarse`: macro F1 on coarse classes, NR included (the deployment setting). The
  headline is the mean over HEADLINE_FIELDS (pT, pN, grade, ER, PR, HER2); M is reported
  apart because it is mostly NR and the rare M1 dominates its macro F1;
- `fine`: macro F1 on the fine classes;
- `reported`: coarse macro F1 over reports whose gold is not NR (comparable to Kefeli
  and to studies that dropped missing values); NR is not averaged there but a predicted
  NR still counts as a miss of the true class (same rule as cancerllm.evaluate.heads).
Macro F1 is `sklearn.metrics.f1_score(average="macro", labels=L, zero_division=0)` where L
is the schema classes present in gold or prediction, in schema order; L is written next
to every number because macro F1 moves with which rare classes count. Scores are x100.

95 % CIs: percentile bootstrap over reports (default 1000 resamples, seeded), one set of
resample weights shared by all systems and fields, so the headline CI is joint and two
systems are compared on the same resamples. Vectorised: per resample, per-class TP, gold
and predicted counts are one matrix product each, so 1000 resamples of 1000 reports take
well under a second. Reports without a gold label for a field (key absent or None) are
skipped for that field (unlabelled is not NR).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cancerllm.data.pathology import read_reports
from cancerllm.errors import InputError
from cancerllm.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, markdown_table_lines
from cancerllm.schema.staging import COARSE, FIELDS, FINE, HEADLINE_FIELDS, NR, to_coarse

VARIANTS = ("coarse", "fine", "reported")
DIFFICULTIES = ["synoptic", "narrative", "ypT", "multiple_specimens", "addendum_amends", "words_only", "ocr_noise"]
METRIC = ("macro F1 x100: sklearn.metrics.f1_score(average='macro', labels=<schema classes present in gold or "
          "prediction>, zero_division=0); 'reported' drops reports with gold NR and does not average NR")


def _labels_of(item: dict) -> dict:
    """A label dict, or a prediction record carrying one under 'labels'."""
    inner = item.get("labels")
    return inner if isinstance(inner, dict) else item


def _present(schema_labels: list[str], *seqs: Iterable[str], exclude: tuple[str, ...] = ()) -> list[str]:
    seen = set().union(*map(set, seqs))
    return [lab for lab in schema_labels if lab in seen and lab not in exclude]


def _macro_f1(gold: list[str], pred: list[str], labels: list[str]) -> float | None:
    from sklearn.metrics import f1_score
    if not gold or not labels:
        return None
    return 100.0 * float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0))


def bootstrap_macro_f1(gold: list[str], pred: list[str], labels: list[str], weights: np.ndarray) -> np.ndarray:
    """Macro F1 x100 for each row of `weights` (resample counts per report), vectorised.

    The point estimate's definition applied to each resample: sklearn's macro F1 over the
    labels (of `labels`) present in that resample's gold or predictions. A rare class a
    resample happens to miss is then left out, as it would be on a test set without it,
    instead of counting as a zero.
    """
    index = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    gold_oh = np.zeros((len(gold), k))
    pred_oh = np.zeros((len(pred), k))
    for row, (g, p) in enumerate(zip(gold, pred)):
        if g in index:
            gold_oh[row, index[g]] = 1.0
        if p in index:
            pred_oh[row, index[p]] = 1.0
    tp = weights @ (gold_oh * pred_oh)
    denom = weights @ gold_oh + weights @ pred_oh
    present = denom > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=present)
    n_present = present.sum(axis=1)
    return 100.0 * np.divide(f1.sum(axis=1), n_present, out=np.zeros(len(f1)), where=n_present > 0)


def _variant(gold: list[str], pred: list[str], schema_labels: list[str], weights: np.ndarray | None,
             alpha: float, exclude: tuple[str, ...] = ()) -> tuple[dict, np.ndarray | None]:
    with warnings.catch_warnings():  # "a single label was found": expected, the label list is explicit
        warnings.simplefilter("ignore", UserWarning)
        return _variant_scores(gold, pred, schema_labels, weights, alpha, exclude)


def _variant_scores(gold: list[str], pred: list[str], schema_labels: list[str], weights: np.ndarray | None,
                    alpha: float, exclude: tuple[str, ...]) -> tuple[dict, np.ndarray | None]:
    from sklearn.metrics import confusion_matrix, f1_score
    labels = _present(schema_labels, gold, pred, exclude=exclude)
    point = _macro_f1(gold, pred, labels)
    out = {"macro_f1": point, "ci_low": None, "ci_high": None, "labels": labels, "n": len(gold),
           "accuracy": 100.0 * sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else None}
    boots = None
    if point is not None:
        per_class = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
        out["per_class_f1"] = {lab: 100.0 * float(v) for lab, v in zip(labels, per_class)}
        matrix_labels = _present(schema_labels, gold, pred)
        out["confusion"] = {"labels": matrix_labels,
                            "matrix": confusion_matrix(gold, pred, labels=matrix_labels).tolist()}
        if weights is not None and weights.shape[0] > 0:
            boots = bootstrap_macro_f1(gold, pred, labels, weights)
            out["ci_low"], out["ci_high"] = (float(np.percentile(boots, 100 * q)) for q in (alpha / 2, 1 - alpha / 2))
    return out, boots


def score_systems(gold: list[dict], predictions: dict[str, list[dict]], *, fields: list[str] | None = None,
                  n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> dict:
    """Per system x field x variant macro F1 with CIs, per-class F1 and confusion matrices.

    `gold`: one label dict per report ({field: fine label}); `predictions`: system name ->
    list of label dicts (or prediction records with `labels`) in the same order. A
    prediction that is not a schema label scores as NR and is counted in `invalid`.
    """
    fields = list(fields or FIELDS)
    gold = [_labels_of(g) for g in gold]
    for name, preds in predictions.items():
        if len(preds) != len(gold):
            raise InputError(f"system {name!r}: {len(preds)} predictions for {len(gold)} gold reports")
    for i, g in enumerate(gold):
        for f in fields:
            if g.get(f) is not None and g[f] not in FINE[f]:
                raise InputError(f"gold report {i}: {f}={g[f]!r} is not a schema label")
    rng = np.random.default_rng(seed)
    n = len(gold)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float) if n and n_boot else None
    alpha = 1.0 - ci
    result = {"metric": METRIC, "scale": "x100", "n_reports": n, "n_boot": n_boot, "seed": seed, "ci": ci,
              "fields": fields, "headline_fields": [f for f in HEADLINE_FIELDS if f in fields], "systems": {}}
    for name, preds in predictions.items():
        preds = [_labels_of(p) for p in preds]
        invalid: Counter = Counter()
        sys_out: dict = {"fields": {}, "invalid": {}}
        head_boots = []
        for f in fields:
            rows = [i for i, g in enumerate(gold) if g.get(f) is not None]
            g_fine = [gold[i][f] for i in rows]
            p_fine = []
            for i in rows:
                p = preds[i].get(f)
                if p not in FINE[f]:
                    invalid[f] += 1
                    p = NR
                p_fine.append(p)
            g_c = [to_coarse(f, x) for x in g_fine]
            p_c = [to_coarse(f, x) for x in p_fine]
            w = weights[:, rows] if weights is not None else None
            coarse, coarse_boots = _variant(g_c, p_c, COARSE[f], w, alpha)
            fine, _ = _variant(g_fine, p_fine, FINE[f], w, alpha)
            rep = [j for j, x in enumerate(g_c) if x != NR]
            reported, _ = _variant([g_c[j] for j in rep], [p_c[j] for j in rep], COARSE[f],
                                   w[:, rep] if w is not None else None, alpha, exclude=(NR,))
            sys_out["fields"][f] = {"coarse": coarse, "fine": fine, "reported": reported,
                                    "n": len(rows), "n_reported": len(rep)}
            if f in result["headline_fields"] and coarse["macro_f1"] is not None:
                head_boots.append((coarse["macro_f1"], coarse_boots))
        sys_out["invalid"] = dict(invalid)
        sys_out["headline"] = _headline(head_boots, alpha)
        result["systems"][name] = sys_out
    return result


def _headline(parts: list[tuple[float, np.ndarray | None]], alpha: float) -> dict:
    if not parts:
        return {"macro_f1": None, "ci_low": None, "ci_high": None}
    point = float(np.mean([p for p, _ in parts]))
    out = {"macro_f1": point, "ci_low": None, "ci_high": None, "n_fields": len(parts)}
    if all(b is not None for _, b in parts):
        mean_boot = np.mean(np.stack([b for _, b in parts]), axis=0)
        out["ci_low"], out["ci_high"] = (float(np.percentile(mean_boot, 100 * q)) for q in (alpha / 2, 1 - alpha / 2))
    return out


def difficulty_shares(records: Iterable[dict]) -> dict[str, float]:
    """Share of reports carrying each difficulty tag (synthetic pathology records' `difficulties`).

    The known tags are always listed (0.0 when absent) so tables line up across corpora;
    unknown tags found in the records are added after them.
    """
    records = list(records)
    counts = Counter(tag for r in records for tag in set(r.get("difficulties") or []))
    tags = DIFFICULTIES + sorted(t for t in counts if t not in DIFFICULTIES)
    return {t: (counts[t] / len(records) if records else 0.0) for t in tags}


def headline_by_difficulty(records: list[dict], predictions: dict[str, list[dict]]) -> dict:
    """Headline coarse macro F1 (no CI) per system on the reports carrying each difficulty tag."""
    out: dict[str, dict] = {}
    for tag in difficulty_shares(records):
        rows = [i for i, r in enumerate(records) if tag in (r.get("difficulties") or [])]
        if not rows:
            continue
        sub = score_systems([records[i] for i in rows], {s: [p[i] for i in rows] for s, p in predictions.items()},
                            n_boot=0)
        out[tag] = {"n": len(rows), **{s: v["headline"]["macro_f1"] for s, v in sub["systems"].items()}}
    return out


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------

CSV_COLUMNS = ["system", "field", "n", "n_reported"] + [
    f"{v}_{k}" for v in VARIANTS for k in ("macro_f1", "ci_low", "ci_high")] + [f"{v}_labels" for v in VARIANTS]


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.1f}"


def _cell(d: dict) -> str:
    if d.get("macro_f1") is None:
        return "–"
    ci = f" [{_fmt(d['ci_low'])}, {_fmt(d['ci_high'])}]" if d.get("ci_low") is not None else ""
    return f"{_fmt(d['macro_f1'])}{ci}"


def table_rows(result: dict) -> list[dict]:
    """One row per system x field (plus a 'headline' row per system), the CSV's content."""
    rows = []
    for name, s in result["systems"].items():
        h = s["headline"]
        rows.append({"system": name, "field": "headline", "n": result["n_reports"], "n_reported": "",
                     "coarse_macro_f1": h["macro_f1"], "coarse_ci_low": h["ci_low"], "coarse_ci_high": h["ci_high"],
                     "coarse_labels": "mean over " + " ".join(result["headline_fields"])})
        for f, d in s["fields"].items():
            row = {"system": name, "field": f, "n": d["n"], "n_reported": d["n_reported"]}
            for v in VARIANTS:
                row.update({f"{v}_macro_f1": d[v]["macro_f1"], f"{v}_ci_low": d[v]["ci_low"],
                            f"{v}_ci_high": d[v]["ci_high"], f"{v}_labels": " ".join(d[v]["labels"])})
            rows.append(row)
    return rows


def to_csv(result: dict) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in table_rows(result):
        writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def to_markdown(result: dict, shares: dict[str, float] | None = None, by_difficulty: dict | None = None) -> str:
    ci = int(round(100 * result["ci"]))
    lines = ["# Staging and biomarker extraction", "",
             f"{result['n_reports']} reports; {result['metric']}. "
             f"Brackets: {ci} % percentile bootstrap CI ({result['n_boot']} resamples, seed {result['seed']}).", "",
             f"Headline = mean coarse macro F1 over {', '.join(result['headline_fields'])}; "
             "M is reported apart (mostly NR, dominated by the rare M1).", "",
             *markdown_table_lines(["system", "headline"],
                                   ([name, _cell(s["headline"])] for name, s in result["systems"].items()))]
    rows = [[name, f, f"{d['n']} ({d['n_reported']} reported)", _cell(d["coarse"]), _cell(d["reported"]),
             _cell(d["fine"])] for name, s in result["systems"].items() for f, d in s["fields"].items()]
    lines += ["", *markdown_table_lines(["system", "field", "n", "coarse (NR incl.)", "reported only", "fine"], rows)]
    lines += ["", "## Label lists averaged over", ""]
    first = next(iter(result["systems"].values()), None)
    for name, s in result["systems"].items():
        for f, d in s["fields"].items():
            lines.append(f"- {name} / {f}: coarse {d['coarse']['labels']}; reported {d['reported']['labels']}; "
                         f"fine {d['fine']['labels']}")
    if first is not None:
        lines += ["", "## Coarse confusion matrices (rows gold, columns predicted)"]
        for name, s in result["systems"].items():
            for f, d in s["fields"].items():
                conf = d["coarse"].get("confusion")
                if not conf:
                    continue
                labs = conf["labels"]
                lines += ["", f"**{name} / {f}**", "",
                          *markdown_table_lines(["gold \\ pred", *labs],
                                                ([g, *row] for g, row in zip(labs, conf["matrix"])))]
    if shares:
        lines += ["", "## Difficulty tags (share of reports)", "",
                  *markdown_table_lines(["tag", "share"], ([t, f"{100 * v:.1f} %"] for t, v in shares.items()))]
    if by_difficulty:
        systems = list(result["systems"])
        lines += ["", "## Headline by difficulty tag (no CI)", "",
                  *markdown_table_lines(["tag", "n", *systems], ([t, d["n"], *(_fmt(d.get(s)) for s in systems)]
                                                                 for t, d in by_difficulty.items()))]
    return "\n".join(lines) + "\n"


def write_staging_report(result: dict, out_dir: str | os.PathLike, shares: dict[str, float] | None = None,
                         by_difficulty: dict | None = None) -> dict[str, Path]:
    """Write staging_scores.json, staging_scores.csv and staging_report.md into `out_dir`."""
    out = Path(out_dir)
    payload = {**result, **({"difficulty_shares": shares} if shares else {}),
               **({"headline_by_difficulty": by_difficulty} if by_difficulty else {})}
    return {"json": atomic_write_json(out / "staging_scores.json", payload),
            "csv": atomic_write_text(out / "staging_scores.csv", to_csv(result)),
            "markdown": atomic_write_text(out / "staging_report.md", to_markdown(result, shares, by_difficulty))}


# ---------------------------------------------------------------------------------------
# `cancerllm eval staging-rules`
# ---------------------------------------------------------------------------------------

def eval_staging_rules(reports: str | os.PathLike, out: str | os.PathLike, n_boot: int = 1000,
                       seed: int = 0) -> dict:
    """Run the rule-based extractor on REPORTS; score it where the records carry gold labels.

    Writes OUT/predictions.jsonl, run.json/config.yaml and, with gold labels,
    staging_scores.{json,csv} and staging_report.md. Returns a short summary.
    """
    from cancerllm.baselines.staging_rules import predict_staging
    from cancerllm.runs import start_run

    records, errors = read_reports(reports)
    out = start_run(out, {"reports": str(reports), "n_boot": n_boot, "seed": seed, "system": "rules"},
                    seed=seed, stage="eval staging-rules")
    preds = predict_staging(records)
    atomic_write_jsonl(out / "predictions.jsonl", preds)
    summary: dict = {"n_reports": len(records), "skipped": [str(e) for e in errors],
                     "predictions": str(out / "predictions.jsonl")}
    labelled = [i for i, r in enumerate(records) if isinstance(r.get("labels"), dict)]
    if labelled:
        gold = [records[i] for i in labelled]
        system = {"rules": [preds[i] for i in labelled]}
        result = score_systems([g["labels"] for g in gold], system, n_boot=n_boot, seed=seed)
        has_tags = any(g.get("difficulties") for g in gold)
        files = write_staging_report(result, out, difficulty_shares(gold) if has_tags else None,
                                     headline_by_difficulty(gold, system) if has_tags else None)
        summary.update({"n_scored": len(gold), "headline": result["systems"]["rules"]["headline"],
                        "files": {k: str(v) for k, v in files.items()}})
    atomic_write_json(out / "summary.json", summary)
    return summary
