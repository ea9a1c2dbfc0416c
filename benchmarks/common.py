"""What every benchmark shares: the machine it ran on, timing, peak memory, result files.

A result file is `benchmarks/results/<name>.json` (or `$CANCERLLM_BENCH_RESULTS/<name>.json`,
which `run_all.py --smoke` uses so a smoke run never overwrites real figures). Every file
carries the date and the machine, and `run_all.py` builds the README tables from it, so no
figure is ever typed in by hand. The layout `run_all.py` renders best:

    {"benchmark": NAME, "title": ..., "date": ..., "machine": {...}, "smoke": bool,
     "summary": {headline: value, ...},          # a two-column table
     "tables": {title: [{column: value, ...}]},  # one table each
     "notes": ["how it was measured ...", ...]}

Other shapes still render (scalars become a key/value table, lists of dicts tables).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks run as scripts from a checkout
    sys.path.insert(0, str(ROOT))

RESULTS_DIR = ROOT / "benchmarks" / "results"
SMOKE_ENV = "CANCERLLM_BENCH_SMOKE"      # "1": run_all --smoke asked for the reduced size
RESULTS_ENV = "CANCERLLM_BENCH_RESULTS"  # where result files go instead of RESULTS_DIR


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_DIR)


def smoke_requested() -> bool:
    return os.environ.get(SMOKE_ENV, "") == "1"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    """'model name' from /proc/cpuinfo (Linux); platform.processor() elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The matrix-relevant instruction sets the CPU reports (they set the fp32/bf16 peak)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
                return [f for f in wanted if f in flags]
    except OSError:
        pass
    return []


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ram_gib() -> float | None:
    try:
        import psutil
        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 2**20, 1)
        except OSError:
            pass
    return None


def machine_info() -> dict:
    """Where a figure was measured: OS, CPU model and cores, RAM, library versions, GPU."""
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cores(),
        "ram_gib": ram_gib(),
    }
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = props.name
            info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            info["cuda"] = torch.version.cuda
        else:
            info["gpu"] = None
    except ImportError:
        info["torch"] = None
    from importlib import metadata
    for lib in ("transformers", "peft", "datasets", "bitsandbytes"):
        try:  # the installed version, without importing the library (fast, no CUDA set-up)
            info[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            info[lib] = None
    return info


def machine_label(machine: dict) -> str:
    """One line naming a machine, for table captions."""
    gpu = f", {machine['gpu']}" if machine.get("gpu") else ""
    return (f"{machine.get('cpu_model', '?')}, {machine.get('usable_cpus', '?')} usable CPUs, "
            f"{machine.get('ram_gib', '?')} GiB RAM{gpu}, torch {machine.get('torch', '?')} "
            f"({machine.get('torch_threads', '?')} threads)")


# ---------------------------------------------------------------- measuring


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    """(fn(*args, **kwargs), wall seconds)."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def best_of(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall seconds of `repeats` calls after `warmup` untimed ones (min = least disturbed)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss: never goes down)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round((kb / 1024) if sys.platform != "darwin" else kb / 2**20, 1)


def loglog_slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x): 1 = linear growth, 2 = quadratic."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def rounded(x: float | None, digits: int = 3) -> float | None:
    """Round to `digits` significant figures (keeps tiny and huge numbers readable)."""
    if x is None or x == 0 or not math.isfinite(x):
        return x
    return round(x, max(0, digits - 1 - int(math.floor(math.log10(abs(x))))))


# ---------------------------------------------------------------- results


def new_result(name: str, title: str, smoke: bool = False) -> dict:
    return {"benchmark": name, "title": title, "date": now_iso(), "machine": machine_info(),
            "smoke": smoke, "summary": {}, "tables": {}, "notes": []}


def write_result(result: dict, out: str | os.PathLike | None = None) -> Path:
    """Write `result` atomically to `out` or to results_dir()/<benchmark>.json.

    Plain json + rename (not cancerllm.io), so a benchmark that needs only torch (the 7B
    GPU one) runs from a bare checkout.
    """
    path = Path(out) if out is not None else results_dir() / f"{result['benchmark']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"written: {path}", flush=True)
    return path


def print_table(rows: list[dict], title: str | None = None) -> None:
    """A plain-text table on stdout (the README gets the Markdown version from run_all)."""
    if title:
        print(f"\n{title}")
    if not rows:
        print("  (no rows)")
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)
