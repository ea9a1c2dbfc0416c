"""Batched greedy generation, and a task's predictions file written as it goes.

`generate` is the one generation path of the toolkit: evaluation (`cancerllm eval
generate`, `compare`) and inference (`cancerllm extract|diagnose|plan|predict|serve`) all
call it, so a model answers the same prompt the same way everywhere.

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
its last tokens. Every truncation is counted (`GenerationStats.n_truncated`) and logged
by count, never by text.

`generate_predictions` writes `{id, task, prediction, model}` lines with
`cancerllm.io.JsonlAppender` (flushed per record, torn last line dropped on resume),
skips ids already in the file, and writes `<out>.stats.json` beside it with wall time,
generated tokens, tokens/s, peak memory and the truncation count of that run.

Backends: "hf" (transformers `generate`, any device) or "vllm" (only when the `vllm`
package is installed and CUDA is present; same output file). "auto" picks vLLM when both
hold, else "hf". vLLM is never required, and is not exercised by the CPU test suite.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cancerllm.errors import ConfigError, RecordError
from cancerllm.tasks.prompts import Cut, PromptFormat
from cancerllm.tasks.truncation import select_sections

log = logging.getLogger(__name__)

BACKENDS = ("auto", "hf", "vllm")


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


def greedy_config(model, tokenizer, max_new_tokens: int, min_new_tokens: int | None = None):
    """A fresh greedy GenerationConfig: nothing inherited from the model's sampling defaults."""
    from transformers import GenerationConfig
    eos = _eos_ids(model, tokenizer)
    return GenerationConfig(max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                            do_sample=False, num_beams=1, use_cache=True,
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


def iter_generate(model, tokenizer, encoded: list[list[int]], max_new_tokens: int,
                  batch_size: int = 16, min_new_tokens: int | None = None,
                  stop_repetition: bool = True) -> Iterator[Batch]:
    """Generate for token-id prompts batch by batch (longest first); yields each batch done."""
    import torch
    from transformers import StoppingCriteriaList
    fmt = PromptFormat.for_tokenizer(tokenizer)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    config = greedy_config(model, tokenizer, max_new_tokens, min_new_tokens)
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
            texts.append(fmt.clean(tokenizer.decode(kept, skip_special_tokens=True)))
        yield Batch(idx, texts, counts)


def generate_with_counts(model, tokenizer, prompts: list[Prompt], max_new_tokens: int,
                         batch_size: int = 16, max_input_tokens: int | None = None,
                         min_new_tokens: int | None = None,
                         cut: Cut = "start") -> tuple[list[str], list[int], list[int]]:
    """(texts in input order, new tokens per prompt, indices of truncated prompts)."""
    encoded, truncated = encode_prompts(tokenizer, prompts, max_input_tokens, cut=cut)
    if truncated:
        log.warning("%d of %d prompts longer than %s tokens were truncated", len(truncated),
                    len(prompts), max_input_tokens)
    texts: list[str] = [""] * len(prompts)
    counts: list[int] = [0] * len(prompts)
    for batch in iter_generate(model, tokenizer, encoded, max_new_tokens, batch_size, min_new_tokens):
        for i, text, n in zip(batch.indices, batch.texts, batch.new_tokens):
            texts[i], counts[i] = text, n
    return texts, counts, truncated


def generate(model, tokenizer, prompts: list[Prompt], max_new_tokens: int, batch_size: int = 16,
             max_input_tokens: int | None = None, min_new_tokens: int | None = None) -> list[str]:
    """Greedy answers to `prompts`, in input order (see the module doc for the rules)."""
    return generate_with_counts(model, tokenizer, prompts, max_new_tokens, batch_size,
                                max_input_tokens, min_new_tokens)[0]


# ---------------------------------------------------------------- predictions file


@dataclass
class GenerationStats:
    """What one `generate_predictions` call did and cost (the paper's Table 7 columns).

    Counts and costs cover this call only: ids found in the output from an earlier run
    are `n_resumed` and cost nothing here. `peak_memory_mb` is, on CUDA, the peak of
    `torch.cuda.max_memory_allocated` during generation; on CPU, the process's peak
    resident set (ru_maxrss), which includes everything the process loaded before.
    """

    task: str
    model: str
    model_dir: str
    adapter_dir: str | None
    backend: str
    device: str
    batch_size: int
    max_input_tokens: int
    max_new_tokens: int
    context_truncation: str = "start"
    context_sections: list[str] | None = None
    adapter_merged: bool = False
    n_instances: int = 0
    n_generated: int = 0
    n_resumed: int = 0
    n_truncated: int = 0
    generated_tokens: int = 0
    load_seconds: float = 0.0
    wall_seconds: float = 0.0
    tokens_per_second: float = 0.0
    peak_memory_mb: float = 0.0
    memory_kind: str = ""
    quantization: str | None = None   # 4bit | 8bit (bitsandbytes), None = full weights
    date: str = ""
    versions: dict = field(default_factory=dict)


def stats_path(out_path: str | os.PathLike) -> Path:
    """`pred.jsonl` -> `pred.stats.json` (beside the predictions)."""
    p = Path(out_path)
    stem = p.name[:-len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    return p.with_name(stem + ".stats.json")


def peak_cpu_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux KB / macOS bytes; psutil elsewhere)."""
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except ImportError:  # Windows
        import psutil
        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / (1024 * 1024)


def resolve_backend(backend: str, device: str | None = None) -> str:
    """'auto' -> 'vllm' when vllm is importable and CUDA is present (and device allows), else 'hf'."""
    import importlib.util
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "hf":
        return "hf"
    available = importlib.util.find_spec("vllm") is not None and _cuda_available() and device in (None, "auto", "cuda")
    if backend == "vllm" and not available:
        raise ConfigError("backend 'vllm' needs the vllm package and a CUDA GPU; use --backend hf")
    return "vllm" if available else "hf"


def _cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def model_label(model_dir: str | os.PathLike, adapter_dir: str | os.PathLike | None = None) -> str:
    """Short model name for outputs: base folder name, '+adapter folder name' when adapted."""
    name = Path(model_dir).name
    return f"{name}+{Path(adapter_dir).name}" if adapter_dir else name


def _pending(records: Iterable[dict], done: set[str], limit: int | None) -> tuple[list[dict], int, int]:
    """(records still to generate, n in scope, n already done). Checks the fields we need."""
    todo, seen, n, resumed = [], set(), 0, 0
    for i, rec in enumerate(records, start=1):
        if limit is not None and n >= limit:
            break
        if not isinstance(rec, dict) or rec.get("id") is None:
            raise RecordError("records", i, "record has no 'id'")
        if not isinstance(rec.get("context"), str):
            raise RecordError("records", i, "record has no text field 'context'", str(rec["id"]))
        rid = str(rec["id"])
        if rid in seen:
            raise RecordError("records", i, "duplicate id", rid)
        seen.add(rid)
        n += 1
        if rid in done:
            resumed += 1
        else:
            todo.append(rec)
    return todo, n, resumed


def generate_predictions(model_dir: str | os.PathLike, task: str, records: Iterable[dict],
                         out_path: str | os.PathLike, adapter_dir: str | os.PathLike | None = None,
                         batch_size: int = 16, max_input_tokens: int | None = None,
                         max_new_tokens: int | None = None, device: str | None = None,
                         dtype: str | None = None, backend: str = "auto", limit: int | None = None,
                         model_name: str | None = None, quantization: str | None = None,
                         progress: Callable[[int], None] | None = None,
                         context_truncation: Cut | None = None,
                         context_sections: list[str] | None = None) -> GenerationStats:
    """Generate `task` predictions for `records` (task JSONL dicts) into `out_path`; resumable.

    Limits default to the task's registered paper limits. `progress(n)` is called after
    each batch with the number of records just written. `context_truncation` and
    `context_sections` repeat the fine-tuning recipe's choices for the task; left unset,
    an adapter's saved choices apply (`tasks.prompt_settings`).
    """
    from cancerllm.io import JsonlAppender, atomic_write_json
    from cancerllm.models.loading import pick_device
    from cancerllm.offline import local_model_dir
    from cancerllm.runs import versions
    from cancerllm.tasks.registry import get_task

    spec = get_task(task)
    model_dir = local_model_dir(model_dir)
    if adapter_dir is not None:
        adapter_dir = local_model_dir(adapter_dir, "adapter")
    backend = resolve_backend(backend, device)
    from cancerllm.tasks.prompt_settings import read_prompt_settings
    saved = read_prompt_settings(adapter_dir)
    if saved is not None:
        saved_max, saved_cut, saved_sections = saved.for_task(spec.name)
        max_input_tokens = max_input_tokens or saved_max
        context_truncation = context_truncation or saved_cut
        context_sections = context_sections if context_sections is not None else saved_sections
    context_truncation = context_truncation or "start"
    stats = GenerationStats(
        task=spec.name, model=model_name or model_label(model_dir, adapter_dir), model_dir=str(model_dir),
        adapter_dir=str(adapter_dir) if adapter_dir else None, backend=backend,
        device="cuda" if backend == "vllm" else pick_device(device), batch_size=batch_size,
        max_input_tokens=max_input_tokens or spec.max_input_tokens,
        max_new_tokens=max_new_tokens or spec.max_new_tokens, quantization=quantization,
        context_truncation=context_truncation,
        context_sections=list(context_sections) if context_sections else None, date=time.strftime("%Y-%m-%dT%H:%M:%S"),
        versions=versions())
    with JsonlAppender(out_path) as out:
        todo, stats.n_instances, stats.n_resumed = _pending(records, out.done, limit)
        if not todo:
            log.info("%s: all %d predictions already in %s", spec.name, stats.n_instances, out_path)
            return _earlier_stats(out_path) or stats
        prompts = [(r.get("instruction") or spec.instruction, select_sections(r["context"], context_sections))
                   for r in todo]

        def write(batch: Batch) -> None:
            for i, text in zip(batch.indices, batch.texts):
                out.write({"id": todo[i]["id"], "task": spec.name, "prediction": text, "model": stats.model})
            stats.n_generated += len(batch.indices)
            stats.generated_tokens += sum(batch.new_tokens)
            if progress:
                progress(len(batch.indices))

        run = _run_vllm if backend == "vllm" else _run_hf
        run(stats, model_dir, adapter_dir, prompts, write, dtype)
    stats.tokens_per_second = round(stats.generated_tokens / stats.wall_seconds, 2) if stats.wall_seconds else 0.0
    atomic_write_json(stats_path(out_path), asdict(stats))
    return stats


def _earlier_stats(out_path: str | os.PathLike) -> GenerationStats | None:
    """The stats a finished earlier run wrote, so a no-op resume still reports its cost."""
    import dataclasses
    import json
    path = stats_path(out_path)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in dataclasses.fields(GenerationStats)}
    try:
        return GenerationStats(**{k: v for k, v in data.items() if k in names})
    except TypeError:
        return None


def _run_hf(stats: GenerationStats, model_dir: Path, adapter_dir: Path | None, prompts: list[Prompt],
            write: Callable[[Batch], None], dtype: str | None) -> None:
    import torch
    from cancerllm.models.loading import load_causal_lm
    t0 = time.perf_counter()
    model, tokenizer = load_causal_lm(model_dir, adapter_dir, device=stats.device, dtype=dtype,
                                      quantization=stats.quantization)
    if adapter_dir is not None and hasattr(model, "merge_and_unload") and not stats.quantization \
            and not _is_quantized(model):
        # Folding the LoRA weights into the base once makes every decoding step a plain
        # forward: 3-6x more new tokens/s for SmolLM2 + r16 on a CPU than peft's unmerged
        # layers (which run the adapter beside every linear layer at each token).
        model = model.merge_and_unload()
        stats.adapter_merged = True
    stats.load_seconds = round(time.perf_counter() - t0, 3)
    cuda = stats.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    encoded, truncated = encode_prompts(tokenizer, prompts, stats.max_input_tokens,
                                        cut=stats.context_truncation)
    stats.n_truncated = len(truncated)
    if truncated:
        log.warning("%s: %d of %d prompts truncated to %d tokens", stats.task, len(truncated),
                    len(prompts), stats.max_input_tokens)
    for batch in iter_generate(model, tokenizer, encoded, stats.max_new_tokens, stats.batch_size):
        write(batch)
    stats.wall_seconds = round(time.perf_counter() - t0, 3)
    if cuda:
        stats.peak_memory_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        stats.memory_kind = "cuda_max_allocated"
    else:
        stats.peak_memory_mb = round(peak_cpu_rss_mb(), 1)
        stats.memory_kind = "cpu_peak_rss"


def _is_quantized(model) -> bool:
    """True for a bitsandbytes-loaded base (its 4/8-bit weights cannot take a merged adapter)."""
    base = getattr(model, "base_model", model)
    return bool(getattr(getattr(base, "model", base), "is_quantized", False)
                or getattr(base, "is_quantized", False))


def _run_vllm(stats: GenerationStats, model_dir: Path, adapter_dir: Path | None, prompts: list[Prompt],
              write: Callable[[Batch], None], dtype: str | None) -> None:
    """vLLM path (GPU + optional package): cancerllm/evaluate/backends/vllm.py."""
    from cancerllm.evaluate.backends.vllm import run_vllm
    run_vllm(stats, model_dir, adapter_dir, prompts, write, dtype)


def draw_records(rows: list[dict], n: int | None, seed: int = 0, key: str = "",
                 sample: str = "random") -> list[dict]:
    """An evaluation slice of `rows`: the first `n` (`sample="first"`), or `n` drawn with
    (`seed`, `key`) and kept in file order (`"random"`, the default for slices).

    A task split lists records note by note (eight phenotype questions per sentence, the
    notes of one patient together), so its first 160 records can be three prostate
    patients; a drawn slice covers the split. The same (seed, key) gives every system the
    same records.
    """
    import random
    if sample not in ("first", "random"):
        raise ConfigError(f"sample must be 'first' or 'random', not {sample!r}")
    if n is None or n >= len(rows):
        return list(rows)
    if sample == "first":
        return rows[:n]
    keep = sorted(random.Random(f"{seed}:{key}").sample(range(len(rows)), n))
    return [rows[k] for k in keep]
