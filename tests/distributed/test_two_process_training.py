"""Two CPU processes (gloo) train exactly what one process trains on the same global batch.

What a user scaling out relies on: `accelerate launch --num_processes 2` of continued
pre-training, instruction tuning and the staging heads gives the same per-step losses as one
process with the per-device batch doubled; the run folder is written once (by rank 0), not
once per process; and a run whose worker is killed resumes from its last complete checkpoint.

Why the losses can agree to ~1e-4: the data order is the same (accelerate shards each global
batch of the seeded sampler across the processes), the loss is normalised by the tokens (the
heads: the class weights) of the whole global batch, not of each process's slice
(`average_tokens_across_devices`; `HeadsTrainer.compute_loss`), and LoRA and head dropout are
set to 0 (each process draws its own dropout masks, so with dropout the runs differ by design,
~1e-3 after two updates).
What remains is the order of float additions in the gradient all-reduce, ~1e-6 here; 1e-4 is
well above that and well below one update's effect on the loss (~0.02 per step here).
"""

from __future__ import annotations

import json

import pytest

from cancerllm.config import load_config
from cancerllm.train.trainer import read_metrics_csv
from cancerllm.train.finetune import FinetuneConfig, finetune
from cancerllm.train.pretrain import PretrainConfig, pretrain

from tests.distributed.launch import REPO, launch

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(600)]

TOL = 1e-4
PRETRAIN = ["train.max_steps=4", "train.save_steps=2", "train.logging_steps=1",
            "train.learning_rate=5e-3", "max_eval_blocks=4", "lora.dropout=0.0"]
FINETUNE = ["train.max_steps=3", "train.save_steps=3", "train.logging_steps=1", "lora.dropout=0.0",
            "max_train_samples=8", "max_eval_samples=2", "max_seq_length=256"]


def losses(out) -> dict[int, float]:
    return {r["step"]: r["value"] for r in read_metrics_csv(out / "metrics.csv") if r["name"] == "loss"}


def assert_written_once(out, steps: list[int], per_device_batch: int = 2):
    """One rank wrote the run folder: one row per logged value, one checkpoint per save."""
    rows = [(r["step"], r["name"]) for r in read_metrics_csv(out / "metrics.csv")]
    assert len(rows) == len(set(rows)), "metrics.csv has rows from more than one process"
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == [f"checkpoint-{s}" for s in steps]
    for s in steps:
        ck = out / "checkpoints" / f"checkpoint-{s}"
        # both processes' RNG states, one set of weights and optimizer state
        assert {p.name for p in ck.glob("rng_state*")} == {"rng_state_0.pth", "rng_state_1.pth"}
        assert len(list(ck.glob("adapter_model*"))) == 1 and (ck / "optimizer.pt").is_file()
        state = json.loads((ck / "trainer_state.json").read_text())
        assert state["global_step"] == s and state["train_batch_size"] == per_device_batch


def test_pretraining_on_two_processes_matches_one_and_resumes_after_a_killed_worker(
        tmp_path, tiny_model_dir, packed_dir):
    one = pretrain(tiny_model_dir, packed_dir, tmp_path / "one",
                   load_config(PretrainConfig, "pretrain-tiny",
                               [*PRETRAIN, "train.per_device_train_batch_size=4"]))
    two = tmp_path / "two"
    common = [str(tiny_model_dir), str(packed_dir), str(two)]
    per_device = ["train.per_device_train_batch_size=2"]

    # 1. rank 1 is SIGKILLed at the end of step 3: the launcher fails, checkpoint-2 is complete
    crashed = launch([str(REPO / "tests/distributed/kill_worker.py"), *common, "3", *PRETRAIN, *per_device])
    assert crashed.returncode != 0, crashed.stdout[-2000:]
    assert not (two / "train_metrics.json").exists()
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["checkpoint-2"]

    # 2. the documented CLI line with --resume continues from it on two processes
    resumed = launch(["-m", "cancerllm.cli", "train", "pretrain", "--recipe", "pretrain-tiny",
                      "--model", common[0], "--data", common[1], "--out", common[2], "--resume",
                      *PRETRAIN, *per_device])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    m = json.loads((two / "train_metrics.json").read_text())
    assert m["resumed_from"].endswith("checkpoint-2") and m["global_step"] == 4

    # 3. every step (2 before the crash, 2 after the resume) matches the one-process run
    ref, got = losses(tmp_path / "one"), losses(two)
    assert sorted(got) == sorted(ref) == [1, 2, 3, 4]
    for step in ref:
        assert got[step] == pytest.approx(ref[step], abs=TOL), (step, got, ref)
    assert ref[4] < ref[1] - 0.05  # the comparison covers real updates, not a frozen model
    assert m["eval_loss"] == pytest.approx(one["eval_loss"], abs=TOL)
    assert m["tokens"] == one["tokens"] // 2  # only the two resumed steps, summed over both ranks
    assert_written_once(two, [2, 4])
    assert (two / "adapter" / "adapter_model.safetensors").is_file()


