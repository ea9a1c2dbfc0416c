"""Process-level helpers: the memory a multi-process job needs."""

from __future__ import annotations

import subprocess
import sys

from cancerllm.runtime import TreeMemory


def test_tree_memory_counts_a_child_process():
    """A child holding ~300 MB shows up in the peak of this process plus its children."""
    code = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    with TreeMemory(interval=0.05) as alone:
        pass
    with TreeMemory(interval=0.05) as mem:
        subprocess.run([sys.executable, "-c", code], check=True)
    assert mem.peak_mb > alone.peak_mb + 250


def test_tree_memory_without_children_is_this_process():
    import psutil
    with TreeMemory() as mem:
        info = psutil.Process().memory_full_info()
    uss, rss = info.uss / 2**20, info.rss / 2**20
    assert uss - 5 < mem.peak_mb < rss + 50     # PSS: its private pages plus a share of the shared ones


def test_tree_memory_samples_less_often_when_a_sample_is_slow(monkeypatch):
    """Reading PSS of big processes is slow; sampling must not take more than 1/20 of a core."""
    import time
    calls = []

    def slow_sample(self):
        calls.append(time.perf_counter())
        time.sleep(0.04)                         # a 40 ms sample: the next one waits >= 0.8 s
        return 0.0
    monkeypatch.setattr(TreeMemory, "sample", slow_sample)
    with TreeMemory(interval=0.01):
        time.sleep(1.2)
    busy = 0.04 * len(calls)
    assert len(calls) <= 5 and busy / 1.3 < 0.2  # every 10 ms it would be ~25 samples, 80 % busy


def test_child_env_preloads_mimalloc_where_installed_and_the_user_can_say_no(monkeypatch):
    from cancerllm.runtime import allocator_library, child_env
    monkeypatch.delenv("CANCERLLM_THREADS", raising=False)
    lib = allocator_library()
    env = child_env(threads=3)
    assert env["CANCERLLM_THREADS"] == "3"
    if sys.platform == "linux":
        assert lib is not None, "cmeel-mimalloc is a dependency on Linux"
        assert lib in env["LD_PRELOAD"]
        out = subprocess.run([sys.executable, "-c", "print(open('/proc/self/maps').read().count('libmimalloc'))"],
                             env=env, capture_output=True, text=True, check=True).stdout
        assert int(out) > 0                                       # the child really runs on it
    monkeypatch.setenv("CANCERLLM_MALLOC", "system")
    monkeypatch.setenv("CANCERLLM_THREADS", "1")
    assert allocator_library() is None and "libmimalloc" not in child_env(threads=3).get("LD_PRELOAD", "")
    assert child_env(threads=3)["CANCERLLM_THREADS"] == "1"       # the user's setting is kept
