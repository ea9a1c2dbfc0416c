"""Batched greedy generation: the one generation path of the toolkit.

`generate` (and `generate_with_counts`, `iter_generate`) is what evaluation (`cancerllm
eval generate`, `compare`, through `cancerllm.evaluate.predictions`) and inference
(`cancerllm extract|diagnose|plan|predict|serve`, through `cancerllm.serve`) all call, so a
model answers the same prompt the same way everywhere.

How a prompt is built: `cancerllm.tasks.prompts.PromptFormat`, the object training uses
(the model's chat template when its tokenizer has one, else the alpaca layout). Prompts
are (instruction, context) pairs; a plain string is taken as already-formatted text.

How it batches (and why the answer does not depend on the batch):
- Prompts are sorted by token length, longest first, and cut into batches of
  `batch_size`: neighbours have similar lengths, so little padding is computed, and an
  out-of-memory error shows up in the first batch rather than the last. Results are put
  back in input order.
- Batches are padded on the left, whatever the tokenizer's `padding_side`, with an
  attention mask; position ids are derived from that mask (transformers does this for
  decoder-only models), so a prompt sees the same positions padded or not. Decoding is
  greedy with the KV cache; a row stops at an end-of-answer token (EOS, the model's
  generation config's EOS, and the chat template's end-of-turn token) or when it starts
  repeating itself (`RepetitionStop`), and the text is cleaned by the prompt format.
  Greedy + left padding + mask = the same output at batch 1 and batch 16 (tests pin this
  in fp32; in bf16 or half precision, rare near-ties in the logits can differ between
  batch shapes, as with any batched kernel).

Truncation rule (prompts longer than `max_input_tokens`, the task's paper limit): the
one rule training uses (`PromptFormat.encode_prompt`): the template and the instruction
are kept whole and the *start* of the context is cut, so the end of the context (where
the phenotype question sits) and the answer marker survive. A plain-string prompt keeps
its last tokens. Every truncation is counted (`GenerationStats.n_truncated` in
`cancerllm.evaluate.predictions`) and logged by count, never by text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cancerllm.errors import ConfigError
from cancerllm.tasks.prompts import Cut, PromptFormat

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- tokens in

Prompt = tuple[str, str] | str  # (instruction, context), or text already formatted


def encode_prompts(tokenizer, prompts: list[Prompt], max_input_tokens: int | None = None,
                   template: str = "auto", cut: Cut = "start") -> tuple[list[list[int]], list[int]]:
    """(token ids per prompt, indices of the prompts that were truncated). See module doc.

    `cut` is the side of the context that goes first when over the limit (the training
    recipe's `context_truncation` for the task, so a model sees at test time what it saw
    when it learned).
    """
    fmt = PromptFormat.for_tokenizer(tokenizer, template)
    out: list[list[int]] = []
    truncated: list[int] = []
    for i, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            ids, was_cut = list(tokenizer(prompt)["input_ids"]), False
            if max_input_tokens is not None and len(ids) > max_input_tokens:
                ids, was_cut = ids[-max_input_tokens:], True
        else:
            enc = fmt.encode_prompt(prompt[0], prompt[1], max_input_tokens, cut)
            if enc is None:  # the template and instruction alone are over the limit
                full = fmt.encode_prompt(prompt[0], prompt[1])
                ids, was_cut = full.ids[-max_input_tokens:], True
            else:
                ids, was_cut = enc.ids, enc.truncated
        if was_cut:
            truncated.append(i)
        out.append(ids)
    return out, truncated


# ---------------------------------------------------------------- tokens out


@dataclass
class Batch:
    """One generated batch: input positions, cleaned texts, new tokens per row (EOS included)."""

    indices: list[int]
    texts: list[str]
    new_tokens: list[int]


def _eos_ids(model, tokenizer) -> list[int]:
    """Every token id that ends an answer: EOS (tokenizer's and model's) and end-of-turn."""
    ids: set[int] = set(PromptFormat.for_tokenizer(tokenizer).stop_ids)
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                  tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return sorted(ids)


def _pad_id(tokenizer, eos: list[int]) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return eos[0] if eos else 0


def decoding_config(model, tokenizer, max_new_tokens: int, min_new_tokens: int | None = None,
                    num_beams: int = 1):
    """A fresh deterministic GenerationConfig, nothing inherited from the model's sampling
    defaults: greedy, or beam search over `num_beams` (transformers' own) when > 1.

    Why beams can matter: greedy commits to the likeliest *first token*, which need not
    start the likeliest answer. On the demo's diagnosis (dev, 140 validation notes) greedy
    began half its answers with "1." - the numbered two-line form only a quarter of the
    references have - and two beams raised average F1 from 21.5 to 25.2.
    """
    from transformers import GenerationConfig
    if num_beams < 1:
        raise ConfigError(f"num_beams must be >= 1, got {num_beams}")
    eos = _eos_ids(model, tokenizer)
    return GenerationConfig(max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                            do_sample=False, num_beams=num_beams, use_cache=True,
                            eos_token_id=eos or None, pad_token_id=_pad_id(tokenizer, eos))


def repeated_tail(ids: list[int], max_period: int = 32, min_span: int = 12, min_repeats: int = 3) -> int:
    """Length of the periodic tail of `ids` beyond its first period (0 when there is none).

    A tail counts when some period p <= `max_period` repeats at least `min_repeats` times
    and covers at least `min_span` tokens ("s/p s/p s/p s/p ..."). Hand-written because no
    library option fits: transformers' `no_repeat_ngram_size` and `repetition_penalty` act
    on the prompt's tokens too, so they would forbid copying values out of the note, which
    extraction must do; this looks at the generated tokens only.
    """
    n = len(ids)
    for p in range(1, min(max_period, n // min_repeats) + 1):
        k = p
        while k < n and ids[n - 1 - k] == ids[n - 1 - k + p]:
            k += 1
        # ids[n-k:] is p-periodic; count whole repeats of the period in it.
        if k // p >= min_repeats and k >= min_span:
            return k - p
    return 0


class RepetitionStop:
    """A `StoppingCriteria` that ends a row once its answer repeats itself (see above)."""

    def __init__(self, prompt_width: int):
        self.width = prompt_width

    def __call__(self, input_ids, scores, **kwargs):
        import torch
        rows = input_ids[:, self.width:].tolist()
        return torch.tensor([repeated_tail(r) > 0 for r in rows], dtype=torch.bool, device=input_ids.device)


# The repetition guard's n-gram: no answer repeats an 8-token phrase of its own. Chosen on the
# demo's dev split (base+CPT+IT, all 140 validation notes): diagnosis with 2 beams 25.26 (off),
# 25.27 (6), 25.28 (8); treatment 16.87, 17.39, 17.54; larger n leaves more of a model alone.
NO_REPEAT_NGRAM = 8


class NoRepeatGeneratedNGram:
    """A `LogitsProcessor` that forbids any `n`-gram of the generated tokens from occurring twice.

    transformers' `no_repeat_ngram_size` counts the prompt too (an extraction answer could
    then not copy a phrase out of the note); this looks at the generated tokens only, past
    `prompt_width`. Why: beam search drifts into loops that are not periodic enough for
    `RepetitionStop` ("cT2N1M0, cT2N1P0, ..., cT2N1M0, cT2N1P0, ...").
    """

    def __init__(self, prompt_width: int, n: int):
        if n < 2:
            raise ConfigError(f"no-repeat n-gram size must be >= 2, got {n}")
        self.width, self.n = prompt_width, n

    def __call__(self, input_ids, scores):
        n = self.n
        for row, ids in enumerate(input_ids[:, self.width:].tolist()):
            if len(ids) < n:
                continue
            tail = ids[len(ids) - n + 1:]
            banned = [ids[i + n - 1] for i in range(len(ids) - n + 1) if ids[i:i + n - 1] == tail]
            if banned:
                scores[row, banned] = -float("inf")
        return scores


def iter_generate(model, tokenizer, encoded: list[list[int]], max_new_tokens: int,
                  batch_size: int = 16, min_new_tokens: int | None = None,
                  stop_repetition: bool = True, num_beams: int = 1,
                  no_repeat_ngram: int = NO_REPEAT_NGRAM) -> Iterator[Batch]:
    """Generate for token-id prompts batch by batch (longest first); yields each batch done.
    With `num_beams` > 1 each prompt's best beam is kept (a batch then holds batch_size x
    num_beams rows). `stop_repetition` guards against loops: a row stops once its answer
    turns periodic (`RepetitionStop`, the tail trimmed) and, with `no_repeat_ngram` (0: off),
    never repeats a phrase of that many tokens of its own (`NoRepeatGeneratedNGram`)."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList
    fmt = PromptFormat.for_tokenizer(tokenizer)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    config = decoding_config(model, tokenizer, max_new_tokens, min_new_tokens, num_beams)
    eos = set(_eos_ids(model, tokenizer))
    pad = config.pad_token_id
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            n = len(encoded[i])
            input_ids[row, width - n:] = torch.tensor(encoded[i], dtype=torch.long)
            mask[row, width - n:] = 1
        stops = StoppingCriteriaList([RepetitionStop(width)]) if stop_repetition else None
        processors = LogitsProcessorList([NoRepeatGeneratedNGram(width, no_repeat_ngram)]
                                         if stop_repetition and no_repeat_ngram else [])
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                 generation_config=config, stopping_criteria=stops, logits_processor=processors)
        texts, counts = [], []
        for row in out[:, width:].tolist():
            stop = next((k for k, t in enumerate(row) if t in eos), None)
            counts.append(len(row) if stop is None else stop + 1)
            kept = row if stop is None else row[:stop]
            if stop_repetition:
                kept = kept[:len(kept) - repeated_tail(kept)]
            texts.append(fmt.clean(tokenizer.decode(kept, skip_special_tokens=True)))
        yield Batch(idx, texts, counts)


