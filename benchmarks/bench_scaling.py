"""How data preparation and training time grow with the number of notes (1k, 10k, 100k).

"Notes" are the documents the pipeline reads: clinic notes plus pathology reports, which
`cancerllm.data.synth.generate` writes at about 4 per patient. A pilot of 200 patients
measures the ratio; each size then gets `round(notes / ratio)` patients and the notes
actually written are reported. Each size runs in its own process (so its peak memory is
its own) in a scratch folder deleted afterwards, through the same functions the CLI and
the demo call:

    synth      cancerllm.data.synth.generate(data, patients, seed)
    tasks      cancerllm.tasks.build.build_tasks(data, tasks, "all")   (JSONL + HF datasets)
    corpus     cancerllm.data.corpus.build_corpus(notes + pathology)   (clean, exact + MinHash dedup)
    tokenizer  cancerllm.models.tokenizer.train_tokenizer(clean train, vocab 4000)
    pack       cancerllm.data.corpus.pack_corpus(block 256)
    train      the demo's tiny Mistral (that size's tokenizer), LoRA r 8 as in
               recipes/pretrain-tiny.yaml, batch 8 packed blocks, AdamW, the pretraining
               collator; 2 warm-up + N timed optimizer steps in a plain PyTorch loop.
               One epoch is NOT run: its time is extrapolated as
               (train tokens / 1000) x measured seconds per 1k tokens, and labelled so.

Reported: wall and CPU seconds per stage and size, the slope of a least-squares fit of
log(seconds) on log(notes) (1 = linear), and the slope between the two largest sizes
(fixed start-up costs flatten the small end). A data-preparation stage whose CPU-seconds
slope exceeds 1.15 is flagged: on a shared machine other processes bend wall time far
more than CPU time, so wall slopes are shown but not judged. The run keeps to a time budget (default 540 s): before a size starts its time is
predicted linearly (+20 %) from the last size; a size that would not fit is replaced by
30k notes if that fits, and what was not measured is said in the output, never guessed.

    python benchmarks/bench_scaling.py [--sizes 1000,10000,100000] [--budget 540] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the checkout on sys.path)
from common import loglog_slope, new_result, peak_rss_mb, print_table, rounded, smoke_requested, write_result

SIZES = (1_000, 10_000, 100_000)
FALLBACK = 30_000          # measured instead of the largest size when that cannot fit
SMOKE_SIZES = (100, 300)
DATA_STAGES = ("synth", "tasks", "corpus", "tokenizer", "pack")
FLAG_SLOPE = 1.15
BLOCK, BATCH, VOCAB, SEED = 256, 8, 4000, 0


# ---------------------------------------------------------------- one size (child process)


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished child processes
    (`datasets.map` may run its work in a worker process)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Progress:
    """Stage timings written to a JSON file after every stage: a killed run keeps them."""

    def __init__(self, path: Path, **info):
        self.path, self.data = path, {"stages": {}, "cpu": {}, **info}
        self._save()

    def stage(self, name: str, fn):
        t0, c0 = time.perf_counter(), cpu_seconds()
        out = fn()
        self.data["stages"][name] = round(time.perf_counter() - t0, 3)
        self.data["cpu"][name] = round(cpu_seconds() - c0, 3)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        self.data["peak_rss_mb"] = max(peak_rss_mb(), round(children, 1))
        self._save()
        return out

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def train_speed(tok_dir: Path, packed_dir: Path, steps: int, smoke: bool) -> dict:
    """Seconds per optimizer step of LoRA pretraining on this size's packed blocks."""
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig, get_peft_model

    from cancerllm.experiments.demo.config import DemoConfig
    from cancerllm.models.tiny import TinyModelConfig, init_tiny_model
    from cancerllm.train.pretrain import PackedBlockCollator

    mcfg = DemoConfig().model if not smoke else TinyModelConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1)
    with tempfile.TemporaryDirectory() as init_dir:
        model = init_tiny_model(tok_dir, init_dir, mcfg)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    train = load_from_disk(str(packed_dir))["train"]
    collate = PackedBlockCollator(model.config.eos_token_id)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    times, cpu, n = [], [], len(train)
    for i in range(steps + 2):  # 2 warm-up steps
        rows = [train[(i * BATCH + j) % n] for j in range(BATCH)]
        t0, c0 = time.perf_counter(), cpu_seconds()
        loss = model(**collate(rows)).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 2:
            times.append(time.perf_counter() - t0)
            cpu.append(cpu_seconds() - c0)
    s_step, c_step = sorted(times)[len(times) // 2], sorted(cpu)[len(cpu) // 2]
    per_1k = 1000 / (BATCH * BLOCK)
    return {"s_per_step": s_step, "steps_timed": len(times),
            "s_per_1k_tokens": s_step * per_1k, "best_s_per_1k_tokens": min(times) * per_1k,
            "cpu_s_per_1k_tokens": c_step * per_1k, "best_cpu_s_per_1k_tokens": min(cpu) * per_1k}


def run_size(patients: int, work: Path, progress: Path, train_steps: int, smoke: bool) -> dict:
    from cancerllm.data.corpus import CorpusConfig, build_corpus, pack_corpus
    from cancerllm.data.synth import generate
    from cancerllm.io import read_jsonl
    from cancerllm.models.tokenizer import train_tokenizer
    from cancerllm.tasks.build import build_tasks

    data, tasks, corpus, tok = work / "data", work / "tasks", work / "corpus", work / "tokenizer"
    p = Progress(progress, patients=patients)
    counts = p.stage("synth", lambda: generate(data, patients=patients, seed=SEED))
    p.data["notes"] = counts["notes"] + counts["pathology"]
    p.data["counts"] = counts
    p.stage("tasks", lambda: build_tasks(data, tasks, "all", SEED))
    task_counts = json.loads((tasks / "summary.json").read_text())["counts"]
    p.data["task_records"] = sum(sum(c.values()) for c in task_counts.values())
    cfg = CorpusConfig(seed=SEED, block_size=BLOCK)
    p.stage("corpus", lambda: build_corpus([str(data / "notes.jsonl"), str(data / "pathology.jsonl")],
                                           corpus, cfg))
    p.stage("tokenizer", lambda: train_tokenizer(
        (r["text"] for r in read_jsonl(corpus / "clean" / "train.jsonl")), tok, vocab_size=VOCAB))
    packed = p.stage("pack", lambda: pack_corpus(corpus / "clean", tok, corpus / "packed", BLOCK))
    p.data["train_tokens"] = packed["blocks"]["train"] * BLOCK
    p.data["train_blocks"] = packed["blocks"]["train"]
    p.data["train_speed"] = p.stage("train", lambda: train_speed(tok, corpus / "packed", train_steps, smoke))
    p._save()
    return p.data


# ---------------------------------------------------------------- the parent


def docs_per_patient(patients: int = 200) -> float:
    from cancerllm.data.synth import generate
    with tempfile.TemporaryDirectory() as tmp:
        c = generate(tmp, patients=patients, seed=SEED)
    return (c["notes"] + c["pathology"]) / patients


def _child(patients: int, train_steps: int, smoke: bool, timeout: float, workdir: str | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="cancerllm-scaling-", dir=workdir))
    progress = work / "progress.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one-size", str(patients),
           "--work", str(work), "--train-steps", str(train_steps)] + (["--smoke"] if smoke else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout, 1))
        status = "ok" if proc.returncode == 0 else \
            f"error (exit {proc.returncode}): " + " | ".join((proc.stderr or "").strip().splitlines()[-2:])
    except subprocess.TimeoutExpired:
        status = f"timed out after {timeout:.0f} s (stages finished before that are kept)"
    data = json.loads(progress.read_text()) if progress.exists() else {"stages": {}}
    shutil.rmtree(work, ignore_errors=True)
    data.update(status=status, wall_s=round(time.perf_counter() - t0, 1))
    return data


