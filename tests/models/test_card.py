"""Model cards: the base named and hashed, never a machine path; data and de-identification stated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from cancerllm.errors import InputError
from cancerllm.models.card import model_hash, scrub_paths, write_model_card


@pytest.fixture
def adapter_run(tmp_path: Path, tiny_model_dir: Path) -> Path:
    run = tmp_path / "runs" / "it-cpt"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": str(tiny_model_dir), "peft_type": "LORA", "r": 8}))
    (run / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
    (run / "adapter" / "README.md").write_text("[More Information Needed]\n")   # peft's boilerplate
    (run / "run.json").write_text(json.dumps({"stage": "train.finetune", "seed": 0, "started": "2026-01-01T00:00:00",
                                              "versions": {"torch": "2.13.0"}}))
    (run / "config.yaml").write_text(f"seed: 0\nnote_dir: {tmp_path}/data/notes\nlora:\n  r: 8\n")
    (run / "train_metrics.json").write_text(json.dumps({"global_step": 40, "train_loss": 1.234, "eval_loss": 1.5,
                                                        "trainable_params": 1000, "total_params": 50000}))
    return run


def test_card_names_and_hashes_the_base_and_hides_paths(adapter_run: Path, tiny_model_dir: Path, tmp_path: Path):
    [card] = write_model_card(adapter_run, base_name="tiny-mistral-demo", data="Synthetic corpus, 30 patients.",
                              deidentified="synthetic: no real patients",
                              metrics={"phenotype average F1": {"value": 85.6, "ci_low": 80.1, "ci_high": 90.2}})
    text = card.read_text()
    assert card == adapter_run / "adapter" / "README.md"
    assert "[More Information Needed]" not in text
    assert str(tmp_path) not in text and "/tmp" not in text        # no machine path anywhere
    assert f"`tiny-mistral-demo` ({model_hash(tiny_model_dir)})" in text
    assert "synthetic: no real patients" in text and "Synthetic corpus, 30 patients." in text
    assert "85.60 (95 % CI 80.10-90.20)" in text and "training: train_loss | 1.234" in text
    assert "note_dir: data/notes" in text                          # recipe embedded, path cut
    front = yaml.safe_load(text.split("---")[1])
    assert front["base_model"] == "tiny-mistral-demo" and front["library_name"] == "peft"


def test_unknown_deidentification_is_said_and_base_named_by_folder(adapter_run: Path, tiny_model_dir: Path):
    text = write_model_card(adapter_run)[0].read_text()
    assert "UNKNOWN" in text and "Not recorded" in text
    assert f"`{tiny_model_dir.parent.name}/{tiny_model_dir.name}`" in text


def test_hash_follows_content_not_location(tiny_model_dir: Path, tmp_path: Path):
    copy = shutil.copytree(tiny_model_dir, tmp_path / "elsewhere")
    assert model_hash(copy) == model_hash(tiny_model_dir)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("}", ', "x": 1}', 1))
    assert model_hash(copy) != model_hash(tiny_model_dir)
    with pytest.raises(InputError, match="not a model folder"):
        model_hash(tmp_path / "empty")


def test_not_a_run_folder(tmp_path: Path):
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="neither a model folder"):
        write_model_card(tmp_path / "x")


def test_scrub_paths_keeps_urls_and_ratios():
    assert scrub_paths("base /tmp/pytest-1/a/model here") == "base a/model here"
    assert scrub_paths("see https://example.org/a/b, ER/PR 2/3") == "see https://example.org/a/b, ER/PR 2/3"


def test_heads_folder_is_called_heads(adapter_run: Path, tiny_model_dir: Path):
    heads = adapter_run / "adapter"
    (heads / "heads_config.json").write_text(json.dumps({"base_model": str(tiny_model_dir), "fields": ["ER"]}))
    text = write_model_card(heads)[0].read_text()
    assert "staging heads" in text and "pipeline_tag: text-classification" in text
    assert "train.finetune" in text          # run files found one level up
