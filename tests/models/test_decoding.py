"""Decoding: greedy by default, beam search when asked, the same answers transformers gives.

`iter_generate` pads, batches (longest first), cuts at the end-of-turn token and drops a
repeating tail; with `num_beams` it must still return each prompt's best beam, in input
order, whatever the batch holds beside it.
"""

from __future__ import annotations

import pytest
import torch

from cancerllm.errors import ConfigError
from cancerllm.models.generation import decoding_config, first_repeat, iter_generate


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


def test_first_repeat_finds_the_second_saying_of_a_phrase():
    assert first_repeat([1, 2, 3, 9, 1, 2, 3, 4], 3) == 4             # "1 2 3" said again at 4
    assert first_repeat([1, 2, 3, 4, 5, 6], 3) == 6                   # nothing repeats: keep all
    assert first_repeat([7, 7, 7, 7, 7], 3) == 5                      # overlapping copies do not count
    assert first_repeat([7, 7, 7, 7, 7, 7], 3) == 3
    assert first_repeat([1, 2, 1, 2], 0) == 4                         # 0: off


def test_a_looping_answer_stops_and_is_cut_where_it_repeats_itself(lively_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(lively_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(lively_model_dir)
    ids = tok("grade 2")["input_ids"]
    cfg = decoding_config(model, tok, 40)
    with torch.inference_mode():
        out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             generation_config=cfg)
    plain = out[0, len(ids):].tolist()
    eos = set(cfg.eos_token_id if isinstance(cfg.eos_token_id, list) else [cfg.eos_token_id])
    plain = plain[:next((k for k, t in enumerate(plain) if t in eos), len(plain))]
    cut = first_repeat(plain, 3)
    assert cut < len(plain)                                           # the lively model repeats itself when let
    guarded = [t for b in iter_generate(model, tok, [ids], 40, repeat_ngram=3) for t in b.texts]
    assert guarded == [tok.decode(plain[:cut], skip_special_tokens=True).strip()]
    ids = tok("ER positive PR negative")["input_ids"]                 # loops under 2 beams, not greedily
    loose = [t for b in iter_generate(model, tok, [ids], 40, num_beams=2, repeat_ngram=0) for t in b.texts]
    beams = [t for b in iter_generate(model, tok, [ids], 40, num_beams=2, repeat_ngram=3) for t in b.texts]
    assert len(beams) == 1 and 0 < len(beams[0]) < len(loose[0])      # under beams a looping beam ends early too
