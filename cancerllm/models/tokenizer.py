"""Train a byte-level BPE tokenizer on the user's own corpus (the `tokenizers` library).

Byte-level BPE never meets an unknown character (any byte sequence encodes), which
matters for OCR'd pathology reports. The result is saved as a normal Hugging Face
tokenizer directory, so every later stage loads it with AutoTokenizer like any other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def train_tokenizer(texts: Iterable[str], out_dir: str | os.PathLike, vocab_size: int = 8000,
                    min_frequency: int = 2, model_max_length: int = 4096):
    """Train on `texts` (streamed) and save to `out_dir`; returns the HF tokenizer.

    Encodings get no automatic BOS/EOS: the data stages add EOS explicitly between
    documents and after responses, where the loss needs it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=model_max_length,
                                 clean_up_tokenization_spaces=False, **SPECIAL_TOKENS)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(str(out_dir))
    return hf
