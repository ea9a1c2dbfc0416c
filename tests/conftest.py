"""Shared fixtures live in tests/fixtures/*.py, one module per area, built once per session."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CANCERLLM_CPU_DTYPE", "float32")  # exact fp32 arithmetic: batch-invariance tests

pytest_plugins = ["tests.fixtures.data", "tests.fixtures.model"]
