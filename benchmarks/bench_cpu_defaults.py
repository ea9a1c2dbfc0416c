"""The CPU defaults, each against the plain path, measured side by side in one run.

What the toolkit does by default on a CPU, and what it is compared with:
- weights: bf16 frozen weights with fp32 LoRA weights (`model_dtype: fast`, the inference
  dtype policy) trained under bf16 autocast, vs the same with peft's per-layer fp32 adapter
  casts, vs fp32 everywhere - LoRA training tokens/s and greedy generation tokens/s;
- threads: 1 vs 2 torch threads (training tokens/s);
- OpenMP wait policy: PASSIVE (set by `import cancerllm`) vs the default busy-wait, each
  while a second 2-thread job competes for the cores (training tokens/s);
- generation: the repetition guard (`RepetitionStop`) on and off, both stopping at the
  end-of-turn token, on the same prompts: generated tokens, wall time, outputs at the cap;
- stages at once: one 2-thread training process vs two 1-thread ones side by side (the
  demo's `parallel_stages: 2`), under glibc's malloc and under mimalloc (preloaded, as the
  demo's stage processes run: `runtime.allocator_library`): tokens/s of all processes and
  each process's peak resident memory, with varying batch lengths.

Each configuration runs in its own subprocess (OpenMP settings are read when torch
loads). The model is SmolLM2-135M-Instruct when `models/smollm2-135m` exists, else the
test suite's kind of tiny Mistral, initialised here (the ratios are then only a check of
the harness). Smoke mode (`run_all.py --smoke`) runs fewer steps.

    python benchmarks/bench_cpu_defaults.py            # ~10 min on a quiet 2-core CPU
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common

ROOT = common.ROOT
SMOLLM2 = ROOT / "models" / "smollm2-135m"

WORKER = r'''
import json, os, sys, time
spec = json.loads(sys.argv[1])
import torch
torch.set_num_threads(spec["threads"])
from cancerllm.models.loading import load_causal_lm
from cancerllm.train.causal_lm import load_for_training
from cancerllm.train.trainer import TrainConfig
model_dir = spec["model"]
out = {}
if spec["kind"] == "train":
    cfg = TrainConfig.model_validate({"model_dtype": spec["dtype"], "lora": {"r": 16, "alpha": 32,
                                      "target_modules": "all-linear"}})
    model, tok = load_for_training(model_dir, cfg)
    from cancerllm.models.lora import is_mixed_bf16
    autocast = is_mixed_bf16(model) and spec.get("autocast", True)  # what the trainer does with it
    if is_mixed_bf16(model) and not autocast:  # peft's default: every adapted input cast up to fp32
        for m in model.modules():
            if hasattr(m, "cast_input_dtype_enabled"):
                m.cast_input_dtype_enabled = True
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(10, len(tok) - 10, (spec["batch"], spec["length"]), generator=g)
    losses, tokens = [], 0
    for i in range(spec["steps"] + 1):
        if i == 1:
            t0 = time.perf_counter()
        # "vary": each step a length drawn in 16s up to `length`, as instruction tuning's batches
        n = int(torch.randint(1, spec["length"] // 16 + 1, (1,), generator=g)) * 16 if spec.get("vary") else spec["length"]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=x[:, :n], labels=x[:, :n]).loss
        loss.backward(); opt.step(); opt.zero_grad()
        losses.append(float(loss))
        tokens += x[:, :n].numel() if i else 0
    dt = time.perf_counter() - t0
    import resource
    out = {"tokens_per_s": tokens / dt, "first_loss": losses[0], "last_loss": losses[-1],
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
else:
    from cancerllm.models.generation import encode_prompts, iter_generate
    from cancerllm.tasks.registry import get_task
    model, tok = load_causal_lm(model_dir, device="cpu", dtype=spec["dtype"])
    records = [json.loads(l) for l in open(spec["records"])]
    encoded, _ = encode_prompts(tok, [(get_task(r["task"]).instruction, r["context"]) for r in records])
    t0 = time.perf_counter()
    counts = []
    for batch in iter_generate(model, tok, encoded, spec["max_new"], 8, stop_repetition=spec["guards"]):
        counts += batch.new_tokens
    dt = time.perf_counter() - t0
    out = {"seconds": dt, "new_tokens": sum(counts), "tokens_per_s": sum(counts) / dt,
           "hit_cap": sum(c >= spec["max_new"] for c in counts), "n": len(counts)}
print("RESULT " + json.dumps(out), flush=True)
'''

def _start(spec: dict, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE",
           "CANCERLLM_CPU_DTYPE": "", **(env_extra or {})}
    env = {k: v for k, v in env.items() if v != ""}
    return subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(spec)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _result(proc: subprocess.Popen, timeout: int = 900) -> dict:
    stdout, stderr = proc.communicate(timeout=timeout)
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker failed: {stderr[-2000:]}")


def _run(spec: dict, env_extra: dict | None = None, timeout: int = 900) -> dict:
    return _result(_start(spec, env_extra), timeout)


def _side_by_side(spec: dict, env_extra: dict | None = None) -> list[dict]:
    """Two workers started together, as the demo runs two stages (`parallel_stages: 2`)."""
    procs = [_start(spec, env_extra), _start(spec, env_extra)]
    return [_result(p) for p in procs]


def _competitor() -> subprocess.Popen:
    """A second 2-thread job on the same cores (a matmul loop), as on a shared machine."""
    code = ("import torch, time\ntorch.set_num_threads(2)\na = torch.randn(1024, 1024)\n"
            "t = time.time()\nwhile time.time() - t < 1800: a @ a\n")
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "OMP_WAIT_POLICY": "ACTIVE"})


def _model_dir(tmp: Path) -> str:
    if (SMOLLM2 / "config.json").is_file():
        return str(SMOLLM2)
    from cancerllm.models.tiny import TinyModelConfig, init_tiny_model
    from cancerllm.models.tokenizer import train_tokenizer
    texts = [f"Invasive ductal carcinoma, grade {i % 3 + 1}, ER positive, pT{i % 4 + 1} N0." for i in range(400)]
    train_tokenizer(texts, tmp / "tok", vocab_size=400)
    init_tiny_model(tmp / "tok", tmp / "tiny", TinyModelConfig(hidden_size=64, intermediate_size=128,
                                                              num_hidden_layers=2, num_attention_heads=2,
                                                              num_key_value_heads=1))
    return str(tmp / "tiny")


def _records(tmp: Path, n: int) -> Path:
    """Diagnosis prompts from a small synthetic corpus (long notes, short answers)."""
    from cancerllm.data.synth import generate
    from cancerllm.tasks.build import build_tasks
    generate(tmp / "data", patients=60, seed=0)
    build_tasks(tmp / "data", tmp / "tasks", "diagnosis", 0)
    lines = (tmp / "tasks" / "diagnosis" / "test.jsonl").read_text().splitlines()[:n]
    path = tmp / "records.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    import tempfile
    smoke = common.smoke_requested()
    result = common.new_result("cpu_defaults", "CPU defaults vs the plain path (one run, side by side)", smoke)
    steps, batch, length = (2, 4, 64) if smoke else (6, 8, 128)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = _model_dir(tmp)
        load = os.getloadavg()[0]
        train = lambda dtype, threads, env=None, autocast=True: _run(  # noqa: E731
            {"kind": "train", "model": model, "dtype": dtype, "threads": threads, "steps": steps,
             "batch": batch, "length": length, "autocast": autocast}, env)
        rows = {}
        rows["bf16 weights + fp32 LoRA, 2 threads (default)"] = train("fast", 2)
        rows["bf16 weights + fp32 LoRA computed in fp32 (peft's casts, no autocast), 2 threads"] = train(
            "fast", 2, autocast=False)
        rows["fp32, 2 threads"] = train("float32", 2)
        rows["bf16 weights + fp32 LoRA, 1 thread"] = train("fast", 1)
        comp = _competitor()
        try:
            time.sleep(2)
            rows["bf16, 2 threads, PASSIVE wait, next to a 2-thread job (default)"] = train("fast", 2)
            rows["bf16, 2 threads, default busy-wait, next to a 2-thread job"] = train(
                "fast", 2, {"OMP_WAIT_POLICY": ""})
        finally:
            comp.kill()
        base = rows["fp32, 2 threads"]["tokens_per_s"]
        result["tables"] = {"LoRA training (r 16, all linear layers), batch %d x %d tokens" % (batch, length): [
            {"configuration": k, "tokens/s": round(v["tokens_per_s"], 1), "vs fp32 2 threads": round(v["tokens_per_s"] / base, 2),
             "loss first -> last": f"{v['first_loss']:.3f} -> {v['last_loss']:.3f}"} for k, v in rows.items()]}
        records = _records(tmp, 8 if smoke else 24)
        max_new = 32 if smoke else 96
        gen = {"bf16, end-of-turn + repetition stop (default)": _run({"kind": "generate", "model": model, "dtype": "fast",
                                                                     "threads": 2, "records": str(records),
                                                                     "max_new": max_new, "guards": True}),
               "fp32, end-of-turn + repetition stop": _run({"kind": "generate", "model": model, "dtype": "float32",
                                                           "threads": 2, "records": str(records),
                                                           "max_new": max_new, "guards": True}),
               "bf16, end-of-turn only, no repetition stop": _run({"kind": "generate", "model": model, "dtype": "fast",
                                                          "threads": 2, "records": str(records),
                                                          "max_new": max_new, "guards": False})}
        result["tables"][f"Greedy generation, {len(open(records).readlines())} diagnosis prompts, cap {max_new} new tokens"] = [
            {"configuration": k, "seconds": round(v["seconds"], 1), "new tokens": v["new_tokens"],
             "new tokens/s": round(v["tokens_per_s"], 1), "outputs at the cap": f"{v['hit_cap']}/{v['n']}"}
            for k, v in gen.items()]
        # Two stages at once (the demo's parallel_stages: 2) and the allocator of its stage processes:
        # varying batch lengths, as in instruction tuning, so the allocator's heap fragments as it does there.
        from cancerllm.runtime import allocator_library
        mimalloc = allocator_library()
        vary = {"kind": "train", "model": model, "dtype": "fast", "steps": 4 if smoke else 40, "batch": 4,
                "length": 128 if smoke else 384, "vary": True}
        lanes = {"one process, 2 threads (glibc malloc)": [_run({**vary, "threads": 2}, {"LD_PRELOAD": ""})],
                 "two processes side by side, 1 thread each (glibc malloc)": _side_by_side(
                     {**vary, "threads": 1}, {"LD_PRELOAD": ""})}
        if mimalloc:
            lanes["two processes side by side, 1 thread each (mimalloc, the demo's default)"] = _side_by_side(
                {**vary, "threads": 1}, {"LD_PRELOAD": mimalloc})
        result["tables"]["LoRA training with varying batch lengths (batch 4, up to %d tokens): one stage or two at once"
                         % vary["length"]] = [
            {"configuration": k, "tokens/s, all processes": round(sum(x["tokens_per_s"] for x in v), 1),
             "tokens/s per process": ", ".join(f"{x['tokens_per_s']:.1f}" for x in v),
             "peak RSS per process (MB)": ", ".join(f"{x['peak_rss_mb']:.0f}" for x in v)} for k, v in lanes.items()]
        one, two = lanes["one process, 2 threads (glibc malloc)"], lanes["two processes side by side, 1 thread each (glibc malloc)"]
        total = lambda v: sum(x["tokens_per_s"] for x in v)  # noqa: E731
        peak = lambda v: max(x["peak_rss_mb"] for x in v)  # noqa: E731
        r = rows
        result["summary"] = {
            "two 1-thread processes side by side / one 2-thread process, tokens/s of all": round(total(two) / total(one), 2),
            **({"mimalloc / glibc, tokens/s (side by side)": round(total(lanes[list(lanes)[2]]) / total(two), 2),
                "mimalloc / glibc, peak RSS per process": round(peak(lanes[list(lanes)[2]]) / peak(two), 2)}
               if mimalloc else {}),
            "model": Path(model).name,
            "load average at start": round(load, 2),
            "bf16 / fp32 training tokens/s": round(r["bf16 weights + fp32 LoRA, 2 threads (default)"]["tokens_per_s"] / base, 2),
            "bf16 autocast / peft's fp32 adapter casts, training tokens/s": round(
                r["bf16 weights + fp32 LoRA, 2 threads (default)"]["tokens_per_s"]
                / r["bf16 weights + fp32 LoRA computed in fp32 (peft's casts, no autocast), 2 threads"]["tokens_per_s"], 2),
            "2 / 1 threads training tokens/s": round(r["bf16 weights + fp32 LoRA, 2 threads (default)"]["tokens_per_s"]
                                                     / r["bf16 weights + fp32 LoRA, 1 thread"]["tokens_per_s"], 2),
            "PASSIVE / busy-wait next to a 2-thread job": round(
                r["bf16, 2 threads, PASSIVE wait, next to a 2-thread job (default)"]["tokens_per_s"]
                / r["bf16, 2 threads, default busy-wait, next to a 2-thread job"]["tokens_per_s"], 2),
            "generation seconds, guards / no guards": round(
                gen["bf16, end-of-turn + repetition stop (default)"]["seconds"]
                / gen["bf16, end-of-turn only, no repetition stop"]["seconds"], 2),
        }
        result["notes"] = ["Each row is a fresh subprocess; training: random token ids, AdamW, the first step "
                           "not timed. Generation: the same prompts in each row, batch 8.",
                           "The machine is shared: compare rows of this run with each other, not with other runs."]
    common.print_table([{"k": k, "v": v} for k, v in result["summary"].items()])
    common.write_result(result)


if __name__ == "__main__":
    main()
