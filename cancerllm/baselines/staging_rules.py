"""Rule-based staging and biomarker extractor: pathology report -> pT, pN, M, grade, ER, PR, HER2.

The baseline every learned staging head must beat, and an auditable fallback: each field
comes back as a fine class of `cancerllm.schema.staging.FINE` ("NR" when the report
states nothing), with the evidence span in the original text, the id of the rule that
fired and the attributes the schema keeps beside the class (y/r prefix, (m), (sn), node
counts, ER/PR percent, HER2 IHC score and ISH result, `inferred`, ...).

Pipeline (docs/staging-schema.md section 5; rules in the staging_* modules beside this one):
1. normalise (Unicode, OCR look-alikes in TNM tokens) keeping an offset map;
2. find sections and specimens; drop clinical history, hypothetical and historical
   mentions (for ER/PR/HER2 a prior-specimen result is kept with `from_prior_specimen`);
3. collect candidates per field from the rule tables;
4. resolve per field: an addendum / amendment supersedes, then pathologic over clinical
   (T/N), then anything over a needle biopsy, then synoptic line > statement > narrative
   words; within the winning group the highest T / N / M / grade (multiple foci -> the
   largest, flag `multiplicity`), for ER/PR the most detailed (percent, Allred) then the
   first; HER2 combines IHC and ISH across statements (staging_receptors.her2_decision).

Not covered: deriving T from the tumour size or N from node counts (a separate
"rules+derive" variant would flag those `inferred`), per-specimen output (one value per
report), non-English reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from cancerllm.baselines.staging_grade import grade_candidates
from cancerllm.baselines.staging_receptors import her2_decision, receptor_candidates
from cancerllm.baselines.staging_text import (
    TIER_SYNOPTIC, Candidate, context_of, find_specimens, normalise, specimen_rank_at,
)
from cancerllm.baselines.staging_tnm import SEVERITY, descriptor_attributes, tnm_candidates
from cancerllm.data.sections import find_report_sections, report_section_at
from cancerllm.schema.staging import FIELDS, NR, to_coarse

RECEPTOR_FIELDS = ("ER", "PR", "HER2")


@dataclass
class FieldResult:
    """One field's value for one report, with the evidence that decided it.

    `start`/`end` index the original text (None when nothing was found); `rule` is the
    id of the rule that fired; `attributes` holds the schema's flags for this field.
    """

    label: str = NR
    start: int | None = None
    end: int | None = None
    rule: str | None = None
    section: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def coarse(self, field_name: str) -> str:
        return to_coarse(field_name, self.label)

    def to_dict(self) -> dict:
        return {"label": self.label, "start": self.start, "end": self.end, "rule": self.rule,
                "section": self.section, "attributes": self.attributes}


@dataclass
class StagingResult:
    """The seven fields for one report, plus every candidate considered (for error analysis)."""

    fields: dict[str, FieldResult]
    candidates: list[Candidate] = field(default_factory=list)

    def __getitem__(self, field_name: str) -> FieldResult:
        return self.fields[field_name]

    @property
    def labels(self) -> dict[str, str]:
        return {f: r.label for f, r in self.fields.items()}

    @property
    def coarse_labels(self) -> dict[str, str]:
        return {f: r.coarse(f) for f, r in self.fields.items()}

    def to_dict(self) -> dict:
        return {"labels": self.labels, "coarse": self.coarse_labels,
                "evidence": {f: r.to_dict() for f, r in self.fields.items()}}


def _candidates(text: str) -> list[Candidate]:
    """All candidates with section, specimen and context set, spans still in `text`."""
    sections, specimens = find_report_sections(text), find_specimens(text)
    out = []
    for c in tnm_candidates(text) + grade_candidates(text) + receptor_candidates(text):
        c.section = report_section_at(sections, c.start)
        if c.section == "history":
            continue
        c.context = context_of(text, c.start)
        if "hypothetical" in c.context:
            continue
        if "historical" in c.context:
            if c.field not in RECEPTOR_FIELDS:
                continue
            c.attributes["from_prior_specimen"] = True
        c.specimen_rank = specimen_rank_at(specimens, sections, c.start)
        if c.section == "synoptic":
            c.tier = max(c.tier, TIER_SYNOPTIC)
        out.append(c)
    return out


def _ordered_groups(cands: list[Candidate]) -> list[list[Candidate]]:
    """Candidates grouped by rank (best group first), each group in text order."""
    ordered = sorted(sorted(cands, key=lambda c: c.start), key=Candidate.rank_key, reverse=True)
    return [list(g) for _, g in groupby(ordered, key=Candidate.rank_key)]


def _pick(field_name: str, cands: list[Candidate]) -> Candidate:
    if field_name in SEVERITY:
        order = SEVERITY[field_name]
        return max(cands, key=lambda c: order.index(c.label))
    if field_name == "grade":
        return max(cands, key=lambda c: c.label)
    detailed = [c for c in cands if "percent" in c.attributes or "allred" in c.attributes]
    return (detailed or cands)[0]


def _result(c: Candidate, label: str | None = None, **extra: Any) -> FieldResult:
    return FieldResult(label if label is not None else c.label, c.start, c.end, c.rule, c.section,
                       {**c.attributes, **extra})


def resolve_field(field_name: str, cands: list[Candidate]) -> FieldResult:
    """The report-level value of one field from its candidates (see the module docstring)."""
    groups = _ordered_groups(cands)
    if field_name == "HER2":
        seen: list[Candidate] = []
        for group in groups:
            seen += group
            label, decider = her2_decision(seen)
            if label != NR:
                merged = {k: v for c in reversed(seen) for k, v in c.attributes.items()}
                return _result(decider, label, **{k: merged[k] for k in ("ihc", "ish", "ratio", "copy_number")
                                                  if k in merged})
        _, decider = her2_decision(seen)
        return _result(decider, NR) if decider else FieldResult()
    for group in groups:
        real = [c for c in group if c.label != NR]
        if real:
            best = _pick(field_name, real)
            extra = {}
            if field_name == "pT" and len({to_coarse("pT", c.label) for c in real}) > 1:
                extra = {"multiplicity": "m", "foci": sorted({c.label for c in real})}
            return _result(best, **extra)
    return _result(groups[0][0]) if groups else FieldResult()


def extract_staging(text: str) -> StagingResult:
    """Extract pT, pN, M, grade, ER, PR and HER2 from one pathology report."""
    norm = normalise(text)
    cands = _candidates(norm.text)
    for c in cands:
        c.start, c.end = norm.to_original(c.start, c.end)
    fields = {f: resolve_field(f, [c for c in cands if c.field == f]) for f in FIELDS}
    if fields["pT"].label != NR:
        for key, value in descriptor_attributes(norm.text).items():
            fields["pT"].attributes.setdefault(key, value)
    return StagingResult(fields, cands)


def predict_staging(records: Iterable[dict], text_key: str = "text") -> list[dict]:
    """Run the extractor over records with a `text`; one prediction dict per record.

    Each prediction has `id`, `labels` (fine), `coarse` and `evidence` (per field: span,
    rule, section, attributes), the shape `cancerllm.evaluate.staging_report` reads.
    """
    out = []
    for rec in records:
        result = extract_staging(rec.get(text_key) or "")
        out.append({"id": rec.get("id"), **result.to_dict()})
    return out
