"""Model FLOPs utilisation (MFU) of the tiny default on this CPU.

1. Peak: the best fp32 `torch.matmul` rate of large square matrices (n = 1024, 2048, 3072,
   best of 5 runs each after a warm-up), FLOP/s = 2·n³ / t. This is what the BLAS that
   torch ships reaches here, not the datasheet's number: MFU against it says how much of
   the attainable matrix speed the training loop turns into model work.
2. Achieved: tokens/s of the demo's tiny Mistral (recipes/demo.yaml shape, vocab 4000)
   in a plain PyTorch loop - forward with labels (HF causal-LM loss), backward, AdamW step,
   zero_grad - on random token blocks of the demo's size (batch 8 x 256 tokens). That is
   the work of one HF Trainer step without data loading, logging or the LR scheduler
   (bench_training.py times the Trainer itself). Modes: full-parameter, LoRA r 8 (the
   pretraining recipe), LoRA r 64 (the fine-tuning recipe), and forward-only (inference).
   Step times are medians after 2 warm-up steps.
3. Model FLOPs per token (PaLM, Chowdhery et al. 2022, appendix B):
   - full training:  6·N + 12·L·d·T
   - LoRA training:  4·N + 6·N_lora + 12·L·d·T   (frozen weights need the forward and the
     activation gradient, 2N + 2N, but no weight gradient, 2N)
   - forward only:   2·N + 4·L·d·T
   N = weights of the linear layers including the LM head (the embedding lookup does no
   multiply-adds; norms and RoPE are ignored), L layers, d = heads x head_dim, T the
   sequence length: the attention-score term counts the full T x T products, as PaLM does.
   MFU = (tokens/s x FLOPs per token) / peak FLOP/s.

    python benchmarks/bench_mfu.py [--smoke] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import common  # noqa: F401  (puts the checkout on sys.path)
from common import new_result, print_table, rounded, smoke_requested, write_result

FULL = dict(sizes=(1024, 2048, 3072), repeats=5, batch=8, seq=256, steps=8)
SMOKE = dict(sizes=(384,), repeats=2, batch=2, seq=64, steps=1)


def matmul_peak(sizes, repeats: int) -> list[dict]:
    """fp32 matmul rate per size: best of `repeats` runs after one warm-up."""
    import torch
    rows = []
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.matmul(a, b)  # warm-up: thread pool, page faults
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.matmul(a, b)
            times.append(time.perf_counter() - t0)
        best = min(times)
        rows.append({"n": n, "best_s": rounded(best), "median_s": rounded(statistics.median(times)),
                     "GFLOP/s (best)": round(2 * n**3 / best / 1e9, 1)})
    return rows


def tiny_model(smoke: bool):
    """The demo's tiny Mistral (random weights; speed does not depend on their values)."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    from cancerllm.experiments.demo.config import DemoConfig
    demo = DemoConfig()  # the recipe's defaults: the model block and vocab_size
    m = demo.model
    shape = dict(hidden_size=m.hidden_size, intermediate_size=m.intermediate_size,
                 num_hidden_layers=m.num_hidden_layers, num_attention_heads=m.num_attention_heads,
                 num_key_value_heads=m.num_key_value_heads)
    if smoke:
        shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1)
    torch.manual_seed(0)
    cfg = MistralConfig(vocab_size=demo.vocab_size if not smoke else 600,
                        max_position_embeddings=m.max_position_embeddings,
                        tie_word_embeddings=m.tie_word_embeddings, use_cache=False, **shape)
    return MistralForCausalLM(cfg)


def linear_weights(model) -> int:
    """N: weights of every nn.Linear (the LM head included even when tied to the embedding)."""
    import torch
    return sum(mod.weight.numel() for mod in model.modules() if isinstance(mod, torch.nn.Linear))


def attention_width(model) -> tuple[int, int]:
    """(L, d): layers and the query width heads x head_dim the attention scores use."""
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return c.num_hidden_layers, c.num_attention_heads * head_dim


def step_times(model, batch: int, seq: int, steps: int, train: bool) -> list[float]:
    """Seconds per step (2 warm-up steps untimed) on random token blocks."""
    import torch
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (batch, seq), generator=gen)
    if train:
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    else:
        model.eval()
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        if train:
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode():
                model(input_ids=ids)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return times


