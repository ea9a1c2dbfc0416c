"""Peak resident memory (RSS) of each pipeline stage at the demo's size.

Why not just read the demo's figures: `runs/demo/stages.json` records `peak_rss_mb` from
`ru_maxrss` of the one demo process, which never goes down - each stage's figure is the
running maximum of everything before it, not that stage's own peak. Those figures are
shown as they are (table "demo process") when the file exists, labelled cumulative.

The per-stage figures come from running every stage in its own fresh process, on the
demo's recipe (recipes/demo.yaml: patients, vocabulary, tiny model, block size), with
the functions the demo and the CLI call. A stage reads the previous stages' outputs from
a shared scratch folder. Per stage:
- `peak MB`: ru_maxrss of that process (plus any child process it started): the true
  peak of the stage, including Python and the libraries it imports;
- `after imports MB`: RSS once the stage's modules are imported, before the work starts
  (libraries a function imports lazily, on first call, count in the next figure);
- `stage MB`: peak - after imports, the memory the work itself added.
`baseline` imports torch, transformers, peft, datasets and the package and does nothing.

Training and generation are capped so the run stays short (the peak is reached in the
first steps; later steps reuse the same buffers): pretraining and fine-tuning run 4
optimizer steps of the tiny recipes (fine-tuning on at most 64 records per task),
generation writes 16 diagnosis predictions with at most 64 new tokens.

    python benchmarks/bench_memory.py [--smoke] [--demo-stages runs/demo/stages.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
from common import new_result, print_table, smoke_requested, write_result

STAGES = ("baseline", "synth", "tasks", "corpus", "tokenizer", "init_model", "pack",
          "pretrain", "finetune", "generate")
SMOKE_STAGES = ("baseline", "synth", "tasks", "corpus", "tokenizer", "init_model", "pack")
TRAIN_STEPS = 4


# ---------------------------------------------------------------- one stage (child process)


def _demo(smoke: bool):
    from cancerllm.experiments.demo.config import DemoConfig
    cfg = DemoConfig()
    if smoke:
        from cancerllm.models.tiny import TinyModelConfig
        cfg = cfg.model_copy(update={"patients": 30, "vocab_size": 500, "model": TinyModelConfig(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1)})
    return cfg


def stage_fn(name: str, work: Path, smoke: bool):
    """Import what stage `name` needs and return a zero-argument function that runs it."""
    cfg = _demo(smoke)
    data, tasks, corpus = work / "data", work / "tasks", work / "corpus"
    tok_dir, init_dir = work / "tokenizer", work / "tiny-init"
    from cancerllm.data.corpus import CorpusConfig
    ccfg = CorpusConfig(**{"seed": cfg.seed, **cfg.corpus})
    if name == "baseline":
        import datasets, peft, torch, transformers  # noqa: E401, F401
        import cancerllm.data.corpus, cancerllm.train.trainer  # noqa: E401, F401
        return lambda: None
    if name == "synth":
        from cancerllm.data.synth import generate
        return lambda: generate(data, patients=cfg.patients, seed=cfg.seed)
    if name == "tasks":
        from cancerllm.tasks.build import build_tasks
        return lambda: build_tasks(data, tasks, "all", cfg.seed)
    if name == "corpus":
        from cancerllm.data.corpus import build_corpus
        return lambda: build_corpus([str(data / "notes.jsonl"), str(data / "pathology.jsonl")], corpus, ccfg)
    if name == "tokenizer":
        from cancerllm.io import read_jsonl
        from cancerllm.models.tokenizer import train_tokenizer
        return lambda: train_tokenizer((r["text"] for r in read_jsonl(corpus / "clean" / "train.jsonl")),
                                       tok_dir, vocab_size=cfg.vocab_size)
    if name == "init_model":
        from cancerllm.models.tiny import init_tiny_model
        return lambda: init_tiny_model(tok_dir, init_dir, cfg.model)
    if name == "pack":
        from cancerllm.data.corpus import pack_corpus
        return lambda: pack_corpus(corpus / "clean", tok_dir, corpus / "packed", ccfg.block_size,
                                   ccfg.num_proc)
    quick = [f"train.max_steps={TRAIN_STEPS}", "train.save_steps=1000", "train.logging_steps=1"]
    if name == "pretrain":
        from cancerllm.config import load_config
        from cancerllm.train.pretrain import PretrainConfig, pretrain
        pcfg = load_config(PretrainConfig, "pretrain-tiny", quick + ["max_eval_blocks=8"])
        return lambda: pretrain(init_dir, corpus / "packed", work / "pretrain", pcfg)
    if name == "finetune":
        from cancerllm.config import load_config
        from cancerllm.train.finetune import FinetuneConfig, finetune
        fcfg = load_config(FinetuneConfig, "finetune-tiny",
                           quick + ["max_train_samples=64", "max_eval_samples=8"])
        return lambda: finetune(init_dir, tasks, work / "finetune", "all", fcfg)
    if name == "generate":
        from cancerllm.evaluate.predictions import generate_predictions
        from cancerllm.io import read_jsonl
        records = list(read_jsonl(tasks / "diagnosis" / "test.jsonl"))
        return lambda: generate_predictions(init_dir, "diagnosis", records, work / "preds.jsonl",
                                            batch_size=16, limit=16, max_new_tokens=64, device="cpu")
    raise ValueError(f"unknown stage {name!r}")


def run_stage(name: str, work: Path, smoke: bool) -> dict:
    import psutil
    fn = stage_fn(name, work, smoke)
    after_imports = psutil.Process().memory_info().rss / 2**20
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    peak = max(common.peak_rss_mb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return {"stage": name, "seconds": round(seconds, 2), "peak MB": round(peak, 1),
            "after imports MB": round(after_imports, 1), "stage MB": round(max(0.0, peak - after_imports), 1)}


# ---------------------------------------------------------------- the parent


def _child(name: str, work: Path, smoke: bool, timeout: int) -> dict:
    target = work / f".{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--work", str(work),
           "--stage-out", str(target)] + (["--smoke"] if smoke else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"stage": name, "status": f"timed out after {timeout} s"}
    wall = round(time.perf_counter() - t0, 1)
    if proc.returncode or not target.exists():
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
        return {"stage": name, "status": f"error (exit {proc.returncode}): {tail}"[:300], "process s": wall}
    return {**json.loads(target.read_text()), "process s": wall, "status": "ok"}


def demo_rows(path: Path) -> list[dict]:
    """The demo's own figures: ru_maxrss of the whole demo process so far (cumulative)."""
    done = json.loads(path.read_text())
    rows, before = [], 0.0
    for name, rec in done.items():
        peak = rec.get("peak_rss_mb")
        rows.append({"stage": name, "seconds": rec.get("seconds"), "process peak so far MB": peak,
                     "rise MB": round(peak - before, 1) if peak is not None else None})
        before = max(before, peak or 0.0)
    return rows


