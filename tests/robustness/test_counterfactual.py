"""Counterfactual testbed: exact share corrupted, answers really wrong, inputs untouched."""

from __future__ import annotations

import copy
import random

import pytest

from cancerllm.errors import ConfigError, InputError
from cancerllm.robustness.counterfactual import NOT_RELEVANT, corrupt_phenotype, occurs_in

_VALUES = {
    "tumor_laterality": ["left", "right", "bilateral"],
    "tumor_site": ["breast", "lung", "upper outer quadrant", "colon", "kidney"],
    "histological_type": ["invasive ductal carcinoma", "invasive lobular carcinoma", "adenocarcinoma",
                          "squamous cell carcinoma"],
    "tumor_size": ["2.3 cm", "1.1 cm", "4 cm", "0.8 cm", "15 mm"],
    "cancer_grade": ["grade 1", "grade 2", "grade 3"],
    "hormone_receptor_type": ["ER", "PR", "ER, PR"],
    "hormone_receptor_status": ["positive", "negative"],
    "cancer_stage": ["stage IIA", "stage IIIB", "stage IV"],
}
TYPES = list(_VALUES)


def phenotype_records(n_sentences: int = 60, seed: int = 0) -> list[dict]:
    """Task records as docs/design.md: one per (sentence, entity type) question."""
    rng = random.Random(seed)
    records = []
    for s in range(n_sentences):
        present = {t: rng.choice(_VALUES[t]) for t in rng.sample(TYPES, rng.randint(0, 3))}
        sentence = "Biopsy of the " + "; ".join(f"{t.replace('_', ' ')} {v}" for t, v in present.items()) + "."
        for q, t in enumerate(TYPES):
            records.append({
                "id": f"s{s}-q{q}", "patient_id": f"p{s // 4}", "task": "phenotype",
                "instruction": "Extract the phenotype entity asked for; answer 'Not relevant' if absent.",
                "context": f"{sentence}\nWhat is the {t.replace('_', ' ')}?",
                "response": present.get(t, NOT_RELEVANT), "entity_type": t, "question_id": f"q{q}",
                "sentence": sentence,
            })
    return records


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return phenotype_records()


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
def test_corrupts_exactly_the_requested_share(records, rate):
    out, log = corrupt_phenotype(records, rate, seed=1)
    changed = [i for i, (a, b) in enumerate(zip(records, out)) if a["response"] != b["response"]]
    assert len(changed) == len(log) == round(rate * len(records))
    assert len(out) == len(records)


def test_corrupted_answers_are_wrong_and_logged(records):
    out, log = corrupt_phenotype(records, 0.6, seed=2)
    by_id = {r["id"]: r for r in records}
    kinds = {entry["kind"] for entry in log}
    assert kinds == {"wrong_entity", "wrong_entity_type"}
    for entry in log:
        gold = by_id[entry["id"]]
        new = next(r for r in out if r["id"] == entry["id"])
        assert entry["old_response"] == gold["response"]
        assert entry["new_response"] == new["response"] != gold["response"]
        assert new["response"] != NOT_RELEVANT
        assert {k: v for k, v in new.items() if k != "response"} == {k: v for k, v in gold.items() if k != "response"}
        if entry["kind"] == "wrong_entity":
            assert not any(occurs_in(v.strip(), gold["sentence"]) for v in new["response"].split(","))
            assert new["response"] in _VALUES[gold["entity_type"]]
        else:  # an entity of another type that is present in the same sentence
            assert not entry["fallback"]
            assert new["response"] in gold["sentence"]
            assert new["response"] not in _VALUES[gold["entity_type"]] or gold["entity_type"] == "hormone_receptor_type"


def test_not_relevant_records_become_absent_entities(records):
    out, log = corrupt_phenotype(records, 1.0, seed=3)
    by_id = {r["id"]: r for r in records}
    from_not_relevant = [e for e in log if by_id[e["id"]]["response"] == NOT_RELEVANT]
    assert from_not_relevant
    assert any(e["kind"] == "wrong_entity" for e in from_not_relevant)


def test_deterministic_and_seed_dependent(records):
    a = corrupt_phenotype(records, 0.4, seed=7)
    b = corrupt_phenotype(records, 0.4, seed=7)
    c = corrupt_phenotype(records, 0.4, seed=8)
    assert a == b
    assert a[1] != c[1]


def test_input_untouched(records):
    before = copy.deepcopy(records)
    out, _ = corrupt_phenotype(records, 0.8, seed=4)
    assert records == before
    out[0]["response"] = "changed"
    out[0]["sentence"] += "!"
    assert records == before


def test_wrong_type_share_picks_the_kind(records):
    by_id = {r["id"]: r for r in records}
    _, only_entity = corrupt_phenotype(records, 0.5, seed=5, wrong_type_share=0.0)
    for e in only_entity:  # wrong type only as the fallback: every same-type value is present
        if e["kind"] == "wrong_entity_type":
            gold = by_id[e["id"]]
            assert all(occurs_in(v, gold["sentence"]) for v in _VALUES[gold["entity_type"]] if v != gold["response"])
    _, mostly_type = corrupt_phenotype(records, 0.2, seed=5, wrong_type_share=1.0)
    assert sum(e["kind"] == "wrong_entity_type" for e in mostly_type) > len(mostly_type) / 2


def test_rejects_bad_rate_and_impossible_requests(records):
    with pytest.raises(ConfigError):
        corrupt_phenotype(records, 1.5, seed=0)
    lonely = [r for r in records if r["entity_type"] == "tumor_site"][:1]
    with pytest.raises(InputError, match="can be given a wrong answer"):
        corrupt_phenotype(lonely, 1.0, seed=0)
    assert corrupt_phenotype([], 0.5, seed=0) == ([], [])
