"""The HTTP service, started for real on a free loopback port and called over HTTP."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from cancerllm.errors import ConfigError
from cancerllm.serve.http import MAX_BODY_BYTES, create_app, resolve_token
from tests.serve.lively import NOTES

KINDS = {"extract": "extract", "diagnose": "diagnose", "plan": "plan"}


@contextmanager
def running(app):
    """Run `app` with uvicorn in a thread on a free 127.0.0.1 port; yield its base URL."""
    import uvicorn
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def fake_heads(texts: list[str]) -> list[dict]:
    return [{"pT": {"label": "pT1" if len(t) < 100 else "pT2", "probs": {}}} for t in texts]


@pytest.fixture(scope="module")
def url(engine):
    with running(create_app(engine, heads=fake_heads, heads_dir="fake")) as base:
        yield base


@pytest.fixture(scope="module")
def guarded_url(engine):
    with running(create_app(engine, token="s3cret-token")) as base:
        yield base


def direct(engine, kind: str, text: str) -> dict:
    return engine.run(kind, [text])[0]


def strip(response: dict) -> dict:
    return {k: v for k, v in response.items() if k not in ("id", "model")}


def test_health_model_card_and_openapi(url):
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["heads"] is True
    card = httpx.get(f"{url}/v1/model").json()
    assert {"phenotype", "diagnosis", "treatment"} <= set(card["tasks"])
    assert card["tasks"]["phenotype"]["max_input_tokens"] == 1500 and card["tasks"]["diagnosis"]["max_new_tokens"] == 12
    assert card["model_dir"] and card["versions"]["torch"] and card["heads"] == "fake"
    assert not card["model_dir"].startswith("/") and card["limits"]["max_queued_prompts"] == 4096
    schema = httpx.get(f"{url}/openapi.json").json()
    assert {"/v1/extract", "/v1/diagnose", "/v1/plan", "/v1/stage", "/health", "/v1/model"} <= set(schema["paths"])
    assert httpx.get(f"{url}/docs").status_code == 404  # no CDN-backed pages


def test_each_endpoint_answers_like_a_direct_call(url, engine, caplog):
    caplog.set_level(logging.INFO, logger="cancerllm.serve")
    for kind, note in (("extract", NOTES[4]), ("diagnose", NOTES[1]), ("plan", NOTES[1])):
        r = httpx.post(f"{url}/v1/{kind}", json={"text": note, "id": f"n-{kind}"}, timeout=60)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["id"] == f"n-{kind}" and body["model"]["name"] == engine.label
        assert strip(body) == direct(engine, kind, note)
    extracted = httpx.post(f"{url}/v1/extract", json={"text": NOTES[0]}, timeout=60).json()
    assert extracted["n_sentences"] == len(extracted["sentences"]) > 3
    for values in extracted["phenotypes"].values():
        for v in values:
            assert all(NOTES[0][s["start"]:s["end"]] == s["text"] for s in v["spans"])
            assert v["grounded"] == bool(v["spans"])
    assert "n-diagnose" in caplog.text and "64 yo" not in caplog.text  # ids, never text


def test_stage_endpoint(url, guarded_url):
    r = httpx.post(f"{url}/v1/stage", json={"text": "pT1a pN0 ER positive", "id": "p1"})
    assert r.json() == {"id": "p1", "fields": {"pT": {"label": "pT1", "probs": {}}}}
    no_heads = httpx.post(f"{guarded_url}/v1/stage", json={"text": "pT1"},
                          headers={"Authorization": "Bearer s3cret-token"})
    assert no_heads.status_code == 503 and "no heads model loaded" in no_heads.json()["detail"]


def test_bad_requests_get_clear_4xx_without_echoing_text(url):
    post = lambda **kw: httpx.post(f"{url}/v1/diagnose", **kw)  # noqa: E731
    bad_json = post(content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert bad_json.status_code == 422 and bad_json.json()["detail"][0]["type"] == "json_invalid"
    missing = post(json={"id": "x"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "text"]
    assert post(json={"text": 5}).status_code == 422
    assert post(json={"text": "note", "temperature": 2}).status_code == 422
    blank = post(json={"text": "   \n"})
    assert blank.status_code == 422 and "empty" in blank.json()["detail"][0]["msg"]
    too_long = post(json={"text": "SECRETNOTE " * 9100})  # > 100,000 chars, < 256 KB
    assert too_long.status_code == 422 and "SECRETNOTE" not in too_long.text
    too_big = post(json={"text": "a" * (MAX_BODY_BYTES + 10)})
    assert too_big.status_code == 413
    assert httpx.get(f"{url}/health").status_code == 200  # and the service is still up


def test_fifty_concurrent_requests_are_batched_and_each_answered_correctly(url, engine):
    texts = NOTES + [n.upper() for n in NOTES] + [n[: len(n) // 2] for n in NOTES]
    short = [t for t in texts if len(t) < 100]  # extract asks 8 questions per sentence: keep it cheap
    kinds = [k for _ in range(17) for k in KINDS][:50]
    pool = {"extract": short, "diagnose": texts, "plan": texts}
    jobs = [(kind, pool[kind][i % len(pool[kind])], f"req-{i}") for i, kind in enumerate(kinds)]
    expected = {(kind, text): direct(engine, kind, text) for kind, text, _ in jobs}
    before = httpx.get(f"{url}/health").json()

    async def call_all():
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=60)) as client:
            return await asyncio.gather(*(client.post(f"{url}/v1/{kind}", json={"text": text, "id": rid})
                                          for kind, text, rid in jobs))

    responses = asyncio.run(call_all())
    for (kind, text, rid), r in zip(jobs, responses):
        assert r.status_code == 200, r.text
        assert r.json()["id"] == rid and strip(r.json()) == expected[(kind, text)]
    after = httpx.get(f"{url}/health").json()
    assert after["requests"] - before["requests"] == 50
    assert after["batches"] - before["batches"] < 50  # requests shared batches


def test_token_required_when_configured(guarded_url):
    note = {"text": NOTES[2]}
    assert httpx.post(f"{guarded_url}/v1/diagnose", json=note).status_code == 401
    wrong = httpx.post(f"{guarded_url}/v1/diagnose", json=note, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{guarded_url}/v1/model").status_code == 401
    assert httpx.get(f"{guarded_url}/health").status_code == 200
    ok = httpx.post(f"{guarded_url}/v1/diagnose", json=note, headers={"Authorization": "Bearer s3cret-token"},
                    timeout=60)
    assert ok.status_code == 200 and isinstance(ok.json()["prediction"], str)


def test_binding_beyond_loopback_needs_a_token(monkeypatch, tmp_path):
    monkeypatch.delenv("CANCERLLM_API_TOKEN", raising=False)
    assert resolve_token("127.0.0.1") is None and resolve_token("::1") is None
    with pytest.raises(ConfigError, match="without a bearer token"):
        resolve_token("0.0.0.0")
    monkeypatch.setenv("CANCERLLM_API_TOKEN", "from-env-0123456789")
    assert resolve_token("0.0.0.0") == "from-env-0123456789"
    token_file = tmp_path / "token"
    token_file.write_text("from-file-0123456789\n")
    assert resolve_token("10.1.2.3", token_file) == "from-file-0123456789"
    token_file.write_text("short\n")
    with pytest.raises(ConfigError, match="at least 16"):
        resolve_token("10.1.2.3", token_file)
    token_file.write_text("  \n")
    with pytest.raises(ConfigError, match="empty"):
        resolve_token("10.1.2.3", token_file)


def test_serve_refuses_before_loading_anything(monkeypatch):
    from cancerllm.serve.http import serve
    monkeypatch.delenv("CANCERLLM_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="without a bearer token"):
        serve("no/such-model", host="0.0.0.0", port=1)


def test_real_heads_model_loads_behind_the_interface(tiny_model_dir, tmp_path):
    from cancerllm.models.heads import HeadsConfig, MultiTaskHeads
    from cancerllm.serve.http import load_heads
    from cancerllm.schema.staging import FIELDS
    MultiTaskHeads.from_base(tiny_model_dir, HeadsConfig(max_length=64, overlap=8, max_chunks=2), device="cpu") \
        .save_pretrained(tmp_path / "heads")
    predict_reports = load_heads(tmp_path / "heads", device="cpu")
    (out,) = predict_reports(["Invasive ductal carcinoma, pT2 pN1a, ER positive."])
    assert set(out) == set(FIELDS) and all("label" in v for v in out.values())
