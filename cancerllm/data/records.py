"""What the readers hand on: `Document`s, the `ReadReport` of a read, and the text policy.

`cancerllm.data.readers` reads files into these; the task builders, de-identification
and scoring use the same types and text helpers, so every stage counts and cleans
records alike.

Text policy (the readers do not otherwise touch the text; whitespace and Unicode
normalisation belong to the corpus stage, and annotation offsets rely on that):
- Bytes are decoded as UTF-8 (a leading BOM is dropped by the reader). Bytes that are not
  valid UTF-8 become U+FFFD (`decode_bytes`), as do lone surrogates from JSON escapes
  (`fix_surrogates`); such a record is kept and counted as *repaired*, not lost.
- "\\r\\n" and lone "\\r" become "\\n"; every other control character (Unicode Cc) but
  "\\n" and "\\t" is removed and counted (`clean_record_text`).

Errors and logs carry file names, line numbers, ids, field names and reasons only, never
note text (`log_safe` makes an id from the input safe to print).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cancerllm.errors import RecordError

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")   # Cc minus \t and \n (\r handled first)
SURROGATES = re.compile(r"[\ud800-\udfff]")
MAX_NESTING = 64   # JSON levels; far beyond any real record, far below Python's recursion limit


@dataclass
class Document:
    """One note or report as read from the input; `line` locates it in `source`."""
    id: str
    text: str
    patient_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line: int | None = None


@dataclass
class FileStats:
    n_read: int = 0
    n_skipped: int = 0
    n_repaired: int = 0           # records kept with U+FFFD replacing undecodable bytes
    n_control_removed: int = 0    # control characters removed, summed over records


@dataclass
class ReadReport:
    """What happened to every record of one `iter_documents` call, per file and in total."""
    files: dict[str, FileStats] = field(default_factory=dict)
    skipped: list[RecordError] = field(default_factory=list)
    file_errors: list[RecordError] = field(default_factory=list)  # whole files of a folder not read
    empty_files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)       # unsupported extension in a folder

    def _total(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.files.values())

    @property
    def n_read(self) -> int:
        return self._total("n_read")

    @property
    def n_skipped(self) -> int:
        return self._total("n_skipped")

    @property
    def n_repaired(self) -> int:
        return self._total("n_repaired")

    @property
    def n_control_removed(self) -> int:
        return self._total("n_control_removed")

    def reject(self, doc: Document, reason: str) -> None:
        """Move a record that was read into `skipped`: its consumer found it unusable
        (e.g. a task builder's field of the wrong shape). Same report, same accounting."""
        stats = self.files[doc.source]
        stats.n_read -= 1
        stats.n_skipped += 1
        self.skipped.append(RecordError(doc.source, doc.line, reason, log_safe(doc.id)))

    def reasons(self) -> Counter:
        """Skipped records by kind of reason (the reason without its parenthesised detail)."""
        return Counter(e.reason.split(" (")[0] for e in self.skipped)

    def summary(self, max_errors: int = 20) -> str:
        """A few lines for a terminal or log: counts, reasons, then the first file:line errors."""
        lines = [f"read {self.n_read}, skipped {self.n_skipped}, repaired encoding {self.n_repaired}, "
                 f"control characters removed {self.n_control_removed}, files {len(self.files)}"]
        lines += [f"  skipped ({n}): {reason}" for reason, n in self.reasons().most_common()]
        lines += [f"  empty file: {p}" for p in self.empty_files]
        lines += [f"  file not read: {e}" for e in self.file_errors]
        if self.ignored_files:
            lines.append(f"  ignored {len(self.ignored_files)} file(s) of unsupported type")
        lines += [f"  {e}" for e in self.skipped[:max_errors]]
        if len(self.skipped) > max_errors:
            lines.append(f"  ... and {len(self.skipped) - max_errors} more")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"n_read": self.n_read, "n_skipped": self.n_skipped, "n_repaired": self.n_repaired,
                "n_control_removed": self.n_control_removed, "reasons": dict(self.reasons()),
                "skipped": [str(e) for e in self.skipped], "file_errors": [str(e) for e in self.file_errors],
                "empty_files": self.empty_files, "ignored_files": self.ignored_files,
                "files": {p: vars(s) for p, s in self.files.items()}}


@dataclass
class ReadResult:
    documents: list[Document]
    report: ReadReport


def clean_record_text(text: str) -> tuple[str, bool, int]:
    """(text, repaired, n_control_removed) under the text policy (module doc)."""
    repaired = False
    if SURROGATES.search(text):
        text, repaired = SURROGATES.sub("\ufffd", text), True
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text, n_control = _CONTROL.subn("", text)
    return text, repaired, n_control


def decode_bytes(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def fix_surrogates(value: Any) -> Any:
    """Strings must be writable as UTF-8 later: lone surrogates (from JSON escapes such as
    "\\ud800") become U+FFFD, one for one, so character offsets do not move. Recurses
    into lists and dicts."""
    if isinstance(value, str):
        return SURROGATES.sub("\ufffd", value)
    if isinstance(value, list):
        return [fix_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {fix_surrogates(k): fix_surrogates(v) for k, v in value.items()}
    return value


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def log_safe(value: Any, limit: int = 80) -> str:
    """`value` as it may appear in a log or report line: printable ASCII only (anything
    else escaped, as Python writes it) and at most `limit` characters; ids come from the
    input, and a newline or ANSI escape in one must not forge or colour a log line."""
    text = str(value)[:limit]
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def nesting_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Levels of list/dict nesting in `value`, counted without recursion and only up to
    `limit + 1` (enough to know it is too deep): a JSON line nested 900 levels deep must be
    skipped with its file:line, not crash the stage with a RecursionError later."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((v, depth) for v in (item.values() if isinstance(item, dict) else item))
    return deepest
