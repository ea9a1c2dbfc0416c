"""How fast does the reference-mode scorer go on a realistic 100,000-instance file?

Builds seeded instances that look like the paper's tasks (about 70 % phenotype-style
short answers such as "left" or "er, pr", 30 % diagnosis-style sentences), with the
prediction errors a model makes (dropped or extra items, reordering, abbreviations,
repetition, rewording), then times:
- `score_records` on in-memory dicts (the scorer itself), with cold caches, and
- `score_files` end to end (read two JSONL files, pair ids, score).
Prints a small table and writes benchmarks/results/scoring.json.

    python benchmarks/bench_scoring.py [N]
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable as a script from a checkout
    sys.path.insert(0, str(ROOT))

from cancerllm.evaluate import normalize, scoring  # noqa: E402
from cancerllm.io import atomic_write_json, atomic_write_jsonl  # noqa: E402

RESULT_PATH = ROOT / "benchmarks" / "results" / "scoring.json"

PHENOTYPE_ANSWERS = [
    "left", "right", "bilateral", "er, pr", "er, pr, her2", "pr, her2, er", "her2",
    "positive", "negative", "er positive, pr negative", "her2 negative", "her2/neu 3+",
    "invasive ductal carcinoma", "ductal carcinoma in situ", "invasive lobular carcinoma",
    "grade 2", "grade 3", "nottingham grade 1", "intermediate", "high", "1.8 cm",
    "2.3 x 1.5 x 1.1 cm", "4 mm", "upper outer quadrant", "right breast 10:00",
    "left breast at 2:00", "9-10:00 position", "pt2 pn1a", "ypt2 ypn1bii m0", "stage iib",
    "t4n2m0", "not relevant", "Not relevant", "axillary lymph node", "nsclc",
]
SITES = ["breast", "lung", "colon", "prostate", "ovary", "pancreas", "liver", "bladder"]
HISTOLOGY = ["adenocarcinoma", "invasive ductal carcinoma", "squamous cell carcinoma",
             "small cell carcinoma", "carcinoma", "cancer", "ca"]
EXTRAS = ["with brain metastases", "with liver mets", "metastatic to bone",
          "s/p lobectomy and chemotherapy", "on adjuvant therapy", "status post mastectomy",
          "er+/pr+, her2-", "t2n0m0", "stage iv", "recurrent", "in remission"]
FILLER = ["the", "patient", "with", "history", "of", "and", "follow", "up", "in", "3", "months"]


def _diagnosis(rng: random.Random) -> str:
    parts = [rng.choice(["", "metastatic", "recurrent", "locally advanced", "early stage"]),
             rng.choice(SITES), rng.choice(HISTOLOGY)]
    parts += rng.sample(EXTRAS, rng.randint(0, 3))
    if rng.random() < 0.3:
        parts += rng.choices(FILLER, k=rng.randint(3, 10))
    return " ".join(p for p in parts if p)


def _perturb(answer: str, rng: random.Random) -> str:
    """A wrong prediction of one of the kinds the paper's error tables show."""
    words = answer.replace(",", " ,").split()
    kind = rng.randrange(6)
    if kind == 0 and len(words) > 1:  # incomplete
        del words[rng.randrange(len(words))]
    elif kind == 1:  # redundant
        words += rng.choice(EXTRAS).split()
    elif kind == 2:  # reordered
        rng.shuffle(words)
    elif kind == 3:  # repeated
        words = [rng.choice(words)] * rng.randint(3, 8)
    elif kind == 4:  # abbreviation / rewording
        swaps = {"cancer": "ca", "carcinoma": "ca", "invasive": "inv", "metastases": "mets"}
        words = [swaps.get(w, w) for w in words]
    else:  # irrelevant
        words = rng.choice(PHENOTYPE_ANSWERS + ["it is not a relevant question"]).split()
    return " ".join(words).replace(" ,", ",")


def build_instances(n: int, seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """n seeded (reference, prediction) pairs: 70 % phenotype-like, 30 % diagnosis-like."""
    rng = random.Random(seed)
    refs, preds = {}, {}
    for i in range(n):
        if rng.random() < 0.7:
            ref, p_right = rng.choice(PHENOTYPE_ANSWERS), 0.88
        else:
            ref, p_right = _diagnosis(rng), 0.4
        refs[f"b{i:06d}"] = ref
        preds[f"b{i:06d}"] = ref if rng.random() < p_right else _perturb(ref, rng)
    return refs, preds


def _clear_caches() -> None:
    for fn in (normalize.stem, normalize.reference_tokens):
        fn.cache_clear()


def main(n: int = 100_000, seed: int = 0, out: str | os.PathLike | None = RESULT_PATH) -> dict:
    refs, preds = build_instances(n, seed)

    _clear_caches()
    t0 = time.perf_counter()
    in_memory = scoring.score_records(refs, preds, mode="reference")
    t_mem = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        ref_path, pred_path = Path(tmp) / "refs.jsonl", Path(tmp) / "preds.jsonl"
        atomic_write_jsonl(ref_path, ({"id": k, "response": v} for k, v in refs.items()))
        atomic_write_jsonl(pred_path, ({"id": k, "prediction": v} for k, v in preds.items()))
        _clear_caches()
        t0 = time.perf_counter()
        from_files = scoring.score_files(pred_path, ref_path, mode="reference")
        t_files = time.perf_counter() - t0
    assert from_files.aggregate == in_memory.aggregate

    result = {
        "benchmark": "scoring (reference mode)",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count()},
        "instances": n,
        "seed": seed,
        "distinct_references": len(set(refs.values())),
        "score_records_seconds": round(t_mem, 3),
        "score_records_instances_per_s": round(n / t_mem),
        "score_files_seconds": round(t_files, 3),
        "score_files_instances_per_s": round(n / t_files),
        "aggregate": in_memory.aggregate,
    }
    print(f"{'step':<34}{'instances':>10}{'seconds':>10}{'inst/s':>10}")
    print(f"{'score_records (in memory, cold)':<34}{n:>10}{t_mem:>10.2f}{n / t_mem:>10.0f}")
    print(f"{'score_files (JSONL end to end)':<34}{n:>10}{t_files:>10.2f}{n / t_files:>10.0f}")
    if out is not None:
        atomic_write_json(out, result)
        print(f"written: {out}")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
