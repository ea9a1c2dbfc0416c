"""The vLLM generation backend (`--backend vllm`): same prompts, same answers, more tokens/s.

Optional: vLLM needs a CUDA GPU and its own torch build, so it is not a dependency of the
package (install it in a GPU environment: `pip install vllm`); without it `--backend vllm`
is a one-line ConfigError. What is shared with the HF backend, so that greedy outputs are
the same text: the prompt token ids (`encode_prompts`, one truncation rule), greedy decoding
(temperature 0), the stop tokens (EOS and end-of-turn, `models.generation._eos_ids`), and the
post-processing of the generated ids (cut at the first stop token, cut a repeating tail,
decode, `PromptFormat.clean`). vLLM cannot stop a row when it starts repeating itself, so it
may generate more tokens than HF before the same cut; the texts stay the same.
Identity with HF greedy is checked on a GPU by `benchmarks/gpu_check.sh` (not on CPU:
vLLM does not run there). LoRA adapters are served unmerged with a `LoRARequest`.

Memory: vLLM (V1) runs the model in an engine process of its own, so this process's
`torch.cuda.max_memory_allocated` sees none of it. The figure recorded is the device's
used memory (`torch.cuda.mem_get_info`, all processes) above what was in use before the
engine started, sampled through loading and generation: it includes the KV-cache block
vLLM reserves (`gpu_memory_utilization`), which is what the run really holds.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from cancerllm.errors import ConfigError

VLLM_QUANTIZATION = {"4bit": "bitsandbytes"}  # vLLM's in-flight bitsandbytes is 4-bit only


def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("--backend vllm needs the vllm package (pip install vllm, on a machine with "
                          "a CUDA GPU); use --backend hf")


def lora_rank(adapter_dir: str | Path) -> int:
    """vLLM's `max_lora_rank` for an adapter: the next allowed size (8, 16, 32, ...) >= its r."""
    rank = int(json.loads((Path(adapter_dir) / "adapter_config.json").read_text()).get("r", 16))
    return 1 << (max(8, rank) - 1).bit_length()


def engine_kwargs(model_dir: str | Path, adapter_dir: str | Path | None = None, dtype: str | None = None,
                  quantization: str | None = None, max_model_len: int | None = None) -> dict:
    """The `vllm.LLM(...)` arguments for a local model (and adapter)."""
    kwargs: dict = {"model": str(model_dir), "tokenizer": str(model_dir), "seed": 0, "dtype": dtype or "auto"}
    if max_model_len:
        kwargs["max_model_len"] = max_model_len
    if quantization:
        if quantization not in VLLM_QUANTIZATION:
            raise ConfigError(f"--backend vllm loads quantized models in {', '.join(VLLM_QUANTIZATION)} only "
                              f"(vLLM's bitsandbytes path); got --quantization {quantization}. Use --backend hf")
        kwargs["quantization"] = VLLM_QUANTIZATION[quantization]
    if adapter_dir is not None:
        kwargs.update(enable_lora=True, max_lora_rank=lora_rank(adapter_dir), max_loras=1)
    return kwargs


def stop_token_ids(model_dir: str | Path, tokenizer) -> list[int]:
    """The token ids that end an answer, exactly as the HF backend computes them."""
    from transformers import GenerationConfig

    from cancerllm.models.generation import _eos_ids
    try:
        gen = GenerationConfig.from_pretrained(str(model_dir), local_files_only=True)
    except OSError:  # no generation_config.json: the tokenizer's EOS and end-of-turn only
        gen = None
    return _eos_ids(SimpleNamespace(generation_config=gen), tokenizer)


def sampling_params(max_new_tokens: int, stop_ids: list[int]):
    """Greedy `SamplingParams`: temperature 0, at most `max_new_tokens`, stop at `stop_ids`."""
    from vllm import SamplingParams
    return SamplingParams(temperature=0.0, top_p=1.0, top_k=-1, max_tokens=max_new_tokens,
                          stop_token_ids=list(stop_ids), skip_special_tokens=True, seed=0)


def answer_from_ids(token_ids: list[int], stop_ids: set[int], tokenizer, fmt) -> tuple[str, int]:
    """(cleaned text, new tokens counted as HF counts them) from one row of generated ids."""
    from cancerllm.models.generation import repeated_tail
    ids = list(token_ids)
    stop = next((k for k, t in enumerate(ids) if t in stop_ids), None)
    count = len(ids) if stop is None else stop + 1
    kept = ids if stop is None else ids[:stop]
    kept = kept[:len(kept) - repeated_tail(kept)]
    return fmt.clean(tokenizer.decode(kept, skip_special_tokens=True)), count


class DeviceMemoryPeak:
    """Peak device memory in use (all processes) above the level at start, sampled in a thread."""

    def __init__(self, interval_s: float = 0.05):
        import torch
        self.torch, self.interval = torch, interval_s
        self.base = self._used()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _used(self) -> int:
        free, total = self.torch.cuda.mem_get_info()
        return total - free

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._used() - self.base)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._used() - self.base)

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


def run_vllm(stats, model_dir: Path, adapter_dir: Path | None, prompts: list, write, dtype: str | None) -> None:
    """Fill `stats` and call `write(Batch)` per chunk, as `cancerllm.evaluate.predictions._run_hf` does."""
    require_vllm()
    from vllm import LLM

    from cancerllm.models.generation import Batch, encode_prompts
    from cancerllm.models.loading import load_tokenizer
    from cancerllm.tasks.prompts import PromptFormat

    kwargs = engine_kwargs(model_dir, adapter_dir, dtype, getattr(stats, "quantization", None))
    lora = None
    if adapter_dir is not None:
        from vllm.lora.request import LoRARequest
        lora = LoRARequest("adapter", 1, str(adapter_dir))
    tokenizer = load_tokenizer(model_dir)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    stop_ids = stop_token_ids(model_dir, tokenizer)
    params = sampling_params(stats.max_new_tokens, stop_ids)
    with DeviceMemoryPeak() as memory:
        t0 = time.perf_counter()
        llm = LLM(**kwargs)
        stats.load_seconds = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        encoded, truncated = encode_prompts(tokenizer, prompts, stats.max_input_tokens,
                                            cut=stats.context_truncation)
        stats.n_truncated = len(truncated)
        chunk = max(stats.batch_size, 1) * 16  # vLLM schedules its own batches; chunks bound lost work
        for start in range(0, len(encoded), chunk):
            idx = list(range(start, min(start + chunk, len(encoded))))
            outs = llm.generate([{"prompt_token_ids": encoded[i]} for i in idx], params,
                                lora_request=lora, use_tqdm=False)
            answers = [answer_from_ids(o.outputs[0].token_ids, set(stop_ids), tokenizer, fmt) for o in outs]
            write(Batch(idx, [a[0] for a in answers], [a[1] for a in answers]))
        stats.wall_seconds = round(time.perf_counter() - t0, 3)
    stats.peak_memory_mb = memory.peak_mb
    stats.memory_kind = "cuda_device_used_above_start"
