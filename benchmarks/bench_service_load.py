"""Does one maximal request starve the service? 50 concurrent small requests plus the
largest legal extract request, and one over the limit, against the real HTTP service.

Builds the test suite's tiny model (a random 2-layer Mistral with its own tokenizer, new
tokens capped at 16 so the random model does not run to 500), starts `cancerllm serve`'s
app with its default limits on a loopback port, then sends at once:
- 50 small requests, mixed: extract on short notes, diagnose and plan on clinic notes;
- one extract request at the per-request cap (128 one-line sentences = 1024 prompts);
and, after them, one extract request over the cap (a 200-line note) to time its refusal.
Reports each group's status codes and latencies against the request deadline, and writes
benchmarks/results/service_load.json. Figures depend on a loaded CPU; read them as bounds.

    python benchmarks/bench_service_load.py [--smoke]
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import new_result, print_table, smoke_requested, write_result  # noqa: E402

NOTES = [
    "Reason for Visit: follow-up of left breast cancer.\nSubjective: feels well.\nObjective: no mass.\n"
    "Diagnosis: invasive ductal carcinoma, ER positive.\nAssessment: stable.\nPlan: continue letrozole.",
    "HPI: 64 yo with a 2.3 cm mass in the right upper lobe. Biopsy showed adenocarcinoma.\nPlan: refer.",
    "Tumor size 1.8 cm, grade 3, stage IIIB squamous cell carcinoma.",
    "ER/PR negative, HER2 3+. Invasive ductal carcinoma, right breast.",
]


def build_engine(work: Path, max_new_tokens: int):
    from cancerllm.models.tiny import TinyModelConfig, init_tiny_model
    from cancerllm.models.tokenizer import train_tokenizer
    from cancerllm.serve.engine import Engine
    from tests.fixtures.model import TINY_TEST_MODEL, fixture_texts
    train_tokenizer(fixture_texts(), work / "tok", vocab_size=600, min_frequency=1)
    init_tiny_model(work / "tok", work / "model", TinyModelConfig(**TINY_TEST_MODEL))
    return Engine.load(work / "model", device="cpu", batch_size=16, max_new_tokens=max_new_tokens)


def serve_in_thread(app):
    import uvicorn
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def load(url: str, n_small: int, big_sentences: int, over_sentences: int) -> dict:
    import httpx
    kinds = ["extract", "diagnose", "plan"]
    small = [(kinds[i % 3], NOTES[2 + i % 2] if i % 3 == 0 else NOTES[i % 2]) for i in range(n_small)]
    big = "\n".join(f"Tumor {i} cm" for i in range(big_sentences))
    over = "\n".join(f"Tumor {i} cm" for i in range(over_sentences))
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=n_small + 8)) as client:
        async def call(kind, text):
            t0 = time.perf_counter()
            r = await client.post(f"{url}/v1/{kind}", json={"text": text})
            return r.status_code, time.perf_counter() - t0
        big_task = asyncio.create_task(call("extract", big))
        await asyncio.sleep(0.2)  # the big request is queued first: the worst case for the small ones
        small_results = await asyncio.gather(*(call(k, t) for k, t in small))
        big_result = await big_task
        over_result = await call("extract", over)
        health = (await client.get(f"{url}/health")).json()
    return {"small": small_results, "big": big_result, "over": over_result, "health": health}


def main(smoke: bool = False, out=None) -> dict:
    from cancerllm.serve.http import MAX_REQUEST_PROMPTS, REQUEST_TIMEOUT_S, create_app
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(Path(tmp), max_new_tokens=4 if smoke else 16)
        server, url = serve_in_thread(create_app(engine))
        try:
            n_small, big = (6, 16) if smoke else (50, MAX_REQUEST_PROMPTS // 8)
            t0 = time.perf_counter()
            got = asyncio.run(load(url, n_small, big, 200))
            wall = time.perf_counter() - t0
        finally:
            server.should_exit = True
    small_s = [s for _, s in got["small"]]
    rows = [
        {"group": f"{n_small} small, mixed", "status": sorted({c for c, _ in got["small"]}),
         "p50 s": round(statistics.median(small_s), 2), "max s": round(max(small_s), 2),
         "within deadline": sum(s < REQUEST_TIMEOUT_S and c == 200 for c, s in got["small"])},
        {"group": f"maximal extract ({big * 8} prompts)", "status": [got["big"][0]],
         "p50 s": round(got["big"][1], 2), "max s": round(got["big"][1], 2),
         "within deadline": int(got["big"][1] < REQUEST_TIMEOUT_S)},
        {"group": "over the cap (200 lines, 1600 prompts)", "status": [got["over"][0]],
         "p50 s": round(got["over"][1], 3), "max s": round(got["over"][1], 3), "within deadline": 1},
    ]
    result = new_result("service_load", "Service under load: 50 small requests beside one maximal one", smoke)
    result["summary"] = {"deadline s": REQUEST_TIMEOUT_S, "wall s": round(wall, 1),
                         "batches": got["health"]["batches"], "refused": got["health"]["refused"]}
    result["tables"] = {"requests": rows}
    result["notes"] = ["tiny random Mistral (test fixture), CPU, new tokens capped at 16; the big request is "
                       "sent 0.2 s before the small ones", "default limits of cancerllm serve"]
    print_table(rows, result["title"])
    write_result(result, out)
    return result


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="6 small requests and a 128-prompt one")
    main(smoke=parser.parse_args().smoke or smoke_requested())
