"""Zero-shot staging through a chat template (`cancerllm.baselines.zero_shot_chat`); the tiny
model is given a chat template instead of loading SmolLM2 (no extra, no network)."""

from __future__ import annotations

import shutil

import pytest
import torch

from cancerllm.baselines.zero_shot_chat import ZS_OPTIONS, ChatZeroShot, zs_question


def test_chat_zero_shot_cache_gives_the_scores_of_a_full_forward(tiny_model_dir, tmp_path):
    """The shared KV cache (report once, each question + options after it) must score each
    option exactly as one forward pass over the whole sequence would."""
    model_dir = tmp_path / "chat"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / "chat_template.jinja").write_text(
        "{% for m in messages %}<user>{{ m['content'] }}</user>{% endfor %}"
        "{% if add_generation_prompt %}<bot>{% endif %}")
    zs = ChatZeroShot(model_dir, ["pT", "ER"], max_context_tokens=64)
    report = "FINAL DIAGNOSIS: invasive ductal carcinoma, pT2 N0. ER positive."
    row = zs.predict_fields(report, ["pT", "ER"])
    prefix = zs._ids(zs.head + "Pathology report:\n" + zs._context(report))
    for field in ("pT", "ER"):  # ER comes after pT: the cache must be back at the report prefix
        question = zs._ids("\n\n" + zs_question(field) + zs.tail)
        scores = []
        for option in zs.options[field]:
            ids = torch.tensor([prefix + question + option])
            with torch.no_grad():
                logp = torch.log_softmax(zs.model(input_ids=ids).logits[0].float(), -1)
            start = len(prefix) + len(question)
            scores.append(float(sum(logp[start + j - 1, t] for j, t in enumerate(option))))
        expected = torch.softmax(torch.tensor(scores, dtype=torch.float64), 0).tolist()
        got = [row[field]["probs"][label] for label in ZS_OPTIONS[field]]
        assert got == pytest.approx(expected, abs=1e-4)
        assert row[field]["label"] in ZS_OPTIONS[field]
