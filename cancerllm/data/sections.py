"""Split a clinic note into its canonical sections, and render chosen sections as task input.

The diagnosis and treatment tasks (paper 2.2.2-2.2.3) take named sections of a note, so
real notes, whose headers vary by author and hospital, must be cut along those headers.

What is a header (all of `HEADER_VARIANTS` and `COMBINED_HEADERS` from
section_headers.yaml, plus `extra_variants`, case-insensitive):
- it starts a line, after optional indentation and optional numbering ("1)", "2.",
  "(3)", "#", "##") and optional bold markers ("**Plan:**", "**Plan**:", "__Plan__");
- it is followed by a colon, or stands alone on its line. With a colon the body may
  start on the same line ("Plan: start letrozole"); without one, "Plan start letrozole"
  is a sentence, not a header;
- single-letter variants (the SOAP letters S, O, A, P) count only with a colon and
  never when a digit follows the colon, so vitals such as "P: 88" stay in the body.

Not supported, on purpose: a line-start "Xxx:" that is not a known variant is NOT a
header, so e.g. "Social History:" text stays inside the current section; add such
spellings through `extra_variants` (`load_header_map(my_headers.yaml)`, or
section_headers.yaml). Headers in the
middle of a line are not recognised. The reverse ambiguity is accepted: a numbered plan
item such as "2. Labs: CBC in two weeks" does start a laboratory-results section.

Combined headers ("Assessment and Plan:", "A/P:", "Impression and Plan:") open the plan
section: the whole body is the plan (the treatment task's answer) and never runs on
inside the diagnosis. It is not split into assessment and plan: free text has no mark
where one ends. A note with both "A/P:" and "Plan:" gets the two bodies joined.

Text before the first header is the "preamble" section; a section that occurs more than
once has its bodies joined with a newline.

Pathology reports (end of this module) have their own headers (synoptic summary, addendum,
final diagnosis, gross, history): `reorder_sections` puts the deciding sections first for
the staging heads, and `find_report_sections` types each part of a report for the
rule-based staging extractor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import os

from cancerllm.data.section_names import COMBINED_HEADERS, HEADER_VARIANTS, SECTIONS
from cancerllm.errors import ConfigError

PREAMBLE = "preamble"

# Title used when rendering a section as task input ("Nursing review of systems: ...").
SECTION_TITLES: dict[str, str] = {
    key: key.replace("_", " ").capitalize().replace("Nursing ros", "Nursing review of systems")
    for key in SECTIONS
}


class Section(NamedTuple):
    """One header occurrence: text[header_start:body_start] is the header line up to the
    body, text[body_start:body_end] the body without surrounding whitespace."""
    key: str
    header_start: int
    body_start: int
    body_end: int


_NUMBER = r"(?:\d{1,3}[.)]|\(\d{1,3}\)|#{1,6})[ \t]*"
_BOLD = r"(?:\*\*|__)?"


def _variant_pattern(variant: str) -> str:
    return r"[ \t]+".join(re.escape(word) for word in variant.split())


@lru_cache(maxsize=32)
def _header_regex(extra: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[re.Pattern, dict[str, str]]:
    """One regex for every variant (longest first) and the lower-cased variant -> key map."""
    lookup: dict[str, str] = {}
    defaults = list(HEADER_VARIANTS.items()) + list(COMBINED_HEADERS.items())
    for key, variants in defaults + [(k, list(v)) for k, v in extra]:
        for v in variants:
            if v.strip():
                lookup[" ".join(v.lower().split())] = key
    words = sorted((v for v in lookup if len(v) > 1), key=len, reverse=True)
    letters = sorted(v for v in lookup if len(v) == 1)
    long_alt = "|".join(_variant_pattern(v) for v in words) or r"(?!)"
    letter_alt = "|".join(re.escape(v) for v in letters) or r"(?!)"
    pattern = (
        rf"^[ \t]*(?:{_NUMBER})?{_BOLD}"
        rf"(?:(?P<name>{long_alt}){_BOLD}[ \t]*(?::(?!:)|(?=[ \t]*{_BOLD}[ \t]*\r?$))"
        rf"|(?P<letter>{letter_alt}){_BOLD}[ \t]*:(?![ \t]*\d))"
        rf"{_BOLD}[ \t]*"
    )
    return re.compile(pattern, re.IGNORECASE | re.MULTILINE), lookup


def load_header_map(path: str | os.PathLike) -> dict[str, list[str]]:
    """A user's header YAML (the layout of section_headers.yaml) as `extra_variants`.

    `headers:` maps a section key (canonical, or a new one that then becomes its own
    section) to more spellings; `combined:` maps a canonical key to headers that name
    two sections and give it the whole body. Anything else is a ConfigError naming it.
    """
    from cancerllm.config import load_yaml_file
    data = load_yaml_file(path, "section header map")
    if not isinstance(data, dict) or not data or set(data) - {"headers", "combined"}:
        extra = sorted(set(data) - {"headers", "combined"}) if isinstance(data, dict) else []
        raise ConfigError(f"section header map {str(path)!r} must have 'headers:' and/or 'combined:' "
                          f"mappings" + (f"; unknown: {', '.join(map(str, extra))}" if extra else ""))
    out: dict[str, list[str]] = {}
    for part in ("headers", "combined"):
        for key, variants in (data.get(part) or {}).items():
            if not isinstance(key, str) or not isinstance(variants, list) or \
                    not all(isinstance(v, str) and v.strip() for v in variants):
                raise ConfigError(f"{path}: {part}.{key} must be a list of header spellings (strings)")
            if part == "combined" and key not in SECTIONS:
                raise ConfigError(f"{path}: combined.{key}: a combined header must give its body to one of "
                                  f"{', '.join(SECTIONS)}")
            out.setdefault(key, []).extend(variants)
    return out


def _extra_key(extra_variants: dict[str, list[str]] | None) -> tuple:
    if not extra_variants:
        return ()
    return tuple(sorted((k, tuple(v)) for k, v in extra_variants.items()))


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) moved inward past whitespace; (start, start) for a blank span."""
    seg = text[start:end]
    stripped = seg.strip()
    if not stripped:
        return start, start
    lead = len(seg) - len(seg.lstrip())
    return start + lead, start + lead + len(stripped)


