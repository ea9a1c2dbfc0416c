"""A task added from outside the package runs through the whole pipeline, touching no file of it.

A toy task ("which side is the tumour on?") lives in a temporary module named in
CANCERLLM_PLUGINS. Discovery registers it; then the data stage builds its splits, the
tiny model is instruction-tuned on it, `eval compare` generates and scores it next to
the majority baseline, and serving gets its command (the Engine, and a `cancerllm side`
CLI verb in a fresh interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cancerllm.tasks import registry
from tests.fixtures.plugins import plugin_module

REPO = Path(__file__).resolve().parents[2]
PLUGIN = textwrap.dedent('''
    """Toy task: the side of the tumour, from a one-line note."""
    from cancerllm.tasks.common import iter_corpus_file
    from cancerllm.tasks.registry import TaskSpec, register

    INSTRUCTION = "Which side is the tumour on? Answer left or right."


    def build(corpus_dir, reports):
        for rec, _doc, _report in iter_corpus_file(corpus_dir, "sides.jsonl", reports):
            yield {"id": rec["id"], "patient_id": rec["patient_id"], "instruction": INSTRUCTION,
                   "context": rec["text"], "response": rec["side"]}


    SPEC = register(TaskSpec(name="toy_side", instruction=INSTRUCTION, build=build,
                             max_input_tokens=64, max_new_tokens=4, command="side",
                             description="Which side the tumour is on."))
''')


@pytest.fixture
def toy_task(tmp_path, monkeypatch):
    with plugin_module(tmp_path, monkeypatch, "toy_side_plugin", PLUGIN, [(registry._TASKS, "toy_side")]) as root:
        yield root


def _corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    with open(corpus / "sides.jsonl", "w", encoding="utf-8") as fh:
        for i in range(60):
            side = ("left", "right")[i % 2]
            fh.write(json.dumps({"id": f"n{i}", "patient_id": f"p{i}", "side": side,
                                 "text": f"Invasive carcinoma of the {side} breast, {1 + i % 4} cm."}) + "\n")
    return corpus


def test_a_plugin_task_is_built_trained_evaluated_and_served(toy_task, tiny_model_dir):
    from cancerllm.config import load_config
    from cancerllm.evaluate.compare import ModelRef, compare_models
    from cancerllm.serve.engine import Engine
    from cancerllm.tasks.build import build_tasks
    from cancerllm.train.finetune import FinetuneConfig, finetune

    assert "toy_side" in registry.task_names()
    assert registry.task_for_command("side").name == "toy_side"

    tasks_dir = toy_task / "tasks"
    summary = build_tasks(_corpus(toy_task), tasks_dir, "toy_side", save_hf=False)
    assert sum(summary["counts"]["toy_side"].values()) == 60
    assert (tasks_dir / "toy_side" / "test.jsonl").stat().st_size > 0

    cfg = load_config(FinetuneConfig, "finetune-tiny", ["train.max_steps=2", "train.per_device_train_batch_size=4",
                                                        "lora.r=8", "max_seq_length=96"])
    run = toy_task / "run"
    metrics = finetune(tiny_model_dir, tasks_dir, run, "toy_side", cfg)
    assert list(metrics["tasks"]) == ["toy_side"] and (run / "adapter" / "adapter_config.json").is_file()

    results = compare_models([ModelRef("tiny+IT", str(tiny_model_dir), str(run / "adapter"))], ["toy_side"],
                             tasks_dir, toy_task / "compare", limit=4, baselines=["majority"], n_boot=50,
                             progress=False)
    assert set(results) == {"tiny+IT", "majority"}
    for system in results.values():
        entry = system["toy_side"]
        assert len(entry["per_instance"]) == 4 and all(p["group"] == "" for p in entry["per_instance"])
    assert any((toy_task / "compare").glob("table_toy_side.*")), "the comparison writes the task's own table"

    engine = Engine.load(tiny_model_dir, [str(run / "adapter")], device="cpu", max_new_tokens=4)
    (result,) = engine.run("side", ["Invasive carcinoma of the left breast."])
    assert result["task"] == "toy_side" and isinstance(result["prediction"], str)
    assert result["whole_note_as_context"] is True


def test_a_plugin_task_gets_its_cli_command(toy_task):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy_task), str(REPO)])}
    out = subprocess.run([sys.executable, "-m", "cancerllm.cli", "side", "--help"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Which side the tumour is on." in out.stdout and "--json" in out.stdout


def test_the_cli_names_a_plugin_that_cannot_be_imported_in_one_line():
    env = {**os.environ, "PYTHONPATH": str(REPO), registry.PLUGINS_ENV: "no_such_cancerllm_plugin"}
    out = subprocess.run([sys.executable, "-m", "cancerllm.cli", "--help"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no_such_cancerllm_plugin" in out.stderr and "Traceback" not in out.stderr


def test_a_plugin_that_cannot_be_imported_is_named(monkeypatch):
    from cancerllm.errors import ConfigError
    monkeypatch.setenv(registry.PLUGINS_ENV, "no_such_cancerllm_plugin")
    with pytest.raises(ConfigError, match="no_such_cancerllm_plugin"):
        registry.task_names()


def test_two_tasks_may_not_share_a_command():
    from cancerllm.errors import ConfigError
    spec = registry.get_task("diagnosis")
    with pytest.raises(ConfigError, match="already task 'diagnosis'"):
        registry.register(registry.TaskSpec(name="other", instruction="x", build=spec.build, max_input_tokens=8,
                                            max_new_tokens=2, command=spec.command))
    assert "other" not in registry.task_names()
