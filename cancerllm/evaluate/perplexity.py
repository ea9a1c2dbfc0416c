"""Perplexity of a causal LM (optionally with a LoRA adapter, unmerged) on a set of texts.

`cancerllm eval perplexity --model DIR [--adapter DIR] --data JSONL` answers "did
continued pre-training make the model better at our text?" on held-out documents.

How it counts (the sliding-window method of the transformers perplexity guide):
- each text is tokenized on its own, without special tokens; its first token has no
  context and is not predicted, so a text of n tokens contributes n - 1 predictions;
- a text longer than `window` tokens is read in windows of `window` tokens that start
  every `stride` tokens; each token is predicted once, in the first window that covers it
  as a new token, so it sees at least `window - stride` tokens of context (all of them
  when the text fits in one window; with stride == window, windows overlap by one token
  so that no token is skipped);
- perplexity = exp(total NLL / predicted tokens), pooled over all texts (the corpus
  perplexity, not a mean of per-text perplexities).
Perplexity per token depends on the tokenizer; `bits_per_byte` (total NLL in bits over
the UTF-8 bytes of the predicted text) compares models with different tokenizers.
`max_tokens` keeps only the first tokens of each text (a CPU budget); say so when
reporting. Windows of all texts are batched by length; padding never affects a score
(right padding under a causal mask, padded labels ignored).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from cancerllm.tasks.prompts import IGNORE_INDEX


@dataclass
class Window:
    text: int          # index of the text
    ids: list[int]     # tokens fed to the model
    n_context: int     # leading tokens that are context only (their predictions are not counted)


def make_windows(ids: list[int], window: int, stride: int, text: int = 0) -> list[Window]:
    """Windows of one tokenized text so that tokens 1..n-1 are each predicted exactly once."""
    if not 0 < stride <= window:
        raise ValueError(f"need 0 < stride <= window (stride {stride}, window {window})")
    out: list[Window] = []
    predicted_to = 1  # tokens [1, predicted_to) are done; token 0 is never predicted
    begin = 0
    while predicted_to < len(ids):
        end = min(begin + window, len(ids))
        # Tokens [predicted_to, end) are new here; position p is predicted from [begin, p).
        out.append(Window(text, ids[begin:end], predicted_to - begin))
        predicted_to = end
        # Advance by `stride`, but keep the token before the first new one in the window:
        # a window's first token is context only (nothing before it to predict it from).
        begin = min(begin + stride, predicted_to - 1)
    return out


def _batches(windows: list[Window], batch_size: int) -> list[list[Window]]:
    ordered = sorted(windows, key=lambda w: len(w.ids), reverse=True)
    return [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]


def score_windows(model, windows: list[Window], pad_id: int, batch_size: int = 4,
                  log_every: int | None = None) -> tuple[list[float], list[int]]:
    """(summed NLL in nats, predicted tokens) per text index over all `windows`.

    `log_every`: print progress every that many batches (long CPU runs)."""
    import torch
    n_texts = max((w.text for w in windows), default=-1) + 1
    nll, count = [0.0] * n_texts, [0] * n_texts
    device = next(model.parameters()).device
    batches = _batches(windows, batch_size)
    t0, seen = time.perf_counter(), 0
    for b, batch in enumerate(batches, start=1):
        length = len(batch[0].ids)
        ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for row, w in enumerate(batch):
            n = len(w.ids)
            ids[row, :n] = torch.tensor(w.ids)
            mask[row, :n] = 1
            labels[row, w.n_context:n] = ids[row, w.n_context:n]
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
        logits = logits[:, :-1].float()
        target = labels[:, 1:].to(device)
        token_nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE_INDEX,
            reduction="none").view(target.shape)
        valid = target != IGNORE_INDEX
        for row, w in enumerate(batch):
            nll[w.text] += float(token_nll[row][valid[row]].sum())
            count[w.text] += int(valid[row].sum())
        seen += sum(len(w.ids) for w in batch)
        if log_every and (b % log_every == 0 or b == len(batches)):
            print(f"[perplexity] batch {b}/{len(batches)}, {seen / (time.perf_counter() - t0):.0f} tokens/s",
                  flush=True)
    return nll, count


def perplexity(model, tokenizer, texts: list[str], window: int = 512, stride: int = 256,
               max_tokens: int | None = None, batch_size: int = 4, log_every: int | None = None) -> dict:
    """Corpus perplexity of `texts` (see the module docstring); also NLL/token and bits/byte."""
    fast = getattr(tokenizer, "is_fast", False)
    windows: list[Window] = []
    predicted_bytes = 0
    n_tokens_total = 0
    for i, text in enumerate(texts):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=fast)
        ids = enc["input_ids"][:max_tokens] if max_tokens else enc["input_ids"]
        if len(ids) < 2:
            continue
        n_tokens_total += len(ids)
        windows += make_windows(ids, window, stride, i)
        if fast:  # bytes of the text from the end of token 0 to the end of the last kept token
            offsets = enc["offset_mapping"][:len(ids)]
            predicted_bytes += len(text[offsets[0][1]:offsets[-1][1]].encode("utf-8"))
        else:
            predicted_bytes += len(tokenizer.decode(ids[1:]).encode("utf-8"))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    t0 = time.perf_counter()
    nll, count = score_windows(model, windows, pad if pad is not None else 0, batch_size, log_every)
    seconds = time.perf_counter() - t0
    total_nll, total = sum(nll), sum(count)
    mean = total_nll / total if total else float("nan")
    return {"perplexity": math.exp(mean) if total else None, "nll_per_token": mean if total else None,
            "bits_per_byte": total_nll / math.log(2) / predicted_bytes if predicted_bytes else None,
            "n_texts": sum(c > 0 for c in count), "n_tokens": n_tokens_total, "n_predicted": total,
            "n_windows": len(windows), "window": window, "stride": stride, "max_tokens": max_tokens,
            "seconds": round(seconds, 2),
            "tokens_per_s": round(sum(len(w.ids) for w in windows) / seconds, 1) if seconds else None}


def evaluate_perplexity(model_dir: str | os.PathLike, data: str | os.PathLike,
                        adapter_dir: str | os.PathLike | None = None, text_field: str = "text",
                        window: int = 512, stride: int = 256, max_tokens: int | None = None,
                        limit: int | None = None, batch_size: int = 4, device: str | None = None,
                        dtype: str | None = None, texts: list[str] | None = None,
                        log_every: int | None = None) -> dict:
    """Load model (+ adapter) and compute `perplexity` on the documents of `data`
    (any format the data stage reads: JSONL, CSV, txt, Parquet), or on `texts` if given."""
    from cancerllm.errors import InputError
    from cancerllm.models.loading import load_causal_lm
    if texts is None:
        from cancerllm.data.readers import iter_documents
        texts = [d.text for d in iter_documents(str(data), text_field=text_field)]
    texts = texts[:limit] if limit is not None else texts
    if not texts:
        raise InputError(f"{data}: no texts to score (field {text_field!r})")
    model, tok = load_causal_lm(model_dir, adapter_dir, device=device, dtype=dtype, padding_side="right")
    result = perplexity(model, tok, texts, window=window, stride=stride, max_tokens=max_tokens,
                        batch_size=batch_size, log_every=log_every)
    return {"model": str(model_dir), "adapter": str(adapter_dir) if adapter_dir else None,
            "data": str(data) if data is not None else None, "dtype": str(next(model.parameters()).dtype),
            **result}
