"""Spelling normaliser: undo typos in notes before a model sees them (paper 2.5 and 5).

The paper finds that misspellings ("diagnosis" -> "dinosis") ruin diagnosis and
treatment generation and calls for better preprocessing. `SpellingNormalizer` is that
step: a SymSpell lookup (symspellpy; edit distance with transpositions, candidates at the
smallest distance, most frequent first) over a vocabulary made of
  1. the user's own corpus (`from_texts`: word counts, words seen >= `min_count` times),
  2. a built-in medical word list (resources/medical_words.txt: oncology, pathology,
     drugs, anatomy, clinical wording), and
  3. the most frequent general English words of symspellpy's bundled frequency
     dictionary (read from the installed package at run time).
Candidates within the allowed edit distance are ranked by (tier - distance, frequency),
where the tier is 2 for a corpus word, 1 for a medical-list word and 0 for a
general-English word: the closest, most frequent candidate wins (SymSpell's usual
choice) except that a word of a higher tier may be one edit further per tier. A typo in
a cancer note is more likely a cancer word: "whout" -> "without" (corpus, 2 edits), not
"shout" (English, 1 edit); "dinosis" -> "diagnosis", not "mitosis".

What is never changed (facts and shorthand must survive; a missed typo is cheaper than
a changed fact):
- numbers and any token containing a digit ("2.3", "HER2", "T2N0", "3cm"); tokens are
  runs of letters and digits, so "ER/PR+" and "HER2-" keep their punctuation;
- known abbreviations: a built-in oncology list (resources/oncology_abbreviations.txt)
  plus any given ones, e.g. the shared clinical abbreviation inventories read with
  `load_abbreviations` (Berman `short = long`, ADAM, Vanderbilt, Wikipedia CSV, plain
  lists); matched case-insensitively;
- words in the vocabulary, words of 3 letters or fewer ("lft" is both short and an
  abbreviation), ALL-CAPS tokens of 5 letters or fewer (acronyms), mixed-case tokens
  ("McKay"), non-ASCII words, e-mail addresses and URLs.
Other words of 4 letters are corrected within edit distance 1, longer ones within 2.
A word of >= 7 letters with no candidate within 2 gets a second pass for heavier
"phonetic drops" (whole syllables lost): rapidfuzz finds vocabulary words within
Levenshtein distance 3 that start with the same letter, and one is accepted only if its
similarity ratio is >= `min_similarity` (80: mostly lost letters, not replaced ones) and
it is a domain word (corpus or medical list, score >= `long_word_min_score`).
Case pattern, whitespace and punctuation are preserved.

Build the vocabulary from clean text (e.g. the training split before the misspelling
testbed runs): a typo seen `min_count` times becomes a "word". To cope with real notes,
which contain typos, `from_texts` drops a corpus word that is not a known word when a
word within the correction distance is `typo_ratio` times more frequent in the corpus.
Not supported: real-word errors ("form" for "from"), split or joined words, context.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein
from symspellpy import SymSpell, Verbosity

from cancerllm.errors import InputError
from cancerllm.io import atomic_write_json
from cancerllm.robustness.misspell import TOKEN, match_case, protected_spans

FORMAT = "cancerllm.spelling_vocabulary"
# Score tiers: candidates are ranked by score, so the tier decides before the frequency.
CORPUS_WEIGHT = 1000  # score of a corpus word = count x 1000 (+ the tiers below)
MEDICAL_SCORE = 500  # a built-in medical word
# A general-English word scores 1..~65 (10 x log10 of its frequency, minus 40).

_RESOURCES = resources.files("cancerllm.robustness") / "resources"


@dataclass(frozen=True)
class Correction:
    """One changed word; `start`/`end` are offsets of `old` in the input text."""

    start: int
    end: int
    old: str
    new: str


@lru_cache(maxsize=1)
def builtin_medical_words() -> tuple[str, ...]:
    """The package's medical word list (lower case)."""
    text = (_RESOURCES / "medical_words.txt").read_text(encoding="utf-8")
    return tuple(w for w in (line.strip() for line in text.splitlines()) if w and not w.startswith("#"))


