"""Non-LLM baselines of the generation tasks, registered by name (as tasks are).

A baseline is fitted on a task's *training* records (never the split it is scored on)
and then answers records like a model: `predict(records) -> {id: prediction}`, scored
by the same scorer. `eval compare --baseline NAME` and the demo look baselines up here;
a misspelt name is an error with a "did you mean". A plugin module (named in
CANCERLLM_PLUGINS or the `cancerllm.tasks` entry-point group) adds its own with
`register_baseline`; staging systems have their registry in `staging_systems`.

Registered:
- `rules`: the phenotype rule extractor (`phenotype_rules.PhenotypeRules`): patterns
  plus a dictionary of training answers. Phenotype only.
- `majority`: the most frequent training answer, given to every record, per task. The
  floor a model must beat: most phenotype questions do not apply to their sentence, so
  always answering "Not relevant" already scores high; without this row a model that
  learnt only that answer would look good.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cancerllm.errors import ConfigError

Predictor = Callable[[list[dict]], dict[str, str]]


@dataclass(frozen=True)
class Baseline:
    """`fit(train_records) -> predictor`; `tasks`: the tasks it answers (None: every task)."""

    name: str
    fit: Callable[[list[dict]], Predictor]
    tasks: tuple[str, ...] | None
    description: str

    def supports(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


def _fit_rules(train: list[dict]) -> Predictor:
    from cancerllm.baselines.phenotype_rules import PhenotypeRules
    rules = PhenotypeRules.from_training(train)
    return lambda records: {p["id"]: p["prediction"] for p in rules.predict(records)}


def _fit_majority(train: list[dict]) -> Predictor:
    if not train:
        raise ConfigError("the majority-answer baseline needs training records; the train split is empty")
    answer = Counter(r["response"] for r in train).most_common(1)[0][0]
    return lambda records: {r["id"]: answer for r in records}


_BASELINES: dict[str, Baseline] = {
    b.name: b for b in (
        Baseline("rules", _fit_rules, ("phenotype",), "phenotype rule extractor (patterns + training dictionary)"),
        Baseline("majority", _fit_majority, None, "most frequent training answer, for every record"),
    )
}


def register_baseline(baseline: Baseline) -> Baseline:
    _BASELINES[baseline.name] = baseline
    return baseline


def baseline_names() -> list[str]:
    from cancerllm.tasks.registry import discover
    discover()  # plugin modules (CANCERLLM_PLUGINS, entry points) register their baselines on import
    return sorted(_BASELINES)


def get_baseline(name: str) -> Baseline:
    if name not in baseline_names():
        close = difflib.get_close_matches(name, list(_BASELINES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown baseline {name!r}; known: {', '.join(baseline_names())}.{hint}")
    return _BASELINES[name]


def fit_baseline(name: str, task: str, train_records: Iterable[dict]) -> Predictor:
    """The fitted predictor of baseline `name` for `task` (a ConfigError if it does not answer it)."""
    baseline = get_baseline(name)
    if not baseline.supports(task):
        raise ConfigError(f"baseline {name!r} does not answer task {task!r} (only {', '.join(baseline.tasks)})")
    return baseline.fit(list(train_records))
