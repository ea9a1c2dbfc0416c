"""What a note asks of the model: sentences, task contexts, and answers turned into results.

A *job* is one note's work for one task: the registered task whose instruction and
limits apply, the contexts to answer, and how the answers become the result. Each task
names its job builder in its `TaskSpec` (`job`); the CLI, `predict` and the HTTP service
all build the same jobs through the registry, so a note gets the same answer from each
(the service merges many notes' contexts into one batch; generation is batch-invariant,
see `cancerllm.models.generation`). This module holds what the builders share.

Sentence splitter (a small rule set, chosen over a library because nltk's punkt needs a
model download and spaCy a pipeline; clinical notes are mostly one statement per line):
- every line break ends a sentence (headers, list items and vitals sit on their own lines);
- within a line, ".", "!" or "?" (with closing quotes/brackets) followed by whitespace
  ends a sentence, unless the word before is a known abbreviation (`ABBREVIATIONS`, e.g.
  "Dr.", "vs.", "e.g.") or a single letter (an initial). "2.3 cm" never splits (no space);
- pieces are stripped of surrounding whitespace; a piece without a letter or digit is
  dropped; a piece longer than `MAX_SENTENCE_CHARS` is cut at the last space before it.
Sentence offsets are character offsets into the note, `note[start:end] == sentence`.

Phenotype results: the answer to each question is split on commas (training responses
join entity texts with ", "); "Not relevant" answers are dropped. Each value is searched
for, ignoring case and with any run of whitespace matching any run, as a whole word or
phrase in the sentence(s) it was given for; every occurrence is returned as note
offsets. A value found in none of those sentences is returned with `"grounded": false`
(the model produced text that is not in the note: a likely hallucination), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_SENTENCE_CHARS = 2000
ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "prof", "vs", "e.g", "i.e", "eg", "ie", "approx", "appt", "no",
                 "st", "fig", "inc", "pt", "pts", "hx", "dx", "tx", "sx", "yo", "y.o", "cf", "al", "min", "max"}
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s)")
_ALNUM = re.compile(r"\w")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of `text` with note offsets (rules in the module docstring)."""
    out: list[Sentence] = []
    for line in re.finditer(r"[^\n]+", text):
        begin = line.start()
        for m in _BOUNDARY.finditer(line.group()):
            word = re.search(r"([\w.]*)$", line.group()[:m.start()]).group(1).lower()
            if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
            _add(out, text, begin, line.start() + m.end())
            begin = line.start() + m.end()
        _add(out, text, begin, line.end())
    return out


def _add(out: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start + 1, start + MAX_SENTENCE_CHARS)
        cut = cut if cut > start else start + MAX_SENTENCE_CHARS
        _add(out, text, start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if _ALNUM.search(text, start, end):
        out.append(Sentence(start, end, text[start:end]))


def answer_values(answer: str) -> list[str]:
    """Comma-separated values of a phenotype answer; [] for "Not relevant" / empty."""
    values: list[str] = []
    for part in answer.split(","):
        part = part.strip()
        if part and not part.lower().startswith("not relevant") and part not in values:
            values.append(part)
    return values


def find_value(value: str, sentence: str) -> list[tuple[int, int]]:
    """(start, end) of each whole-word, case-insensitive occurrence of `value` in `sentence`."""
    words = value.split()
    if not words:
        return []
    pattern = r"\s+".join(re.escape(w) for w in words)
    if words[0][0].isalnum():
        pattern = r"(?<!\w)" + pattern
    if words[-1][-1].isalnum():
        pattern += r"(?!\w)"
    return [(m.start(), m.end()) for m in re.finditer(pattern, sentence, re.IGNORECASE)]


@dataclass
class Job:
    """One note's work: answer `contexts` with `task`'s prompt and limits, then `finish`."""

    task: str
    contexts: list[str]
    finish: Callable[[list[str]], dict]


def note_sections(text: str, keys: list[str]) -> tuple[dict[str, str], list[str]]:
    """(sections, keys found among `keys`) of a note, via the section parser."""
    try:
        from cancerllm.data.sections import parse_sections
    except ImportError:  # parser not installed in this build: whole note as context
        return {}, []
    sections = parse_sections(text)
    return sections, [k for k in keys if sections.get(k, "").strip()]


def section_job(task: str, keys: list[str], build: Callable[[dict[str, str]], str]) -> Callable[[str], Job]:
    """A job builder for a task read from note sections: `build(sections)` is the context,
    from the note's sections among `keys`; a note with none of them (free text, unknown
    headers) is used whole."""
    def make(text: str) -> Job:
        sections, found = note_sections(text, keys)
        context = build(sections) if found else text.strip()

        def finish(answers: list[str]) -> dict:
            return {"task": task, "prediction": answers[0], "sections_used": found,
                    "whole_note_as_context": not found}

        return Job(task, [context], finish)
    return make


def whole_note_job(task: str) -> Callable[[str], Job]:
    """The default job: the whole note is the one context, the answer the prediction."""
    def make(text: str) -> Job:
        return Job(task, [text.strip()], lambda answers: {"task": task, "prediction": answers[0],
                                                            "sections_used": [], "whole_note_as_context": True})
    return make
