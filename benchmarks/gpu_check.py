"""One GPU check, under 10 minutes on one GPU: QLoRA on a 7B shape, HF vs vLLM generation, LoRA heads.

What a person with one CUDA GPU runs (`bash benchmarks/gpu_check.sh`) to see the paths the
2-core CPU cannot run. Each section runs in its own subprocess (its own peak memory; a crash
or a timeout is recorded and the next section still runs), and all land in
`benchmarks/results/gpu.json`:

1. `qlora_7b` - QLoRA fine-tune steps of a Mistral-7B-shaped model with random weights (no
   download): NF4 base, LoRA r 64 all-linear, gradient checkpointing, batch 1 x 1024
   (`bench_gpu_7b.py`'s `qlora_nf4` case); peak `torch.cuda.max_memory_allocated` beside the
   paper's 7,338 MB fine-tuning figure (quoted, not measured here).
2. `generation` - the same greedy task prompts (real TCGA reports as contexts) through the HF
   backend and the vLLM backend (`cancerllm.evaluate.backends.vllm`) on a small model
   (models/smollm2-135m, else a random tiny Mistral): new tokens/s of each, peak memory as each
   measures it, and whether the answers are identical (they should be: greedy, same stop
   tokens, same post-processing). Skipped, with the reason, when vllm is not installed.
3. `heads_lora` - the staging heads' LoRA mode on the real TCGA reports (`bench_heads_lora_gpu.py`)
   at one grid point (attention pooling, lr 5e-4, 4 epochs): dev choice is skipped, the test
   split is scored; the full grid stays `python benchmarks/bench_heads_lora_gpu.py`.

Without CUDA it prints "skipped: no CUDA device", writes gpu.json saying so and exits 0.

    python benchmarks/gpu_check.py [--sections qlora_7b,generation,heads_lora] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the checkout on sys.path)
from common import ROOT, new_result, print_table, write_result

SECTIONS = ("qlora_7b", "generation", "heads_lora")
TIMEOUTS = {"qlora_7b": 270, "generation": 120, "heads_lora": 210}  # seconds; < 10 min in all
PAPER_FINETUNE_MB = 7338
SKIP = "skipped: no CUDA device"


# ---------------------------------------------------------------- sections (child processes)


def section_qlora_7b() -> dict:
    import bench_gpu_7b
    with tempfile.TemporaryDirectory() as tmp:
        res = bench_gpu_7b.main(smoke=False, out=Path(tmp) / "r.json", cases=["qlora_nf4"], timeout=130)
    row = res["tables"]["per case (each in its own process)"][0]
    peak = row.get("peak_allocated_mb")
    return {"status": row["status"], "peak_allocated_mb": peak, "paper_finetune_mb": PAPER_FINETUNE_MB,
            "ratio_to_paper": round(peak / PAPER_FINETUNE_MB, 3) if isinstance(peak, (int, float)) else None,
            "s_per_step": row.get("s_per_step"), "detail": row}


def _small_model() -> Path:
    local = ROOT / "models" / "smollm2-135m"
    if not (local / "config.json").is_file():
        raise FileNotFoundError("models/smollm2-135m is missing (`./run smollm2` converts it)")
    return local


def _records(n: int = 64) -> list[dict]:
    """Phenotype-style prompts whose contexts are the first n real TCGA pathology reports."""
    from cancerllm.data.tcga import load_tcga_reports
    from cancerllm.experiments.real.config import TCGA_FOLDER
    from cancerllm.experiments.real.data import resolve_data_dir
    from cancerllm.tasks.registry import get_task
    reports = load_tcga_reports(resolve_data_dir(None) / TCGA_FOLDER).records[:n]
    spec = get_task("phenotype")
    return [{"id": str(r["id"]), "instruction": spec.instruction,
             "context": f"{r['text'][:1500]}\nWhat is the primary site of the tumor?"} for r in reports]


def section_generation() -> dict:
    import importlib.util

    from cancerllm.evaluate.predictions import generate_predictions
    from cancerllm.io import read_jsonl
    with tempfile.TemporaryDirectory() as tmp:
        model = _small_model()
        records = _records()
        out = {"model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
               "prompts": len(records)}
        stats = {}
        for backend in ("hf", "vllm"):
            if backend == "vllm" and importlib.util.find_spec("vllm") is None:
                out["vllm"] = {"status": "skipped: vllm not installed (pip install vllm)"}
                continue
            path = Path(tmp) / f"{backend}.jsonl"
            s = generate_predictions(model, "phenotype", records, path, backend=backend, batch_size=16,
                                     max_new_tokens=64, device="cuda")
            stats[backend] = {r["id"]: r["prediction"] for r in read_jsonl(path)}
            out[backend] = {"status": "ok", "new_tokens_per_s": s.tokens_per_second,
                            "generated_tokens": s.generated_tokens, "wall_seconds": s.wall_seconds,
                            "load_seconds": s.load_seconds, "peak_memory_mb": s.peak_memory_mb,
                            "memory_kind": s.memory_kind}
        if len(stats) == 2:
            same = sum(stats["hf"][k] == stats["vllm"].get(k) for k in stats["hf"])
            out["identical_answers"] = f"{same}/{len(stats['hf'])}"
            out["vllm_over_hf_tokens_per_s"] = round(out["vllm"]["new_tokens_per_s"]
                                                     / max(out["hf"]["new_tokens_per_s"], 1e-9), 2)
        out["status"] = "ok"
        return out


def section_heads_lora() -> dict:
    import bench_heads_lora_gpu
    bench_heads_lora_gpu.GRID = {"chunk_pool": ["attention"], "learning_rate": [5e-4], "num_train_epochs": [4]}
    with tempfile.TemporaryDirectory() as tmp:
        res = bench_heads_lora_gpu.main(out=Path(tmp) / "r.json")
    return {"status": res.get("status", "ok"), "summary": res.get("summary"), "notes": res.get("notes")}


RUNNERS = {"qlora_7b": section_qlora_7b, "generation": section_generation, "heads_lora": section_heads_lora}


# ---------------------------------------------------------------- driver


def _child(section: str, timeout: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        res_path = Path(tmp) / "section.json"
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, __file__, "--section", section, "--section-out", str(res_path)],
                                  capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"status": f"error: timed out after {timeout} s", "seconds": timeout}
        seconds = round(time.perf_counter() - t0, 1)
        if proc.returncode != 0 or not res_path.is_file():
            tail = (proc.stderr or proc.stdout)[-1500:]
            return {"status": f"error: exit {proc.returncode}", "seconds": seconds, "output_tail": tail}
        return {**json.loads(res_path.read_text()), "seconds": seconds}


def main(out=None, sections: list[str] | None = None) -> dict:
    import torch
    result = new_result("gpu", "One-GPU check: QLoRA 7B shape, HF vs vLLM generation, LoRA heads")
    if not torch.cuda.is_available():
        result["status"] = result["summary"]["status"] = SKIP
        result["notes"] = ["Run `bash benchmarks/gpu_check.sh` on a machine with a CUDA GPU (< 10 min)."]
        print(SKIP, flush=True)
        write_result(result, out)
        return result
    rows = {}
    for section in sections or SECTIONS:
        if section not in RUNNERS:
            raise SystemExit(f"unknown section {section!r}; choose from {', '.join(SECTIONS)}")
        print(f"[gpu_check] {section} ...", flush=True)
        rows[section] = _child(section, TIMEOUTS[section])
        print(f"[gpu_check] {section}: {rows[section]['status']} ({rows[section].get('seconds')} s)", flush=True)
    result["status"] = "ok" if all(r["status"] == "ok" for r in rows.values()) else "partial"
    q, g = rows.get("qlora_7b", {}), rows.get("generation", {})
    result["summary"] = {
        "qlora_7b peak_allocated_mb": q.get("peak_allocated_mb", q.get("status")),
        "paper fine-tune MB (A100, quoted)": PAPER_FINETUNE_MB,
        "hf new_tokens_per_s": (g.get("hf") or {}).get("new_tokens_per_s"),
        "vllm new_tokens_per_s": (g.get("vllm") or {}).get("new_tokens_per_s", (g.get("vllm") or {}).get("status")),
        "identical_answers hf vs vllm": g.get("identical_answers"),
        "heads_lora": rows.get("heads_lora", {}).get("status"),
    }
    result["tables"] = {"sections": [{"section": k, **{kk: vv for kk, vv in v.items() if kk != "detail"}}
                                     for k, v in rows.items()]}
    result["notes"] = ["7B weights are random (the shape is what memory and speed depend on).",
                       "The paper's 7,338 MB is quoted for comparison, not measured here."]
    print_table([{"section": k, "status": v["status"], "seconds": v.get("seconds")} for k, v in rows.items()])
    write_result(result, out)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", default=None, help=f"comma list of: {', '.join(SECTIONS)}")
    ap.add_argument("--out", default=None, help="result JSON (default benchmarks/results/gpu.json)")
    ap.add_argument("--section", help=argparse.SUPPRESS)
    ap.add_argument("--section-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.section:
        Path(a.section_out).write_text(json.dumps(RUNNERS[a.section](), default=str))
    else:
        main(out=a.out, sections=a.sections.split(",") if a.sections else None)
