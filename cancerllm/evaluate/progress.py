"""Progress of a generation loop on stderr: a tqdm bar on a terminal, "n/N, ETA" lines in a log.

Generating a test split takes minutes to hours on a CPU; without a word of how far it is
a user cannot tell a slow run from a hung one. `generate_predictions(progress=...)` calls
back after each batch with the number of records written; `generation_progress` turns
that into a bar (interactive stderr) or, when stderr is a file or pipe (CI, `nohup`,
`./run demo > log`), one plain line at most every `interval_s` seconds and at the end,
since a tqdm bar redrawn with carriage returns is unreadable there.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def already_done(pred_path: str | os.PathLike, records: Sequence[dict], limit: int | None = None) -> int:
    """How many of the first `limit` `records` a (resumed) predictions file already holds."""
    from cancerllm.io import read_jsonl
    path = Path(pred_path)
    scope = {str(r.get("id")) for r in (records if limit is None else records[:limit])}
    if not path.is_file():
        return 0
    try:
        return len(scope & {str(p.get("id")) for p in read_jsonl(path)})
    except Exception:  # noqa: BLE001 - a damaged file is reported by the generator, not the progress line
        return 0


class LineProgress:
    """Plain progress lines ("phenotype: 32/40 (80%), 1.3/s, ETA 0:06"), throttled."""

    def __init__(self, desc: str, total: int, initial: int = 0, interval_s: float = 30.0, stream=None):
        self.desc, self.total, self.n, self.interval_s = desc, total, initial, interval_s
        self.stream = stream or sys.stderr
        self.start = self.last = time.monotonic()
        self.initial = initial

    def update(self, n: int) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval_s or self.n >= self.total:
            self.last = now
            self.write(now)

    def write(self, now: float | None = None) -> None:
        from tqdm import tqdm
        elapsed = (now or time.monotonic()) - self.start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        left = max(self.total - self.n, 0)
        eta = tqdm.format_interval(left / rate) if rate > 0 else "?"
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        print(f"{self.desc}: {self.n}/{self.total}{share}, {rate:.2f}/s, elapsed "
              f"{tqdm.format_interval(elapsed)}, ETA {eta}", file=self.stream, flush=True)


@contextlib.contextmanager
def generation_progress(desc: str, total: int, initial: int = 0, enabled: bool = True,
                        interval_s: float = 30.0, stream=None) -> Iterator[Callable[[int], None] | None]:
    """A `progress(n)` callback for `generate_predictions` (None when disabled)."""
    if not enabled or total <= initial:
        yield None
        return
    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm
        with tqdm(total=total, initial=initial, desc=desc, unit="rec", file=stream) as bar:
            yield bar.update
        return
    lines = LineProgress(desc, total, initial, interval_s, stream)
    print(f"{desc}: {initial}/{total} done, generating {total - initial}", file=stream, flush=True)
    yield lines.update
