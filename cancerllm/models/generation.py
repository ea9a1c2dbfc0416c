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


# The repetition guard's phrase length: an answer ends where it first repeats a 16-token phrase
# of its own. Chosen on the demo's dev split (base+CPT+IT, all 140 validation notes): cutting
# at 8 or 12 tokens also cut honest lists (doses: "600 mg/m2 IV; 6000 mg/m2 IV"), treatment
# 16.87 -> 16.22 / 16.61; at 16 diagnosis (2 beams) 25.26 and treatment 16.83, as without it.
REPEAT_NGRAM = 16


def first_repeat(ids: list[int], n: int = REPEAT_NGRAM) -> int:
    """Where `ids` first repeats an `n`-token phrase of its own: the start of the second
    occurrence (len(ids) when no phrase repeats; n < 1 turns it off).

    Why: beam search (and sometimes greedy) drifts into loops that are not periodic enough
    for `repeated_tail` ("cT2N1M0, cT2N1P0, ER positive, ..., cT2N1M0, cT2N1P0, ..."). The
    answer is cut there rather than the phrase forbidden: transformers'
    `no_repeat_ngram_size` makes a looping model enumerate variants instead ("cT2a cN0, cT2a
    cR1, cT2a cN1, ...", measured on examples/notes.jsonl), and counts the prompt too.
    """
    seen: dict[tuple[int, ...], int] = {}
    for i in range(len(ids) - n + 1) if n >= 1 else ():
        gram = tuple(ids[i:i + n])
        first = seen.setdefault(gram, i)
        if first != i and first + n <= i:   # a second, non-overlapping occurrence
            return i
    return len(ids)


class RepetitionStop:
    """A `StoppingCriteria` that ends a row once its answer repeats itself: a periodic tail
    (above) or an `n`-token phrase said twice (`first_repeat`, below). Under beam search a
    stopped beam is a finished hypothesis, so a looping beam competes with the others at the
    length it reached; the repeat itself is cut from the answer afterwards."""

    def __init__(self, prompt_width: int, n: int = REPEAT_NGRAM):
        self.width, self.n = prompt_width, n

    def __call__(self, input_ids, scores, **kwargs):
        import torch
        rows = input_ids[:, self.width:].tolist()
        return torch.tensor([repeated_tail(r) > 0 or self._phrase_again(r) for r in rows], dtype=torch.bool,
                            device=input_ids.device)

    def _phrase_again(self, row: list[int]) -> bool:
        """The last n tokens occurred earlier, not overlapping them: `first_repeat`'s test for
        the newest position only (the one repeat a step can add), cheap enough for every step."""
        n = self.n
        if n < 1 or len(row) < 2 * n:
            return False
        tail = row[-n:]
        return any(row[i] == tail[0] and row[i:i + n] == tail for i in range(len(row) - 2 * n + 1))


def iter_generate(model, tokenizer, encoded: list[list[int]], max_new_tokens: int,
                  batch_size: int = 16, min_new_tokens: int | None = None,
                  stop_repetition: bool = True, num_beams: int = 1,
                  repeat_ngram: int = REPEAT_NGRAM) -> Iterator[Batch]:
    """Generate for token-id prompts batch by batch (longest first); yields each batch done.
    With `num_beams` > 1 each prompt's best beam is kept (a batch then holds batch_size x
    num_beams rows). `stop_repetition` guards against loops (`RepetitionStop`): a row stops
    once its answer turns periodic or says a `repeat_ngram`-token phrase twice (0: only the
    periodic check), and the answer is cut there."""
    import torch
    from transformers import StoppingCriteriaList
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
        stops = StoppingCriteriaList([RepetitionStop(width, repeat_ngram)]) if stop_repetition else None
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                 generation_config=config, stopping_criteria=stops)
        texts, counts = [], []
        for row in out[:, width:].tolist():
            stop = next((k for k, t in enumerate(row) if t in eos), None)
            counts.append(len(row) if stop is None else stop + 1)
            kept = row if stop is None else row[:stop]
            if stop_repetition:
                kept = kept[:len(kept) - repeated_tail(kept)]
                kept = kept[:first_repeat(kept, repeat_ngram)]
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