@lru_cache(maxsize=1)
def builtin_abbreviations() -> frozenset[str]:
    """The package's oncology abbreviation list (lower-case short forms)."""
    return frozenset(load_abbreviations(_RESOURCES / "oncology_abbreviations.txt"))


@lru_cache(maxsize=4)
def english_words(limit: int) -> tuple[tuple[str, int], ...]:
    """The `limit` most frequent words (>= 3 letters) of symspellpy's English dictionary."""
    path = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if len(out) >= limit:
                break
            word, count = line.split()
            if len(word) >= 3 and word.isascii() and word.isalpha():
                out.append((word, int(count)))
    return tuple(out)


_HEADER_FIELDS = {"abbreviation", "abbr", "abr", "short_form", "sf", "acronym"}
_VARIANTS = re.compile(r"^[^\s|]+_\d+(?:\|[^\s|]+_\d+)*$")  # Vanderbilt "A/P_2|a/p_4"


def _abbreviations_in_line(line: str, is_csv: bool) -> list[str]:
    if "\t" in line:
        cols = line.split("\t")
        if cols[0].strip().lower() in _HEADER_FIELDS:
            return []
        found = [cols[0]]
        found += [v.rsplit("_", 1)[0] for c in cols[1:] if _VARIANTS.match(c.strip()) for v in c.strip().split("|")]
        return found
    if " = " in line:
        return [line.split(" = ", 1)[0]]
    if is_csv or line.lstrip().startswith('"'):
        first = next(csv.reader([line.strip().replace('":"', '","')]), [""])[0]
        return [] if first.lower() in _HEADER_FIELDS else [first]
    return line.split()[:1]


def load_abbreviations(path: str | os.PathLike) -> set[str]:
    """Lower-case short forms from an abbreviation file, or from every list under a folder.

    Reads the formats of the shared clinical abbreviation inventories: `short = long`
    lines (Berman), tab-separated with the short form first (ADAM, Vanderbilt, Stetson;
    Vanderbilt's surface variants such as "A/P" are added too), CSV or `"short":"long"`
    (Wikipedia), `SHORT long words` (Columbia) and plain one-per-line lists. `#` lines
    are comments. In a folder, README/LICENSE/SOURCE files and *.md are skipped.
    """
    path = Path(path)
    if path.is_dir():
        out: set[str] = set()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            if f.suffix.lower() in {".md", ".pdf", ".json"} or f.stem.upper() in {"LICENSE", "README", "SOURCE"}:
                continue
            out |= load_abbreviations(f)
        return out
    if not path.is_file():
        raise InputError(f"abbreviation list not found: {path}")
    out = set()
    is_csv = path.suffix.lower() == ".csv"
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            out.update(a.strip().lower() for a in _abbreviations_in_line(line.rstrip("\n"), is_csv) if a.strip())
    return out


def _as_abbreviations(abbreviations) -> set[str]:
    if abbreviations is None:
        return set()
    if isinstance(abbreviations, (str, os.PathLike)):
        return load_abbreviations(abbreviations)
    return {a.strip().lower() for a in abbreviations if a.strip()}


def corpus_word_counts(texts: Iterable[str]) -> Counter:
    """Lower-cased counts of the alphabetic words (letters only, >= 3) of `texts`."""
    counts: Counter = Counter()
    for text in texts:
        for tok in TOKEN.findall(text):
            if len(tok) >= 3 and tok.isascii() and tok.isalpha():
                counts[tok.lower()] += 1
    return counts


def _tier(score: int) -> int:
    """2: a corpus word, 1: a medical-list word, 0: a general-English word."""
    return 2 if score >= CORPUS_WEIGHT else 1 if score >= MEDICAL_SCORE else 0


def _max_distance(length: int) -> int:
    return 1 if length <= 4 else 2


