from cancerllm.models.loading import load_causal_lm, load_tokenizer


def test_tokenizer_round_trip(tiny_tokenizer_dir):
    tok = load_tokenizer(tiny_tokenizer_dir)
    for text in ["ER/PR+ her2- 2.3 cm", "pT1c(m) pN1mi(sn)", "Ünïcode ✓ and\ttabs\nnewlines  double"]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
    assert tok.eos_token == "</s>" and tok.pad_token == "<pad>"


def test_tiny_model_is_a_normal_mistral_directory(tiny_model_dir):
    model, tok = load_causal_lm(tiny_model_dir)
    assert model.config.model_type == "mistral"
    assert model.config.vocab_size == len(tok)
    assert tok.padding_side == "left"
