"""Kill each long stage with SIGKILL at a random point, rerun it, get the uninterrupted result.

Each test runs the real CLI three times on the tiny session fixtures: once to the end
(the reference, in-process through the same typer app), once in a subprocess killed with
SIGKILL as soon as a seeded-random amount of progress is visible on disk (we poll files,
never sleep blindly), and once more, in-process, to finish the job. It then checks that
the killed run left nothing that looks complete, and that the rerun's outputs equal the
reference's: the same records, and losses and weights within the stated tolerances.
Torch runs on one thread in every run (conftest.py and OMP_NUM_THREADS for the subprocess),
so the in-process and subprocess runs do the same arithmetic.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
SEED = 20240917
POLL_TIMEOUT_S = 300      # the machine is shared: be generous before calling a run stuck
LOSS_TOL = 1e-4           # absolute, on logged train losses and the eval loss
WEIGHT_TOL = 1e-5         # absolute, on every adapter tensor


def rng(name: str) -> random.Random:
    """A seeded generator per test, so the kill point is random but reproducible."""
    return random.Random(f"{SEED}-{name}")


def invoke(*args) -> None:
    """Run the real CLI in-process; fail with its output if it does not succeed."""
    from cancerllm.cli import app
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"


def kill_when(args: list, ready: Callable[[], bool], log: Path) -> None:
    """Start the CLI in a subprocess, SIGKILL it the moment `ready()` holds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cancerllm.cli", *map(str, args)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + POLL_TIMEOUT_S
        try:
            while not ready():
                if proc.poll() is not None:
                    pytest.fail(f"run ended (rc {proc.returncode}) before the kill point:\n"
                                f"{log.read_text(errors='replace')[-3000:]}")
                assert time.monotonic() < deadline, "no progress before the poll timeout"
                time.sleep(0.005)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


# ---------------------------------------------------------------- corpus building


def packed_ids(path: Path) -> dict[str, list]:
    from datasets import load_from_disk
    data = load_from_disk(str(path))
    return {split: data[split]["input_ids"] for split in data}


