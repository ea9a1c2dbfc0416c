"""Counterfactual testbed (paper 2.5, Table 5): mislabel a share of phenotype training data.

The paper corrupts 20/40/60/80 % of the phenotype training instances with "entities or
entity types that are not present in the input sentence or are irrelevant to the
entity", trains on them and evaluates on clean test data. `corrupt_phenotype` makes
such a training set from phenotype task records (docs/design.md: `sentence`,
`entity_type`, `response` = entity texts joined by ", " or "Not relevant").

Policy, so a run is reproducible and explainable:
- exactly round(rate x n) records are corrupted, chosen with `random.Random(seed)`;
  only `response` changes (instruction and context stay, so the model sees the real
  sentence with a wrong answer). The input list and its dicts are never modified.
- each chosen record first tries one kind (wrong entity type with probability
  `wrong_type_share`, else wrong entity) and falls back to the other:
  * wrong_entity: a response of the same entity type taken from another sentence,
    none of whose values occurs (as a whole word, ignoring case) in this sentence,
    and different from the gold. "Not relevant" records become such an absent entity.
  * wrong_entity_type: the gold answer of another question about the same sentence
    (same patient and sentence text), i.e. an entity of another type that is present,
    different from the gold. Needs the sentence's other questions among the records.
  * if neither applies (tiny inputs), a response of any other type from another
    sentence, absent from this one, is used and logged as wrong_entity_type with
    "fallback": true.
- a record for which nothing applies is skipped and the next one in the seeded order
  taken; if too few records can be corrupted, `InputError` says how many could.
- a positive is never turned into "Not relevant" (the paper's counterfactuals are wrong
  entities, not missing ones).
Only training records should be passed; evaluation stays on clean data.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Sequence

from cancerllm.errors import ConfigError, InputError

NOT_RELEVANT = "Not relevant"  # the phenotype task's answer when the sentence lacks the entity
KINDS = ("wrong_entity", "wrong_entity_type")
_SAMPLE_TRIES = 32


def _is_not_relevant(response: str) -> bool:
    return response.strip().lower() == NOT_RELEVANT.lower()


def _values(response: str) -> list[str]:
    """The entity texts of a response ("left, right" -> ["left", "right"])."""
    return [] if _is_not_relevant(response) else [v.strip() for v in response.split(",") if v.strip()]


def occurs_in(value: str, sentence: str) -> bool:
    """Whether `value` appears in `sentence` as a whole word/phrase, ignoring case."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", sentence, re.IGNORECASE) is not None


def _sentence(record: dict) -> str:
    if "sentence" in record:
        return record["sentence"]
    from cancerllm.tasks.phenotype import sentence_of_context
    return sentence_of_context(record.get("context", ""))


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


class _Pools:
    """Indexes built once: responses per entity type, and answers per sentence."""

    def __init__(self, records: Sequence[dict]):
        self.by_type: dict[str, list[str]] = {}
        self.by_sentence: dict[tuple, list[tuple[str, str]]] = {}
        seen: set[tuple[str, str]] = set()
        for rec in records:
            etype, response = rec.get("entity_type"), rec["response"]
            if _is_not_relevant(response):
                continue
            if (etype, response) not in seen:
                seen.add((etype, response))
                self.by_type.setdefault(etype, []).append(response)
            self.by_sentence.setdefault(self.key(rec), []).append((etype, response))
        self.all_values = [v for vals in self.by_type.values() for v in vals]

    @staticmethod
    def key(rec: dict) -> tuple:
        return rec.get("patient_id"), _sentence(rec)


def _absent_choice(candidates: list[str], sentence: str, gold: str, rng: random.Random) -> str | None:
    """A random candidate none of whose values occurs in the sentence, other than the gold."""
    def ok(c: str) -> bool:
        return not _same(c, gold) and not any(occurs_in(v, sentence) for v in _values(c))

    if not candidates:
        return None
    for _ in range(_SAMPLE_TRIES):  # cheap rejection sampling first; pools can be large
        c = rng.choice(candidates)
        if ok(c):
            return c
    valid = [c for c in candidates if ok(c)]
    return rng.choice(valid) if valid else None


def _wrong_entity(rec: dict, pools: _Pools, rng: random.Random) -> str | None:
    return _absent_choice(pools.by_type.get(rec.get("entity_type"), []), _sentence(rec), rec["response"], rng)


def _wrong_entity_type(rec: dict, pools: _Pools, rng: random.Random) -> str | None:
    gold, etype = rec["response"], rec.get("entity_type")
    answers = [r for t, r in pools.by_sentence.get(pools.key(rec), []) if t != etype and not _same(r, gold)]
    return rng.choice(answers) if answers else None


def _corrupt_one(rec: dict, pools: _Pools, rng: random.Random, wrong_type_share: float) -> dict | None:
    first = "wrong_entity_type" if rng.random() < wrong_type_share else "wrong_entity"
    makers = {"wrong_entity": _wrong_entity, "wrong_entity_type": _wrong_entity_type}
    for kind in (first, *(k for k in KINDS if k != first)):
        new = makers[kind](rec, pools, rng)
        if new is not None:
            return {"kind": kind, "new_response": new, "fallback": False}
    other = [v for v in pools.all_values if v not in pools.by_type.get(rec.get("entity_type"), [])]
    new = _absent_choice(other, _sentence(rec), rec["response"], rng)
    return None if new is None else {"kind": "wrong_entity_type", "new_response": new, "fallback": True}


def corrupt_phenotype(records: list[dict], rate: float, seed: int, *,
                      wrong_type_share: float = 0.5) -> tuple[list[dict], list[dict]]:
    """Deep copy of phenotype `records` with round(rate x n) responses made counterfactual.

    Returns (corrupted records in input order, log). The log has one entry per changed
    record, in input order: {id, entity_type, kind, old_response, new_response, fallback}.
    Deterministic for a given seed and record order. See the module doc for the policy.
    """
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"counterfactual rate must be in [0, 1], got {rate}")
    if not 0.0 <= wrong_type_share <= 1.0:
        raise ConfigError(f"wrong_type_share must be in [0, 1], got {wrong_type_share}")
    out = copy.deepcopy(records)
    target = round(rate * len(out))
    if target == 0:
        return out, []
    rng = random.Random(seed)
    pools = _Pools(out)
    order = list(range(len(out)))
    rng.shuffle(order)
    changes: dict[int, dict] = {}
    for i in order:
        if len(changes) == target:
            break
        change = _corrupt_one(out[i], pools, rng, wrong_type_share)
        if change is not None:
            changes[i] = change
    if len(changes) < target:
        raise InputError(f"only {len(changes)} of {len(out)} phenotype records can be given a wrong answer, "
                         f"{target} asked (rate {rate}); the records need more sentences or entity types")
    log = []
    for i in sorted(changes):
        rec, change = out[i], changes[i]
        log.append({"id": rec.get("id"), "entity_type": rec.get("entity_type"), "kind": change["kind"],
                    "old_response": rec["response"], "new_response": change["new_response"],
                    "fallback": change["fallback"]})
        rec["response"] = change["new_response"]
    return out, log
