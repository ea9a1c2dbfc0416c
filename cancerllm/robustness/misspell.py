"""Misspelling testbed (paper 2.5, Table 6): misspell a chosen share of the words of a text.

The paper misspells 2-80 % "of the words in a sentence" of the diagnosis and treatment
inputs (its example: "diagnosis" -> "dinosis"). This module does that to plain strings
and to task records, and reports the share it really misspelled, so a curve of score
against rate is plotted against the measured rate rather than a hoped-for one.

Which words are eligible (the denominator of the rate):
- alphabetic ASCII tokens of 3 or more letters. A token is a maximal run of letters and
  digits, so "HER2", "T2N0", "3cm" or "x3" contain a digit and are never touched, and
  numbers are never touched at all (a hard rule: a changed dose or size is a different
  fact, not a typo). Punctuation splits tokens: "ER/PR+" is "ER" and "PR" (too short),
  "well-differentiated" is "well" and "differentiated";
- not an ALL-CAPS token of 5 letters or fewer (an acronym: "IDC", "DCIS", "NSCLC"),
  which is typed as a unit and which the spelling normaliser deliberately leaves alone;
- not part of a section header: a label at the start of a line ending in a colon
  ("Reason for visit:", "PLAN:", up to six words) or a line that is a known header
  spelling on its own (`cancerllm.data.section_names.HEADER_VARIANTS`). Headers come
  from the EHR template and are not typed, so real notes do not misspell them;
- not inside an e-mail address or URL.

Two rates, both always reported: over the *eligible* words (the denominator above) and
over *all* words (every token, numbers and acronyms included: the paper's "of the
words in a sentence"). Clinical text has many numbers, acronyms and short words, so a
nominal 20 % of eligible words is only about 10 % of all words. `basis` picks which one
the nominal rate means: "eligible" (default) or "all" (rate x all words are misspelled,
drawn from the eligible ones; a text with too few eligible words gets all of them, and
the shortfall is counted as `capped_words`).

How many: a text with E eligible words gets floor or ceil of rate x E misspelled words
(sampled without replacement). Plain `round` would be biased on short texts (2 % of a
20-word sentence rounds to 0 every time), so `misspell_text` rounds stochastically and
`misspell_records` uses systematic rounding over the corpus, which keeps every text at
floor/ceil of its own share and the corpus total within one word of rate x total.

How: each chosen word gets one operation, picked among those that apply to it, and the
result always differs from the word: deletion of a letter, transposition of two
different adjacent letters, substitution by a QWERTY neighbour, insertion of a QWERTY
neighbour of the previous letter, and the paper's "phonetic drop" (in words of 7+
letters, an internal vowel followed by a consonant is dropped: "diagnosis" ->
"di|ag|nosis" -> "dinosis"). The
first letter is kept, as in most real typos. Case pattern is kept (Capitalised stays
Capitalised, ALL CAPS stays ALL CAPS); whitespace and punctuation are never changed.
"""

from __future__ import annotations

import copy
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cancerllm.data.section_names import HEADER_VARIANTS
from cancerllm.errors import ConfigError, InputError

OPERATIONS: tuple[str, ...] = ("deletion", "transposition", "substitution", "insertion", "phonetic_drop")

# A token: a maximal run of letters and digits (underscore excluded so "a_b" is two words).
TOKEN = re.compile(r"[^\W_]+")
# E-mail addresses and URLs: never edited, neither by the misspeller nor by the normaliser.
_PROTECTED = re.compile(r"\S*(?:@|://|www\.)\S*", re.IGNORECASE)
# A label at the start of a line followed by a colon: "Reason for visit:", "1. PLAN:".
_HEADER_LABEL = re.compile(r"^[ \t]*(?:\d+[.)][ \t]*)?[A-Za-z][A-Za-z()/&' -]{0,60}?:", re.MULTILINE)
_HEADER_WORDS_MAX = 6
_HEADER_LINES = {v.lower() for variants in HEADER_VARIANTS.values() for v in variants}
_LINE = re.compile(r"^[ \t]*(?:\d+[.)][ \t]*)?(.*?)[ \t]*:?[ \t]*$", re.MULTILINE)

PHONETIC_DROP_MIN_LEN = 7
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOWELS = frozenset("aeiou")


def _keyboard_neighbours() -> dict[str, str]:
    """Letters physically next to each key (same row and the rows above/below)."""
    pos = {ch: (r, c) for r, row in enumerate(_QWERTY_ROWS) for c, ch in enumerate(row)}
    out = {}
    for ch, (r, c) in pos.items():
        # Rows are staggered by about half a key, so (r±1, c-1..c+1) are the touching keys.
        out[ch] = "".join(o for o, (r2, c2) in pos.items()
                          if o != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1)
    return out


