"""Decoding: greedy by default, beam search when asked, the same answers transformers gives.

`iter_generate` pads, batches (longest first), cuts at the end-of-turn token and drops a
repeating tail; with `num_beams` it must still return each prompt's best beam, in input
order, whatever the batch holds beside it.
"""

from __future__ import annotations

import pytest
import torch

from cancerllm.errors import ConfigError
from cancerllm.models.generation import decoding_config, iter_generate


def _generate_one(model, tok, ids, beams):
    cfg = decoding_config(model, tok, 6, num_beams=beams)
    with torch.inference_mode():
        out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             generation_config=cfg)
    return out[0, len(ids):].tolist()


def test_beam_search_returns_each_prompts_best_beam_as_transformers_does(lively_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(lively_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(lively_model_dir)
    prompts = [tok("tumor size 2.3 cm left breast")["input_ids"], tok("grade 2")["input_ids"],
               tok("ER positive PR negative HER2 equivocal by IHC")["input_ids"]]
    assert decoding_config(model, tok, 6).num_beams == 1
    batched = {i: t for b in iter_generate(model, tok, prompts, 6, batch_size=2, num_beams=3,
                                           stop_repetition=False) for i, t in zip(b.indices, b.texts)}
    greedy = {i: t for b in iter_generate(model, tok, prompts, 6, batch_size=2, stop_repetition=False)
              for i, t in zip(b.indices, b.texts)}
    eos = set(tok.all_special_ids)
    for i, ids in enumerate(prompts):
        one = _generate_one(model, tok, ids, 3)
        stop = next((k for k, t in enumerate(one) if t in eos), len(one))
        assert batched[i] == tok.decode(one[:stop], skip_special_tokens=True).strip()
    assert batched != greedy        # the lively model's beams find other answers than greedy for some prompt


def test_a_beam_width_below_one_is_a_clear_error(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(ConfigError, match="num_beams"):
        decoding_config(model, tok, 4, num_beams=0)


def test_no_repeat_ngram_bans_repeats_of_the_answer_not_of_the_prompt():
    from cancerllm.models.generation import NoRepeatGeneratedNGram
    prompt = [7, 8, 9, 7, 8]                       # the prompt's own "7 8 -> 9" must stay allowed
    ids = torch.tensor([prompt + [1, 2, 3, 1, 2], prompt + [4, 5, 6, 7, 8]])
    scores = NoRepeatGeneratedNGram(len(prompt), 3)(ids, torch.zeros(2, 12))
    assert scores[0, 3] == -float("inf")           # "1 2 3" was generated: 3 may not follow "1 2" again
    assert torch.isfinite(scores[0]).sum() == 11
    assert torch.isfinite(scores[1]).all()         # "7 8 9" is only in the prompt: copying it is fine
    with pytest.raises(ConfigError, match="n-gram"):
        NoRepeatGeneratedNGram(5, 1)


def test_no_repeat_ngram_keeps_beam_answers_free_of_repeated_ngrams(lively_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList
    from cancerllm.models.generation import NoRepeatGeneratedNGram
    model = AutoModelForCausalLM.from_pretrained(lively_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(lively_model_dir)
    ids = tok("ER positive PR negative")["input_ids"]
    cfg = decoding_config(model, tok, 40, num_beams=2)

    def generated(processors):
        with torch.inference_mode():
            out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 generation_config=cfg, logits_processor=LogitsProcessorList(processors))
        return out[0, len(ids):].tolist()

    def has_repeat(seq, n=3):
        grams = [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
        return len(grams) != len(set(grams))
    assert has_repeat(generated([]))                                    # the lively model loops when let
    assert not has_repeat(generated([NoRepeatGeneratedNGram(len(ids), 3)]))
    eos = set(cfg.eos_token_id if isinstance(cfg.eos_token_id, list) else [cfg.eos_token_id])
    one = generated([NoRepeatGeneratedNGram(len(ids), 3)])
    stop = next((k for k, t in enumerate(one) if t in eos), len(one))
    guarded = [t for b in iter_generate(model, tok, [ids], 40, num_beams=2, no_repeat_ngram=3) for t in b.texts]
    assert guarded == [tok.decode(one[:stop], skip_special_tokens=True).strip()]   # iter_generate applies it
