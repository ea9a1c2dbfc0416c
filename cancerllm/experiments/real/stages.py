"""The real-data report's stage cache: which stages a changed recipe key redoes, and the
peak memory of a stage while it runs."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from cancerllm.experiments.real.config import RealConfig
from cancerllm.io import atomic_write_json

# stage -> (upstream stages, recipe keys it reads). A rerun redoes a stage when a key it
# or an upstream stage reads has changed since the run that produced it (resume is only
# safe for unchanged settings); its output folder is deleted first, so that a training
# stage does not resume from a checkpoint of other settings. Code changes are not tracked.
STAGE_INPUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "data": ((), ("data_dir", "fields")),
    "corpus": (("data",), ("corpus", "seed")),
    "rules": (("data",), ("limit",)),
    "cancer_type_prior": (("data",), ("classical", "limit")),
    "classical": (("data",), ("classical", "limit")),
    "tiny_tokenizer": (("corpus",), ("tiny.vocab_size",)),
    "tiny_init": (("tiny_tokenizer",), ("tiny.model",)),
    "tiny_pack": (("tiny_init",), ()),
    "tiny_base": (("tiny_pack",), ("tiny.pretrain",)),
    "ppl_tiny": (("tiny_base",), ("perplexity", "limit")),
    "heads-tiny": (("tiny_base",), ("tiny.heads",)),
    "predict-heads-tiny": (("heads-tiny",), ("limit",)),
    "smollm2_pack": (("corpus",), ("base",)),
    "ppl_base": (("data",), ("base", "perplexity", "limit")),
    "cpt": (("smollm2_pack",), ("pretrain",)),
    "ppl_adapted": (("cpt",), ("perplexity", "limit")),
    "encode-smollm2": (("data",), ("base", "heads_cached", "limit")),
    "heads-cached-smollm2": (("encode-smollm2",), ("heads_cached", "fields")),
    "single-heads-cached-smollm2": (("encode-smollm2",), ("heads_cached", "fields")),
    "heads-cached-evidence-smollm2": (("encode-smollm2",), ("heads_cached", "fields")),
    "single-heads-cached-evidence-smollm2": (("encode-smollm2",), ("heads_cached", "fields")),
    "heads-smollm2": (("data",), ("base", "heads")),
    "predict-heads-smollm2": (("heads-smollm2",), ("limit",)),
    "zero-shot-smollm2": (("data",), ("base", "zero_shot", "limit", "seed")),
    "merge": (("cpt",), ()),
    "heads-smollm2-cpt": (("merge",), ("heads",)),
    "predict-heads-smollm2-cpt": (("heads-smollm2-cpt",), ("limit",)),
}
STAGE_DIRS = {"data": "data", "corpus": "corpus", "tiny_tokenizer": "tiny/tokenizer", "tiny_init": "tiny/init",
              "tiny_pack": "corpus/packed-tiny", "tiny_base": "tiny/base", "smollm2_pack": "corpus/packed-smollm2",
              "cpt": "smollm2/cpt", "merge": "smollm2/merged", "heads-tiny": "heads/heads-tiny",
              "heads-smollm2": "heads/heads-smollm2", "heads-smollm2-cpt": "heads/heads-smollm2-cpt"}


def _lookup(cfg: dict | None, dotted: str):
    for part in dotted.split("."):
        cfg = cfg.get(part) if isinstance(cfg, dict) else None
    return cfg


def stage_keys(cfg: dict | None) -> dict[str, str]:
    """A hash per stage of the settings it depends on (its own and its upstream stages')."""
    keys: dict[str, str] = {}
    for name, (upstream, paths) in STAGE_INPUTS.items():
        parts = [keys[u] for u in upstream] + [json.dumps(_lookup(cfg, p), sort_keys=True) for p in paths]
        keys[name] = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return keys


def forget_stale_stages(out: Path, cfg: RealConfig) -> list[str]:
    """Drop the stages of OUT whose settings differ from `cfg` (and their folders).

    Compares with OUT/config.yaml, the settings of the run that produced OUT's stages;
    call it before `start_run` overwrites that file.
    """
    import shutil

    import yaml
    saved = out / "config.yaml"
    if not saved.is_file():
        return []
    old = stage_keys(yaml.safe_load(saved.read_text(encoding="utf-8")))
    new = stage_keys(yaml.safe_load(cfg.to_yaml()))
    stale = [s for s in STAGE_INPUTS if old[s] != new[s]]
    path = out / "stages.json"
    done = json.loads(path.read_text()) if path.is_file() else {}
    for name in stale:
        done.pop(name, None)
        if name in STAGE_DIRS and (out / STAGE_DIRS[name]).exists():
            shutil.rmtree(out / STAGE_DIRS[name])
    if stale:
        atomic_write_json(path, done)
        print(f"[real] settings changed since the last run in {out}; redoing: {', '.join(stale)}", flush=True)
    return stale


def measured(fn):
    """`fn` with its peak resident memory recorded: RSS sampled every 50 ms while it runs.

    Why: StageRunner's `peak_rss_mb` is the process's peak so far (it never goes down), so
    it cannot tell systems apart; this is the peak *during* the stage (it still includes
    what the process held before: `rss_start_mb`).
    """
    def run():
        import psutil
        proc = psutil.Process()
        start = peak = proc.memory_info().rss
        done = threading.Event()

        def sample():
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, proc.memory_info().rss)
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            result = fn() or {}
        finally:
            done.set()
            thread.join()
        peak = max(peak, proc.memory_info().rss)
        return {**result, "rss_start_mb": round(start / 2**20, 1), "rss_peak_mb": round(peak / 2**20, 1)}
    return run