def _stage_rows(runs: list[dict], clock: str) -> list[dict]:
    """One row per size; `clock` "stages" (wall seconds) or "cpu" (CPU seconds of the process)."""
    rows = []
    for r in runs:
        st = r.get(clock) or {}
        prep = sum(st[s] for s in DATA_STAGES) if all(s in st for s in DATA_STAGES) else None
        row = {"notes": r.get("notes"), "patients": r["patients"],
               **{f"{s} s": st.get(s) for s in DATA_STAGES}, "data prep s": rounded(prep, 4)}
        speed = r.get("train_speed") or {}
        key = "s_per_1k_tokens" if clock == "stages" else "cpu_s_per_1k_tokens"
        median, best = speed.get(key), speed.get(f"best_{key}")
        tokens_k = r["train_tokens"] / 1000 if "train_tokens" in r else None
        row.update({"train tokens": r.get("train_tokens"),
                    "train s/1k tokens (median step)": rounded(median),
                    "train s/1k tokens (best step)": rounded(best),
                    "1 epoch s (extrapolated)": rounded(tokens_k * median, 4) if tokens_k and median else None,
                    "1 epoch s (from best step)": rounded(tokens_k * best, 4) if tokens_k and best else None})
        if clock == "stages":
            row.update({"peak RSS MB": r.get("peak_rss_mb"), "status": r["status"]})
        rows.append(row)
    return rows


