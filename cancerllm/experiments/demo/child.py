"""One demo stage in a process of its own: `python -m cancerllm.experiments.demo.child OUT STAGE`.

The demo starts this for the stages its recipe isolates (`isolate_stages`). It reads the
run's resolved config (OUT/config.yaml, written by the demo at start), re-enters the same
stage sequence with `StageRunner(only=STAGE)`: every other stage is skipped (the demo's
process starts a child only once the stages it reads are done), STAGE runs and is recorded
in OUT/stages.json, and the process exits.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from cancerllm.config import load_config
    from cancerllm.experiments.demo.config import DemoConfig
    from cancerllm.experiments.demo.run import run_all
    from cancerllm.experiments.demo.stages import ESTIMATES, Paths, plan
    from cancerllm.runs import StageFinished, StageRunner
    if len(argv) != 2:
        print("usage: python -m cancerllm.experiments.demo.child OUT STAGE", file=sys.stderr)
        return 2
    out, name = Path(argv[0]), argv[1]
    cfg = load_config(DemoConfig, out / "config.yaml")
    try:  # the stage starts from set_seed(cfg.seed), as it would in the demo's own process
        run_all(cfg, Paths(out), StageRunner(out, plan(cfg), ESTIMATES, only=name, seed=cfg.seed))
    except StageFinished:
        return 0
    print(f"stage {name!r} is not a stage of this demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
