"""Length-grouped batches in a random order (`shuffle_batches`): what the sampler serves, and
that a fine-tune using it resumes after a crash exactly where it stopped."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

from cancerllm.config import load_config
from cancerllm.train.finetune import FinetuneConfig, finetune
from cancerllm.train.samplers import ShuffledLengthGroupedSampler

LENGTHS = [70] * 400 + [230] * 200          # a short task and a long one, as in the demo


def _batches(sampler, bs=4):
    torch.manual_seed(0)
    idx = list(sampler)
    return idx, [idx[i:i + bs] for i in range(0, len(idx), bs)]


def _switches(batches):
    kinds = [LENGTHS[b[0]] > 100 for b in batches]
    return sum(a != b for a, b in zip(kinds, kinds[1:]))


def test_batches_stay_length_grouped_but_the_tasks_interleave():
    idx, batches = _batches(ShuffledLengthGroupedSampler(4, lengths=LENGTHS))
    assert sorted(idx) == list(range(len(LENGTHS)))                        # each example once
    mixed = sum(len({LENGTHS[i] for i in b}) > 1 for b in batches)          # as transformers groups:
    assert mixed <= len(LENGTHS) // (4 * 37) + 2                            # <= 1 per mega-batch (+ the swap)
    assert LENGTHS[batches[0][0]] == max(LENGTHS)                           # longest first (OOM early)
    _, grouped = _batches(LengthGroupedSampler(4, lengths=LENGTHS))
    assert _switches(grouped) < 20 < 60 < _switches(batches)                # blocks vs interleaved
    assert _batches(ShuffledLengthGroupedSampler(4, lengths=LENGTHS))[0] == idx   # seeded


class Interrupt(Exception):
    pass


def test_a_shuffled_fine_tune_resumes_where_it_crashed(tmp_path, tiny_model_dir, tasks_dir):
    from safetensors.torch import load_file

    def cfg():
        return load_config(FinetuneConfig, "finetune-tiny", [
            "train.max_steps=4", "train.save_steps=2", "train.logging_steps=1", "select_best=false",
            "train.per_device_train_batch_size=2", "lora.r=8", "max_seq_length=160",
            "max_train_samples=12", "shuffle_batches=true"])

    class CrashAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise Interrupt()

    ref = finetune(tiny_model_dir, tasks_dir, tmp_path / "ref", "all", cfg())
    with pytest.raises(Interrupt):
        finetune(tiny_model_dir, tasks_dir, tmp_path / "run", "all", cfg(), callbacks=[CrashAtStep3()])
    resumed = finetune(tiny_model_dir, tasks_dir, tmp_path / "run", "all", cfg(), resume=True)
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["global_step"] == 4
    assert resumed["last_logged_loss"] == pytest.approx(ref["last_logged_loss"], abs=1e-5)
    a = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "ref" / "adapter" / "adapter_model.safetensors")
    for key in b:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
