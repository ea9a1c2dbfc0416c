"""Read a hospital's notes from a file or folder: txt, CSV/TSV, JSONL or Parquet.

Streaming, so millions of notes never sit in memory at once:

    stream = iter_documents("notes/", text_field="note_text")
    for doc in stream:          # Document(id, text, patient_id, metadata, source, line)
        ...
    print(stream.report.summary())   # "read 1998, skipped 2 ..." plus file:line reasons

What counts as what
- A *whole-input* problem (path missing, unknown extension, a CSV/Parquet file without the
  text column, an unreadable single file) raises `InputError`. Inside a folder the same
  problem with one file is recorded in `report.file_errors` and the other files are read.
- A *malformed record* (JSONL line that is not JSON or not an object; a record nested
  deeper than `MAX_NESTING` levels; text missing, not a string, or empty; id or patient id
  of the wrong type; CSV row with the wrong number of columns or a quote out of place; a
  duplicate id) becomes a `RecordError(source, line, reason, record_id)` in
  `report.skipped`; the record is skipped and reading goes on. Duplicate ids keep the
  first record and skip later ones, so ids stay unique per call.
- A consumer that finds a record it was given unusable for its own purpose (a task
  builder's `entities` of the wrong shape) calls `report.reject(doc, reason)`: the record
  moves from read to skipped, so the report still accounts for every record.
- Blank JSONL lines and blank CSV rows (no field, or one whitespace-only field) are not
  records and are not counted; a file with no record (for txt: no non-whitespace byte)
  is listed in `report.empty_files`.

`line` means: JSONL and txt, the 1-based physical line (txt documents are always line
1); CSV/TSV, the 1-based row number counting the header as row 1 (a quoted field spanning
several physical lines is still one row); Parquet, the 0-based row index in the file.

Text policy: see `cancerllm.data.records` (UTF-8 with U+FFFD for bad bytes and lone
surrogates, counted as *repaired*; "\\r\\n" and "\\r" become "\\n"; other control
characters removed and counted). `Document`, `ReadReport` and the text helpers live there.

CSV quoting is parsed strictly. A quote that opens a field and is never closed would
otherwise swallow the rest of the file into one note: the row where it opens is skipped
(reason "unclosed quote", with its physical line) and reading resumes on the next
physical line, so the rows after it are still read, one by one.

Ids: the `id_field` value (str or int); without one, "<file name>:<line>" (txt files:
the path relative to the folder given, extension included). Other fields or columns are
kept in `Document.metadata`. `.gz` files (e.g. notes.jsonl.gz) are read decompressed.

Errors and logs carry file names, line numbers, ids, field names and reasons only, never
note text: notes are protected health information.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from cancerllm.data.records import (MAX_NESTING, SURROGATES, Document, FileStats, ReadReport, ReadResult,
                                    clean_record_text, decode_bytes, fix_surrogates, log_safe, nesting_depth)
from cancerllm.errors import InputError, RecordError

FORMATS = ("txt", "csv", "tsv", "jsonl", "parquet")
EXTENSIONS = {".txt": "txt", ".text": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
              ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}

_PARQUET_BATCH = 1024


def _format_of(path: Path, fmt: str | None) -> str | None:
    if fmt is not None:
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


class DocumentStream:
    """Iterable of `Document`s from a file or folder; `report` fills in as it is consumed.

    Each iteration re-reads the input from the start with a fresh `report`.
    """

    def __init__(self, path: str | os.PathLike, text_field: str = "text", id_field: str = "id",
                 patient_field: str | None = "patient_id", fmt: str | None = None):
        self.path = Path(path)
        self.text_field, self.id_field, self.patient_field = text_field, id_field, patient_field
        self.fmt = fmt.lower().lstrip(".") if fmt else None
        self.report = ReadReport()
        self._seen: set[str] = set()   # ids read so far in this pass (duplicates are skipped)
        if self.fmt is not None and self.fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file or folder")
        if self.path.is_dir():
            if next(self._folder_files(record=False), None) is None:
                raise InputError(f"{self.path}: folder holds no file of a supported type "
                                 f"({', '.join(sorted(EXTENSIONS))}, optionally .gz)")
        elif _format_of(self.path, self.fmt) is None:
            raise InputError(f"{self.path}: unknown file type; pass fmt= one of {', '.join(FORMATS)}")

    def _folder_files(self, record: bool = True) -> Iterator[tuple[Path, str]]:
        """Supported files under the folder, recursively, sorted; hidden files skipped."""
        for root, dirs, files in os.walk(self.path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                p = Path(root) / name
                fmt = _format_of(p, self.fmt)
                if fmt is None:
                    if record:
                        self.report.ignored_files.append(str(p))
                    continue
                yield p, fmt

    def __iter__(self) -> Iterator[Document]:
        self.report, self._seen = ReadReport(), set()
        if self.path.is_dir():
            files, single = self._folder_files(), False
        else:
            files, single = iter([(self.path, _format_of(self.path, self.fmt))]), True
        for p, fmt in files:
            stats = self.report.files.setdefault(str(p), FileStats())
            try:
                for doc in self._read_file(p, fmt, stats):
                    stats.n_read += 1
                    yield doc
            except InputError as exc:
                if single:
                    raise
                self.report.file_errors.append(RecordError(str(p), None, str(exc).removeprefix(f"{p}: ")))

    def _label(self, p: Path) -> str:
        """The file's name for default ids: its path relative to the folder given, or its name."""
        return p.relative_to(self.path).as_posix() if p != self.path else p.name

    def _skip(self, stats: FileStats, source: str, line: int | None, reason: str,
              record_id: str | None = None) -> None:
        stats.n_skipped += 1
        rid = None if record_id is None else log_safe(record_id)
        self.report.skipped.append(RecordError(source, line, reason, rid))

    def _read_file(self, p: Path, fmt: str, stats: FileStats) -> Iterator[Document]:
        try:
            if fmt == "parquet":
                yield from self._parquet(p, stats)
            elif fmt in ("csv", "tsv"):
                yield from self._csv(p, stats, "\t" if fmt == "tsv" else ",")
            elif fmt == "jsonl":
                yield from self._jsonl(p, stats)
            else:
                yield from self._txt(p, stats)
        except (OSError, EOFError, zlib.error, csv.Error) as exc:
            raise InputError(f"{p}: cannot read file ({type(exc).__name__})") from None

    # -- building a document from one record's fields ---------------------------------

    def _make(self, rec: dict, source: str, line: int, stats: FileStats,
              repaired: bool, default_id: str) -> Document | None:
        """Validate one record (dict of fields); a problem is reported and None returned."""
        if nesting_depth(rec) > MAX_NESTING:
            self._skip(stats, source, line, f"nested deeper than {MAX_NESTING} levels")
            return None
        rid = rec.get(self.id_field, None)
        if rid is None or rid == "":
            rid = default_id
        elif isinstance(rid, bool) or not isinstance(rid, (str, int)):
            self._skip(stats, source, line, f"id field {self.id_field!r} is {type(rid).__name__}, "
                                            "not a string or integer")
            return None
        rid = SURROGATES.sub("\ufffd", str(rid))
        text = rec.get(self.text_field, None)
        if self.text_field not in rec or text is None:
            self._skip(stats, source, line, f"missing text field {self.text_field!r}", rid)
            return None
        if not isinstance(text, str):
            self._skip(stats, source, line, f"text field {self.text_field!r} is {type(text).__name__}, "
                                            "not a string", rid)
            return None
        text, fixed, n_control = clean_record_text(text)
        if not text.strip():
            self._skip(stats, source, line, "empty text", rid)
            return None
        patient = rec.get(self.patient_field) if self.patient_field else None
        if patient == "":
            patient = None
        if patient is not None:
            if isinstance(patient, bool) or not isinstance(patient, (str, int)):
                self._skip(stats, source, line, f"patient field {self.patient_field!r} is "
                                                f"{type(patient).__name__}, not a string or integer", rid)
                return None
            patient = SURROGATES.sub("\ufffd", str(patient))
        if rid in self._seen:
            self._skip(stats, source, line, "duplicate id (first record kept)", rid)
            return None
        self._seen.add(rid)
        stats.n_repaired += repaired or fixed
        stats.n_control_removed += n_control
        skip = {self.text_field, self.id_field, self.patient_field}
        meta = {k: fix_surrogates(v) for k, v in rec.items() if k not in skip}
        return Document(rid, text, patient, meta, source, line)

    # -- one reader per format ---------------------------------------------------------

    def _txt(self, p: Path, stats: FileStats) -> Iterator[Document]:
        with _open_binary(p) as fh:
            raw = fh.read().removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            self.report.empty_files.append(str(p))
            return
        text, repaired = decode_bytes(raw)
        doc = self._make({self.text_field: text}, str(p), 1, stats, repaired, self._label(p))
        if doc is not None:
            yield doc

    def _jsonl(self, p: Path, stats: FileStats) -> Iterator[Document]:
        source, n_records = str(p), 0
        with _open_binary(p) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if not raw.strip():
                    continue
                n_records += 1
                line, repaired = decode_bytes(raw)
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    self._skip(stats, source, lineno, f"not valid JSON ({exc.msg} at column {exc.colno})")
                    continue
                except RecursionError:
                    self._skip(stats, source, lineno, f"nested deeper than {MAX_NESTING} levels (too deep to parse)")
                    continue
                except ValueError as exc:
                    self._skip(stats, source, lineno, f"not valid JSON ({type(exc).__name__})")
                    continue
                if not isinstance(rec, dict):
                    self._skip(stats, source, lineno, f"not a JSON object ({type(rec).__name__})")
                    continue
                doc = self._make(rec, source, lineno, stats, repaired, f"{self._label(p)}:{lineno}")
                if doc is not None:
                    yield doc
        if n_records == 0:
            self.report.empty_files.append(source)

    def _csv(self, p: Path, stats: FileStats, delimiter: str) -> Iterator[Document]:
        # Notes are long: lift the csv module's 128 KiB field limit (a process-wide setting).
        csv.field_size_limit(2**31 - 1)
        source = str(p)
        header, rowno, n_records, resume_at = None, 1, 0, 0
        while True:  # one pass, plus one more after each unclosed quote (from the next line)
            # surrogateescape keeps undecodable bytes recoverable per field (see _csv_field).
            opener = gzip.open if p.suffix.lower() == ".gz" else open
            with opener(p, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
                rows = csv.reader(itertools.islice(fh, resume_at, None), delimiter=delimiter, strict=True)
                if header is None:
                    header = self._csv_header(rows, p)
                    if header is None:
                        self.report.empty_files.append(source)
                        return
                resume_from, resume_at = resume_at, None
                while True:
                    first_line = resume_from + rows.line_num + 1   # physical line the row starts on
                    try:
                        row = next(rows)
                    except StopIteration:
                        break
                    except csv.Error as exc:
                        rowno, n_records = rowno + 1, n_records + 1
                        if resume_from + rows.line_num > first_line:  # a quoted field ran past its line
                            self._skip(stats, source, rowno, f"unclosed quote (row starts on line {first_line}: "
                                                             f"{exc}; reading resumes on the next line)")
                            resume_at = first_line
                            break
                        self._skip(stats, source, rowno, f"malformed CSV row ({exc})")
                        continue
                    rowno += 1
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue   # a blank row is not a record (it still counts as a row number)
                    n_records += 1
                    if len(row) != len(header):
                        self._skip(stats, source, rowno, f"wrong number of columns ({len(row)}, header has "
                                                         f"{len(header)})")
                        continue
                    values, repaired = [], False
                    for v in row:
                        v, fixed = _csv_field(v)
                        values.append(v)
                        repaired |= fixed
                    doc = self._make(dict(zip(header, values)), source, rowno, stats, repaired,
                                     f"{self._label(p)}:{rowno}")
                    if doc is not None:
                        yield doc
            if resume_at is None:
                break
        if n_records == 0:
            self.report.empty_files.append(source)

    def _csv_header(self, rows, p: Path) -> list[str] | None:
        for row in rows:
            if row and any(c.strip() for c in row):
                header = [_csv_field(c)[0].strip() for c in row]
                if self.text_field not in header:
                    raise InputError(f"{p}: no text column {self.text_field!r} in the header "
                                     f"({len(header)} columns)")
                if len(set(header)) != len(header):
                    raise InputError(f"{p}: duplicate column names in the header")
                return header
        return None

    def _parquet(self, p: Path, stats: FileStats) -> Iterator[Document]:
        import pyarrow as pa
        import pyarrow.parquet as pq
        source = str(p)
        try:
            pf = pq.ParquetFile(p)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{p}: not a readable Parquet file ({type(exc).__name__})") from None
        names = pf.schema_arrow.names
        if self.text_field not in names:
            raise InputError(f"{p}: no text column {self.text_field!r} ({len(names)} columns)")
        if pf.metadata.num_rows == 0:
            self.report.empty_files.append(source)
            return
        row = 0
        try:
            for batch in pf.iter_batches(batch_size=_PARQUET_BATCH):
                for rec in batch.to_pylist():
                    doc = self._make(rec, source, row, stats, False, f"{self._label(p)}:{row}")
                    row += 1
                    if doc is not None:
                        yield doc
        except pa.ArrowException as exc:
            raise InputError(f"{p}: Parquet data unreadable after row {row} ({type(exc).__name__})") from None


def _csv_field(value: str) -> tuple[str, bool]:
    """Undo surrogateescape: undecodable bytes become U+FFFD; True if any did."""
    if not SURROGATES.search(value):
        return value, False
    return value.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace"), True


def iter_documents(path: str | os.PathLike, text_field: str = "text", id_field: str = "id",
                   patient_field: str | None = "patient_id", fmt: str | None = None) -> DocumentStream:
    """Stream the documents of a file or folder; see the module docstring for the rules.

    `fmt` ("txt", "csv", "tsv", "jsonl", "parquet") overrides detection by extension, for
    a file or for every non-hidden file of a folder. Raises `InputError` at once for a
    missing path, an unknown format, or a folder with no supported file.
    """
    return DocumentStream(path, text_field, id_field, patient_field, fmt)


def read_documents(path: str | os.PathLike, text_field: str = "text", id_field: str = "id",
                   patient_field: str | None = "patient_id", fmt: str | None = None) -> ReadResult:
    """All documents in a list plus the report: for small inputs and tests only."""
    stream = iter_documents(path, text_field, id_field, patient_field, fmt)
    docs = list(stream)
    return ReadResult(docs, stream.report)