NEIGHBOURS: dict[str, str] = _keyboard_neighbours()


@dataclass(frozen=True)
class WordChange:
    """One misspelled word; `start`/`end` are offsets of `old` in the original text."""

    start: int
    end: int
    old: str
    new: str
    op: str


@dataclass
class MisspellStats:
    """What `misspell_text` did to one text."""

    eligible: int = 0
    misspelled: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    changes: list[WordChange] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Measured share: misspelled eligible words / eligible words (0 when none)."""
        return self.misspelled / self.eligible if self.eligible else 0.0


def match_case(template: str, word: str) -> str:
    """`word` written with the case pattern of `template` (lower, Capitalised, UPPER, mixed)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template.islower():
        return word.lower()
    if template[:1].isupper() and template[1:].islower():
        return word[:1].upper() + word[1:].lower()
    # Mixed case ("McKay"): copy the case position by position, lower beyond the template.
    return "".join(c.upper() if i < len(template) and template[i].isupper() else c.lower()
                   for i, c in enumerate(word))


def protected_spans(text: str, headers: bool) -> list[tuple[int, int]]:
    """Spans never edited: e-mail addresses, URLs and (with `headers`) section headers."""
    spans = [m.span() for m in _PROTECTED.finditer(text)]
    if headers:
        for m in _HEADER_LABEL.finditer(text):
            if len(m.group().split()) <= _HEADER_WORDS_MAX:
                spans.append(m.span())
        for m in _LINE.finditer(text):
            if m.group(1).lower() in _HEADER_LINES:
                spans.append(m.span())
    return spans


def eligible_words(text: str, skip_headers: bool = True) -> list[tuple[int, int]]:
    """(start, end) of the words of `text` that may be misspelled (see the module doc)."""
    spans = protected_spans(text, skip_headers)
    out = []
    for m in TOKEN.finditer(text):
        w = m.group()
        if len(w) < 3 or not (w.isascii() and w.isalpha()):
            continue
        if w.isupper() and len(w) <= 5:
            continue
        s, e = m.span()
        if any(a < e and s < b for a, b in spans):
            continue
        out.append((s, e))
    return out


def applicable_operations(word: str) -> list[str]:
    """Operations that can change this (lower-case, >= 3 letters) word."""
    if len(word) < 3:
        return []
    ops = ["deletion", "substitution", "insertion"]
    if any(word[i] != word[i + 1] for i in range(1, len(word) - 1)):
        ops.append("transposition")
    if _drop_positions(word):
        ops.append("phonetic_drop")
    return ops


def _drop_positions(word: str) -> list[int]:
    # Vowel + consonant pair strictly inside a long word (>= 7 letters, as syllables are
    # dropped from long words; a 5-letter word losing 2 letters is not a typo but noise).
    if len(word) < PHONETIC_DROP_MIN_LEN:
        return []
    return [i for i in range(1, len(word) - 2)
            if word[i] in _VOWELS and word[i + 1] not in _VOWELS]


def apply_operation(word: str, op: str, rng: random.Random) -> str:
    """Misspell one lower-case ASCII word (>= 3 letters) with `op`; the first letter stays.

    Raises ConfigError when `op` does not apply to the word (see `applicable_operations`).
    """
    n = len(word)
    if op in OPERATIONS and op not in applicable_operations(word):
        raise ConfigError(f"operation {op!r} does not apply to a word of {n} letters")
    if op == "deletion":
        i = rng.randrange(1, n)
        return word[:i] + word[i + 1:]
    if op == "transposition":
        i = rng.choice([i for i in range(1, n - 1) if word[i] != word[i + 1]])
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == "substitution":
        i = rng.randrange(1, n)
        return word[:i] + rng.choice(NEIGHBOURS[word[i]]) + word[i + 1:]
    if op == "insertion":
        i = rng.randrange(1, n + 1)
        return word[:i] + rng.choice(NEIGHBOURS[word[i - 1]]) + word[i:]
    if op == "phonetic_drop":
        i = rng.choice(_drop_positions(word))
        return word[:i] + word[i + 2:]
    raise ConfigError(f"unknown misspelling operation {op!r}; known: {', '.join(OPERATIONS)}")


def misspell_word(word: str, rng: random.Random, ops: Sequence[str] = OPERATIONS) -> tuple[str, str]:
    """(misspelled word, operation): a different word with `word`'s case pattern."""
    lower = word.lower()
    if len(lower) < 3 or not (lower.isascii() and lower.isalpha()):
        raise InputError(f"only ASCII words of 3+ letters are misspelled, got {len(word)} characters")
    choices = [op for op in applicable_operations(lower) if op in ops] or [
        op for op in ("deletion", "substitution", "insertion") if op in ops]
    if not choices:
        raise ConfigError(f"no misspelling operation among {list(ops)}")
    op = rng.choice(choices)
    return match_case(word, apply_operation(lower, op, rng)), op


