"""Sort wrong predictions into the paper's error types (Tables 8-10), by fixed rules.

The paper classified errors by hand. To count them over a whole test set we use
deterministic rules, each with an id, tried in this order; the first that fires wins,
so every wrong prediction gets exactly one category:

1. `other.formatting`    the analysis tokens are equal: only punctuation or spacing
                         differs ("pr,er" vs "pr, er"), so EM = 0 is a scoring artefact.
2. `repeated.consecutive` an n-gram (n <= 4) appears in >= 3 back-to-back copies in the
                         prediction but not in the reference ("iib, iib, iib, ...").
   `repeated.ngram`      an n-gram with 2 <= n <= 4 occurs >= 3 times in the prediction,
                         at least 2 more times than in the reference (a loop broken by
                         list numbers: "1. continue therapy 2. continue therapy ...").
3. `abbreviation.expansion` once known abbreviations and their expansions are mapped to
                         one form, the two token multisets are equal, and they were not
                         equal before ("lung ca" vs "lung cancer").
4. `incomplete.empty`    the prediction has no tokens.
   `incomplete.subset`   the prediction's tokens are a proper sub-multiset of the
                         reference's (recall < 1, precision 1): "pr, er" for "pr, her2, er".
5. `redundant.superset`  the reference's tokens are a proper sub-multiset of the
                         prediction's: "ductal carcinoma, residual lumen formation".
6. `other.reordered`     same tokens, different order ("er, pr, her2" vs "pr, her2, er").
7. `irrelevant.low_overlap` ROUGE-L (the reference's LCS formula, beta 1.2) below
                         IRRELEVANT_MAX_ROUGE_L = 0.2, or an empty reference: little in
                         common ("1:00" vs "it is not a relevant question").
8. `other.partial`       anything else: a partial substitution (part right, part wrong).

Rules 3-7 compare tokens after abbreviation mapping, so an abbreviation never makes an
answer look irrelevant. Why each rule sits where it does: repetition is the most specific
symptom and would otherwise be read as redundancy; abbreviation next because it explains
the whole difference; incomplete/redundant are exact containment; irrelevant is a
threshold and so comes after every exact rule.

Tokens here are `normalize.analysis_tokens`: the reference normalisation with Porter
stems, except that punctuation separates tokens, because the reference's deletion glues
comma-separated lists into one token and hides their items. Correct predictions (EM = 1
in reference mode) get category `correct`. Rules are deliberately conservative: the
paper's "metastatic breast cancer" for "breast and lung cancer" (called incomplete
there) is `other.partial` here, since it also adds a word.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cancerllm.errors import InputError
from cancerllm.evaluate.normalize import analysis_tokens, reference_tokens
from cancerllm.evaluate.scoring import coco_rouge_l, read_paired_inputs, check_ids
from cancerllm.io import atomic_write_jsonl, atomic_write_text, markdown_table

CATEGORIES = ("incomplete", "redundant", "irrelevant", "repeated", "abbreviation", "other")
IRRELEVANT_MAX_ROUGE_L = 0.2
REPEAT_MIN_COPIES = 3
REPEAT_MAX_N = 4

# Abbreviation -> expansions, in plain words (normalised with analysis_tokens on load).
# Kept small and unambiguous in oncology notes; extend with --abbreviations FILE.
# "ca" maps to both cancer and carcinoma, so those two also count as an abbreviation
# difference with each other: a wording difference, not a content error.
BUILTIN_ABBREVIATIONS: dict[str, list[str]] = {
    "idc": ["invasive ductal carcinoma", "infiltrating ductal carcinoma"],
    "ilc": ["invasive lobular carcinoma", "infiltrating lobular carcinoma"],
    "dcis": ["ductal carcinoma in situ"],
    "lcis": ["lobular carcinoma in situ"],
    "er": ["estrogen receptor", "oestrogen receptor"],
    "pr": ["progesterone receptor"],
    "pgr": ["progesterone receptor"],
    "her2": ["human epidermal growth factor receptor 2", "her2 neu", "erbb2"],
    "ca": ["cancer", "carcinoma"],
    "nsclc": ["non small cell lung cancer", "non small cell lung carcinoma"],
    "sclc": ["small cell lung cancer", "small cell lung carcinoma"],
    "crc": ["colorectal cancer"],
    "hcc": ["hepatocellular carcinoma"],
    "rcc": ["renal cell carcinoma"],
    "scc": ["squamous cell carcinoma"],
    "mets": ["metastases", "metastasis", "metastatic disease"],
    "ln": ["lymph node"],
    "lns": ["lymph nodes"],
    "uoq": ["upper outer quadrant"],
    "uiq": ["upper inner quadrant"],
    "loq": ["lower outer quadrant"],
    "liq": ["lower inner quadrant"],
    "bx": ["biopsy"],
    "xrt": ["radiation therapy", "radiotherapy"],
    "chemo": ["chemotherapy"],
    "s/p": ["status post"],
    "hx": ["history"],
    "neg": ["negative"],
    "pos": ["positive"],
}


@dataclass(frozen=True)
class AbbreviationMap:
    """Expansion token tuples -> one canonical (abbreviation) token, longest first."""

    contractions: dict[tuple[str, ...], str]
    max_len: int

    def canonical(self, tokens: tuple[str, ...]) -> tuple[str, ...]:
        """Replace every known expansion (longest match, left to right) by its abbreviation."""
        out, i, n = [], 0, len(tokens)
        while i < n:
            for length in range(min(self.max_len, n - i), 0, -1):
                abbr = self.contractions.get(tokens[i:i + length])
                if abbr is not None:
                    out.append(abbr)
                    i += length
                    break
            else:
                out.append(tokens[i])
                i += 1
        return tuple(out)


def build_abbreviations(entries: dict[str, list[str]]) -> AbbreviationMap:
    """Normalise abbreviations and expansions the way predictions are tokenised."""
    contractions: dict[tuple[str, ...], str] = {}
    for abbr, expansions in entries.items():
        expansions = [expansions] if isinstance(expansions, str) else expansions
        forms = [f for f in map(analysis_tokens, [abbr, *expansions]) if f]
        if not forms:
            continue
        # A form already claimed ("progesterone receptor" by pr) makes pgr share pr's
        # canonical token, so pgr and pr compare equal. "s/p" -> "s_p": one token.
        canon = next((contractions[f] for f in forms if f in contractions), "_".join(forms[0]))
        for form in forms:
            contractions.setdefault(form, canon)
    return AbbreviationMap(contractions, max((len(k) for k in contractions), default=1))


def load_abbreviations(path: str | os.PathLike | None = None) -> AbbreviationMap:
    """The built-in map, extended from a JSON object {abbr: [expansions]} or a TSV file.

    TSV lines are `abbreviation<TAB>expansion` (repeat the abbreviation for several
    expansions); blank lines and lines starting with # are skipped.
    """
    entries = {k: list(v) for k, v in BUILTIN_ABBREVIATIONS.items()}
    if path is None:
        return build_abbreviations(entries)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such abbreviation file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            extra = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(extra, dict):
            raise InputError(f"{path}: expected a JSON object {{abbreviation: [expansions]}}")
        for abbr, exps in extra.items():
            entries.setdefault(str(abbr), []).extend([exps] if isinstance(exps, str) else exps)
    else:
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise InputError(f"{path}:{line_no}: expected 'abbreviation<TAB>expansion'")
            entries.setdefault(parts[0].strip(), []).append(parts[1].strip())
    return build_abbreviations(entries)


# -------------------------------------------------------------------------- rules
def _ngram_counts(tokens: tuple[str, ...], n: int) -> Counter:
    return Counter(tokens[i:i + n] for i in range(len(tokens) - n + 1))


def _max_consecutive_copies(tokens: tuple[str, ...], gram: tuple[str, ...]) -> int:
    n, best, i = len(gram), 0, 0
    while i <= len(tokens) - n:
        run = 0
        while tokens[i + run * n:i + (run + 1) * n] == gram:
            run += 1
        best = max(best, run)
        i += 1
    return best


def _repetition_rule(ref: tuple[str, ...], pred: tuple[str, ...]) -> str | None:
    for n in range(1, REPEAT_MAX_N + 1):
        pred_counts = _ngram_counts(pred, n)
        ref_counts = _ngram_counts(ref, n)
        for gram, count in pred_counts.items():
            if count < REPEAT_MIN_COPIES:
                continue
            if (_max_consecutive_copies(pred, gram) >= REPEAT_MIN_COPIES
                    and _max_consecutive_copies(ref, gram) < REPEAT_MIN_COPIES):
                return "repeated.consecutive"
            if n >= 2 and count - ref_counts.get(gram, 0) >= 2:
                return "repeated.ngram"
    return None


def _proper_submultiset(small: Counter, big: Counter) -> bool:
    return small != big and all(big[t] >= c for t, c in small.items())


@dataclass(frozen=True)
class ErrorLabel:
    category: str
    rule: str


def classify_error(reference: str, prediction: str,
                   abbreviations: AbbreviationMap | None = None) -> ErrorLabel:
    """The error category and rule id of one prediction (`correct` when EM = 1)."""
    if reference_tokens(reference) == reference_tokens(prediction):
        return ErrorLabel("correct", "correct.exact_match")
    abbreviations = abbreviations or _default_abbreviations()
    ref, pred = analysis_tokens(reference), analysis_tokens(prediction)
    if ref == pred:
        return ErrorLabel("other", "other.formatting")
    rule = _repetition_rule(ref, pred)
    if rule:
        return ErrorLabel("repeated", rule)
    ref_c, pred_c = abbreviations.canonical(ref), abbreviations.canonical(pred)
    ref_bag, pred_bag = Counter(ref_c), Counter(pred_c)
    if ref_bag == pred_bag and Counter(ref) != Counter(pred):
        return ErrorLabel("abbreviation", "abbreviation.expansion")
    if not pred:
        return ErrorLabel("incomplete", "incomplete.empty")
    if _proper_submultiset(pred_bag, ref_bag):
        return ErrorLabel("incomplete", "incomplete.subset")
    if ref_c and _proper_submultiset(ref_bag, pred_bag):
        return ErrorLabel("redundant", "redundant.superset")
    if ref_bag == pred_bag:
        return ErrorLabel("other", "other.reordered")
    if not ref_c or coco_rouge_l(ref_c, pred_c) < IRRELEVANT_MAX_ROUGE_L:
        return ErrorLabel("irrelevant", "irrelevant.low_overlap")
    return ErrorLabel("other", "other.partial")


_DEFAULT_MAP: list[AbbreviationMap] = []


def _default_abbreviations() -> AbbreviationMap:
    if not _DEFAULT_MAP:
        _DEFAULT_MAP.append(load_abbreviations())
    return _DEFAULT_MAP[0]


# ------------------------------------------------------------------------ reports
@dataclass
class ErrorReport:
    """Per-instance labels and counts per task and category ('all' sums every task)."""

    per_instance: list[dict]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def analyse_errors(refs: dict[str, str], preds: dict[str, str],
                   tasks: dict[str, str] | None = None,
                   abbreviations: AbbreviationMap | None = None) -> ErrorReport:
    """Label every instance; ids must pair up exactly as for scoring."""
    check_ids(list(refs), list(preds), "references", "predictions")
    abbreviations = abbreviations or _default_abbreviations()
    tasks = tasks or {}
    per_instance, counts = [], {}
    for id_, ref in refs.items():
        label = classify_error(ref, preds[id_], abbreviations)
        task = tasks.get(id_, "unknown")
        # gold and prediction ride along so errors.jsonl can be read without re-joining files
        per_instance.append({"id": id_, "task": task, "category": label.category,
                             "rule": label.rule, "gold": ref, "prediction": preds[id_]})
        for key in (task, "all"):
            bucket = counts.setdefault(key, {c: 0 for c in ("correct",) + CATEGORIES})
            bucket[label.category] += 1
    if len(counts) == 2:  # one task: its row equals 'all'
        counts.pop("all")
    return ErrorReport(per_instance, counts)


def analyse_error_files(pred_path: str | os.PathLike, ref_path: str | os.PathLike,
                        task: str | None = None,
                        abbreviations_path: str | os.PathLike | None = None) -> ErrorReport:
    """Read, pair and label. `task`: keep only that task's records; records without a
    `task` field are taken to belong to it."""
    inputs = read_paired_inputs(pred_path, ref_path)
    refs, preds, tasks = inputs.refs, inputs.preds, dict(inputs.tasks)
    if task is not None:
        keep = [i for i in refs if tasks.get(i, task) == task]
        if not keep:
            raise InputError(f"no reference record has task '{task}'")
        refs = {i: refs[i] for i in keep}
        preds = {i: preds[i] for i in keep}
        tasks = {i: task for i in keep}
    return analyse_errors(refs, preds, tasks, load_abbreviations(abbreviations_path))


def _rows(report: ErrorReport) -> list[dict]:
    rows = []
    for task, bucket in report.counts.items():
        wrong = sum(bucket[c] for c in CATEGORIES)
        for cat in ("correct",) + CATEGORIES:
            share = 100 * bucket[cat] / wrong if wrong and cat != "correct" else None
            rows.append({"task": task, "category": cat, "count": bucket[cat],
                         "share_of_errors": None if share is None else round(share, 2)})
    return rows


def format_counts_markdown(report: ErrorReport) -> str:
    """Counts per task and category; shares are of the wrong predictions only."""
    rows = []
    for row in _rows(report):
        share = "" if row["share_of_errors"] is None else f"{row['share_of_errors']:.2f}"
        rows.append([row["task"], row["category"], row["count"], share])
    return markdown_table(["task", "category", "count", "% of errors"], rows, "llrr")


def write_error_report(report: ErrorReport, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write errors.jsonl (per id: task, category, rule, gold, prediction), error_counts.csv
    and error_counts.md."""
    out_dir = Path(out_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["task", "category", "count", "share_of_errors"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(_rows(report))
    return {
        "jsonl": atomic_write_jsonl(out_dir / "errors.jsonl", report.per_instance),
        "csv": atomic_write_text(out_dir / "error_counts.csv", buf.getvalue()),
        "markdown": atomic_write_text(out_dir / "error_counts.md", format_counts_markdown(report)),
    }