def test_instruction_tuning_on_two_processes_matches_one(tmp_path, tiny_model_dir, tasks_dir):
    one = finetune(tiny_model_dir, tasks_dir, tmp_path / "one", "all",
                   load_config(FinetuneConfig, "finetune-tiny",
                               [*FINETUNE, "train.per_device_train_batch_size=4"]))
    two = tmp_path / "two"
    run = launch(["-m", "cancerllm.cli", "train", "finetune", "--recipe", "finetune-tiny",
                  "--model", str(tiny_model_dir), "--tasks-dir", str(tasks_dir), "--task", "all",
                  "--out", str(two), *FINETUNE, "train.per_device_train_batch_size=2"])
    assert run.returncode == 0, run.stderr[-3000:]
    ref, got = losses(tmp_path / "one"), losses(two)
    assert sorted(got) == sorted(ref) == [1, 2, 3]
    for step in ref:
        assert got[step] == pytest.approx(ref[step], abs=TOL), (step, got, ref)
    m = json.loads((two / "train_metrics.json").read_text())
    assert m["eval_loss"] == pytest.approx(one["eval_loss"], abs=TOL)
    assert m["useful_tokens"] == one["useful_tokens"]  # counted over both processes
    assert_written_once(two, [3])


def _heads_runs(tmp_path, tiny_model_dir):
    from cancerllm.train.heads import HeadsTrainConfig, train_heads
    from tests.train.test_heads_training import FAST, pathology_records, write_jsonl
    data = write_jsonl(tmp_path / "pathology.jsonl", pathology_records())
    common = [o for o in FAST if not o.startswith("train.per_device_train_batch_size")]
    common += ["model.lora.dropout=0.0", "train.max_steps=3", "train.save_steps=3"]
    train_heads(tiny_model_dir, data, tmp_path / "one",
                load_config(HeadsTrainConfig, "heads-tiny", [*common, "train.per_device_train_batch_size=8"]))
    two = tmp_path / "two"
    run = launch(["-m", "cancerllm.cli", "train", "heads", "--recipe", "heads-tiny", "--model", str(tiny_model_dir),
                  "--data", str(data), "--output", str(two), *common, "train.per_device_train_batch_size=4"])
    assert run.returncode == 0, run.stderr[-3000:]
    return losses(tmp_path / "one"), losses(two), two


def test_heads_on_two_processes_match_one_and_write_once(tmp_path, tiny_model_dir):
    """The heads run as one DDP job (not two copies) and train what one process trains.

    Their loss is a class-weighted mean per field, so each process divides by the class
    weights of the whole global batch (HeadsTrainer.compute_loss); with each process's own
    mean instead, step 1 (no update yet) was 11.626 against one process's 11.610.
    """
    ref, got, two = _heads_runs(tmp_path, tiny_model_dir)
    assert sorted(got) == sorted(ref) == [1, 2, 3]
    for step in ref:
        assert got[step] == pytest.approx(ref[step], abs=TOL), (step, got, ref)
    assert ref[3] < ref[1] - 0.5  # real updates are compared, not a frozen model
    one, m = (json.loads((out / "metrics.json").read_text()) for out in (tmp_path / "one", two))
    assert m["train_loss"] == pytest.approx(one["train_loss"], abs=TOL)
    assert_written_once(two, [3], per_device_batch=4)
