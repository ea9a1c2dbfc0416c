"""The service under load, over real sockets: prompt caps, full queue, deadline,
disconnects, fairness, and what reaches logs and clients (a slow fake engine, so the
tests are about scheduling, not about a model)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import pytest

from cancerllm.serve.http import create_app
from tests.serve.test_http import running

SENTENCE = "Tumor 2 cm."


class SlowEngine:
    """Answers every prompt "Not relevant" after `delay` seconds per batch; logs batches."""

    label = "slow"
    n_truncated = 0

    def __init__(self, delay: float = 0.05):
        self.delay, self.calls, self.lock = delay, [], threading.Lock()

    def answer(self, task: str, contexts: list[str]) -> list[str]:
        time.sleep(self.delay)
        with self.lock:
            self.calls.append((task, len(contexts)))
        return ["Not relevant"] * len(contexts)

    def info(self) -> dict:
        return {"name": "slow", "model_dir": "/srv/secret/layout/slow-model",
                "adapters": {"*": "/srv/secret/layout/adapters/lora-1"}}

    def card(self) -> dict:
        return {"model": "slow", "model_dir": "/srv/secret/layout/slow-model",
                "adapters": {"*": "/srv/secret/layout/adapters/lora-1"},
                "tasks": {"phenotype": {"max_input_tokens": 1500, "max_new_tokens": 50,
                                        "adapter": "/srv/secret/layout/adapters/lora-1"}}}


def note(sentences: int) -> str:
    """A note of `sentences` one-line sentences: extract makes 8 prompts per sentence."""
    return "\n".join(f"Tumor {i} cm" for i in range(sentences))


def wait_for(url: str, test, seconds: float = 30) -> dict:
    deadline = time.time() + seconds
    while True:
        health = httpx.get(f"{url}/health").json()
        if test(health):
            return health
        assert time.time() < deadline, f"condition never held: {health}"
        time.sleep(0.02)


def test_request_over_the_prompt_cap_is_refused_before_any_work():
    engine = SlowEngine()
    with running(create_app(engine, max_request_prompts=16)) as url:
        r = httpx.post(f"{url}/v1/extract", json={"text": note(3)})
        assert r.status_code == 413 and "24 prompts" in r.json()["detail"] and "at most 16" in r.json()["detail"]
        assert engine.calls == []
        assert httpx.post(f"{url}/v1/extract", json={"text": note(2)}, timeout=30).status_code == 200


def test_full_queue_gets_429_with_retry_after():
    engine = SlowEngine(delay=0.4)
    with running(create_app(engine, max_queued_prompts=16, max_batch_prompts=8)) as url:
        async def scenario():
            async with httpx.AsyncClient(timeout=60) as client:
                first = asyncio.create_task(client.post(f"{url}/v1/extract", json={"text": note(2)}))
                await asyncio.to_thread(wait_for, url, lambda h: h["queued_prompts"] == 16)
                second = await client.post(f"{url}/v1/extract", json={"text": note(1)})
                return await first, second
        first, second = asyncio.run(scenario())
        assert first.status_code == 200
        assert second.status_code == 429 and second.headers["retry-after"] == "1"
        assert "16 prompts queued" in second.json()["detail"] and "retry later" in second.json()["detail"]


def test_a_large_request_does_not_starve_small_ones():
    engine = SlowEngine(delay=0.05)
    with running(create_app(engine, max_batch_prompts=8)) as url:
        async def scenario():
            order = []
            async with httpx.AsyncClient(timeout=120) as client:
                async def call(name, kind, text):
                    r = await client.post(f"{url}/v1/{kind}", json={"text": text, "id": name})
                    order.append(name)
                    return r
                big = asyncio.create_task(call("big", "extract", note(40)))  # 320 prompts = 40 batches
                await asyncio.to_thread(wait_for, url, lambda h: h["batches"] >= 1)
                small = [call(f"s{i}", kind, note(1)) for i, kind in enumerate(["diagnose", "plan", "extract"] * 2)]
                responses = await asyncio.gather(big, *small)
            return order, responses
        order, responses = asyncio.run(scenario())
        assert all(r.status_code == 200 for r in responses)
        assert order[-1] == "big"  # every small request was answered between the big one's batches
        assert max(n for _, n in engine.calls) <= 8


def test_deadline_gives_504_and_drops_the_rest_of_the_work():
    engine = SlowEngine(delay=0.3)
    with running(create_app(engine, max_batch_prompts=8, request_timeout_s=0.5)) as url:
        r = httpx.post(f"{url}/v1/extract", json={"text": note(8)}, timeout=30)  # 64 prompts: 8 batches
        assert r.status_code == 504 and "0.5 s request deadline" in r.json()["detail"]
        health = wait_for(url, lambda h: h["queued_prompts"] == 0)
        assert health["timed_out"] == 1 and health["withdrawn"] == 1 and health["dropped_prompts"] >= 40
        assert sum(n for _, n in engine.calls) < 64


def test_a_client_that_goes_away_is_withdrawn():
    engine = SlowEngine(delay=0.3)
    with running(create_app(engine, max_batch_prompts=8)) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/extract", json={"text": note(8)}, timeout=0.4)
        health = wait_for(url, lambda h: h["withdrawn"] == 1 and h["queued_prompts"] == 0)
        assert health["dropped_prompts"] > 0 and sum(n for _, n in engine.calls) < 64
        ok = httpx.post(f"{url}/v1/diagnose", json={"text": SENTENCE}, timeout=30)
        assert ok.status_code == 200  # and the worker serves the next client


def test_ids_are_escaped_in_logs_and_paths_are_not_absolute(caplog):
    caplog.set_level(logging.INFO, logger="cancerllm.serve")
    with running(create_app(SlowEngine(), heads_dir="/srv/secret/heads")) as url:
        forged = "n1\n2026-01-01 INFO cancerllm.serve: FORGED \x1b[31mred"
        r = httpx.post(f"{url}/v1/diagnose", json={"text": SENTENCE, "id": forged}, timeout=30)
        assert r.status_code == 200 and r.json()["id"] == forged
        assert r.json()["model"]["model_dir"] == "slow-model" and r.json()["model"]["adapters"] == {"*": "lora-1"}
        card = httpx.get(f"{url}/v1/model").json()
        assert "/srv/secret" not in str(card) and card["limits"]["max_request_prompts"] == 1024
    logged = [rec.getMessage() for rec in caplog.records if rec.name == "cancerllm.serve"]
    assert any("n1\\n2026" in m for m in logged)
    assert not any("\n" in m or "\x1b" in m for m in logged)


def test_without_a_token_only_loopback_host_names_are_answered():
    with running(create_app(SlowEngine())) as url:
        assert httpx.get(f"{url}/health", headers={"Host": "attacker.example"}).status_code == 421
        assert httpx.get(f"{url}/health", headers={"Host": "localhost:8000"}).status_code == 200
        assert httpx.get(f"{url}/health", headers={"Host": "[::1]:8000"}).status_code == 200
    with running(create_app(SlowEngine(), token="a-long-enough-token-123")) as url:
        assert httpx.get(f"{url}/health", headers={"Host": "service.hospital.internal"}).status_code == 200


def test_service_load_benchmark_smoke(tmp_path):
    """benchmarks/bench_service_load.py runs (smoke size) and every request is answered or refused as documented."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    script = root / "benchmarks" / "bench_service_load.py"
    assert "--smoke" in subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                       cwd=root, timeout=60).stdout
    sys.path.insert(0, str(root))
    from benchmarks.bench_service_load import main
    result = main(smoke=True, out=tmp_path / "service_load.json")
    small, big, over = result["tables"]["requests"]
    assert small["status"] == [200] and small["within deadline"] == 6 and big["status"] == [200]
    assert over["status"] == [413]
    assert json.loads((tmp_path / "service_load.json").read_text())["smoke"] is True
