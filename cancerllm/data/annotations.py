"""Annotated text in the three formats hospitals have, and one in-memory form.

`AnnotatedText(id, text, entities)` with `Entity(start, end, label, text)`, offsets in
Python characters, `text[start:end] == entity.text`, entities sorted and never
overlapping. Readers validate and return `(documents, errors)`: a bad record or span
becomes a `RecordError(file, line, reason, id)` and is skipped; the rest is kept.

Formats
- Span JSON / JSONL: one object per record, `{"id", "text", "entities": [{"start",
  "end", "label"}]}`; "spans" is accepted for "entities" and "type" for "label"; an
  entity "text", when present, must equal the text at its offsets. A `.json` file may
  hold one object or an array (its `line` is then the 1-based position in the array).
  A record without "id" gets "<file name>:<line>"; an optional "patient_id" is kept.
- BIO / CoNLL columns: one token per line, the tag in the last column (columns split on
  whitespace), a blank line between sentences; "-DOCSTART-" lines are ignored and a
  "# id = X" line names the next sentence. Tags O, B-X, I-X (IOB2), plus E-X and S-X
  (BIOES); an I-X that does not continue an X entity starts one (IOB1 and sloppy
  files). The text is rebuilt as the tokens joined by single spaces. The writer splits
  tokens on whitespace and also at entity boundaries, so no entity is lost; other
  whitespace becomes single spaces, so offsets survive a round trip exactly only for
  text already tokenised with single spaces.
- BRAT standoff: `name.txt` + `name.ann` pairs; only "T" (text-bound) lines are read,
  the other kinds (R, E, A, N, #, *) are ignored. Discontinuous spans ("0 5;10 15") are
  SKIPPED and reported: a flattened span would label the words in between and separate
  fragments would count one mention several times; neither is what the annotator meant.
  Offsets are characters of the .txt as stored (line endings are not translated). A
  .txt without .ann is a document without entities; a .ann without .txt is an error.

Validation (all formats): offsets must be integers with 0 <= start < end <= len(text);
a given span text must match; an entity overlapping an earlier kept one is skipped.
Messages carry files, lines, ids, offsets and labels, never the annotated text (PHI).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cancerllm.errors import InputError, RecordError


@dataclass(frozen=True, order=True)
class Entity:
    start: int
    end: int
    label: str
    text: str = ""


@dataclass
class AnnotatedText:
    id: str
    text: str
    entities: list[Entity] = field(default_factory=list)
    patient_id: str | None = None   # span JSON's "patient_id", when given


Result = tuple[list[AnnotatedText], list[RecordError]]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_entity(text: str, start: Any, end: Any, label: Any, span_text: Any = None,
                 loose_whitespace: bool = False) -> str | None:
    """Why an entity is invalid for `text`, or None when it is fine."""
    if not (_is_int(start) and _is_int(end)):
        return "start and end must be integers"
    if not isinstance(label, str) or not label.strip():
        return f"entity {start}-{end} has no label"
    if start >= end:
        return f"empty or inverted span {start}-{end}"
    if start < 0 or end > len(text):
        return f"span {start}-{end} outside the text (length {len(text)})"
    if span_text is not None:
        found = text[start:end]
        if not isinstance(span_text, str):
            return f"span text at {start}-{end} is {type(span_text).__name__}, not a string"
        if loose_whitespace:   # BRAT writes line breaks inside a span as spaces
            found, span_text = " ".join(found.split()), " ".join(span_text.split())
        if span_text != found:
            return f"span text does not match the text at {start}-{end}"
    return None


def keep_valid(doc_id: str, text: str, candidates: list[tuple[Any, Any, Any, Any, int | None]],
               source: str, errors: list[RecordError], loose_whitespace: bool = False) -> list[Entity]:
    """Validated, sorted, non-overlapping entities from (start, end, label, text, line)."""
    ok: list[tuple[Entity, int | None]] = []
    for start, end, label, span_text, line in candidates:
        why = check_entity(text, start, end, label, span_text, loose_whitespace)
        if why:
            errors.append(RecordError(source, line, why, doc_id))
        else:
            ok.append((Entity(start, end, label, text[start:end]), line))
    kept: list[Entity] = []
    for ent, line in sorted(ok, key=lambda e: (e[0].start, e[0].end, e[0].label)):
        if kept and ent.start < kept[-1].end:
            prev = kept[-1]
            errors.append(RecordError(source, line, f"span {ent.start}-{ent.end} ({ent.label}) overlaps "
                                                    f"{prev.start}-{prev.end} ({prev.label})", doc_id))
            continue
        kept.append(ent)
    return kept


# -- span JSON / JSONL ---------------------------------------------------------------

def span_record(rec: Any, source: str, line: int, default_id: str,
                errors: list[RecordError]) -> AnnotatedText | None:
    """One span-JSON record to an AnnotatedText; problems go to `errors`."""
    if not isinstance(rec, dict):
        errors.append(RecordError(source, line, f"not a JSON object ({type(rec).__name__})"))
        return None
    rid = rec.get("id")
    if rid is None or rid == "":
        rid = default_id
    elif isinstance(rid, bool) or not isinstance(rid, (str, int)):
        errors.append(RecordError(source, line, f"id is {type(rid).__name__}, not a string or integer"))
        return None
    rid = str(rid)
    text = rec.get("text")
    if not isinstance(text, str):
        why = "missing text" if text is None else f"text is {type(text).__name__}, not a string"
        errors.append(RecordError(source, line, why, rid))
        return None
    ents = rec.get("entities", rec.get("spans", []))
    if ents is None:
        ents = []
    if not isinstance(ents, list):
        errors.append(RecordError(source, line, f"entities is {type(ents).__name__}, not a list", rid))
        return None
    candidates = []
    for i, e in enumerate(ents):
        if not isinstance(e, dict):
            errors.append(RecordError(source, line, f"entity {i} is {type(e).__name__}, not an object", rid))
            continue
        label = e.get("label", e.get("type"))
        candidates.append((e.get("start"), e.get("end"), label, e.get("text"), line))
    patient = rec.get("patient_id")
    patient = str(patient) if isinstance(patient, (str, int)) and not isinstance(patient, bool) and patient != "" \
        else None
    return AnnotatedText(rid, text, keep_valid(rid, text, candidates, source, errors), patient)


def _json_values(path: Path, errors: list[RecordError]):
    """(line, value) pairs: a .json file (object or array) or JSONL lines."""
    source = str(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise InputError(f"{path}: not valid UTF-8 JSON ({type(exc).__name__})") from None
        yield from enumerate(data if isinstance(data, list) else [data], start=1)
        return
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                yield lineno, json.loads(raw.decode("utf-8"))
            except json.JSONDecodeError as exc:
                errors.append(RecordError(source, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            except (ValueError, RecursionError) as exc:
                errors.append(RecordError(source, lineno, f"not valid JSON ({type(exc).__name__})"))


def read_spans(path: str | os.PathLike) -> Result:
    """Span JSON (.json) or JSONL (any other extension) with validated entities."""
    path = _existing(path)
    errors: list[RecordError] = []
    docs: list[AnnotatedText] = []
    seen: set[str] = set()
    for line, rec in _json_values(path, errors):
        doc = span_record(rec, str(path), line, f"{path.name}:{line}", errors)
        if doc is None:
            continue
        if doc.id in seen:
            errors.append(RecordError(str(path), line, "duplicate id (first record kept)", doc.id))
            continue
        seen.add(doc.id)
        docs.append(doc)
    return docs, errors


def write_spans(path: str | os.PathLike, docs: list[AnnotatedText]) -> Path:
    """Span JSONL, one record per line, entities with their text (atomic write)."""
    from cancerllm.io import atomic_write_jsonl
    return atomic_write_jsonl(path, ({"id": d.id, "text": d.text, "entities": [
        {"start": e.start, "end": e.end, "label": e.label, "text": d.text[e.start:e.end]}
        for e in d.entities]} for d in docs))


# -- BIO / CoNLL ----------------------------------------------------------------------

_TAG = re.compile(r"^(?:O|([BIES])[-_](.+))$")


def _bio_sentence(tokens: list[tuple[str, str, int]], doc_id: str, source: str,
                  errors: list[RecordError]) -> AnnotatedText | None:
    """Tokens (token, tag, line) -> AnnotatedText; a bad tag skips the sentence."""
    parts, ents = [], []
    pos, cur = 0, None        # cur = [start, end, label] of the open entity
    for token, tag, line in tokens:
        m = _TAG.match(tag)
        if not m:
            errors.append(RecordError(source, line, "unknown tag (expected O, B-X, I-X, E-X or S-X)", doc_id))
            return None
        start = pos + (1 if parts else 0)
        parts.append(token)
        pos = start + len(token)
        prefix, label = m.group(1), m.group(2)
        if prefix is None:
            cur = None
            continue
        if prefix in "IE" and cur is not None and cur[2] == label:
            cur[1] = pos
        else:
            cur = [start, pos, label]
            ents.append(cur)
        if prefix in "ES":
            cur = None
    text = " ".join(parts)
    return AnnotatedText(doc_id, text, [Entity(s, e, lab, text[s:e]) for s, e, lab in ents])


def read_bio(path: str | os.PathLike) -> Result:
    """CoNLL/BIO columns (token first, tag last); one AnnotatedText per sentence."""
    path = _existing(path)
    source, stem = str(path), path.name
    errors: list[RecordError] = []
    docs: list[AnnotatedText] = []
    tokens: list[tuple[str, str, int]] = []
    state = {"id": None, "bad": False, "first": 0}

    def flush() -> None:
        if tokens and not state["bad"]:
            doc_id = state["id"] or f"{stem}:{state['first']}"
            doc = _bio_sentence(tokens, doc_id, source, errors)
            if doc is not None:
                docs.append(doc)
        tokens.clear()
        state.update(id=None, bad=False)

    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.decode("utf-8", errors="replace").strip()
            if lineno == 1:
                line = line.lstrip("\ufeff")
            if not line:
                flush()
                continue
            if line.startswith("# id = ") and not tokens:
                state["id"] = line[len("# id = "):].strip()
                continue
            cols = line.split()
            if cols[0] == "-DOCSTART-":
                flush()
                continue
            if not tokens:
                state["first"] = lineno
            if len(cols) < 2:
                if not state["bad"]:
                    errors.append(RecordError(source, lineno, "line has no tag column",
                                              state["id"] or f"{stem}:{state['first']}"))
                state["bad"] = True
                tokens.append(("", "O", lineno))
                continue
            tokens.append((cols[0], cols[-1], lineno))
    flush()
    return docs, errors


def bio_tokens(doc: AnnotatedText) -> list[tuple[str, str]]:
    """(token, tag) pairs: whitespace tokens, also split at entity boundaries (IOB2 tags)."""
    ents = sorted(doc.entities)
    cuts = sorted({0, len(doc.text)} | {e.start for e in ents} | {e.end for e in ents})
    out: list[tuple[str, str]] = []
    last = None            # the entity of the previous token, if any
    for a, b in zip(cuts, cuts[1:]):
        for m in re.finditer(r"\S+", doc.text[a:b]):
            s = a + m.start()
            ent = next((e for e in ents if e.start <= s < e.end), None)
            if ent is None:
                tag = "O"
            else:
                tag = f"I-{ent.label}" if ent is last else f"B-{ent.label}"
            last = ent
            out.append((m.group(), tag))
    return out


def write_bio(path: str | os.PathLike, docs: list[AnnotatedText], with_ids: bool = True) -> Path:
    """Two columns (token, tag), tab-separated, a blank line between documents.

    `with_ids` writes a "# id = X" line before each document, which `read_bio` reads back.
    """
    from cancerllm.io import atomic_write_text
    blocks = []
    for d in docs:
        lines = [f"# id = {d.id}"] if with_ids else []
        lines += [f"{tok}\t{tag}" for tok, tag in bio_tokens(d)]
        blocks.append("\n".join(lines) + "\n")
    return atomic_write_text(path, "\n".join(blocks))


# -- BRAT standoff ----------------------------------------------------------------------

_T_LINE = re.compile(r"^(T\S*)\t(\S+) ([0-9; ]+?)(?:\t(.*))?$", re.DOTALL)


def _brat_doc(txt: Path, ann: Path | None, doc_id: str, errors: list[RecordError]) -> AnnotatedText | None:
    try:
        # newline="" keeps "\r\n": BRAT offsets count the characters as stored.
        with open(txt, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        errors.append(RecordError(str(txt), None, f"not valid UTF-8 (byte {exc.start})", doc_id))
        return None
    candidates = []
    if ann is not None:
        source = str(ann)
        with open(ann, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if not line.startswith("T"):
                    continue
                m = _T_LINE.match(line)
                if not m:
                    errors.append(RecordError(source, lineno, "malformed T line (expected "
                                                              "'T<n>\\t<label> <start> <end>\\t<text>')", doc_id))
                    continue
                offsets = m.group(3).strip()
                if ";" in offsets:
                    errors.append(RecordError(source, lineno, f"discontinuous span {m.group(1)} skipped", doc_id))
                    continue
                parts = offsets.split()
                if len(parts) != 2:
                    errors.append(RecordError(source, lineno, "malformed offsets", doc_id))
                    continue
                candidates.append((int(parts[0]), int(parts[1]), m.group(2), m.group(4), lineno))
    return AnnotatedText(doc_id, text, keep_valid(doc_id, text, candidates, str(ann), errors,
                                                  loose_whitespace=True))


def read_brat(path: str | os.PathLike) -> Result:
    """A BRAT folder (searched recursively; id = relative path without extension) or one
    .txt/.ann file (its pair is found next to it)."""
    path = _existing(path)
    errors: list[RecordError] = []
    if path.is_file():
        txt, ann = path.with_suffix(".txt"), path.with_suffix(".ann")
        if not txt.exists():
            raise InputError(f"{path}: no matching .txt file")
        doc = _brat_doc(txt, ann if ann.exists() else None, txt.stem, errors)
        return ([doc] if doc else []), errors
    docs = []
    for txt in sorted(path.rglob("*.txt")):
        ann = txt.with_suffix(".ann")
        doc_id = txt.relative_to(path).with_suffix("").as_posix()
        doc = _brat_doc(txt, ann if ann.exists() else None, doc_id, errors)
        if doc:
            docs.append(doc)
    for ann in sorted(path.rglob("*.ann")):
        if not ann.with_suffix(".txt").exists():
            errors.append(RecordError(str(ann), None, "no matching .txt file"))
    return docs, errors


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def write_brat(folder: str | os.PathLike, docs: list[AnnotatedText]) -> Path:
    """One `<id>.txt` + `<id>.ann` pair per document (unsafe id characters become "_")."""
    from cancerllm.io import atomic_write_text
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for d in docs:
        name = _UNSAFE.sub("_", d.id).strip("._") or "doc"
        base, n = name, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        with open(folder / f"{name}.txt", "w", encoding="utf-8", newline="") as fh:
            fh.write(d.text)
        ann = "".join(f"T{i}\t{e.label} {e.start} {e.end}\t"
                      f"{d.text[e.start:e.end].replace(chr(13), ' ').replace(chr(10), ' ')}\n"
                      for i, e in enumerate(d.entities, start=1))
        atomic_write_text(folder / f"{name}.ann", ann)
    return folder


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return path
