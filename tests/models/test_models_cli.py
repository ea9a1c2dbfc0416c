"""`cancerllm models tokenizer` and `cancerllm models init` on a small corpus."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cancerllm.cli import app
from tests.fixtures.model import fixture_texts


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_tokenizer_then_init(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "txt").mkdir(parents=True)
    with open(corpus / "notes.jsonl", "w", encoding="utf-8") as fh:
        for i, text in enumerate(fixture_texts()):
            fh.write(json.dumps({"id": i, "text": text}) + "\n")
    (corpus / "txt" / "report.txt").write_text("Pathology: pT2 pN1a, HER2 2+ (FISH negative).")
    r = invoke("models", "tokenizer", "--corpus", corpus, "--out", tmp_path / "tok",
               "--vocab-size", 500, "--min-frequency", 1)
    assert "tokens from 121 documents" in r.output

    from cancerllm.models.loading import load_causal_lm
    invoke("models", "init", "--tokenizer", tmp_path / "tok", "--out", tmp_path / "model",
           "hidden_size=32", "intermediate_size=64", "num_hidden_layers=1",
           "num_attention_heads=2", "num_key_value_heads=1")
    model, tok = load_causal_lm(tmp_path / "model")
    assert model.config.hidden_size == 32 and model.config.vocab_size == len(tok)
    assert tok.decode(tok("pT2 pN1a")["input_ids"]) == "pT2 pN1a"


def test_tokenizer_on_an_empty_corpus_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    result = CliRunner().invoke(app, ["models", "tokenizer", "--corpus", str(tmp_path / "empty.jsonl"),
                                      "--out", str(tmp_path / "tok")])
    assert result.exit_code != 0
