"""The embedded default: a tiny Mistral-architecture causal LM built from a recipe.

It is a stand-in for Mistral-7B at laptop scale: same architecture class
(`MistralForCausalLM`), same save format, so every later stage treats it exactly like a
real model directory. Nothing else in the toolkit knows it is tiny.
"""

from __future__ import annotations

import os
from pathlib import Path

from cancerllm.config import Config


class TinyModelConfig(Config):
    """MistralConfig fields the recipe sets; vocabulary size comes from the tokenizer."""

    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    rope_theta: float = 10000.0
    sliding_window: int | None = None
    tie_word_embeddings: bool = True
    seed: int = 0


def init_tiny_model(tokenizer_dir: str | os.PathLike, out_dir: str | os.PathLike,
                    cfg: TinyModelConfig | None = None):
    """Randomly initialise a MistralForCausalLM for `tokenizer_dir`'s vocabulary; save both."""
    import torch
    from transformers import AutoTokenizer, MistralConfig, MistralForCausalLM

    cfg = cfg or TinyModelConfig()
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    torch.manual_seed(cfg.seed)
    mcfg = MistralConfig(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings, rope_theta=cfg.rope_theta,
        sliding_window=cfg.sliding_window, tie_word_embeddings=cfg.tie_word_embeddings,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = MistralForCausalLM(mcfg)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))
    return model
