"""Peak GPU memory and speed of a Mistral-7B-shaped model: LoRA, QLoRA, generation.

The weights are random (`MistralConfig()` defaults are the 7B shape: hidden 4096, 32
layers, 32 heads, 8 KV heads, intermediate 14336, vocab 32000): speed and memory do not
depend on the values, so no download is needed. Each case runs in its own subprocess, so
every peak is that case's alone:

- `lora_bf16`: bf16 base built directly on the GPU, LoRA r 64 / alpha 16 / dropout 0.05
  on all linear layers (the fine-tuning recipe), gradient checkpointing, AdamW, batch
  1 x 1024 tokens, 1 warm-up + 3 timed steps.
- `qlora_nf4`: the same on a 4-bit NF4 base (bitsandbytes, double quantisation, bf16
  compute) via `prepare_model_for_kbit_training`, as `quantization: 4bit` does. 4-bit
  loading goes through `from_pretrained`, so the random bf16 model is first saved to a
  scratch folder (about 15 GB; `--workdir`, deleted afterwards).
- `generate_{bf16,nf4}_b{1,16}`: greedy generation of exactly 128 new tokens after a
  512-token prompt, batch 1 and 16, KV cache on.

Reported per case: peak allocated and reserved memory (torch.cuda.max_memory_*, after
the model is built), the weights alone, the device memory in use at the end as the driver
sees it (includes the CUDA context and the allocator cache: the closest to nvidia-smi,
which is presumably what the paper read), and seconds per step / new tokens per second.
The paper's figures (Table 7: 5.5-5.8 GB for generation on an A100; 7,338 MB for
fine-tuning) are quoted beside them for comparison, not measured here.

Without CUDA the script prints "skipped: no CUDA device", writes a JSON saying so and
exits 0. Needs only torch, transformers, peft (bitsandbytes and accelerate for 4-bit).

    python benchmarks/bench_gpu_7b.py [--cases lora_bf16,generate_bf16_b1] [--workdir DIR]
    python benchmarks/bench_gpu_7b.py --smoke [--allow-cpu]   # a tiny config: checks the script
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the checkout on sys.path)
from common import new_result, print_table, rounded, smoke_requested, write_result

CASES = ("lora_bf16", "qlora_nf4", "generate_bf16_b1", "generate_bf16_b16",
         "generate_nf4_b1", "generate_nf4_b16")
PAPER = {  # quoted from the CancerLLM paper for comparison (A100); never measured here
    "lora_bf16": "7,338 MB (fine-tuning)", "qlora_nf4": "7,338 MB (fine-tuning)",
    "generate_bf16_b1": "5.5-5.8 GB", "generate_bf16_b16": "5.5-5.8 GB",
    "generate_nf4_b1": "5.5-5.8 GB", "generate_nf4_b16": "5.5-5.8 GB",
}
SIZES = {"7b": dict(seq=1024, prompt=512, new_tokens=128, steps=3),
         "tiny": dict(seq=128, prompt=32, new_tokens=8, steps=2)}
MB = 2**20


# ---------------------------------------------------------------- one case (child process)


def model_config(tiny: bool):
    from transformers import MistralConfig
    if tiny:
        return MistralConfig(vocab_size=1000, hidden_size=128, intermediate_size=256,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    return MistralConfig()  # the defaults are Mistral-7B's shape


def build_bf16(tiny: bool, device: str):
    """Random bf16 weights allocated directly on `device` (no CPU copy, no download)."""
    import torch
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    with torch.device(device):
        try:
            return AutoModelForCausalLM.from_config(model_config(tiny), dtype=torch.bfloat16)
        except TypeError:  # transformers 4.x names it torch_dtype
            return AutoModelForCausalLM.from_config(model_config(tiny), torch_dtype=torch.bfloat16)


def load_nf4(checkpoint: str):
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                           bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)
    return AutoModelForCausalLM.from_pretrained(checkpoint, quantization_config=q,
                                                dtype=torch.bfloat16, device_map={"": 0})


def _checkpointing_on(model) -> None:
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class Memory:
    """Peak memory of the case: CUDA allocator stats, or this process's RSS on a CPU."""

    def __init__(self, device: str):
        import torch
        self.cuda = device == "cuda"
        self.torch = torch

    def allocated_mb(self) -> float | None:
        return round(self.torch.cuda.memory_allocated() / MB) if self.cuda else None

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def peaks(self) -> dict:
        if not self.cuda:
            return {"peak_rss_mb": common.peak_rss_mb()}
        free, total = self.torch.cuda.mem_get_info()
        return {"peak_allocated_mb": round(self.torch.cuda.max_memory_allocated() / MB),
                "peak_reserved_mb": round(self.torch.cuda.max_memory_reserved() / MB),
                "device_used_at_end_mb": round((total - free) / MB)}


