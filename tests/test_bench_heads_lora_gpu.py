"""benchmarks/bench_heads_lora_gpu.py: without CUDA it says it skipped (and writes that); its grid recipes load."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module("bench_heads_lora_gpu")


def test_without_cuda_it_skips_with_a_clear_message(bench, tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the real benchmark would run")
    result = bench.main(out=tmp_path / "r.json")
    assert result["status"] == "skipped: no CUDA device" and "skipped: no CUDA device" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["status"] == "skipped: no CUDA device"


def test_every_grid_point_is_a_valid_whole_report_recipe(bench):
    import itertools
    for pool, lr, epochs in itertools.product(*bench.GRID.values()):
        cfg = bench.heads_config(pool, lr, epochs)
        assert cfg.model.chunk_pool == pool and cfg.model.max_chunks == 64 and cfg.train.learning_rate == lr