def find_sections(text: str, extra_variants: dict[str, list[str]] | None = None) -> list[Section]:
    """Every header occurrence in order, with offsets; a non-blank preamble comes first.

    `extra_variants` maps a key (canonical or new) to more header spellings; they win
    over the defaults when the same spelling is listed for two keys.
    """
    regex, lookup = _header_regex(_extra_key(extra_variants))
    hits = []
    for m in regex.finditer(text):
        name = m.group("name") or m.group("letter")
        hits.append((lookup[" ".join(name.lower().split())], m.start(), m.end()))
    out: list[Section] = []
    first = hits[0][1] if hits else len(text)
    a, b = _trimmed(text, 0, first)
    if a < b:
        out.append(Section(PREAMBLE, 0, a, b))
    for i, (key, header_start, header_end) in enumerate(hits):
        next_start = hits[i + 1][1] if i + 1 < len(hits) else len(text)
        a, b = _trimmed(text, header_end, next_start)
        out.append(Section(key, header_start, a, b))
    return out


def parse_sections(text: str, extra_variants: dict[str, list[str]] | None = None) -> dict[str, str]:
    """{key: body} for the sections found (see the module docstring for the header rules).

    Keys are those of `SECTIONS` (plus "preamble" and any `extra_variants` keys), in
    order of first appearance; a key absent from the note is absent from the dict.
    """
    bodies: dict[str, list[str]] = {}
    for s in find_sections(text, extra_variants):
        bodies.setdefault(s.key, []).append(text[s.body_start:s.body_end])
    # Joined once per key: a note repeating a header many times stays linear in its length.
    return {key: "\n".join(parts) for key, parts in bodies.items()}


