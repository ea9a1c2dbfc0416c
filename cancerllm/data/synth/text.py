"""Build documents from fragments so every gold span is known by construction.

A sentence is a list of fragments: plain `str` (template wording, may get a typo), `Lit`
(protected wording: numbers, drug names, doses), `Ent` (a phenotype entity) and `Phi`
(a planted identifier). `Doc` concatenates them and records the offsets of entities
(relative to the sentence), identifiers (relative to the document), sentences and
sections as it goes, so no gold offset ever comes from searching the text afterwards.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import NamedTuple


class Ent(NamedTuple):
    label: str
    text: str


class Phi(NamedTuple):
    type: str
    text: str


class Lit(NamedTuple):
    text: str


Frag = str | Ent | Phi | Lit

_FIELD = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=4096)
def _split(template: str) -> tuple[str, ...]:
    return tuple(_FIELD.split(template))


def fill(template: str, **values) -> list:
    """Fragments of `template` with `{name}` replaced by values.

    A value may be a fragment or a list of fragments; a plain str value becomes `Lit`
    (substituted facts are protected from typos, the template wording is not).
    """
    out: list = []
    for i, piece in enumerate(_split(template)):
        if i % 2 == 0:
            if piece:
                out.append(piece)
            continue
        value = values[piece]
        if isinstance(value, list):
            out.extend(value)
        elif type(value) is str:
            if value:
                out.append(Lit(value))
        else:
            out.append(value)
    return out


def cap(frags: list) -> list:
    """Capitalise the first letter of a sentence (an entity keeps its type, its text changes)."""
    if not frags:
        return frags
    f = frags[0]
    text = f if isinstance(f, str) else f.text
    text = text[:1].upper() + text[1:]
    return [text if isinstance(f, str) else f._replace(text=text)] + frags[1:]


def join(items: list[list], sep: str = ", ", last: str | None = None) -> list:
    """Fragments of a list: "a, b and c" (`last` is the final separator)."""
    out: list = []
    for i, item in enumerate(items):
        if i:
            out.append(last if (last is not None and i == len(items) - 1) else sep)
        out.extend(item)
    return out


# Words commonly misspelt in real notes (the paper's own example: diagnosis -> dinosis).
_COMMON_TYPOS = {
    "diagnosis": "dinosis", "patient": "pateint", "received": "recieved", "tolerated": "tolerted",
    "chemotherapy": "chemotheraphy", "appointment": "appointmnet", "surgery": "surgey",
    "discussed": "discused", "continue": "contiue", "radiation": "radation", "follow": "folow",
    "denies": "denys", "nausea": "nausia", "fatigue": "fatigure", "imaging": "imagng",
    "recommend": "reccomend", "symptoms": "symtoms", "breathing": "breating",
}
_WORD = re.compile(r"[A-Za-z]{4,}")


def _typo(word: str, rng: random.Random) -> str:
    if word.isupper():
        return word  # abbreviations stay as written
    common = _COMMON_TYPOS.get(word.lower())
    if common and rng.random() < 0.5:
        return common if word.islower() else common.capitalize()
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(3)
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def add_typos(text: str, rng: random.Random, rate: float) -> str:
    """Misspell about `rate` of the words of four or more letters."""
    return _WORD.sub(lambda m: _typo(m.group(), rng) if rng.random() < rate else m.group(), text)


class Doc:
    """A document under construction: text plus entity, PHI, sentence and section offsets."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.typo_rate = 0.0
        self.pheno = True
        self.phi: list[dict] = []
        self.labels: set[str] = set()      # entity labels written so far (phenotype or not)
        self.sentences: list[tuple[int, str, list[dict]]] = []
        self.sections: dict[str, tuple[int, int]] = {}
        self._parts: list[str] = []
        self._pos = 0
        self._fresh = True
        self._section: tuple[str, int] | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def write(self, s: str) -> None:
        """Raw text (headers, separators): no typos, not a phenotype sentence."""
        self._parts.append(s)
        self._pos += len(s)

    def fresh(self) -> None:
        """The next sentence opens a block: no separator before it."""
        self._fresh = True

    def begin(self, key: str) -> None:
        self._section = (key, self._pos)
        self._fresh = True

    def end(self) -> None:
        key, start = self._section
        self.sections[key] = (start, self._pos)
        self._section = None

    def add(self, frags: list, sep: str = " ", pheno: bool | None = None) -> None:
        """Append one sentence; `sep` goes before it unless it opens the section.

        `pheno=False` keeps the sentence out of the phenotype candidates (lab tables,
        headers; default: the document's current `pheno`); a sentence holding planted
        PHI is never a candidate.
        """
        if pheno is None:
            pheno = self.pheno
        if not self._fresh:
            self.write(sep)
        self._fresh = False
        start, off = self._pos, 0
        buf: list[str] = []
        ents: list[dict] = []
        has_phi = False
        for f in frags:
            kind = type(f)
            if kind is str:
                s = add_typos(f, self.rng, self.typo_rate) if self.typo_rate else f
            else:
                s = f.text
                if kind is Ent:
                    self.labels.add(f.label)
                    ents.append({"start": off, "end": off + len(s), "label": f.label, "text": s})
                elif kind is Phi:
                    self.phi.append({"start": start + off, "end": start + off + len(s),
                                     "type": f.type, "text": s})
                    has_phi = True
            buf.append(s)
            off += len(s)
        text = "".join(buf)
        self.write(text)
        if pheno and not has_phi:
            self.sentences.append((start, text, ents))

    def section_bodies(self) -> dict[str, str]:
        text = self.text
        return {key: text[a:b] for key, (a, b) in self.sections.items()}
