"""Continued pre-training: next-token prediction on the hospital's packed corpus.

The paper's recipe (recipes/pretrain-mistral7b.yaml): LoRA on all linear layers, rank 8,
alpha 16, dropout 0.05, AdamW, lr 2e-4, 1 epoch, batch 4 per device, bf16, gradient
checkpointing, 10 GPUs (launch lines in docs/training.md). `method: full` trains every
parameter instead; recipes/base-tiny.yaml uses it to make the stand-in "general" base.

Input: a `datasets.load_from_disk` DatasetDict (`cancerllm data corpus --tokenizer ...`)
with a `train` split (and optionally `validation`) whose `input_ids` are fixed-length
blocks of documents, each ending with EOS. With `document_mask: true` (the default) a
block's documents do not attend to one another: positions restart after every EOS and
the model builds a block-diagonal causal mask from them (transformers detects packed
sequences from `position_ids`), and the first token of a document is not predicted from
the previous one. `document_mask: false` is plain causal-LM packing (the reference's).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cancerllm.errors import InputError
from cancerllm.tasks.prompts import IGNORE_INDEX
from cancerllm.train.causal_lm import load_for_training
from cancerllm.train.trainer import TrainConfig, TrainerSettings, begin_run, run_trainer


class PretrainConfig(TrainConfig):
    """Continued pre-training recipe (`cancerllm train pretrain --recipe ...`)."""

    document_mask: bool = True
    max_train_blocks: int | None = None  # cap the train split (a quick run); None = all
    max_eval_blocks: int | None = 200    # validation loss on at most this many blocks
    train: TrainerSettings = TrainerSettings(
        per_device_train_batch_size=4, learning_rate=2e-4, num_train_epochs=1.0)


class PackedBlockCollator:
    """Stack fixed-length blocks; labels are the inputs (the model shifts them).

    With `eos_token_id` set, positions restart after each EOS so attention stays inside a
    document, and the token that starts a document gets label -100.
    """

    def __init__(self, eos_token_id: int | None = None):
        self.eos = eos_token_id

    def __call__(self, features: list[dict]) -> dict:
        ids = torch.tensor([f["input_ids"] for f in features], dtype=torch.long)
        labels = ids.clone()
        if self.eos is None:
            return {"input_ids": ids, "labels": labels}
        starts = torch.zeros_like(ids, dtype=torch.bool)
        starts[:, 1:] = ids[:, :-1] == self.eos
        labels[starts] = IGNORE_INDEX
        index = torch.arange(ids.shape[1]).expand_as(ids)
        start_of_doc = torch.cummax(torch.where(starts, index, 0), dim=1).values
        # No attention_mask on purpose: with position_ids alone the model infers packing.
        return {"input_ids": ids, "labels": labels, "position_ids": index - start_of_doc}


def load_packed(data_dir: str | os.PathLike, max_train: int | None = None,
                max_eval: int | None = None):
    """(train, validation or None) from a packed corpus on disk, checked and capped."""
    from datasets import Dataset, DatasetDict, load_from_disk
    path = Path(data_dir)
    if not path.is_dir():
        raise InputError(f"packed corpus {str(data_dir)!r} does not exist "
                         "(make one with `cancerllm data corpus --tokenizer ...`)")
    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path} is not a datasets folder saved with save_to_disk: {exc}") from None
    if isinstance(data, Dataset):
        data = DatasetDict({"train": data})
    if "train" not in data:
        raise InputError(f"packed corpus {path} has no 'train' split (has: {', '.join(data)})")
    for split in data:
        if "input_ids" not in data[split].column_names:
            raise InputError(f"packed corpus {path} split {split!r} has no 'input_ids' column")
    train = data["train"].select_columns(["input_ids"])
    if max_train is not None:
        train = train.select(range(min(max_train, len(train))))
    if len(train) == 0:
        raise InputError(f"packed corpus {path} has an empty train split")
    val = data["validation"].select_columns(["input_ids"]) if "validation" in data else None
    if val is not None and max_eval is not None:
        val = val.select(range(min(max_eval, len(val))))
    return train, (val if val is not None and len(val) else None)


def _check_vocab(train, model) -> None:
    # A corpus packed with another tokenizer would index past the embedding table.
    sample = train.select(range(min(64, len(train))))["input_ids"]
    top = max(max(b) for b in sample)
    vocab = model.get_input_embeddings().weight.shape[0]
    if top >= vocab:
        raise InputError(f"packed corpus holds token id {top} but the model's vocabulary has {vocab}: "
                         "was it packed with this model's tokenizer?")


def pretrain(model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
             cfg: PretrainConfig | None = None, resume: bool = False, merge: bool = False,
             callbacks: list | None = None) -> dict:
    """Continue pre-training `model_dir` on the packed corpus `data_dir`; returns train metrics.

    Writes the run folder described in `cancerllm.train.trainer`; with `merge=True` (LoRA)
    also OUT/merged, a full model directory with the adapter folded in.
    """
    cfg = cfg or PretrainConfig()
    out, checkpoint = begin_run(out_dir, cfg, resume, stage="train.pretrain")
    train, val = load_packed(data_dir, cfg.max_train_blocks, cfg.max_eval_blocks)
    model, tok = load_for_training(model_dir, cfg)
    _check_vocab(train, model)
    collator = PackedBlockCollator(tok.eos_token_id if cfg.document_mask else None)
    metrics = run_trainer(model, tok, train, val, collator, cfg, out, checkpoint, callbacks)
    if merge and int(os.environ.get("RANK", "0")) == 0:  # one process merges after a launch
        from cancerllm.train.merge import merge_adapter
        if cfg.uses_lora:
            metrics["merged"] = str(merge_adapter(out / "adapter", out / "merged", model_dir))
        else:
            print("[train] --merge ignored: a full-parameter run already wrote a full model", flush=True)
    return metrics
