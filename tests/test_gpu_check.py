"""benchmarks/gpu_check.sh end to end in its skip mode (no CUDA here): exit 0, gpu.json says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_skips_cleanly_without_cuda(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the real check would run")
    out = tmp_path / "gpu.json"
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "skipped: no CUDA device" in proc.stdout
    result = json.loads(out.read_text())
    assert result["benchmark"] == "gpu" and result["status"] == "skipped: no CUDA device"
    assert result["summary"]["status"] == "skipped: no CUDA device"


def test_gpu_check_sections_and_help():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--sections" in proc.stdout
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import gpu_check
    assert set(gpu_check.RUNNERS) == set(gpu_check.SECTIONS) == {"qlora_7b", "generation", "heads_lora"}
    assert sum(gpu_check.TIMEOUTS.values()) <= 600  # the whole check fits in 10 minutes
    records = gpu_check._records(2)  # real TCGA reports from ../shared/data
    assert len(records) == 2 and all(len(r["context"]) > 100 for r in records)