def _stochastic_round(x: float, rng: random.Random) -> int:
    low = math.floor(x)
    return low + (1 if rng.random() < x - low else 0)


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"misspelling rate must be in [0, 1], got {rate}")


def misspell_text(text: str, rate: float, rng: random.Random, *, count: int | None = None,
                  ops: Sequence[str] = OPERATIONS, skip_headers: bool = True) -> tuple[str, MisspellStats]:
    """Misspell `rate` of the eligible words of `text` (or exactly `count` of them).

    Without `count` the number is floor or ceil of rate x eligible, rounded at random so
    that it is right on average (see the module doc). Returns the new text and its stats.
    """
    _check_rate(rate)
    spans = eligible_words(text, skip_headers)
    k = _stochastic_round(rate * len(spans), rng) if count is None else count
    if not 0 <= k <= len(spans):
        raise ConfigError(f"cannot misspell {k} of {len(spans)} eligible words")
    stats = MisspellStats(eligible=len(spans), misspelled=k)
    chosen = sorted(rng.sample(range(len(spans)), k))
    parts, pos, ops_used = [], 0, Counter()
    for idx in chosen:
        s, e = spans[idx]
        old = text[s:e]
        new, op = misspell_word(old, rng, ops)
        parts += [text[pos:s], new]
        pos = e
        ops_used[op] += 1
        stats.changes.append(WordChange(s, e, old, new, op))
    parts.append(text[pos:])
    stats.ops = dict(sorted(ops_used.items()))
    return "".join(parts), stats


BASES = ("eligible", "all")


def all_words(text: str) -> int:
    """Every token (maximal run of letters and digits) of `text`: the 'all words' denominator."""
    return sum(1 for _ in TOKEN.finditer(text))


def misspell_records(records: Iterable[dict], rate: float, seed: int, fields: Sequence[str] = ("context",),
                     *, ops: Sequence[str] = OPERATIONS, skip_headers: bool = True,
                     with_changes: bool = False, basis: str = "eligible") -> tuple[list[dict], dict]:
    """Copies of `records` with `rate` of the eligible words of each `fields` misspelled.

    The inputs are not modified. Counts use systematic rounding over the corpus (random
    start drawn from `seed`), so each text gets floor/ceil of its share and the corpus
    total is within one word of rate x eligible. The report (JSON-serialisable) holds the
    requested and measured rates, word counts, operations used and, with
    `with_changes=True`, every change as {id, field, start, end, old, new, op}.
    `basis` says whether `rate` is a share of the eligible words or of all words (module
    doc); the report always gives `measured_rate` (over eligible words) and
    `measured_rate_all_words`.
    """
    _check_rate(rate)
    if basis not in BASES:
        raise ConfigError(f"unknown misspelling rate basis {basis!r}; known: {', '.join(BASES)}")
    rng = random.Random(seed)
    offset = rng.random()
    out: list[dict] = []
    total_eligible = total_misspelled = total_words = total_basis = capped = 0
    ops_used: Counter = Counter()
    changes: list[dict] = []
    for n, record in enumerate(records):
        rec = copy.deepcopy(record)
        for name in fields:
            text = rec.get(name)
            if not isinstance(text, str):
                raise InputError(f"record {n} (id {rec.get('id')}) has no text field {name!r} to misspell")
            eligible = len(eligible_words(text, skip_headers))
            words = all_words(text)
            before = math.floor(rate * total_basis + offset)
            total_eligible += eligible
            total_words += words
            total_basis += eligible if basis == "eligible" else words
            k = math.floor(rate * total_basis + offset) - before
            capped += max(0, k - eligible)
            rec[name], stats = misspell_text(text, rate, rng, count=min(k, eligible), ops=ops,
                                             skip_headers=skip_headers)
            total_misspelled += stats.misspelled
            ops_used.update(stats.ops)
            if with_changes:
                changes += [{"id": rec.get("id"), "field": name, "start": c.start, "end": c.end,
                             "old": c.old, "new": c.new, "op": c.op} for c in stats.changes]
        out.append(rec)
    report = {
        "rate": rate, "basis": basis, "seed": seed, "fields": list(fields), "records": len(out),
        "eligible_words": total_eligible, "all_words": total_words, "misspelled_words": total_misspelled,
        "measured_rate": total_misspelled / total_eligible if total_eligible else 0.0,
        "measured_rate_all_words": total_misspelled / total_words if total_words else 0.0,
        "capped_words": capped,
        "ops": dict(sorted(ops_used.items())),
    }
    if with_changes:
        report["changes"] = changes
    return out, report