def _fit(rows: list[dict], col: str) -> tuple[float | None, float | None, int]:
    """(slope over all sizes, slope between the two largest, number of sizes) for `col`."""
    pts = [(r["notes"], r[col]) for r in rows if r.get(col) and r.get("notes")]
    fit = loglog_slope([p[0] for p in pts], [p[1] for p in pts])
    top = loglog_slope([p[0] for p in pts[-2:]], [p[1] for p in pts[-2:]]) if len(pts) >= 2 else None
    return (None if fit is None else round(fit, 3)), (None if top is None else round(top, 3)), len(pts)


def _slopes(wall: list[dict], cpu: list[dict]) -> list[dict]:
    """Per stage, wall and CPU slopes; the flag reads the CPU slopes, which other processes on
    a shared machine disturb far less than wall time (wall slopes are flagged only if no CPU
    figures exist)."""
    out = []
    for col in [f"{s} s" for s in DATA_STAGES] + ["data prep s", "1 epoch s (extrapolated)"]:
        w_fit, w_top, n = _fit(wall, col)
        c_fit, c_top, _ = _fit(cpu, col)
        is_prep = col != "1 epoch s (extrapolated)"
        judged = (c_fit, c_top) if c_fit is not None else (w_fit, w_top)
        flag = is_prep and any(s is not None and s > FLAG_SLOPE for s in judged)
        out.append({"stage": col.removesuffix(" s"), "sizes": n,
                    "wall slope (fit)": w_fit, "wall slope (two largest)": w_top,
                    "CPU slope (fit)": c_fit, "CPU slope (two largest)": c_top,
                    "flag": f"SUPERLINEAR (> {FLAG_SLOPE})" if flag else ""})
    return out


def _predict(last: dict | None, notes: int) -> float | None:
    """Seconds a size would take: the last size's data prep scaled by notes (slope at least
    1, +20 %), plus its fixed part (process start, imports, the timed training steps)."""
    if last is None:
        return None
    prep = sum(last["stages"][s] for s in DATA_STAGES)
    fixed = max(0.0, last["wall_s"] - prep)
    slope = max(1.0, last.get("prep_slope_so_far") or 1.0)
    return 1.2 * prep * (notes / last["notes"]) ** slope + fixed


