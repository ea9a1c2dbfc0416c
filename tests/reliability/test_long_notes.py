"""Long notes: a 50 MB single note through the data stages, and prompts over the token limit.

The truncation rule (docs/reliability.md, `cancerllm.models.generation`): a prompt over
the task's `max_input_tokens` keeps its instruction header and its last tokens, so the
start of the context is what is cut; each cut prompt is counted and reported.
"""

from __future__ import annotations

import json

from cancerllm.tasks.registry import get_task

SENTENCE = "Invasive ductal carcinoma of the left breast, grade 2, ER positive. "


def test_a_50_mb_note_goes_through_reading_corpus_and_task_building(tmp_path):
    from cancerllm.data.corpus import CorpusConfig, build_corpus
    from cancerllm.tasks.build import build_tasks
    body = "Tumor board reviewed the case.\n" + SENTENCE * 4
    note = ("Reason for Visit: follow up.\n" + "Objective: " + body * (50_000_000 // len(body) + 1)
            + "\nDiagnosis: invasive ductal carcinoma.\nPlan: letrozole.\n")
    assert len(note) > 50_000_000
    small = {"id": "small", "patient_id": "P2", "text": "Reason for Visit: new.\nDiagnosis: melanoma."}
    with open(tmp_path / "notes.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "big", "patient_id": "P1", "text": note}) + "\n" + json.dumps(small) + "\n")
    del note
    corpus = build_corpus([str(tmp_path / "notes.jsonl")], tmp_path / "corpus", CorpusConfig())
    assert corpus["read"] == 2 and corpus["n_skipped_records"] == 0
    summary = build_tasks(tmp_path, tmp_path / "tasks", "diagnosis", save_hf=False)
    assert sum(summary["counts"]["diagnosis"].values()) == 2 and summary["n_skipped"]["diagnosis"] == 0


def test_prompts_over_the_token_limit_are_cut_counted_and_reported(tiny_engine, tmp_path):
    from fastapi.testclient import TestClient

    from cancerllm.models.generation import encode_prompts
    from cancerllm.serve.http import create_app
    from cancerllm.serve.predict import predict
    from cancerllm.tasks.prompts import PromptFormat
    limit = get_task("diagnosis").max_input_tokens
    long_note = SENTENCE * 300                        # about 6,000 tokens, under predict's character cap
    short_note = "Diagnosis: melanoma of the right arm."
    prompt = (get_task("diagnosis").instruction, long_note)
    (full,), _ = encode_prompts(tiny_engine.tokenizer, [prompt])
    (cut,), truncated = encode_prompts(tiny_engine.tokenizer, [prompt], limit)
    assert len(full) > limit and truncated == [0] and len(cut) == limit
    header = len(PromptFormat.for_tokenizer(tiny_engine.tokenizer).segments(*prompt)[0])
    assert cut[:header] == full[:header] and cut[header:] == full[-(limit - header):]  # the rule

    source = tmp_path / "notes.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                              for i, t in enumerate([long_note, short_note, long_note])))
    counts = predict("diagnose", "unused", source, tmp_path / "out.jsonl", progress=False, engine=tiny_engine)
    assert counts["truncated_prompts"] == 2 and counts["written"] == 3

    with TestClient(create_app(tiny_engine), base_url="http://localhost") as client:
        before = client.get("/health").json()["truncated_prompts"]
        assert client.post("/v1/diagnose", json={"text": long_note}).status_code == 200
        assert client.post("/v1/diagnose", json={"text": short_note}).status_code == 200
        assert client.get("/health").json()["truncated_prompts"] == before + 1