class SpellingNormalizer:
    """Corrects typos with SymSpell over a corpus + medical + English vocabulary.

    Build with `from_texts` (or `load` a saved vocabulary); `scores` maps each word to
    its ranking score (see the tiers at the top of the module). The constructor takes
    those scores directly, the abbreviations to protect, and the long-word pass settings.
    Corrections are cached per distinct word, so a corpus normalises quickly.
    """

    def __init__(self, scores: dict[str, int], abbreviations: Iterable[str] = (), *,
                 min_similarity: float = 80.0, long_word_min_len: int = 7,
                 long_word_min_score: int = MEDICAL_SCORE):
        self.scores = dict(scores)
        self.abbreviations = frozenset(a.lower() for a in abbreviations)
        self.min_similarity = min_similarity
        self.long_word_min_len = long_word_min_len
        self.long_word_min_score = long_word_min_score
        self._symspell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, score in self.scores.items():
            self._symspell.create_dictionary_entry(word, score)
        self._long_index: dict[str, list[str]] | None = None
        self._cache: dict[str, str | None] = {}

    # ---- building ---------------------------------------------------------------------
    @classmethod
    def from_texts(cls, texts: Iterable[str], abbreviations=None, min_count: int = 2, *,
                   builtin_words: bool = True, english: int = 30000,
                   typo_ratio: float | None = 20.0, **settings) -> SpellingNormalizer:
        """Learn the vocabulary from `texts` (an iterable of strings, read once).

        abbreviations: extra short forms (an iterable of strings) or a path to a list or a
        folder of lists (see `load_abbreviations`); the built-in oncology list is always
        used. english: how many of the most frequent English words to add (0: none).
        typo_ratio: drop unknown corpus words that look like a typo of a word this many
        times more frequent (None: keep every word seen >= min_count times).
        settings: passed to the constructor (min_similarity, long_word_min_len,
        long_word_min_score).
        """
        counts = corpus_word_counts(texts)
        medical = set(builtin_medical_words()) if builtin_words else set()
        scores: dict[str, int] = {}
        for word, freq in english_words(english) if english else ():
            scores[word] = max(1, int(10 * math.log10(freq)) - 40)
        for word in medical:
            scores[word] = scores.get(word, 0) + MEDICAL_SCORE
        known = set(scores)
        corpus = {w: c for w, c in counts.items() if c >= min_count}
        for word, count in corpus.items():
            scores[word] = scores.get(word, 0) + count * CORPUS_WEIGHT
        abbrevs = builtin_abbreviations() | _as_abbreviations(abbreviations)
        norm = cls(scores, abbrevs, **settings)
        if typo_ratio is not None:
            norm._drop_corpus_typos(corpus, known, typo_ratio)
        return norm

    def _drop_corpus_typos(self, corpus: dict[str, int], known: set[str], ratio: float) -> None:
        for word, count in corpus.items():
            if word in known or len(word) < 4:
                continue
            for s in self._symspell.lookup(word, Verbosity.ALL, max_edit_distance=_max_distance(len(word))):
                if s.term != word and corpus.get(s.term, 0) >= ratio * count:
                    self._symspell.delete_dictionary_entry(word)
                    del self.scores[word]
                    break

    # ---- persistence ------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the vocabulary, abbreviations and settings as JSON (atomic)."""
        return atomic_write_json(path, {
            "format": FORMAT, "version": 1,
            "settings": {"min_similarity": self.min_similarity, "long_word_min_len": self.long_word_min_len,
                         "long_word_min_score": self.long_word_min_score},
            "abbreviations": sorted(self.abbreviations),
            "scores": dict(sorted(self.scores.items(), key=lambda kv: (-kv[1], kv[0]))),
        })

    @classmethod
    def load(cls, path: str | os.PathLike, **settings) -> SpellingNormalizer:
        """Read a vocabulary written by `save`, or a SymSpell "term count" dictionary file.

        A plain SymSpell dictionary gets the built-in abbreviations; its counts are used
        as scores, so pass `long_word_min_score` suited to its scale.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"spelling vocabulary not found: {path}")
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("{"):
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise InputError(f"{path} is not a cancerllm spelling vocabulary")
            return cls(data["scores"], data["abbreviations"], **{**data["settings"], **settings})
        scores = {}
        for n, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                if parts:
                    raise InputError(f"{path}:{n}: expected 'term count'")
                continue
            scores[parts[0].lower()] = scores.get(parts[0].lower(), 0) + int(parts[1])
        return cls(scores, builtin_abbreviations(), **settings)

    # ---- correcting -------------------------------------------------------------------
    def __contains__(self, word: str) -> bool:
        return word.lower() in self.scores

    def correct_word(self, word: str) -> str | None:
        """The correction of one token (case kept), or None when it is left as it is."""
        if len(word) <= 3 or not (word.isascii() and word.isalpha()):
            return None
        if word.isupper() and len(word) <= 5:
            return None
        if not (word.islower() or word.isupper() or word[1:].islower()):
            return None  # mixed case: a name or a brand
        lower = word.lower()
        if lower not in self._cache:
            self._cache[lower] = self._lookup(lower)
        fixed = self._cache[lower]
        return None if fixed is None else match_case(word, fixed)

    def _lookup(self, lower: str) -> str | None:
        if lower in self.scores or lower in self.abbreviations:
            return None
        found = self._symspell.lookup(lower, Verbosity.ALL, max_edit_distance=_max_distance(len(lower)))
        if found:
            # Closest first, most frequent next, except that each tier up (English ->
            # medical -> corpus) is worth one edit: "whout" -> "without", not "shout".
            return max(found, key=lambda s: (_tier(s.count) - s.distance, s.count)).term
        if len(lower) >= self.long_word_min_len:
            return self._long_lookup(lower)
        return None

    def _long_lookup(self, lower: str) -> str | None:
        if self._long_index is None:
            self._long_index = {}
            for w, s in self.scores.items():
                if s >= self.long_word_min_score and len(w) >= self.long_word_min_len:
                    self._long_index.setdefault(w[0], []).append(w)
        choices = self._long_index.get(lower[0], [])
        hits = process.extract(lower, choices, scorer=Levenshtein.distance, score_cutoff=3, limit=None)
        hits = [(d, -self.scores[w], w) for w, d, _ in hits if fuzz.ratio(lower, w) >= self.min_similarity]
        return min(hits)[2] if hits else None

    def normalize_with_report(self, text: str) -> tuple[str, list[Correction]]:
        """(corrected text, corrections with offsets into `text`)."""
        spans = protected_spans(text, headers=False)
        parts, pos, fixes = [], 0, []
        for m in TOKEN.finditer(text):
            fixed = self.correct_word(m.group())
            if fixed is None or fixed == m.group():
                continue
            s, e = m.span()
            if any(a < e and s < b for a, b in spans):
                continue
            parts += [text[pos:s], fixed]
            pos = e
            fixes.append(Correction(s, e, m.group(), fixed))
        parts.append(text[pos:])
        return "".join(parts), fixes

    def normalize(self, text: str) -> str:
        """`text` with its typos corrected (see the module doc for what is never changed)."""
        return self.normalize_with_report(text)[0]

    def normalize_records(self, records: Iterable[dict],
                          fields: Sequence[str] = ("context",)) -> tuple[list[dict], dict]:
        """Copies of `records` with `fields` normalised, and a JSON-ready summary.

        The summary counts records, corrected words per field and the most frequent
        (old -> new) corrections, for a run's report. The inputs are not modified.
        """
        out, per_field, pairs = [], Counter(), Counter()
        for n, record in enumerate(records):
            rec = copy.deepcopy(record)
            for name in fields:
                if not isinstance(rec.get(name), str):
                    raise InputError(f"record {n} (id {rec.get('id')}) has no text field {name!r} to normalise")
                rec[name], fixes = self.normalize_with_report(rec[name])
                per_field[name] += len(fixes)
                pairs.update(f"{c.old.lower()} -> {c.new.lower()}" for c in fixes)
            out.append(rec)
        return out, {"records": len(out), "corrections": dict(per_field),
                     "top_corrections": dict(pairs.most_common(50))}
