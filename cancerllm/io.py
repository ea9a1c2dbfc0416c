"""Small file helpers every stage shares: atomic writes and append-as-you-go JSONL.

Atomic writes (temp file in the same folder + fsync + rename) mean a kill never leaves a
half-written file that looks complete. Append-only JSONL outputs are the opposite case:
each line is flushed when done, and a torn last line is dropped on resume.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Read a JSONL file written by this toolkit (trusted). For user input use data.readers."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


class JsonlAppender:
    """Append records to a JSONL output one at a time, flushed, resumable.

    On open, an existing file is scanned: complete lines are kept and their `key` values
    returned by `done`; a torn last line (from a kill mid-write) is truncated away.
    """

    def __init__(self, path: str | os.PathLike, key: str = "id"):
        self.path = Path(path)
        self.key = key
        self.done: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _recover(self) -> None:
        good = 0
        with open(self.path, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                try:
                    rec = json.loads(raw)
                except ValueError:
                    break
                good += len(raw)
                if isinstance(rec, dict) and self.key in rec:
                    self.done.add(str(rec[self.key]))
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
