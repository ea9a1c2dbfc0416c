"""Sliding-window perplexity: exact against a hand computation, every token once, batch-invariant."""

from __future__ import annotations

import math

import pytest

SHORT = "Invasive ductal carcinoma, pT2 N0, ER positive."


def _hand_nll(model, tok, text: str) -> tuple[float, int]:
    """Summed NLL of tokens 1..n-1 given all previous tokens, straight from the logits."""
    import torch
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    target = ids[0, 1:]
    return float(-logp.gather(-1, target[:, None]).sum()), len(target)


def test_perplexity_is_exp_of_mean_nll_computed_by_hand(tiny_model_dir):
    from cancerllm.evaluate.perplexity import perplexity
    from cancerllm.models.loading import load_causal_lm
    model, tok = load_causal_lm(tiny_model_dir, device="cpu", padding_side="right")
    nll, n = _hand_nll(model, tok, SHORT)
    result = perplexity(model, tok, [SHORT], window=512, stride=256)
    assert result["n_predicted"] == n
    assert result["perplexity"] == pytest.approx(math.exp(nll / n), rel=1e-4)
    # Two texts pool their NLL (corpus perplexity), whatever the batch and its padding.
    other = "Plan: start letrozole 2.5 mg daily; follow up in 3 months."
    nll2, n2 = _hand_nll(model, tok, other)
    for batch_size in (1, 2):
        pooled = perplexity(model, tok, [SHORT, other], batch_size=batch_size)
        assert pooled["perplexity"] == pytest.approx(math.exp((nll + nll2) / (n + n2)), rel=1e-4)


def test_sliding_window_predicts_every_token_once():
    from cancerllm.evaluate.perplexity import make_windows
    for n, window, stride in [(10, 4, 2), (10, 4, 4), (3, 4, 2), (20, 5, 1), (9, 9, 3)]:
        windows = make_windows(list(range(n)), window, stride)
        predicted = [t for w in windows for t in w.ids[w.n_context:]]
        assert predicted == list(range(1, n))
        assert all(len(w.ids) <= window and w.n_context >= 1 for w in windows)


def test_long_text_with_windows_stays_close_to_full_context(tiny_model_dir):
    from cancerllm.evaluate.perplexity import perplexity
    from cancerllm.models.loading import load_causal_lm
    model, tok = load_causal_lm(tiny_model_dir, device="cpu", padding_side="right")
    text = " ".join([SHORT] * 6)
    full = perplexity(model, tok, [text], window=1024, stride=512)
    windowed = perplexity(model, tok, [text], window=16, stride=8)
    assert windowed["n_predicted"] == full["n_predicted"]
    assert windowed["n_windows"] > 1 and full["n_windows"] == 1
    assert windowed["bits_per_byte"] > 0 and math.isfinite(windowed["perplexity"])
    capped = perplexity(model, tok, [text], max_tokens=8)
    assert capped["n_predicted"] == 7


def test_eval_perplexity_cli(tiny_model_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from cancerllm.cli import app
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate([SHORT, SHORT + " pN1a"])))
    out = tmp_path / "ppl.json"
    result = CliRunner().invoke(app, ["eval", "perplexity", "--model", str(tiny_model_dir), "--data", str(data),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["n_texts"] == 2 and saved["perplexity"] > 1 and saved["adapter"] is None
