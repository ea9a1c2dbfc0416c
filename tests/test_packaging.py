"""A non-editable install finds the recipes (shipped in the wheel) and the standard scorers.

The wheel is built from a copy of the sources (so the checkout gets no build/ folder),
unpacked, and imported in a fresh interpreter from outside the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _setuptools_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return tuple(int(x) for x in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return (0,)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if _setuptools_version() < (68,):  # pyproject's build-system requirement
        pytest.skip("setuptools >= 68 not installed (the dev extra installs it): cannot build the wheel offline")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for name in ("cancerllm", "recipes"):
        shutil.copytree(REPO / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "-q", "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    if res.returncode != 0 and "No module named" in res.stderr:
        pytest.skip(f"cannot build a wheel here: {res.stderr.strip().splitlines()[-1]}")
    assert res.returncode == 0, res.stderr
    return next(out.glob("cancerllm-*.whl"))


def test_wheel_ships_recipes_and_scorers(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shipped = {Path(n).name for n in names if n.startswith("cancerllm/recipes/")}
    assert {x.name for x in (REPO / "recipes").glob("*.yaml")} <= shipped
    assert "cancerllm/recipes/accelerate/deepspeed_zero2.yaml" in names
    plain = [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert any("sacrebleu" in line for line in plain) and any("rouge-score" in line for line in plain)


def test_installed_package_resolves_named_recipes(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)   # a wheel is a zip laid out as site-packages
    code = ("import cancerllm, cancerllm.config as c; print(cancerllm.__file__); "
            "print(c.resolve_recipe('demo')); print(c.resolve_recipe('recipes/pretrain-tiny.yaml'))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    module, demo, pretrain = res.stdout.split()
    assert module.startswith(str(site)) and demo.startswith(str(site)) and pretrain.startswith(str(site))