def render_sections(sections: dict[str, str], keys: list[str], numbered: bool = True) -> str:
    """The chosen sections as the paper's task input, one per line, in the order of `keys`:

        1) Reason for visit: ...
        2) Treatment site: ...

    A missing section renders with an empty body, so every input has the same shape.
    """
    lines = []
    for i, key in enumerate(keys, start=1):
        title = SECTION_TITLES.get(key) or key.replace("_", " ").capitalize()
        prefix = f"{i}) " if numbered else ""
        lines.append(f"{prefix}{title}: {sections.get(key, '').strip()}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Pathology reports: two readings of their headers, each as its user was built on.
# `reorder_sections` orders a report for the staging heads (what a model reads first must
# decide the labels); `find_report_sections` types the parts of a (normalised) report for
# the rule-based staging extractor (baselines/staging_rules.py).
# ---------------------------------------------------------------------------------------

# Section headers, most informative first. A report is split only at a line that starts
# with one of these phrases written as a header (upper or Title Case, then a colon or the
# end of the line), so synoptic items ("Procedure: lumpectomy") never split a synoptic
# block and a sentence starting with "History of ..." is not a header.
SECTION_PRIORITY: list[tuple[int, str]] = [
    (0, r"synoptic|cap\s+(?:summary|protocol|checklist)|(?:cancer|tumou?r)\s+(?:case\s+)?summary"
        r"|summary\s+of\s+findings|synopsis"),
    (1, r"addend(?:um|a)|amend(?:ed|ment)|revised\s+report|corrected\s+report"),
    (2, r"(?:final\s+)?(?:patholog(?:ic|ical|y)\s+)?diagnos[ie]s|final\s+patholog"),
    (3, r"comments?"),
    (4, r"gross|macroscopic|microscopic"),
    (5, r"clinical\s+(?:history|information|data|indication)|history|prior\s+specimen"),
]
OTHER_PRIORITY = 4
_HEADER_LINE = re.compile(
    r"^[ \t]*(?:[A-Z0-9]{1,3}[.)][ \t]+)?(?P<head>[A-Za-z][A-Za-z0-9 /&()'-]{1,60}?)[ \t]*"
    r"(?:(?P<colon>:)[ \t]*(?P<rest>.*)|$)")
_MINOR_WORDS = {"of", "and", "the", "for", "to", "on", "in"}
_PRIORITY_RES = [(p, re.compile(rf"(?:{rx})\b", re.I)) for p, rx in SECTION_PRIORITY]


def _section_priority(line: str) -> int | None:
    m = _HEADER_LINE.match(line)
    if not m:
        return None
    head = m["head"]
    words = [w for w in re.split(r"[ /&()'-]+", head) if w]
    title = all(w[0].isupper() or w.lower() in _MINOR_WORDS for w in words)
    if not (head.isupper() or (title and (m["colon"] or m["rest"] is None))):
        return None
    for priority, rx in _PRIORITY_RES:
        if rx.match(head):
            return priority
    return None


def reorder_sections(text: str) -> str:
    """Move synoptic, addendum and diagnosis sections to the front (stable otherwise).

    Text before the first recognised header keeps its place among ordinary sections;
    clinical history goes last. A report without recognised headers is returned as is.
    Why: with windows and a window cap, what the model reads first must be what decides
    the labels; addenda supersede and history is a distractor (docs/staging-schema.md 2.8).
    """
    blocks: list[tuple[int, list[str]]] = [(OTHER_PRIORITY, [])]
    for line in text.split("\n"):
        priority = _section_priority(line)
        if priority is not None:
            blocks.append((priority, []))
        blocks[-1][1].append(line)
    if len(blocks) == 1:
        return text
    ordered = sorted((b for b in blocks if b[1]), key=lambda b: b[0])  # sorted() is stable
    return "\n".join("\n".join(lines) for _, lines in ordered)


REPORT_SECTION_HEADERS: dict[str, list[str]] = {
    "history": [r"clinical\s+history", r"clinical\s+information", r"clinical\s+data", r"clinical\s+notes?",
                r"history", r"pre-?\s?op(?:erative)?\.?\s+diagnosis", r"post-?\s?op(?:erative)?\.?\s+diagnosis",
                r"clinical\s+diagnosis(?:\s*\(suspicion\))?", r"indications?",
                # "... from. PREVIOUS BIOPSY." in line-joined OCR text is not a header: colon only
                r"(?:prior|previous)\s+(?:specimens?|history|diagnosis|biopsy)(?=\s*:)"],
    "addendum": [r"addendum(?:\s+(?:diagnosis|report|comment))?", r"amended\s+(?:report|diagnosis)",
                 r"amendment", r"revised\s+(?:report|diagnosis)", r"supplement(?:al|ary)\s+report"],
    "synoptic": [r"synoptic(?:\s+(?:report|data|worksheet|summary))?", r"cap\s+(?:cancer\s+)?summary",
                 r"(?:surgical\s+pathology\s+)?cancer\s+case\s+summary", r"tumou?r\s+summary",
                 r"case\s+synopsis", r"checklist"],
    "diagnosis": [r"(?:final\s+|surgical\s+)?(?:pathologic(?:al)?\s+|pathology\s+|histo-?patholog\w*\s+)?"
                  r"diagnos[ie]s", r"final\s+report"],
    "comment": [r"comments?", r"notes?"],
    "microscopic": [r"microscopic(?:\s+description)?", r"microscopy"],
    "gross": [r"gross(?:\s+description)?", r"macroscopic(?:\s+description)?", r"specimens?\s+received"],
    "other": [r"frozen\s+section(?:\s+diagnosis)?", r"intra-?operative\s+consultation", r"methodology",
              r"references?"],
}

_REPORT_HEADER_RE = re.compile(
    r"(?:^|(?<=\n)|(?<=[.:;]\s)|(?<=[.:;]))[ \t]*(?P<h>" + "|".join(
        f"(?P<{kind}>{'|'.join(variants)})" for kind, variants in REPORT_SECTION_HEADERS.items()
    ) + r")(?:\s*\([^)]{0,20}\))?(?:[ \t]+#?\d[\d/.-]{0,9})?[ \t]*(?=[:.\n]|$)",   # "Addendum 2018-10-17:"
    re.IGNORECASE,
)
# "will be reported as an addendum." / "see addendum." are references, not headers.
_NOT_A_HEADER_BEFORE = re.compile(r"(?:\ban|\bsee|\bin|\bthe|\bby|\bas|\bper|\bfollow)\.?\s*$", re.IGNORECASE)
HISTORY_MAX_CHARS = 300  # a history block without a following header stops here
_NEXT_LABEL = re.compile(r"(?<=[.;]\s)[A-Z][A-Za-z /()-]{2,50}:")


@dataclass(frozen=True)
class ReportSection:
    kind: str
    start: int
    end: int


def find_report_sections(text: str) -> list[ReportSection]:
    """Split the (normalised) text into typed sections; text before any header is 'body'."""
    heads: list[tuple[int, str]] = []
    for m in _REPORT_HEADER_RE.finditer(text):
        kind = next(k for k in REPORT_SECTION_HEADERS if m.group(k))
        if _NOT_A_HEADER_BEFORE.search(text[max(0, m.start() - 12):m.start()]):
            continue
        heads.append((m.start("h"), kind))
    sections: list[ReportSection] = []
    prev_end, prev_kind = 0, "body"
    for start, kind in heads:
        if start > prev_end or not sections:
            sections.append(ReportSection(prev_kind, prev_end, start))
        prev_end, prev_kind = start, kind
    sections.append(ReportSection(prev_kind, prev_end, len(text)))
    capped: list[ReportSection] = []
    for s in sections:
        if s.kind == "history":
            # a history block ends at the next "Label:" field or after HISTORY_MAX_CHARS
            colon = text.find(":", s.start, s.end)
            label = _NEXT_LABEL.search(text, colon + 1 if 0 <= colon < s.start + 60 else s.start + 1, s.end)
            end = min(s.end, s.start + HISTORY_MAX_CHARS, label.start() if label else s.end)
            if end < s.end:
                capped.append(ReportSection("history", s.start, end))
                capped.append(ReportSection("body", end, s.end))
                continue
        if s.end > s.start:
            capped.append(s)
    return capped


def report_section_at(sections: list[ReportSection], pos: int) -> str:
    for s in sections:
        if s.start <= pos < s.end:
            return s.kind
    return "body"
