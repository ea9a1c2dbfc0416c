"""The main job: every pipeline stage on the embedded default, then one report.

Each stage is a call to the same Python function its CLI command wraps. A stage that
finished writes a marker with its timing, so a killed demo resumes at the first
unfinished stage. The report is assembled from the stages' own output files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from cancerllm.config import Config, load_config
from cancerllm.io import atomic_write_json
from cancerllm.models.tiny import TinyModelConfig
from cancerllm.runs import start_run


class DemoConfig(Config):
    seed: int = 0
    patients: int = 600
    vocab_size: int = 4000
    model: TinyModelConfig = TinyModelConfig()
    corpus: dict = {}
    stages: dict[str, dict] = {}


class StageRunner:
    """Runs named stages once, records wall time and peak memory of each in OUT/stages.json."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out / "stages.json"
        self.done: dict = json.loads(self.path.read_text()) if self.path.exists() else {}

    def __call__(self, name: str, fn: Callable[[], dict | None]) -> dict:
        if name in self.done:
            print(f"[demo] {name}: done earlier ({self.done[name]['seconds']:.1f} s), skipping", flush=True)
            return self.done[name].get("result") or {}
        print(f"[demo] {name} ...", flush=True)
        t0 = time.perf_counter()
        result = fn() or {}
        seconds = time.perf_counter() - t0
        self.done[name] = {"seconds": round(seconds, 2), "peak_rss_mb": _peak_rss_mb(), "result": result}
        atomic_write_json(self.path, self.done)
        print(f"[demo] {name}: {seconds:.1f} s", flush=True)
        return result


def _peak_rss_mb() -> float:
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_demo(out_dir: str, recipe: str = "demo", overrides: list[str] | None = None) -> Path:
    cfg = load_config(DemoConfig, recipe, overrides)
    out = start_run(out_dir, cfg, cfg.seed, stage="demo")
    stage = StageRunner(out)
    data, tasks, corpus = out / "data", out / "tasks", out / "corpus"
    tok_dir, init_dir = out / "models" / "tokenizer", out / "models" / "tiny-init"

    def synth():
        from cancerllm.data.synth import generate
        return generate(data, patients=cfg.patients, seed=cfg.seed)

    def build_tasks_stage():
        from cancerllm.tasks.build import build_tasks
        return build_tasks(data, tasks, "all", cfg.seed)

    def corpus_clean():
        from cancerllm.data.corpus import CorpusConfig, build_corpus
        ccfg = CorpusConfig(**{"seed": cfg.seed, **cfg.corpus})
        s = build_corpus([str(data / "notes.jsonl"), str(data / "pathology.jsonl")], corpus, ccfg)
        return {k: s[k] for k in ("read", "kept", "exact_duplicates", "near_duplicates",
                                  "held_out_test_patients")}

    def tokenizer():
        from cancerllm.io import read_jsonl
        from cancerllm.models.tokenizer import train_tokenizer
        texts = (r["text"] for r in read_jsonl(corpus / "clean" / "train.jsonl"))
        tok = train_tokenizer(texts, tok_dir, vocab_size=cfg.vocab_size)
        return {"vocab_size": len(tok)}

    def init_model():
        from cancerllm.models.tiny import init_tiny_model
        model = init_tiny_model(tok_dir, init_dir, cfg.model)
        return {"parameters": sum(p.numel() for p in model.parameters())}

    def pack():
        from cancerllm.data.corpus import CorpusConfig, pack_corpus
        ccfg = CorpusConfig(**{"seed": cfg.seed, **cfg.corpus})
        return pack_corpus(corpus / "clean", tok_dir, corpus / "packed", ccfg.block_size, ccfg.num_proc)

    stage("synth", synth)
    stage("tasks", build_tasks_stage)
    stage("corpus", corpus_clean)
    stage("tokenizer", tokenizer)
    stage("init_model", init_model)
    stage("pack", pack)

    from cancerllm.report import write_demo_report
    return write_demo_report(out, cfg)
