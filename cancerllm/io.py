"""Small file helpers every stage shares: atomic writes, append-as-you-go JSONL, Markdown tables.

Atomic writes (temp file in the same folder + fsync + rename) mean a kill never leaves a
half-written file that looks complete: `atomic_write_text/json/jsonl` for an output held in
memory, `AtomicJsonl` (one file) and `AtomicJsonlFiles` (one per split) for a JSONL
output streamed record by record. Append-only JSONL outputs are the opposite case:
each line is flushed when done, and a torn last line is dropped on resume.

Every file these helpers create is private to its owner (mode 0600 by default, `mode`
to change it): the toolkit's outputs hold note text or answers about notes, which are
protected health information. A temp file never outlives a failure: it is removed
before the error goes on, so no hidden `.tmp` copy of note text is left behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

PRIVATE = 0o600


def open_private(path: str | os.PathLike, mode: int = PRIVATE, append: bool = False):
    """A text file opened for writing (UTF-8), created with `mode` whatever the umask.

    An existing file keeps its permissions; a new one never exists, even for an instant,
    with wider ones (os.open sets them at creation, unlike open() + chmod).
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    if not append:
        os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask (it can only narrow)
    return os.fdopen(fd, "a" if append else "w", encoding="utf-8")


def make_private(path: str | os.PathLike, mode: int = PRIVATE) -> None:
    """chmod `path`, and every file under it if it is a folder, to `mode` (0600): for
    outputs written by a library that honours only the umask (datasets' save_to_disk)."""
    path = Path(path)
    targets = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for p in targets:
        os.chmod(p, mode)



def atomic_write_text(path: str | os.PathLike, text: str, mode: int = PRIVATE) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    return atomic_write_text(
        path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    )


class AtomicJsonl:
    """One JSONL output written record by record, complete or absent.

    `with AtomicJsonl(path) as out: out.write(record)` streams into a hidden temp file
    beside the target (`.NAME.tmp`, created with `mode`, private by default); on success it
    is flushed, fsync'd and renamed into place; on any failure (an exception, a
    KeyboardInterrupt) it is deleted, so a crash never leaves note text in a hidden `.tmp`
    file. `count`: the records written.
    """

    def __init__(self, path: str | os.PathLike, mode: int = PRIVATE):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.mode = mode
        self.count = 0
        self._fh = None

    def open(self) -> "AtomicJsonl":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open_private(self.tmp, self.mode)
        return self

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        """Flush, fsync and close the temp file (the target is untouched until `commit`)."""
        if self._fh is not None and not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def commit(self) -> Path:
        self.close()
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "AtomicJsonl":
        return self.open()

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self.commit()
        except BaseException:
            self.discard()
            raise


class AtomicJsonlFiles:
    """Several JSONL outputs written side by side (one per split), all complete or absent.

    `with AtomicJsonlFiles({"train": path, ...}) as out: out["train"].write(record)`: one
    `AtomicJsonl` per target; every temp file is closed before any is renamed into place,
    and on any failure all of them are deleted.
    """

    def __init__(self, paths: dict[str, str | os.PathLike], mode: int = PRIVATE):
        self.files = {k: AtomicJsonl(v, mode) for k, v in paths.items()}

    def __enter__(self) -> dict[str, AtomicJsonl]:
        try:
            for f in self.files.values():
                f.open()
        except BaseException:
            self.__exit__(OSError, None, None)
            raise
        return self.files

    def __exit__(self, exc_type, *exc) -> None:
        files = list(self.files.values())
        if exc_type is None:
            try:
                for f in files:
                    f.close()
            except BaseException:
                for f in files:
                    f.discard()
                raise
            for f in files:
                f.commit()
        else:
            for f in files:
                f.discard()


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Read a JSONL file written by this toolkit (trusted). For user input use data.readers."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


class JsonlAppender:
    """Append records to a JSONL output one at a time, flushed, resumable.

    On open, an existing file is scanned: complete lines are kept and their `key` values
    returned by `done`. Only a torn last line (no final newline: a kill mid-write) is
    cut away. Any other line that is not a JSON object means the file is not an output
    this class wrote (say, the input given as the output): it raises `InputError` and the
    file is left exactly as it was. A new file is created private (`mode`, 0600).
    """

    def __init__(self, path: str | os.PathLike, key: str = "id", mode: int = PRIVATE):
        self.path = Path(path)
        self.key = key
        self.done: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._fh = open_private(self.path, mode, append=True)

    def _recover(self) -> None:
        from cancerllm.errors import InputError
        good, torn = 0, False
        with open(self.path, "rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    torn = True  # only the last line can lack its newline
                    break
                if not raw.strip():
                    good += len(raw)
                    continue
                try:
                    rec = json.loads(raw)
                except ValueError:
                    rec = None
                if not isinstance(rec, dict):
                    raise InputError(f"{self.path}: line {line_no} is not a JSON record, so this is not an "
                                     "output file this toolkit wrote; refusing to append to it or truncate it "
                                     "(give a new output path)")
                good += len(raw)
                if self.key in rec:
                    self.done.add(str(rec[self.key]))
        if torn:
            with open(self.path, "r+b") as fh:
                fh.truncate(good)

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.done.add(str(record[self.key]))

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def markdown_table_lines(header: list, rows: Iterable[list], align: str = "") -> list[str]:
    """A Markdown (GitHub) table as lines: header, separator, one line per row (cells str()'d).

    `align` has one letter per column, "r" for a right-aligned column (`---:`); a column
    without a letter, or with any other letter, is left-aligned (`---`).
    """
    sep = ["---:" if i < len(align) and align[i] == "r" else "---" for i in range(len(header))]
    return ["| " + " | ".join(str(c) for c in header) + " |", "|" + "|".join(sep) + "|",
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def markdown_table(header: list, rows: Iterable[list], align: str = "") -> str:
    """`markdown_table_lines` joined, ending in a newline."""
    return "\n".join(markdown_table_lines(header, rows, align)) + "\n"
