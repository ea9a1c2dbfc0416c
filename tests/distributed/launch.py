"""Build and run `accelerate launch` command lines for the multi-process CPU tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ACCELERATE = Path(sys.executable).parent / "accelerate"

# `--multi_gpu` is accelerate's name for "one process per device, torch.distributed"; on a
# machine without CUDA the processes join one gloo group (the trainer sets use_cpu for a
# multi-process CPU launch, see cancerllm.train.trainer.training_arguments). `--cpu` would not
# do: accelerate's --cpu always starts a single process.
TWO_CPU_PROCESSES = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                     "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]


def launch(args: list[str], *, launch_args: list[str] = TWO_CPU_PROCESSES, timeout: int = 240):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "CANCERLLM_CPU_DTYPE": "float32", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [str(ACCELERATE), "launch", *launch_args, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
