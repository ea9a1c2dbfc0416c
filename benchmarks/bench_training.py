"""Useful tokens/s of LoRA pre-training with packing vs a plain per-example padded Trainer.

Same tiny Mistral (hidden 128), same LoRA (r 8 on all linear layers), same documents of
varied length, same batch size and number of optimizer steps; only the data layout
differs:

- packed (ours): `cancerllm.train.pretrain.pretrain` on fixed 256-token blocks of
  EOS-separated documents, with and without the per-document attention mask;
- padded: one document per example (cut at 256 tokens), padded to the longest in the
  batch by transformers' `DataCollatorForLanguageModeling`, random order (the plain HF
  recipe), and the same with `group_by_length` batches.

"Useful" tokens are the loss-bearing positions (label not -100 at the next position);
the padding share is the fraction of computed positions that are padding. Prints a table
and writes benchmarks/results/training.json. Run: `python benchmarks/bench_training.py`
(or `benchmarks/run_all.py --only training`; `--smoke` for a seconds-long check).

On a shared machine wall-clock rates swing with other load, so each configuration runs
ROUNDS times, interleaved, on one compute thread, and the table shows the best
wall-clock rate and the median rate per CPU-second of the training process (the latter
barely moves with other processes' load).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import new_result, print_table, smoke_requested, write_result

BLOCK, BATCH, N_DOCS, SEED = 256, 8, 600, 0
FULL = {"steps": 20, "rounds": 3}
SMOKE = {"steps": 2, "rounds": 1}   # `run_all.py --smoke`: the path runs, the figures mean nothing
THREADS = 1  # one compute thread: CPU seconds then measure work, not OpenMP spin-waiting
MODEL = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=1024)

SENTENCES = [
    "Patient presents for follow up of {site} {kind}.",
    "Pathology shows {kind}, grade {grade}, tumor size {size} cm, margins negative.",
    "ER {er}, PR {er}, HER2 {her2}. Ki-67 {ki}%.",
    "She completed cycle {cyc} of {regimen} without dose reduction.",
    "Reports mild fatigue and grade 1 neuropathy; denies fever, chest pain or dyspnea.",
    "CT chest abdomen pelvis: no evidence of metastatic disease.",
    "Labs: WBC {wbc}, hemoglobin {hgb}, platelets {plt}, creatinine 0.{cr}.",
    "Plan: continue {regimen}; repeat imaging in {months} months; return to clinic in 3 weeks.",
    "Discussed risks and benefits of adjuvant radiation to the {site}.",
]
FILL = dict(site=["left breast", "right breast", "sigmoid colon", "right upper lobe", "prostate"],
            kind=["invasive ductal carcinoma", "adenocarcinoma", "squamous cell carcinoma"],
            grade=["1", "2", "3"], size=["0.8", "1.6", "2.3", "4.1"], er=["positive", "negative"],
            her2=["0", "1+", "2+ (FISH negative)", "3+"], ki=["5", "15", "30", "60"],
            cyc=["2", "3", "4", "6"], regimen=["AC-T", "FOLFOX", "carboplatin/paclitaxel", "letrozole"],
            wbc=["4.2", "6.1", "8.8"], hgb=["10.9", "12.4", "13.8"], plt=["150", "231", "402"],
            cr=["7", "8", "9"], months=["3", "6"])


def make_documents(n: int, seed: int) -> list[str]:
    """Notes of varied length: 1 to ~60 sentences, log-normal, like real clinic notes."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        k = max(1, min(60, int(rng.lognormvariate(2.0, 0.9))))
        docs.append(" ".join(rng.choice(SENTENCES).format(**{key: rng.choice(v) for key, v in FILL.items()})
                             for _ in range(k)))
    return docs


def build_model(work: Path, docs: list[str]) -> Path:
    from cancerllm.models.tiny import TinyModelConfig, init_tiny_model
    from cancerllm.models.tokenizer import train_tokenizer
    train_tokenizer(docs, work / "tok", vocab_size=1000, min_frequency=2)
    init_tiny_model(work / "tok", work / "model", TinyModelConfig(**MODEL))
    return work / "model"


def tokenize(model_dir: Path, docs: list[str]) -> list[list[int]]:
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    return [ids + [tok.eos_token_id] for ids in tok(docs, add_special_tokens=False)["input_ids"]]


def lora_config(steps: int, extra: list[str]):
    from cancerllm.config import load_config
    from cancerllm.train.pretrain import PretrainConfig
    return load_config(PretrainConfig, "pretrain-tiny", [
        f"train.max_steps={steps}", f"train.per_device_train_batch_size={BATCH}",
        "train.logging_steps=1000", "train.save_steps=100000", "max_eval_blocks=0", *extra])


def cpu_timer():
    """A callback that records the process CPU seconds spent inside `trainer.train`."""
    from transformers import TrainerCallback

    class CpuTimer(TrainerCallback):
        seconds = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.t0 = time.process_time()

        def on_train_end(self, args, state, control, **kwargs):
            self.seconds = time.process_time() - self.t0

    return CpuTimer()


