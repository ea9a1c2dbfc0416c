"""The LoRA mode of the staging heads on the whole TCGA split, on a GPU: train, choose on dev, score test.

What the 2-core CPU cannot do (`cancerllm report real` runs the cached-feature mode
there): LoRA on every linear layer of SmolLM2 while every report is read whole, in the
same overlapping windows as the cached mode (`cancerllm.models.windows.encode_reports`,
512 tokens, overlap 64, nothing cut), pooled per report by the shared `WindowPool`.
A small grid - window pooling x learning rate x epochs - is trained on the 620 train
reports; the setting with the best dev headline macro F1 (the heads' own validation
scores, coarse) is scored once on the 207 test reports: macro F1 per field with
bootstrap CIs (`cancerllm.evaluate.staging_report.score_systems`) and T1-T4 AUROC
(`cancerllm.experiments.real.scoring.t14_scores`), registry gold, as in `report real`.

Without CUDA it prints "skipped: no CUDA device", writes a JSON saying so and exits 0.

    python benchmarks/bench_heads_lora_gpu.py [--model models/smollm2-135m] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the checkout on sys.path)
from common import new_result, write_result

GRID = {"chunk_pool": ["attention", "max"], "learning_rate": [2e-4, 5e-4], "num_train_epochs": [4, 8]}
FIELDS = ["pT", "pN", "M", "ER", "PR", "HER2"]


def heads_config(chunk_pool: str, lr: float, epochs: int):
    from cancerllm.config import load_config
    from cancerllm.train.heads import HeadsTrainConfig
    return load_config(HeadsTrainConfig, "real-smollm2", section="heads", overrides=[
        "model.max_length=512", "model.overlap=64", "model.max_chunks=64", "model.pooling=mean",
        f"model.chunk_pool={chunk_pool}", "model.lora.target_modules=all-linear", "model.lora.r=16",
        "model.lora.alpha=32", "model.dtype=bfloat16", "loss.class_weights=inverse",
        "train.per_device_train_batch_size=4", "train.per_device_eval_batch_size=8", f"train.learning_rate={lr}",
        f"train.num_train_epochs={epochs}", "train.bf16=true", "train.save_steps=100000", "train.logging_steps=20"])


def main(out=None, model: str = "models/smollm2-135m", data_dir: str | None = None) -> dict:
    import torch
    result = new_result("heads_lora_gpu", "LoRA staging heads on whole TCGA reports (GPU)")
    if not torch.cuda.is_available():
        result["status"] = result["summary"]["status"] = "skipped: no CUDA device"
        result["notes"] = ["Run `python benchmarks/bench_heads_lora_gpu.py` on a machine with a CUDA GPU."]
        print("skipped: no CUDA device", flush=True)
        write_result(result, out)
        return result

    import numpy as np

    from cancerllm.evaluate.staging_report import score_systems
    from cancerllm.io import atomic_write_jsonl, read_jsonl
    from cancerllm.models.heads import MultiTaskHeads
    from cancerllm.experiments.real.data import prepare_tcga, resolve_data_dir
    from cancerllm.experiments.real.scoring import t14_scores
    from cancerllm.train.heads import train_heads
    work = Path(tempfile.mkdtemp(prefix="cancerllm-heads-lora-"))
    prepare_tcga(resolve_data_dir(data_dir), work / "data", FIELDS)
    split = {s: list(read_jsonl(work / "data" / f"{s}.jsonl")) for s in ("train", "dev", "test")}
    atomic_write_jsonl(work / "heads" / "train.jsonl", split["train"])
    atomic_write_jsonl(work / "heads" / "validation.jsonl", split["dev"])  # never test
    runs = []
    for pool, lr, epochs in itertools.product(*GRID.values()):
        t0 = time.perf_counter()
        name = f"{pool}-lr{lr:g}-ep{epochs}"
        m = train_heads(model, work / "heads", work / "runs" / name, heads_config(pool, lr, epochs), fields=FIELDS)
        runs.append({"run": name, "dev_headline": m["validation"]["headline_coarse_macro_f1"],
                     "seconds": round(time.perf_counter() - t0, 1), "steps": m["global_step"]})
        print(runs[-1], flush=True)
    best = max(runs, key=lambda r: r["dev_headline"])
    heads = MultiTaskHeads.from_pretrained(work / "runs" / best["run"], base_model=model)
    preds = heads.predict([r["text"] for r in split["test"]], batch_size=8)
    gold = [r["labels"] for r in split["test"]]
    scores = score_systems(gold, {"lora": [{f: p[f]["label"] for f in FIELDS} for p in preds]}, fields=FIELDS)
    n = len(gold)
    weights = np.random.default_rng(0).multinomial(n, np.full(n, 1.0 / n), size=1000).astype(float)
    t14 = t14_scores([g["pT"] for g in gold], [p["pT"]["label"] for p in preds], [p["pT"]["probs"] for p in preds],
                     weights)
    t14.pop("_boots", None)
    fields = scores["systems"]["lora"]["fields"]
    result["summary"] = {"status": "ok", "chosen_on_dev": best["run"],
                         **{f: {k: fields[f]["coarse"][k] for k in ("macro_f1", "ci_low", "ci_high", "n")}
                            for f in FIELDS},
                         "T_auroc": t14.get("auroc"), "T_auroc_ci": t14.get("auroc_ci")}
    result["tables"] = {"grid": runs}
    result["notes"] = [f"grid {GRID}, chosen by dev headline macro F1; test scored once", f"work folder {work}"]
    write_result(result, out)
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="models/smollm2-135m")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    main(a.out, a.model, a.data_dir)
