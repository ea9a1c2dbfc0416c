"""Rule-based phenotype extractor: the non-LLM baseline of the phenotype task.

Two kinds of rules, because the entity types differ in kind:
- pattern-like types (tumor size, stage, grade, receptor type/status, laterality) get
  regular expressions;
- open-vocabulary types (histological type, tumor site, and any type the patterns miss)
  get a dictionary learned from the *training* split's gold answers, matched longest
  first on word boundaries, case-insensitively.
It answers in the task's own format (values comma-joined in order of appearance, repeats kept, or
"Not relevant"), so it is scored by exactly the same scorer as the models.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from cancerllm.tasks.phenotype import NOT_RELEVANT

_RECEPTOR = r"(?:ER|PR|PgR|HER-?2(?:/neu)?|estrogen receptors?|progesterone receptors?|hormone receptors?)"
PATTERNS: dict[str, list[re.Pattern]] = {
    "tumor_size": [re.compile(r"\b\d+(?:\.\d+)?(?:\s?x\s?\d+(?:\.\d+)?)*\s?(?:cm|mm)\b", re.I)],
    "cancer_stage": [
        re.compile(r"\bstage\s+(?:0|[IV]{1,4}[ABC]?\d?)\b", re.I),
        re.compile(r"\b(?:y|r)?p?T(?:is|[0-4X])[a-d]?(?:mi)?(?:\(m\))?\s?(?:y|r)?p?N[0-3X][a-c]?(?:mi)?(?:\([^)]*\))?"
                   r"(?:\s?c?p?M[01X])?", re.I),
    ],
    "cancer_grade": [
        re.compile(r"\b(?P<v>grade\s+(?:[1-3]|I{1,3}|one|two|three)\b(?:\s+of\s+3)?)",
                   re.I),
        re.compile(r"\b(?:well|moderately|poorly)[ -]differentiated\b", re.I),
        re.compile(r"\b(?:low|intermediate|high)[ -]grade\b", re.I),
    ],
    "hormone_receptor_type": [re.compile(rf"\b{_RECEPTOR}(?![A-Za-z])", re.I)],
    "hormone_receptor_status": [
        re.compile(r"\b(?:strongly |weakly )?(?:positive|negative|equivocal)\b", re.I),
        re.compile(rf"\b{_RECEPTOR}(?P<v>[+-])", re.I),   # "ER+": the value is the sign only
    ],
    "tumor_laterality": [re.compile(r"\b(?:left|right|bilateral|lt\.?|rt\.?)(?=\s|$|,|\.)", re.I)],
}


class PhenotypeRules:
    """Patterns plus a training-split dictionary; `answer(sentence, entity_type)`."""

    def __init__(self, lexicon: dict[str, list[str]] | None = None):
        self.lexicon = {t: sorted(v, key=len, reverse=True) for t, v in (lexicon or {}).items()}
        self._lex_re = {t: re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in vals) + r")(?!\w)", re.I)
                        for t, vals in self.lexicon.items() if vals}

    @classmethod
    def from_training(cls, records: Iterable[dict], min_count: int = 2) -> "PhenotypeRules":
        """Learn the dictionary from phenotype training records (gold responses)."""
        counts: dict[str, Counter] = {}
        for rec in records:
            if rec["response"] == NOT_RELEVANT:
                continue
            for value in rec["response"].split(", "):
                counts.setdefault(rec["entity_type"], Counter())[value.strip()] += 1
        lexicon = {t: [v for v, n in c.items() if n >= min_count and len(v) > 1] for t, c in counts.items()}
        return cls(lexicon)

    def spans(self, sentence: str, entity_type: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        regexes = PATTERNS.get(entity_type, []) + ([self._lex_re[entity_type]] if entity_type in self._lex_re else [])
        for rx in regexes:
            for m in rx.finditer(sentence):
                start, end = m.span("v") if "v" in rx.groupindex else m.span()
                if end > start and not any(s < end and start < e for s, e in found):
                    found.append((start, end))
        return sorted(found)

    def answer(self, sentence: str, entity_type: str) -> str:
        # Repeats kept, as the task's gold answers keep them (tasks/phenotype.py).
        values = [sentence[s:e] for s, e in self.spans(sentence, entity_type)]
        return ", ".join(values) if values else NOT_RELEVANT

    def predict(self, records: Iterable[dict]) -> list[dict]:
        """Predictions for phenotype task records ({id, prediction}), like a model's."""
        return [{"id": r["id"], "task": "phenotype", "prediction": self.answer(r["sentence"], r["entity_type"]),
                 "model": "rules"} for r in records]
