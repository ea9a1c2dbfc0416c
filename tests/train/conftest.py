"""Train-stage fixtures: a packed corpus and a task folder for the tiny fixture model.

Built by hand here (not by the data stage) so these tests check the trainer's contract
with its inputs: a DatasetDict of fixed-length `input_ids` blocks, and
TASKS/<task>/{train,validation}.jsonl records with instruction/context/response.
"""

from __future__ import annotations

import json

import pytest

BLOCK = 48


def packed_blocks(tokenizer_dir, block: int = BLOCK) -> list[list[int]]:
    from transformers import AutoTokenizer

    from tests.fixtures.model import fixture_texts
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    ids: list[int] = []
    for text in fixture_texts():
        ids += tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return [ids[i:i + block] for i in range(0, len(ids) // block * block, block)]


@pytest.fixture(scope="session")
def packed_dir(tmp_path_factory, tiny_model_dir):
    from datasets import Dataset, DatasetDict
    blocks = packed_blocks(tiny_model_dir)
    out = tmp_path_factory.mktemp("packed")
    DatasetDict({"train": Dataset.from_dict({"input_ids": blocks[:-4]}),
                 "validation": Dataset.from_dict({"input_ids": blocks[-4:]})}).save_to_disk(str(out))
    return out


INSTRUCTION = "You are a medical expert, this task involves answering the question based on the provided context or text."


def task_records(task: str, n: int) -> list[dict]:
    sites = ["left breast", "right breast", "sigmoid colon", "prostate"]
    out = []
    for i in range(n):
        site = sites[i % len(sites)]
        sentence = f"Invasive ductal carcinoma of the {site}, ER positive, grade 2. " * (1 + i % 3)
        if task == "phenotype":
            ctx, resp = f"{sentence}\nWhat is the tumor site?", site
        else:
            ctx, resp = f"1. Reason for visit: follow up.\n2. Objective: {sentence}", f"carcinoma of the {site}"
        out.append({"id": f"{task}-{i}", "patient_id": f"p{i}", "task": task,
                    "instruction": INSTRUCTION, "context": ctx, "response": resp})
    return out


@pytest.fixture(scope="session")
def tasks_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks")
    for task, n in [("phenotype", 16), ("diagnosis", 8)]:
        (out / task).mkdir()
        for split, k in [("train", n), ("validation", 4)]:
            with open(out / task / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                for rec in task_records(task, k):
                    fh.write(json.dumps(rec) + "\n")
    return out
