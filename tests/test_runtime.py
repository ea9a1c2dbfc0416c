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
        rss = psutil.Process().memory_info().rss / 2**20
    assert abs(mem.peak_mb - rss) < 50
