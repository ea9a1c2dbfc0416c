"""The benchmark scripts import, the cheapest runs at smoke size, and run_all's README keeps
its hand-written preamble. Structure only: speed is the benchmarks' business, not a test's."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
MODULES = ["common", "run_all", "bench_scaling", "bench_mfu", "bench_memory", "bench_gpu_7b"]


@pytest.fixture(scope="module")
def bench():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return {name: importlib.import_module(name) for name in MODULES}


def test_every_benchmark_module_imports_and_has_main(bench):
    for name in MODULES[1:]:
        assert callable(bench[name].main), name


def test_loglog_slope_reads_the_power(bench):
    slope = bench["common"].loglog_slope
    assert slope([1e3, 1e4, 1e5], [2.0, 20.0, 200.0]) == pytest.approx(1.0)
    assert slope([1e3, 1e4, 1e5], [1.0, 100.0, 1e4]) == pytest.approx(2.0)
    assert slope([1e3], [1.0]) is None


def test_mfu_smoke_writes_a_complete_result(bench, tmp_path):
    out = tmp_path / "mfu.json"
    result = bench["bench_mfu"].main(smoke=True, out=out)
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "mfu" and saved["smoke"] is True
    assert {"cpu_model", "usable_cpus", "torch"} <= set(saved["machine"])
    rows = result["tables"]["tiny model throughput and MFU"]
    assert [r["mode"] for r in rows] == ["full", "lora_r8", "lora_r64", "forward"]
    for r in rows:
        assert r["tokens/s"] > 0 and r["flops_per_token"] > 0 and r["MFU %"] >= 0
    full, lora = rows[0], rows[1]
    assert lora["N_lora"] and lora["flops_per_token"] < full["flops_per_token"]  # no weight gradients


def test_gpu_7b_without_cuda_says_skipped(bench, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the real benchmark would run")
    result = bench["bench_gpu_7b"].main(out=tmp_path / "gpu.json")
    assert result["status"] == "skipped: no CUDA device"
    assert json.loads((tmp_path / "gpu.json").read_text())["status"] == "skipped: no CUDA device"


def test_readme_is_rebuilt_from_json_and_keeps_the_preamble(bench, tmp_path):
    run_all = bench["run_all"]
    results = tmp_path / "results"
    results.mkdir()
    result = bench["common"].new_result("demo_bench", "A demo benchmark")
    result["summary"] = {"tokens/s": 1234.5}
    result["tables"] = {"rows": [{"size": 1, "seconds": 0.5}, {"size": 10, "seconds": 5.0}]}
    bench["common"].write_result(result, results / "demo_bench.json")
    readme = tmp_path / "README.md"
    readme.write_text("# My preamble\n\nHand-written.\n\n" + run_all.MARKER + "\nold generated text\n")
    runs = {"demo_bench": {"status": "failed (exit 1)", "started": "t", "seconds": 1.0,
                           "output_tail": ["Traceback", "ValueError: boom"]}}
    text = run_all.build_readme(results, readme, runs)
    assert text.startswith("# My preamble\n\nHand-written.")
    assert "old generated text" not in text
    assert "## A demo benchmark" in text and "| 10 | 5 |" in text and "1,234" in text
    assert "failed (exit 1)" in text and "ValueError: boom" in text
