"""Batched generation: batch-size invariance, input order, truncation rule, resumable files."""

from __future__ import annotations

import json

import pytest

from cancerllm.errors import OfflineError
from cancerllm.evaluate.predictions import generate_predictions, stats_path
from cancerllm.models.generation import encode_prompts, generate, generate_with_counts
from cancerllm.tasks.prompts import RESPONSE_MARKER, PromptFormat
from tests.serve.lively import NOTES, make_lively_model

INSTRUCTION = "You are a medical expert."


@pytest.fixture(scope="module")
def lively_dir(tiny_model_dir, tmp_path_factory):
    return make_lively_model(tiny_model_dir, tmp_path_factory.mktemp("lively_gen"))


@pytest.fixture(scope="module")
def lm(lively_dir):
    from cancerllm.models.loading import load_causal_lm
    return load_causal_lm(lively_dir, device="cpu")


def _prompts(n: int = 14) -> list[tuple[str, str]]:
    words = " ".join(NOTES).split()
    # Very different lengths, in no particular order, so sorting and padding both matter.
    return [(INSTRUCTION, " ".join(words[(7 * i) % 40:(7 * i) % 40 + 3 + (i * 5) % 37])
             + "\nWhat is the tumor size?") for i in range(n)]


def test_same_answers_at_any_batch_size_and_in_input_order(lm):
    model, tok = lm
    prompts = _prompts()
    one_by_one = [generate(model, tok, [p], max_new_tokens=12)[0] for p in prompts]
    assert len(set(one_by_one)) > len(prompts) // 2  # the model really answers differently
    for batch_size in (1, 4, 16):
        assert generate(model, tok, prompts, max_new_tokens=12, batch_size=batch_size) == one_by_one


def test_matches_plain_unpadded_hf_generate(lm):
    import torch

    from cancerllm.tasks.prompts import clean_generation
    model, tok = lm
    prompt = _prompts()[3]
    ids = torch.tensor([PromptFormat.for_tokenizer(tok).encode_prompt(*prompt).ids])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12,
                         do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    expected = clean_generation(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
    assert generate(model, tok, [_prompts()[0], prompt], max_new_tokens=12, batch_size=2)[1] == expected


def test_truncation_keeps_instruction_header_and_prompt_end(lm):
    _, tok = lm
    fmt = PromptFormat.for_tokenizer(tok)
    question = "\nWhat is the tumor size in the given context?"
    long_prompt = (INSTRUCTION, " ".join(NOTES) + question)
    short_prompt = (INSTRUCTION, "grade 2" + question)
    before, ctx, after = fmt.segments(*long_prompt)
    short_ids = fmt.encode_prompt(*short_prompt).ids
    limit = len(short_ids)                           # the short prompt just fits
    keep = limit - len(before) - len(after)
    assert len(before) + len(ctx) + len(after) > limit and keep > 0
    encoded, truncated = encode_prompts(tok, [short_prompt, long_prompt], max_input_tokens=limit)
    assert truncated == [1]
    assert encoded[0] == short_ids
    kept = encoded[1]
    assert len(kept) == limit
    assert kept[:len(before)] == before              # the instruction header is whole
    assert kept[len(before):] == ctx[-keep:] + after  # the end of the prompt is whole
    text = tok.decode(kept)
    assert text.startswith("### Instruction:\n" + INSTRUCTION)
    assert text.endswith(question + "\n\n" + RESPONSE_MARKER)
    assert NOTES[0][:20] not in text                 # the cut came from the start of the context


def test_truncation_without_header_keeps_the_end(lm):
    _, tok = lm
    plain = " ".join(NOTES)
    ids = tok(plain)["input_ids"]
    encoded, truncated = encode_prompts(tok, [plain], max_input_tokens=10)
    assert truncated == [0] and encoded[0] == ids[-10:]


def test_truncated_prompts_are_counted(lm):
    model, tok = lm
    texts, counts, truncated = generate_with_counts(model, tok, _prompts(4), max_new_tokens=5,
                                                    max_input_tokens=20)
    assert truncated == [0, 1, 2, 3] and len(texts) == 4
    assert all(1 <= n <= 5 for n in counts)


def _records(n: int = 10) -> list[dict]:
    return [{"id": f"r{i}", "instruction": ins, "context": ctx, "response": "x"}
            for i, (ins, ctx) in enumerate(_prompts(n))]


class Stop(Exception):
    pass


def test_generate_predictions_writes_stats_and_resumes(lively_dir, tmp_path):
    records = _records()
    out = tmp_path / "pred.jsonl"
    written = []

    def interrupt(n):
        written.append(n)
        raise Stop  # killed after the first batch

    with pytest.raises(Stop):
        generate_predictions(lively_dir, "phenotype", records, out, batch_size=4, max_new_tokens=8,
                             device="cpu", backend="hf", progress=interrupt)
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(first) == 4 and written == [4]

    stats = generate_predictions(lively_dir, "phenotype", records, out, batch_size=4, max_new_tokens=8,
                                 device="cpu", backend="hf")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in lines) == sorted(r["id"] for r in records)  # each exactly once
    assert set(lines[0]) == {"id", "task", "prediction", "model"}
    assert stats.n_instances == 10 and stats.n_resumed == 4 and stats.n_generated == 6
    assert stats.generated_tokens > 0 and stats.tokens_per_second > 0 and stats.peak_memory_mb > 0
    assert stats.memory_kind == "cpu_peak_rss" and stats.device == "cpu"
    saved = json.loads(stats_path(out).read_text())
    assert saved["n_generated"] == 6 and saved["max_new_tokens"] == 8 and saved["max_input_tokens"] == 1500

    # Same answers as an uninterrupted run; a no-op rerun reports the earlier run's cost.
    fresh = tmp_path / "fresh.jsonl"
    generate_predictions(lively_dir, "phenotype", records, fresh, batch_size=16, max_new_tokens=8, device="cpu")
    by_id = {json.loads(line)["id"]: json.loads(line)["prediction"] for line in fresh.read_text().splitlines()}
    assert {r["id"]: r["prediction"] for r in lines} == by_id
    again = generate_predictions(lively_dir, "phenotype", records, out, max_new_tokens=8, device="cpu")
    assert again.n_generated == 6 and len(out.read_text().splitlines()) == 10