def train_steps(model, quantized: bool, seq: int, steps: int, mem: Memory, device: str) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    model.config.use_cache = False
    if quantized:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        _checkpointing_on(model)
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=64, lora_alpha=16, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=2e-4)
    ids = torch.randint(0, model.config.vocab_size, (1, seq), device=device,
                        generator=torch.Generator(device=device).manual_seed(0))
    model.train()
    mem.reset_peak()
    times = []
    for i in range(steps + 1):  # the first step is a warm-up
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        mem.sync()
        if i:
            times.append(time.perf_counter() - t0)
    s = sum(times) / len(times)
    return {"trainable_params": sum(p.numel() for p in trainable), "tokens": f"1 x {seq}",
            "s_per_step": rounded(s), "tokens_per_s": round(seq / s, 1),
            "final_loss": round(float(loss), 3)}


def generation(model, batch: int, prompt: int, new_tokens: int, mem: Memory, device: str) -> dict:
    import torch
    model.eval()
    model.config.use_cache = True
    gen = torch.Generator(device=device).manual_seed(0)
    ids = torch.randint(3, model.config.vocab_size, (batch, prompt), device=device, generator=gen)
    mask = torch.ones_like(ids)
    kw = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
    with torch.inference_mode():
        model.generate(input_ids=ids[:, :8], attention_mask=mask[:, :8], max_new_tokens=2, **kw)
        mem.reset_peak()
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, **kw)
        mem.sync()
        seconds = time.perf_counter() - t0
    made = (out.shape[1] - prompt) * batch
    return {"tokens": f"{batch} x ({prompt} prompt + {new_tokens} new)", "seconds": rounded(seconds),
            "new_tokens_per_s": round(made / seconds, 1)}


def run_case(case: str, tiny: bool, checkpoint: str | None) -> dict:
    import torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    size = SIZES["tiny" if tiny else "7b"]
    mem = Memory(device)
    quantized = "nf4" in case
    t0 = time.perf_counter()
    model = load_nf4(checkpoint) if quantized else build_bf16(tiny, device)
    row = {"case": case, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
           "params": sum(p.numel() for p in model.parameters()),
           "build_s": rounded(time.perf_counter() - t0), "weights_mb": mem.allocated_mb()}
    if case in ("lora_bf16", "qlora_nf4"):
        row.update(train_steps(model, quantized, size["seq"], size["steps"], mem, device))
    else:
        batch = int(case.rsplit("_b", 1)[1])
        row.update(generation(model, batch, size["prompt"], size["new_tokens"], mem, device))
    row.update(mem.peaks())
    return row


def save_random_checkpoint(tiny: bool, folder: str) -> dict:
    """Save random bf16 weights once, for the 4-bit cases to load through from_pretrained."""
    import torch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    model = build_bf16(tiny, device)
    model.save_pretrained(folder, max_shard_size="2GB")
    return {"seconds": round(time.perf_counter() - t0, 1), "folder": folder}


# ---------------------------------------------------------------- the parent


def _child(args: list[str], timeout: int) -> dict:
    """Run this script on one case in a fresh process; its last stdout line is the JSON."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as fh:
        target = fh.name
    cmd = [sys.executable, str(Path(__file__).resolve()), *args, "--case-out", target]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        text = Path(target).read_text() if proc.returncode == 0 else ""
        if text:
            return json.loads(text)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    finally:
        Path(target).unlink(missing_ok=True)
        print(f"[gpu_7b] {' '.join(args)}: {time.perf_counter() - t0:.0f} s", flush=True)


def _bitsandbytes_missing() -> str | None:
    """Why the 4-bit cases cannot run, or None. Not imported here: importing it may set up
    CUDA in this parent process, whose context would then count in the children's figures."""
    import importlib.util
    if importlib.util.find_spec("bitsandbytes") is None:
        return "skipped: bitsandbytes not installed (pip install bitsandbytes)"
    return None


