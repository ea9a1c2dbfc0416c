"""A task's predictions file, written as it goes, with what the run cost.

`generate_predictions` writes `{id, task, prediction, model}` lines with
`cancerllm.io.JsonlAppender` (flushed per record, torn last line dropped on resume),
skips ids already in the file, and writes `<out>.stats.json` beside it with wall time,
generated tokens, tokens/s, peak memory and the truncation count of that run
(`GenerationStats`). The answers come from the generation engine,
`cancerllm.models.generation` (prompt building, batching and truncation rules are
described there).

Backends: "hf" (transformers `generate`, any device) or "vllm" (only when the `vllm`
package is installed and CUDA is present; same output file,
`cancerllm.evaluate.backends.vllm`). "auto" picks vLLM when both hold, else "hf". vLLM is
never required, and is not exercised by the CPU test suite.

`draw_records` draws the records an evaluation runs on (`cancerllm.tasks.store.read_split` reads a split).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cancerllm.errors import ConfigError, RecordError
from cancerllm.models.generation import Batch, Prompt, encode_prompts, iter_generate, model_label
from cancerllm.tasks.prompts import Cut
from cancerllm.tasks.truncation import select_sections

log = logging.getLogger(__name__)

BACKENDS = ("auto", "hf", "vllm")


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
    num_beams: int = 1
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
                         context_sections: list[str] | None = None, num_beams: int = 1) -> GenerationStats:
    """Generate `task` predictions for `records` (task JSONL dicts) into `out_path`; resumable.

    Limits default to the task's registered paper limits. `progress(n)` is called after
    each batch with the number of records just written. `context_truncation` and
    `context_sections` repeat the fine-tuning recipe's choices for the task; left unset,
    an adapter's saved choices apply (`tasks.prompt_settings`). `num_beams` > 1: beam
    search instead of greedy decoding (`models.generation.decoding_config`; HF backend only).
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
    if num_beams > 1 and backend == "vllm":
        raise ConfigError("beam search (num_beams > 1) runs on the hf backend only; use --backend hf")
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
        max_new_tokens=max_new_tokens or spec.max_new_tokens, num_beams=num_beams, quantization=quantization,
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
    for batch in iter_generate(model, tokenizer, encoded, stats.max_new_tokens, stats.batch_size,
                               num_beams=stats.num_beams):
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
