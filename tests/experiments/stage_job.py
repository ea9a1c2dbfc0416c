"""A toy job of four stages for StageRunner's tests (no models): `python stage_job.py OUT STAGE`
runs one stage in a process of its own, as the demo's child does.

a (in the parent) -> b, c (isolated, independent, 1 s each) -> d (isolated). Each records the
thread count it was given. TOY_FAIL=NAME makes that stage fail.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cancerllm.runs import StageFinished, StageRunner

PLAN = ["a", "b", "c", "d"]
AFTER = {"b": ["a"], "c": ["a"], "d": ["b", "c"]}


def stage_fn(name: str, seconds: float):
    def fn():
        if os.environ.get("TOY_FAIL") == name:
            raise RuntimeError(f"stage {name} was told to fail")
        time.sleep(seconds)
        maps = Path("/proc/self/maps")
        return {"threads": os.environ.get("CANCERLLM_THREADS"), "pid": os.getpid(),
                "mimalloc": maps.is_file() and "libmimalloc" in maps.read_text()}
    return fn


def run(runner: StageRunner) -> None:
    runner("a", stage_fn("a", 0.0))
    runner("b", stage_fn("b", 1.0))
    runner("c", stage_fn("c", 1.0))
    runner("d", stage_fn("d", 0.0))
    runner.finish()


def runner_for(out: Path, lanes: int, after: dict | None = None) -> StageRunner:
    return StageRunner(out, PLAN, {"b": 2.0, "c": 1.0, "d": 0.5}, isolated={"b", "c", "d"},
                       child_command=lambda name: [sys.executable, __file__, str(out), name],
                       lanes=lanes, after=AFTER if after is None else after, label="toy")


if __name__ == "__main__":
    try:
        run(StageRunner(Path(sys.argv[1]), PLAN, only=sys.argv[2]))
    except StageFinished:
        sys.exit(0)
    sys.exit(2)