def run_packed(work: Path, model_dir: Path, docs: list[list[int]], document_mask: bool,
               steps: int, tag: str, timer) -> dict:
    from datasets import Dataset, DatasetDict

    from cancerllm.train.pretrain import pretrain
    flat = [t for d in docs for t in d]
    blocks = [flat[i:i + BLOCK] for i in range(0, len(flat) // BLOCK * BLOCK, BLOCK)]
    data = work / "packed"
    if not data.exists():
        DatasetDict({"train": Dataset.from_dict({"input_ids": blocks})}).save_to_disk(str(data))
    out = work / f"packed-{document_mask}-{tag}"
    return pretrain(model_dir, data, out, lora_config(steps, [f"document_mask={str(document_mask).lower()}"]),
                    callbacks=[timer])


def run_padded(work: Path, model_dir: Path, docs: list[list[int]], group_by_length: bool,
               steps: int, tag: str, timer) -> dict:
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling

    from cancerllm.train.causal_lm import load_for_training
    from cancerllm.train.trainer import begin_run, run_trainer
    cfg = lora_config(steps, [])
    out, _ = begin_run(work / f"padded-{group_by_length}-{tag}", cfg, False, "bench.padded")
    model, tok = load_for_training(model_dir, cfg)
    train = Dataset.from_dict({"input_ids": [d[:BLOCK] for d in docs]})
    collator = DataCollatorForLanguageModeling(tok, mlm=False)  # pads; labels -100 on padding
    extra = {"train_sampling_strategy": "group_by_length"} if group_by_length else {}
    return run_trainer(model, tok, train, None, collator, cfg, out, callbacks=[timer],
                       args_extra=extra)


CONFIGS = {
    "packed, document mask (ours)": lambda *a: run_packed(*a[:3], True, *a[3:]),
    "packed, plain causal": lambda *a: run_packed(*a[:3], False, *a[3:]),
    "padded per example, random order": lambda *a: run_padded(*a[:3], False, *a[3:]),
    "padded per example, group_by_length": lambda *a: run_padded(*a[:3], True, *a[3:]),
}


def summary(name: str, runs: list[tuple[dict, float]]) -> dict:
    """Best wall-clock rates and median per-CPU-second rates over the rounds of one config."""
    m = runs[0][0]  # same data and steps every round: token counts and loss are identical
    best = max(runs, key=lambda r: r[0]["useful_tokens_per_s"])[0]
    per_cpu = statistics.median(r["useful_tokens"] / cpu for r, cpu in runs)
    return {"run": name, "steps": m["global_step"], "rounds": len(runs),
            "tokens": m["tokens"], "useful_tokens": m["useful_tokens"],
            "best_seconds": best["train_runtime_s"], "tokens_per_s": best["tokens_per_s"],
            "useful_tokens_per_s": best["useful_tokens_per_s"],
            "useful_tokens_per_cpu_s": round(per_cpu, 1),
            "padding_share": m["padding_share"], "train_loss": round(m["train_loss"], 4)}


def main(smoke: bool | None = None, out: str | os.PathLike | None = None) -> dict:
    import torch
    smoke = smoke_requested() if smoke is None else smoke
    size = SMOKE if smoke else FULL
    torch.set_num_threads(THREADS)
    result = new_result("training", "Training: useful tokens/s, packed vs padded "
                        "(LoRA r 8, all linear layers)", smoke)
    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="bench_training_"))
    try:
        texts = make_documents(N_DOCS, SEED)
        model_dir = build_model(work, texts)
        docs = tokenize(model_dir, texts)
        lengths = sorted(len(d) for d in docs)
        runs: dict[str, list] = {name: [] for name in CONFIGS}
        for r in range(size["rounds"]):  # interleaved, so a burst of outside load hits every config
            for name, run in CONFIGS.items():
                timer = cpu_timer()
                metrics = run(work, model_dir, docs, size["steps"], str(r), timer)
                runs[name].append((metrics, timer.seconds))
        rows = [summary(name, rs) for name, rs in runs.items()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, plain = rows[0], rows[2]
    result["setup"] = {"model": MODEL, "block_size": BLOCK, "batch_size": BATCH, **size,
                       "documents": N_DOCS, "doc_tokens_median": lengths[len(lengths) // 2],
                       "doc_tokens_p90": lengths[int(len(lengths) * 0.9)],
                       "doc_tokens_max": lengths[-1], "torch_threads": THREADS}
    result["summary"] = {
        "useful tokens/s, packed (ours) / padded (plain)": round(
            ours["useful_tokens_per_s"] / plain["useful_tokens_per_s"], 2),
        "useful tokens per CPU-s, packed / padded": round(
            ours["useful_tokens_per_cpu_s"] / plain["useful_tokens_per_cpu_s"], 2),
        "useful tokens/s, packed (ours)": ours["useful_tokens_per_s"],
        "useful tokens/s, padded (plain)": plain["useful_tokens_per_s"],
        "padding share, packed": ours["padding_share"],
        "padding share, padded (plain)": plain["padding_share"],
    }
    result["tables"] = {"runs": rows}
    result["notes"] = [
        f"{N_DOCS} synthetic notes (median {result['setup']['doc_tokens_median']} tokens, p90 "
        f"{result['setup']['doc_tokens_p90']}); tiny Mistral hidden 128, 4 layers; LoRA r 8 on all "
        f"linear layers; batch {BATCH}, {size['steps']} steps, {size['rounds']} interleaved rounds, "
        f"{THREADS} compute thread.",
        "packed: cancerllm.train.pretrain on 256-token blocks; padded: one document per example "
        "(cut at 256), transformers DataCollatorForLanguageModeling, same Trainer.",
        "useful = loss-bearing positions; tokens/s = best round (wall clock); per CPU-s = median "
        "over rounds of useful tokens / process CPU seconds inside trainer.train.",
    ]
    result["total_seconds"] = round(time.time() - t0, 1)
    print_table(rows, result["title"])
    for k, v in result["summary"].items():
        print(f"{k}: {v}")
    write_result(result, out)
    return result


if __name__ == "__main__":
    main()