def test_hub_name_is_refused(tmp_path):
    with pytest.raises(OfflineError, match="hub name"):
        generate_predictions("mistralai/Mistral-7B-v0.1", "phenotype", _records(1), tmp_path / "p.jsonl")


def test_eval_generate_cli(lively_dir, tmp_path):
    from typer.testing import CliRunner

    from cancerllm.evaluate.cli import app
    task_dir = tmp_path / "tasks" / "diagnosis"
    task_dir.mkdir(parents=True)
    task_dir.joinpath("test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records(5)))
    out = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(app, ["generate", "--model", str(lively_dir), "--task", "diagnosis",
                                      "--tasks-dir", str(tmp_path / "tasks"), "--out", str(out),
                                      "--limit", "3", "--max-new-tokens", "6", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["n_generated"] == 3 and summary["task"] == "diagnosis"
    assert "diagnosis: 0/3 done, generating 3" in result.stderr      # progress on stderr, not in the JSON
    assert "diagnosis: 3/3 (100%)" in result.stderr and "ETA" in result.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] and stats_path(out).is_file()


def test_an_adapter_is_merged_for_generation_and_answers_as_unmerged(lively_dir, tmp_path):
    """Merging LoRA into the base is only a speed-up: the same greedy answers as peft's layers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from cancerllm.models.generation import generate
    from cancerllm.models.loading import load_causal_lm
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(lively_dir), local_files_only=True)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft.save_pretrained(str(adapter))
    records = _records()
    stats = generate_predictions(lively_dir, "phenotype", records, tmp_path / "p.jsonl", adapter_dir=adapter,
                                 batch_size=4, max_new_tokens=8, device="cpu", backend="hf")
    assert stats.adapter_merged
    model, tok = load_causal_lm(lively_dir, adapter, device="cpu")           # unmerged peft layers
    unmerged = generate(model, tok, [(r["instruction"], r["context"]) for r in records], 8, batch_size=4)
    merged = {json.loads(x)["id"]: json.loads(x)["prediction"] for x in (tmp_path / "p.jsonl").read_text().splitlines()}
    assert [merged[r["id"]] for r in records] == unmerged
    plain = generate_predictions(lively_dir, "phenotype", records, tmp_path / "b.jsonl", batch_size=4,
                                 max_new_tokens=8, device="cpu", backend="hf")
    assert not plain.adapter_merged


def test_an_adapter_brings_its_prompt_settings_to_generation(lively_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from cancerllm.tasks.prompt_settings import PromptSettings, write_prompt_settings
    base = AutoModelForCausalLM.from_pretrained(str(lively_dir), local_files_only=True)
    adapter = tmp_path / "adapter"
    get_peft_model(base, LoraConfig(r=2, target_modules="all-linear")).save_pretrained(str(adapter))
    write_prompt_settings(adapter, PromptSettings({"diagnosis": 64}, {"diagnosis": "end"},
                                                  {"diagnosis": ["subjective"]}))
    records = [{"id": "a", "context": "1) Reason for visit: x\n3) Subjective: on letrozole", "response": "y"}]
    stats = generate_predictions(lively_dir, "diagnosis", records, tmp_path / "p.jsonl", adapter_dir=adapter,
                                 max_new_tokens=2, device="cpu", backend="hf")
    assert (stats.max_input_tokens, stats.context_truncation, stats.context_sections) == (64, "end", ["subjective"])
    asked = generate_predictions(lively_dir, "diagnosis", records, tmp_path / "q.jsonl", adapter_dir=adapter,
                                 max_new_tokens=2, device="cpu", backend="hf", context_truncation="start",
                                 max_input_tokens=100)
    assert (asked.max_input_tokens, asked.context_truncation) == (100, "start")    # the caller wins