def main(smoke: bool | None = None, out=None, cases: list[str] | None = None,
         workdir: str | None = None, allow_cpu: bool = False, timeout: int = 420) -> dict:
    import torch
    smoke = smoke_requested() if smoke is None else smoke
    name = "gpu_7b"
    cases = list(cases or CASES)
    has_cuda = torch.cuda.is_available()
    if not has_cuda and not (smoke and allow_cpu):
        result = new_result(name, "Mistral-7B shape on a GPU: peak memory and speed", smoke)
        result["status"] = "skipped: no CUDA device"
        result["summary"] = {"status": "skipped: no CUDA device"}
        result["notes"] = ["Run `python benchmarks/bench_gpu_7b.py` on a machine with a CUDA GPU."]
        print("skipped: no CUDA device", flush=True)
        write_result(result, out)
        return result

    tiny_flag = ["--tiny"] if smoke else []
    no_4bit = _bitsandbytes_missing() if has_cuda else "skipped: 4-bit needs CUDA"
    rows, scratch, prepared = [], None, None
    if any("nf4" in c for c in cases) and not no_4bit:
        scratch = tempfile.mkdtemp(prefix="cancerllm-7b-", dir=workdir)
        prepared = _child(["--save-checkpoint", scratch, *tiny_flag], timeout)
        if "error" in prepared:
            no_4bit = f"skipped: saving the random checkpoint failed ({prepared['error']})"
    try:
        for case in cases:
            if "nf4" in case and no_4bit:
                rows.append({"case": case, "status": no_4bit})
                continue
            extra = ["--checkpoint", scratch] if "nf4" in case else []
            row = _child(["--case", case, *tiny_flag, *extra], timeout)
            row = {"case": case, **row} if "error" in row else row
            row["status"] = "error: " + row.pop("error") if "error" in row else "ok"
            row["paper (A100)"] = PAPER.get(case)
            rows.append(row)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    result = new_result(name, "Mistral-7B shape on a GPU: peak memory and speed", smoke)
    result["status"] = "ok" if all(r["status"] == "ok" for r in rows) else "partial"
    mem_key = "peak_allocated_mb" if has_cuda else "peak_rss_mb"
    result["summary"] = {f"{r['case']} {mem_key}": r.get(mem_key, r["status"]) for r in rows}
    result["tables"] = {"per case (each in its own process)": rows}
    size = SIZES["tiny" if smoke else "7b"]
    result["notes"] = [
        "Random weights in the model's shape (smoke: a tiny config instead of 7B).",
        f"Training: batch 1 x {size['seq']} tokens, LoRA r 64 all-linear, gradient checkpointing, "
        f"AdamW, 1 warm-up + {size['steps']} timed steps. Generation: {size['prompt']}-token "
        f"prompt, exactly {size['new_tokens']} new tokens, greedy, KV cache.",
        "peak_*_mb: torch.cuda.max_memory_allocated/reserved after the model was built; "
        "device_used_at_end_mb: total - free from the driver (CUDA context and cache included).",
        "'paper (A100)' is quoted from the CancerLLM paper for comparison, not measured here.",
    ]
    if prepared and "seconds" in prepared:
        result["notes"].append(f"Saving the random bf16 checkpoint for 4-bit loading took "
                               f"{prepared['seconds']} s (not part of any case).")
    print_table([{k: r.get(k) for k in ("case", "status", "weights_mb", mem_key, "peak_reserved_mb",
                                        "device_used_at_end_mb", "s_per_step", "new_tokens_per_s",
                                        "paper (A100)")} for r in rows])
    write_result(result, out)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny config instead of 7B")
    ap.add_argument("--allow-cpu", action="store_true", help="with --smoke: run on a CPU (checks the code)")
    ap.add_argument("--cases", default=None, help=f"comma list of: {', '.join(CASES)}")
    ap.add_argument("--workdir", default=None, help="scratch folder for the 4-bit cases' checkpoint")
    ap.add_argument("--timeout", type=int, default=420, help="seconds per case")
    ap.add_argument("--out", default=None)
    # internal: one case in this process
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--save-checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--case-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case or a.save_checkpoint:
        res = (run_case(a.case, a.tiny, a.checkpoint) if a.case
               else save_random_checkpoint(a.tiny, a.save_checkpoint))
        Path(a.case_out).write_text(json.dumps(res))
    else:
        main(smoke=a.smoke or None, out=a.out, cases=a.cases.split(",") if a.cases else None,
             workdir=a.workdir, allow_cpu=a.allow_cpu, timeout=a.timeout)