def main(smoke: bool | None = None, out=None, demo_stages: str | None = None,
         stages: tuple[str, ...] | None = None, timeout: int = 300) -> dict:
    smoke = smoke_requested() if smoke is None else smoke
    stages = tuple(stages or (SMOKE_STAGES if smoke else STAGES))
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="cancerllm-memory-"))
    rows = []
    try:
        for name in stages:
            row = _child(name, work, smoke, timeout)
            rows.append(row)
            print(f"[memory] {name}: {row.get('peak MB', '-')} MB peak, {row['status']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    demo_path = Path(demo_stages) if demo_stages else common.ROOT / "runs" / "demo" / "stages.json"
    cfg = _demo(smoke)
    result = new_result("memory", "Peak resident memory per pipeline stage (demo size)", smoke)
    ok = [r for r in rows if r["status"] == "ok"]
    result["summary"] = {
        "demo size": f"{cfg.patients} patients, vocab {cfg.vocab_size}, hidden {cfg.model.hidden_size}",
        "largest stage peak MB": max((r["peak MB"] for r in ok), default=None),
        "largest stage": max(ok, key=lambda r: r["peak MB"])["stage"] if ok else None,
        "baseline (imports only) MB": next((r["peak MB"] for r in ok if r["stage"] == "baseline"), None),
        "stages failed": ", ".join(r["stage"] for r in rows if r["status"] != "ok") or "none",
        "total wall s": round(time.perf_counter() - t_start, 1),
    }
    result["tables"] = {"each stage in its own process (true per-stage peak)": rows}
    result["notes"] = [
        "peak MB = ru_maxrss of a fresh process that ran only that stage (children included); "
        "after imports MB = its RSS before the work; stage MB = the difference.",
        f"pretrain / finetune: {TRAIN_STEPS} optimizer steps of the tiny recipes; generate: 16 "
        "diagnosis prompts, at most 64 new tokens, batch 16, CPU.",
    ]
    shown = demo_path.relative_to(common.ROOT) if demo_path.is_relative_to(common.ROOT) else demo_path
    if demo_path.is_file():
        result["tables"]["demo process (cumulative ru_maxrss, not per stage)"] = demo_rows(demo_path)
        result["notes"].append(f"demo process figures read from {shown}: ru_maxrss is a running "
                               "maximum over the whole demo process, so a stage's figure includes "
                               "every earlier stage; 'rise MB' is how much it grew in that stage.")
    else:
        result["notes"].append(f"{shown} not found (run `cancerllm demo` first to add the demo's own figures).")
    print_table(rows, "per-stage peak memory")
    write_result(result, out)
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="30 patients, a 2-layer model, data stages only")
    ap.add_argument("--demo-stages", default=None, help="a demo's stages.json (default runs/demo/stages.json)")
    ap.add_argument("--stages", default=None, help=f"comma list of: {', '.join(STAGES)}")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per stage")
    ap.add_argument("--out", default=None)
    ap.add_argument("--stage", help=argparse.SUPPRESS)  # internal: one stage, in a child
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--stage-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.stage:
        Path(a.stage_out).write_text(json.dumps(run_stage(a.stage, Path(a.work), a.smoke)))
    else:
        main(smoke=a.smoke or None, out=a.out, demo_stages=a.demo_stages, timeout=a.timeout,
             stages=tuple(a.stages.split(",")) if a.stages else None)
