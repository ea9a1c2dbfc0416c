"""A 2-process pre-training run whose rank-1 worker is SIGKILLed mid-run (the resume test's crash).

Run under `accelerate launch --multi_gpu --num_processes 2 tests/distributed/kill_worker.py
MODEL DATA OUT KILL_AT key=value...`. Rank 1 kills itself with SIGKILL (no clean-up, like an
OOM kill or a lost node) at the end of step KILL_AT. The checkpoint before that step is
complete by then: step KILL_AT's gradient all-reduce needs rank 0, and rank 0 only gets there
after it has finished writing the checkpoint. torchrun then stops rank 0 and exits non-zero.
"""

from __future__ import annotations

import os
import signal
import sys

from transformers import TrainerCallback

from cancerllm.config import load_config
from cancerllm.train.pretrain import PretrainConfig, pretrain


class KillRank1(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step and int(os.environ.get("RANK", "0")) == 1:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    model, data, out, kill_at, *overrides = sys.argv[1:]
    cfg = load_config(PretrainConfig, "pretrain-tiny", overrides)
    pretrain(model, data, out, cfg, callbacks=[KillRank1(int(kill_at))])