@pytest.mark.parametrize("phase", ["cleaning", "packing"])
def test_corpus_killed_then_rerun_equals_an_uninterrupted_build(phase, tmp_path, synth_dir, tiny_tokenizer_dir):
    inputs = [synth_dir / "notes.jsonl", synth_dir / "pathology.jsonl"]
    args = lambda out: ["data", "corpus", *inputs, "--out", out, "--tokenizer", tiny_tokenizer_dir,  # noqa: E731
                        "--set", "block_size=32"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    invoke(*args(ref))
    # cleaning: once a random share of the cleaned train text is on disk (in its temp file);
    # packing: once cleaning is renamed into place and tokenizing / packing has begun.
    if phase == "cleaning":
        at = rng(phase).randint(1, (ref / "clean" / "train.jsonl").stat().st_size // 2)
        tmp = out / "clean" / ".train.jsonl.tmp"
        ready = lambda: tmp.exists() and tmp.stat().st_size >= at  # noqa: E731
    else:
        ready = (out / "clean" / "train.jsonl").exists
    kill_when(args(out), ready, tmp_path / "stderr.log")

    # Nothing half-written looks complete: no summary, no packed folder, clean files whole or absent.
    assert not (out / "corpus.json").exists() and not (out / "packed").exists()
    for split in ("train", "validation"):
        done = out / "clean" / f"{split}.jsonl"
        assert not done.exists() or done.read_bytes() == (ref / "clean" / done.name).read_bytes()

    invoke(*args(out))
    for split in ("train", "validation"):
        assert (out / "clean" / f"{split}.jsonl").read_bytes() == (ref / "clean" / f"{split}.jsonl").read_bytes()
    assert json.loads((out / "corpus.json").read_text()) == json.loads((ref / "corpus.json").read_text())
    assert packed_ids(out / "packed") == packed_ids(ref / "packed")


# ---------------------------------------------------------------- training

TRAIN_STEPS = 6
QUICK = [f"train.max_steps={TRAIN_STEPS}", "train.save_steps=1", "train.logging_steps=1",
         "train.per_device_train_batch_size=2", "train.learning_rate=5e-3", "train.save_total_limit=3"]


def loss_rows(run: Path) -> dict[tuple[int, str], float]:
    from cancerllm.train.trainer import read_metrics_csv
    return {(r["step"], r["name"]): r["value"] for r in read_metrics_csv(run / "metrics.csv")
            if r["name"] in ("loss", "eval_loss")}


def assert_same_training(run: Path, ref: Path, killed_after: int) -> None:
    import torch
    from safetensors.torch import load_file
    got, want = (json.loads((p / "train_metrics.json").read_text()) for p in (run, ref))
    step = int(Path(got["resumed_from"]).name.split("-")[-1])
    assert killed_after <= step < TRAIN_STEPS  # resumed from the newest complete checkpoint
    assert got["global_step"] == want["global_step"] == TRAIN_STEPS
    assert got["eval_loss"] == pytest.approx(want["eval_loss"], abs=LOSS_TOL)
    assert got["last_logged_loss"] == pytest.approx(want["last_logged_loss"], abs=LOSS_TOL)
    rows, ref_rows = loss_rows(run), loss_rows(ref)
    assert rows.keys() == ref_rows.keys()  # every step logged once: rows after the checkpoint were redone
    assert rows == pytest.approx(ref_rows, abs=LOSS_TOL)
    a = load_file(run / "adapter" / "adapter_model.safetensors")
    b = load_file(ref / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in b:
        torch.testing.assert_close(a[key], b[key], atol=WEIGHT_TOL, rtol=0)


def kill_after_checkpoint(args: list, out: Path, name: str, log: Path) -> int:
    """Kill once checkpoint-K (K random in 1..steps-2) has its trainer state; return K."""
    k = rng(name).randint(1, TRAIN_STEPS - 2)
    kill_when(args, (out / "checkpoints" / f"checkpoint-{k}" / "trainer_state.json").exists, log)
    # The final outputs are written only at the end: a killed run has none that looks complete.
    assert not (out / "train_metrics.json").exists() and not (out / "adapter").exists()
    return k


def _kill_resume_and_compare(args, tmp_path, stage: str) -> None:
    """Uninterrupted run vs the same run killed after a checkpoint and rerun with --resume."""
    ref, out = tmp_path / "ref", tmp_path / "out"
    invoke(*args(ref))
    k = kill_after_checkpoint(args(out), out, stage, tmp_path / "stderr.log")
    invoke(*args(out, "--resume"))
    assert_same_training(out, ref, k)


def test_pretrain_killed_then_resumed_equals_an_uninterrupted_run(tmp_path, tiny_model_dir, packed_dir):
    args = lambda out, *more: ["train", "pretrain", "--recipe", "pretrain-tiny", "--model", tiny_model_dir,  # noqa: E731
                               "--data", packed_dir, "--out", out, *more, *QUICK, "max_eval_blocks=4"]
    _kill_resume_and_compare(args, tmp_path, "pretrain")


def test_finetune_killed_then_resumed_equals_an_uninterrupted_run(tmp_path, tiny_model_dir, tasks_dir):
    args = lambda out, *more: ["train", "finetune", "--recipe", "finetune-tiny", "--model", tiny_model_dir,  # noqa: E731
                               "--tasks-dir", tasks_dir, "--task", "all", "--out", out, *more, *QUICK,
                               "lora.r=8", "max_seq_length=256"]
    _kill_resume_and_compare(args, tmp_path, "finetune")


# ---------------------------------------------------------------- generation


def test_generation_killed_then_rerun_has_every_prediction_once_and_the_same(tmp_path, lively_model_dir, tasks_dir):
    from cancerllm.evaluate.predictions import stats_path
    args = lambda out: ["eval", "generate", "--model", lively_model_dir, "--task", "diagnosis",  # noqa: E731
                        "--tasks-dir", tasks_dir, "--split", "test", "--out", out, "--batch-size", "1",
                        "--max-new-tokens", "8", "--device", "cpu", "--backend", "hf"]
    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    invoke(*args(ref))
    n = lines(ref)
    at = rng("generate").randint(1, n - 2)
    kill_when(args(out), lambda: lines(out) >= at, tmp_path / "stderr.log")
    assert not stats_path(out).exists()  # written at the end only
    kept = lines(out)                     # complete lines; a torn last one is dropped on resume
    assert at <= kept < n

    invoke(*args(out))
    stats = json.loads(stats_path(out).read_text())
    assert stats["n_resumed"] == kept and stats["n_generated"] == n - kept
    got = [json.loads(x) for x in out.read_text().splitlines()]
    want = [json.loads(x) for x in ref.read_text().splitlines()]
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in want)  # none lost, none twice
    assert {r["id"]: r["prediction"] for r in got} == {r["id"]: r["prediction"] for r in want}


def test_a_checkpoint_torn_by_a_kill_is_skipped_for_the_one_before(tmp_path):
    from cancerllm.train.trainer import last_checkpoint
    for step, state in [(2, '{"global_step": 2}'), (3, '{"global_step": 3, "log_hi'), (4, None)]:
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if state is not None:  # 3: trainer_state.json cut mid-write; 4: killed before writing it
            (folder / "trainer_state.json").write_text(state)
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoints" / "checkpoint-2")