def measure_mode(mode: str, batch: int, seq: int, steps: int, smoke: bool) -> dict:
    import copy

    import torch
    base = tiny_model(smoke)
    n_linear = linear_weights(base)
    n_total = sum(p.numel() for p in base.parameters())
    layers, d = attention_width(base)
    attn = 12 * layers * d * seq
    model, n_lora = base, 0
    if mode.startswith("lora"):
        from peft import LoraConfig, get_peft_model
        r = int(mode.split("r")[-1])
        model = get_peft_model(copy.deepcopy(base), LoraConfig(
            r=r, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"))
        n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
        flops, formula = 4 * n_linear + 6 * n_lora + attn, "4N + 6N_lora + 12·L·d·T"
    elif mode == "full":
        flops, formula = 6 * n_linear + attn, "6N + 12·L·d·T"
    else:  # forward only
        flops, formula = 2 * n_linear + attn // 3, "2N + 4·L·d·T"
    times = step_times(model, batch, seq, steps, train=(mode != "forward"))
    med = statistics.median(times)
    tokens = batch * seq
    return {"mode": mode, "params_total": n_total, "N_linear": n_linear, "N_lora": n_lora or None,
            "flops_per_token": flops, "formula": formula, "steps_timed": len(times),
            "s_per_step (median)": rounded(med), "tokens/s": round(tokens / med, 1),
            "tokens/s (best step)": round(tokens / min(times), 1),
            "achieved GFLOP/s": round(tokens / med * flops / 1e9, 2),
            "threads": torch.get_num_threads()}


def main(smoke: bool | None = None, out=None, threads: int | None = None) -> dict:
    import torch
    smoke = smoke_requested() if smoke is None else smoke
    if threads:
        torch.set_num_threads(threads)
    size = SMOKE if smoke else FULL
    result = new_result("mfu", "Model FLOPs utilisation of the tiny default (CPU)", smoke)

    peak_rows = matmul_peak(size["sizes"], size["repeats"])
    peak = max(r["GFLOP/s (best)"] for r in peak_rows) * 1e9
    print_table(peak_rows, "fp32 matmul peak")

    rows = []
    for mode in ("full", "lora_r8", "lora_r64", "forward"):
        row = measure_mode(mode, size["batch"], size["seq"], size["steps"], smoke)
        row["MFU %"] = round(100 * row["achieved GFLOP/s"] * 1e9 / peak, 1)
        row["MFU % (best step)"] = round(100 * row["tokens/s (best step)"] * row["flops_per_token"] / peak, 1)
        rows.append(row)
        print(f"[mfu] {mode}: {row['tokens/s']} tokens/s, MFU {row['MFU %']} %", flush=True)
    print_table([{k: r[k] for k in ("mode", "tokens/s", "achieved GFLOP/s", "MFU %", "formula")}
                 for r in rows], f"tiny model, batch {size['batch']} x {size['seq']} tokens")

    result["summary"] = {
        "matmul peak GFLOP/s (fp32, best)": round(peak / 1e9, 1),
        "batch x seq": f"{size['batch']} x {size['seq']}",
        **{f"MFU % ({r['mode']})": r["MFU %"] for r in rows},
        **{f"tokens/s ({r['mode']})": r["tokens/s"] for r in rows},
    }
    result["tables"] = {"fp32 matmul peak (torch.matmul, square n x n)": peak_rows,
                        "tiny model throughput and MFU": rows}
    result["notes"] = [
        "Peak = best single fp32 torch.matmul of an n x n matrix pair, 2·n³ FLOP, best of "
        f"{size['repeats']} runs after a warm-up; the larger of the sizes tried.",
        "Throughput = a plain PyTorch loop (forward with labels, backward, AdamW step, "
        "zero_grad) on random token blocks: the work of one HF Trainer step without data "
        "loading, logging and LR scheduling; median step time after 2 warm-up steps.",
        "FLOPs per token after PaLM appendix B: N = linear-layer weights incl. LM head, "
        "attention 12·L·d·T for training (4·L·d·T forward only); LoRA training counts "
        "4N + 6N_lora because frozen weights get no weight gradient.",
        "MFU uses the median step against the best matmul run (the conservative pairing); "
        "'MFU % (best step)' uses the fastest step, the one least disturbed by other load.",
    ]
    write_result(result, out)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (checks the script)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", default=None, help="result JSON path (default benchmarks/results/mfu.json)")
    a = ap.parse_args()
    main(smoke=a.smoke or None, out=a.out, threads=a.threads)
