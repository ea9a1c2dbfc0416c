"""train.report_to: trackers accepted only when installed, and only writing local files in OUT."""

from __future__ import annotations

import importlib.util
import os

import pytest

from cancerllm.errors import ConfigError
from cancerllm.train import report_to as rt


@pytest.fixture
def pretend_installed(monkeypatch):
    """Make find_spec report the given trackers' packages as installed (and nothing else)."""
    def set_(*names):
        mods = {m for n in names for m in rt.PACKAGES[n]}
        real = importlib.util.find_spec
        monkeypatch.setattr(rt.importlib.util, "find_spec",
                            lambda m, *a: object() if m in mods else (None if any(
                                m in v for v in rt.PACKAGES.values()) else real(m, *a)))
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "WANDB_MODE", "WANDB_DIR", "TENSORBOARD_LOGGING_DIR"):
        monkeypatch.setenv(var, "")   # recorded, so the test's own settings are undone after it
        monkeypatch.delenv(var)
    return set_


def test_default_and_none(pretend_installed, tmp_path):
    pretend_installed()
    assert rt.resolve_report_to(None, tmp_path) == []
    pretend_installed("tensorboard")
    assert rt.resolve_report_to("auto", tmp_path) == ["tensorboard"]
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "tensorboard")
    assert rt.resolve_report_to("none", tmp_path) == [] == rt.resolve_report_to([], tmp_path)


def test_missing_or_unknown_tracker_is_a_clear_error(pretend_installed, tmp_path):
    pretend_installed()
    with pytest.raises(ConfigError, match="pip install mlflow"):
        rt.resolve_report_to("mlflow", tmp_path)
    with pytest.raises(ConfigError, match="unknown tracker 'comet'"):
        rt.resolve_report_to(["comet"], tmp_path)


def test_mlflow_writes_a_local_file_store(pretend_installed, tmp_path, monkeypatch):
    pretend_installed("mlflow", "tensorboard")
    assert rt.resolve_report_to(["tensorboard", "mlflow"], tmp_path) == ["tensorboard", "mlflow"]
    assert os.environ["MLFLOW_TRACKING_URI"] == (tmp_path / "mlruns").resolve().as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.org")
    with pytest.raises(ConfigError, match="offline"):
        rt.resolve_report_to("mlflow", tmp_path)


def test_wandb_is_forced_offline(pretend_installed, tmp_path):
    pretend_installed("wandb")
    assert rt.resolve_report_to("wandb", tmp_path) == ["wandb"]
    assert os.environ["WANDB_MODE"] == "offline" and os.environ["WANDB_DIR"] == str(tmp_path)