def generate_with_counts(model, tokenizer, prompts: list[Prompt], max_new_tokens: int,
                         batch_size: int = 16, max_input_tokens: int | None = None,
                         min_new_tokens: int | None = None,
                         cut: Cut = "start", num_beams: int = 1) -> tuple[list[str], list[int], list[int]]:
    """(texts in input order, new tokens per prompt, indices of truncated prompts)."""
    encoded, truncated = encode_prompts(tokenizer, prompts, max_input_tokens, cut=cut)
    if truncated:
        log.warning("%d of %d prompts longer than %s tokens were truncated", len(truncated),
                    len(prompts), max_input_tokens)
    texts: list[str] = [""] * len(prompts)
    counts: list[int] = [0] * len(prompts)
    for batch in iter_generate(model, tokenizer, encoded, max_new_tokens, batch_size, min_new_tokens,
                               num_beams=num_beams):
        for i, text, n in zip(batch.indices, batch.texts, batch.new_tokens):
            texts[i], counts[i] = text, n
    return texts, counts, truncated


def generate(model, tokenizer, prompts: list[Prompt], max_new_tokens: int, batch_size: int = 16,
             max_input_tokens: int | None = None, min_new_tokens: int | None = None) -> list[str]:
    """Greedy answers to `prompts`, in input order (see the module doc for the rules)."""
    return generate_with_counts(model, tokenizer, prompts, max_new_tokens, batch_size,
                                max_input_tokens, min_new_tokens)[0]


def model_label(model_dir: str | os.PathLike, adapter_dir: str | os.PathLike | None = None) -> str:
    """Short model name for outputs: base folder name, '+adapter folder name' when adapted."""
    name = Path(model_dir).name
    return f"{name}+{Path(adapter_dir).name}" if adapter_dir else name

