"""CPU runtime settings that must be in place before torch is imported.

PyTorch's OpenMP threads busy-wait (spin) after each parallel region by default. On a
machine whose cores are shared with another job, the spinning threads fight that job for
the cores: LoRA training of SmolLM2-135M on 2 threads ran at 27.5 tokens/s next to another
2-thread job, and at 261 tokens/s with `OMP_WAIT_POLICY=PASSIVE` (measured, see
benchmarks/bench_cpu_defaults.py). OpenMP reads the variable once, when the library loads,
so it is set when the `cancerllm` package is imported (the CLI imports it before torch).
A value the user set is kept. `CANCERLLM_THREADS` sets the torch thread count (default:
torch's own, one per physical core).
"""

from __future__ import annotations

import os
import time

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_cpu_runtime() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    threads = os.environ.get("CANCERLLM_THREADS")
    if threads and threads.isdigit():
        os.environ.setdefault("OMP_NUM_THREADS", threads)
        os.environ.setdefault("MKL_NUM_THREADS", threads)


def allocator_library() -> str | None:
    """Path of the mimalloc library (the `cmeel-mimalloc` wheel, Linux), or None.

    Why: a SmolLM2 LoRA fine-tune under glibc's malloc holds 2.5 -> 3.5 GB resident over a
    run, though between steps it uses ~1.1 GB: glibc keeps the activations' freed heap (its
    mmap threshold rises to 32 MB after the first large free) and the heap fragments. Under
    mimalloc the same run peaks at 2.8 GB and trains 1.07x faster (measured side by side,
    docs/training.md). Forcing glibc to map large blocks (`MALLOC_MMAP_THRESHOLD_`) gives the
    memory back too but costs 1.4x in page faults. A process can only get it at start
    (LD_PRELOAD), so it is applied to the processes a job starts (`child_env`).
    `CANCERLLM_MALLOC=system` turns it off.
    """
    import sys
    if sys.platform != "linux" or os.environ.get("CANCERLLM_MALLOC", "mimalloc") != "mimalloc":
        return None
    import site
    from pathlib import Path
    bases = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    for base in bases:
        libs = sorted(Path(base, "cmeel.prefix", "lib").glob("libmimalloc.so.*")) if base else []
        if libs:
            return str(libs[0])
    return None


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment for a process this job starts: mimalloc preloaded where installed
    (`allocator_library`), and `threads` torch threads unless the user set CANCERLLM_THREADS."""
    env = dict(os.environ)
    lib = allocator_library()
    if lib and lib not in env.get("LD_PRELOAD", ""):
        env["LD_PRELOAD"] = " ".join(x for x in (lib, env.get("LD_PRELOAD", "")) if x)
    if threads is not None:
        env.setdefault("CANCERLLM_THREADS", str(threads))
    return env


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bf16 matmuls natively (AVX512-BF16 or AMX-BF16).

    Elsewhere bf16 on a CPU is emulated and slower than fp32, so the dtype policy
    (`cancerllm.models.loading.pick_dtype`) falls back to fp32 there.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def release_memory() -> None:
    """Hand freed memory back to the OS between long stages of one process.

    A stage's models and batches are garbage once it returns, but glibc keeps the freed
    heap in its arenas, so the next stage's peak sits on top of the last one's (the demo's
    resident set grew 3.2 -> 6.8 -> 7.7 GB over CPT and two fine-tunes whose own peak is
    under 4 GB). `malloc_trim` (glibc only; a no-op elsewhere) returns it.
    """
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class TreeMemory:
    """Peak memory of this process plus all its descendants, sampled while open.

    Why: a job whose stages run in child processes (`runs.StageRunner`) needs, at any
    moment, the memory of the parent *and* the child; each process's own peak says
    neither. Sampled every `interval` seconds on a background thread (psutil), or less
    often when a sample is slow (at most 1/20 of a core goes to sampling), so a peak
    shorter than the wait can be missed. Each process counts its proportional set size (PSS,
    Linux: private pages plus its share of pages mapped by several processes, such as the
    libraries all of them load), so the sum is what the processes need together; summed
    resident sets would count shared pages once per process (~0.2 GB each for torch).
    Where PSS cannot be read, resident sets are summed (errs on the high side).

        with TreeMemory() as mem:
            ...
        mem.peak_mb
    """

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_mb = 0.0
        self._done = None
        self._thread = None

    def sample(self) -> float:
        import psutil
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += _pss_bytes(proc)
            except psutil.Error:  # ended between listing and reading
                pass
        self.peak_mb = max(self.peak_mb, round(total / 2**20, 1))
        return self.peak_mb

    def __enter__(self) -> TreeMemory:
        import threading
        self._done = threading.Event()
        self.sample()

        def loop():
            # Reading PSS walks each process's page tables: ~20 ms for a 2-3 GB fine-tune, so
            # every 0.2 s it took ~23 % of a core from the two stages it watched (measured in
            # the demo). The wait stretches so that sampling costs at most 1/20 of a core.
            wait = self.interval
            while not self._done.wait(wait):
                start = time.perf_counter()
                self.sample()
                wait = max(self.interval, 20 * (time.perf_counter() - start))
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.sample()


def _pss_bytes(proc) -> int:
    """A process's proportional set size (psutil reads Linux's smaps_rollup), else its
    resident set (platforms without PSS, or smaps not readable)."""
    import psutil
    try:
        info = proc.memory_full_info()
    except psutil.AccessDenied:
        return proc.memory_info().rss
    return getattr(info, "pss", info.rss)
