"""Misspelling testbed: measured rate on target, numbers untouched, deterministic."""

from __future__ import annotations

import copy
import random
import re

import pytest

from cancerllm.errors import ConfigError
from cancerllm.robustness.misspell import (
    OPERATIONS,
    applicable_operations,
    apply_operation,
    eligible_words,
    misspell_records,
    misspell_text,
    misspell_word,
)
from tests.robustness import clinical_sentences

_DIGIT_TOKEN = re.compile(r"[^\W_]*\d[^\W_]*")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [{"id": str(i), "context": s, "response": "x"} for i, s in enumerate(clinical_sentences(5000, seed=1))]


@pytest.mark.parametrize("rate", [0.02, 0.2, 0.8])
def test_measured_rate_hits_the_requested_rate(records, rate):
    out, report = misspell_records(records, rate, seed=3)
    assert abs(report["measured_rate"] - rate) <= 0.015
    # Recount independently: eligible words whose text changed.
    changed = total = 0
    for before, after in zip(records, out):
        spans = eligible_words(before["context"])
        total += len(spans)
        words_after = re.findall(r"[^\W_]+", after["context"])
        index = {s: i for i, s in enumerate(m.start() for m in re.finditer(r"[^\W_]+", before["context"]))}
        changed += sum(words_after[index[s]] != before["context"][s:e] for s, e in spans)
    assert total == report["eligible_words"]
    assert changed == report["misspelled_words"]
    assert abs(changed / total - rate) <= 0.015
    assert sum(report["ops"].values()) == changed
    assert set(report["ops"]) == set(OPERATIONS)


def test_numbers_punctuation_and_whitespace_untouched(records):
    out, _ = misspell_records(records[:1000], 0.8, seed=4)
    for before, after in zip(records, out):
        a, b = before["context"], after["context"]
        # Every digit, space and punctuation mark, in order; every token holding a digit.
        assert re.findall(r"[^A-Za-z]", a) == re.findall(r"[^A-Za-z]", b)
        assert _DIGIT_TOKEN.findall(a) == _DIGIT_TOKEN.findall(b)


def test_digit_tokens_acronyms_and_headers_are_not_eligible():
    text = "Reason for visit: HER2 3+ T2N0 tumour 2.3cm, IDC and NSCLC staging\nPLAN\ncontinue letrozole"
    words = [text[s:e] for s, e in eligible_words(text)]
    assert words == ["tumour", "and", "staging", "continue", "letrozole"]
    new, stats = misspell_text(text, 1.0, random.Random(0))
    assert stats.eligible == stats.misspelled == 5
    for keep in ["Reason for visit:", "HER2 3+ T2N0", "2.3cm", "IDC", "NSCLC", "\nPLAN\n"]:
        assert keep in new


def test_deterministic_and_inputs_untouched(records):
    sample = records[:300]
    before = copy.deepcopy(sample)
    a = misspell_records(sample, 0.2, seed=9, with_changes=True)
    b = misspell_records(sample, 0.2, seed=9, with_changes=True)
    c = misspell_records(sample, 0.2, seed=10)
    assert a == b
    assert a[0] != c[0]
    assert sample == before
    assert all(r["response"] == "x" for r in a[0])
    text = sample[0]["context"]
    assert misspell_text(text, 0.5, random.Random(1)) == misspell_text(text, 0.5, random.Random(1))


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_operation_changes_the_word(op):
    rng = random.Random(0)
    for word in ["diagnosis", "carcinoma", "letrozole", "mastectomy", "lymphovascular", "biopsy", "the"]:
        if op not in applicable_operations(word):
            with pytest.raises(ConfigError):
                apply_operation(word, op, rng)
            continue
        for _ in range(50):
            new = apply_operation(word, op, rng)
            assert new != word and new.isalpha() and new[0] == word[0]
    assert apply_operation("diagnosis", "phonetic_drop", random.Random(0)) in {"dinosis", "diagnis"}


def test_misspelled_words_differ_and_keep_case():
    rng = random.Random(1)
    for word in ["the", "all", "Diagnosis", "CARCINOMA", "breast", "McKay", "aaa"]:
        for _ in range(200):
            new, op = misspell_word(word, rng)
            assert new.lower() != word.lower() and op in OPERATIONS
            if word.isupper():
                assert new.isupper()
            elif word.islower():
                assert new.islower()
            elif word[1:].islower():
                assert new[0].isupper() and new[1:].islower()


def test_changes_report_offsets(records):
    text = records[5]["context"]
    new, stats = misspell_text(text, 0.5, random.Random(2))
    assert stats.misspelled == len(stats.changes) and stats.rate == stats.misspelled / stats.eligible
    for c in stats.changes:
        assert text[c.start:c.end] == c.old and c.new != c.old