def main(smoke: bool | None = None, out=None, sizes: tuple[int, ...] | None = None,
         budget: float = 540.0, train_steps: int | None = None, workdir: str | None = None) -> dict:
    smoke = smoke_requested() if smoke is None else smoke
    sizes = tuple(sizes or (SMOKE_SIZES if smoke else SIZES))
    train_steps = train_steps or (1 if smoke else 6)
    t_start = time.perf_counter()
    ratio = docs_per_patient(50 if smoke else 200)
    print(f"[scaling] {ratio:.2f} notes per patient (pilot)", flush=True)
    runs, skipped, last = [], [], None
    for target in sizes:
        plan = [target] + ([FALLBACK] if target == sizes[-1] and FALLBACK < target and not smoke else [])
        for notes in plan:
            remaining = budget - (time.perf_counter() - t_start)
            predicted = _predict(last, notes)
            if predicted is not None and predicted > remaining:
                skipped.append(f"{notes:,} notes not measured: predicted {predicted:.0f} s "
                               f"> {remaining:.0f} s left of the {budget:.0f} s budget")
                print(f"[scaling] {skipped[-1]}", flush=True)
                continue
            patients = max(1, round(notes / ratio))
            print(f"[scaling] {notes:,} notes ({patients:,} patients) ...", flush=True)
            run = _child(patients, train_steps, smoke, remaining, workdir)
            run["target_notes"] = notes
            runs.append(run)
            print(f"[scaling] {notes:,} notes: {run['wall_s']} s, {run['status']}", flush=True)
            if run["status"] == "ok":
                if last is not None:
                    prev = sum(last["stages"][s] for s in DATA_STAGES)
                    run["prep_slope_so_far"] = loglog_slope(
                        [last["notes"], run["notes"]], [prev, sum(run["stages"][s] for s in DATA_STAGES)])
                last = run
            break
        if runs and runs[-1]["status"] != "ok":
            break

    rows = _stage_rows(runs, "stages")
    cpu_rows = _stage_rows(runs, "cpu")
    ok = [i for i, r in enumerate(rows) if r["status"] == "ok"] or list(range(len(rows)))
    slopes = _slopes([rows[i] for i in ok], [cpu_rows[i] for i in ok])
    result = new_result("scaling", "Data preparation and training time vs number of notes", smoke)
    result["summary"] = {
        "sizes measured (notes)": ", ".join(f"{r['notes']:,}" for r in rows if r.get("notes")),
        "notes per patient (pilot)": round(ratio, 3),
        **{f"slope {s['stage']} (CPU s: fit / two largest)":
           f"{s['CPU slope (fit)']} / {s['CPU slope (two largest)']}" for s in slopes
           if s["stage"] != "1 epoch s (extrapolated)"},
        f"flagged (CPU slope > {FLAG_SLOPE})": ", ".join(s["stage"] for s in slopes if s["flag"]) or "none",
        "not measured": "; ".join(skipped) or "nothing",
        "total wall s": round(time.perf_counter() - t_start, 1),
    }
    result["tables"] = {"wall seconds per stage and size": rows,
                        "CPU seconds per stage and size (the size's process and its children)": cpu_rows,
                        "log-log slopes of seconds on notes": slopes}
    result["notes"] = [
        "notes = clinic notes + pathology reports written by the synthetic generator.",
        "Each size in its own process; peak RSS MB is that process's ru_maxrss (all stages of the size).",
        f"train s/1k tokens: median (and best) of {train_steps} timed LoRA r 8 optimizer steps "
        f"(plain PyTorch loop, batch {BATCH} x {BLOCK}, demo tiny model) after 2 warm-ups; "
        "'1 epoch s' is that figure x train tokens / 1000, an extrapolation, not a measured "
        "epoch. The cost per token does not depend on the corpus size, so its spread across "
        "sizes is other load on the machine (the best step is the least disturbed), and the "
        "epoch grows exactly as the token count does.",
        "CPU seconds: user + system time of the size's process and its finished child processes "
        "(all threads), the figure least disturbed by other load.",
        f"A data-preparation stage is flagged when a CPU-seconds slope (fit, or two largest "
        f"sizes) exceeds {FLAG_SLOPE}: CPU time is far less disturbed than wall time by other "
        "processes on a shared machine.",
        "The pretraining collator restarts positions at each EOS (document mask on, the "
        "recipe default), which costs more per token than plain causal packing.",
        *skipped,
    ]
    print_table(rows, "wall seconds per stage")
    print_table(cpu_rows, "CPU seconds per stage")
    print_table(slopes, "log-log slopes")
    write_result(result, out)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="100 and 300 notes, 1 training step")
    ap.add_argument("--sizes", default=None, help="comma list of note counts (default 1000,10000,100000)")
    ap.add_argument("--budget", type=float, default=540.0, help="seconds for the whole run")
    ap.add_argument("--train-steps", type=int, default=None, help="timed optimizer steps per size")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: the system temp dir)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--one-size", type=int, help=argparse.SUPPRESS)  # internal: patients, in a child
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one_size:
        run_size(a.one_size, Path(a.work), Path(a.work) / "progress.json", a.train_steps, a.smoke)
    else:
        main(smoke=a.smoke or None, out=a.out, budget=a.budget, train_steps=a.train_steps,
             sizes=tuple(int(s) for s in a.sizes.split(",")) if a.sizes else None, workdir=a.workdir)
