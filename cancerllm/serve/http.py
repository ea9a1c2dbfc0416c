"""HTTP service (`cancerllm serve`): extract, diagnose, plan and stage over JSON, on-site.

Endpoints (schema at /openapi.json; the Swagger/ReDoc pages are off because they load
scripts from a CDN, and the service must not make a browser reach the internet):
  POST /v1/extract, /v1/diagnose, /v1/plan   {"text": note, "id": optional}
  POST /v1/stage                             {"text": pathology report, "id": optional}
  GET  /health, /v1/model                    liveness + counters; the model card

Security and privacy, by default:
- Binds 127.0.0.1. Binding any other address requires a bearer token (env
  `CANCERLLM_API_TOKEN` or `--token-file`); without one the service refuses to start.
  When a token is configured, every endpoint but /health and /openapi.json requires
  `Authorization: Bearer <token>` (401 otherwise). Use TLS in front (a reverse proxy) when
  the network is not trusted; the service itself speaks plain HTTP.
- Request bodies over `max_body_bytes` (256 KB) get 413, notes over `MAX_NOTE_CHARS`
  (100,000 characters) 422; a prompt still over the task's token limit is cut by the
  generation rule (`cancerllm.evaluate.generation`) and counted in /health
  `truncated_prompts`. Invalid JSON, bytes that are not UTF-8 or fields get 400/422
  with the field location and the reason (pydantic), without FastAPI's usual echo of the
  offending input (which could be a note).
- Note text is never logged: uvicorn's access log has no bodies, and this module logs
  endpoint, request id, text length and time only (`log_text=True` is the explicit
  opt-in to log texts, for debugging on synthetic data).

Micro-batching: every generation request becomes a job (`serve.notes`) whose contexts go
on one asyncio queue. A collector task takes what is queued, waits up to `max_wait_ms`
for more (up to `max_batch_prompts` prompts), and runs one batched generation per task in
a single worker thread, so the event loop stays free and concurrent requests share
batches. Generation is batch-invariant, so a request gets the answer it would get alone.
/v1/stage requests are batched the same way through the heads model.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cancerllm.errors import ConfigError
from cancerllm.serve.notes import diagnose_job, extract_job, plan_job
from cancerllm.serve.predict import MAX_NOTE_CHARS

log = logging.getLogger("cancerllm.serve")

MAX_BODY_BYTES = 256 * 1024
TOKEN_ENV = "CANCERLLM_API_TOKEN"
OPEN_PATHS = {"/health", "/openapi.json"}

PredictReports = Callable[[list[str]], list[dict]]
"""The staging interface: report texts -> one {field: {"label", "probs"}} dict each."""


# ---------------------------------------------------------------- request / response bodies


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., min_length=1, max_length=MAX_NOTE_CHARS, description="The note (plain text).")
    id: Annotated[str, Field(max_length=200)] | int | None = Field(
        None, description="Your id for the note (string or integer); echoed back.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value


class Span(BaseModel):
    start: int
    end: int
    text: str


class PhenotypeValue(BaseModel):
    value: str
    grounded: bool = Field(description="False: the value is not in the note (likely hallucinated).")
    spans: list[Span]
    sentences: list[int]


class ModelInfo(BaseModel):
    name: str
    model_dir: str
    adapters: dict[str, str]


class ExtractResponse(BaseModel):
    id: str | int | None
    task: str
    phenotypes: dict[str, list[PhenotypeValue]]
    n_sentences: int
    n_ungrounded: int
    sentences: list[dict[str, int]]
    model: ModelInfo


class GenerationResponse(BaseModel):
    id: str | int | None
    task: str
    prediction: str
    sections_used: list[str]
    whole_note_as_context: bool
    model: ModelInfo


class StageResponse(BaseModel):
    id: str | int | None
    fields: dict[str, dict]


# ---------------------------------------------------------------- micro-batching


@dataclass
class _Item:
    key: str
    inputs: list
    future: asyncio.Future


@dataclass
class MicroBatcher:
    """Collects concurrent requests into batches; `run_batch(key, inputs)` runs in one thread."""

    run_batch: Callable[[str, list], list]
    max_batch: int = 64
    max_wait_ms: float = 5.0
    batches: int = 0
    requests: int = 0
    _queue: asyncio.Queue | None = None
    _task: asyncio.Task | None = None
    _executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "cancerllm-gen"))

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, key: str, inputs: list) -> list:
        if not inputs:
            return []
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(key, list(inputs), future))
        return await future

    async def _collect(self) -> list[_Item]:
        loop = asyncio.get_running_loop()
        items = [await self._queue.get()]
        size = len(items[0].inputs)
        deadline = loop.time() + self.max_wait_ms / 1000
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            items.append(item)
            size += len(item.inputs)
        return items

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            groups: dict[str, list[_Item]] = {}
            for item in items:
                groups.setdefault(item.key, []).append(item)
            for key, group in groups.items():
                flat = [x for item in group for x in item.inputs]
                self.batches += 1
                self.requests += len(group)
                try:
                    outputs = await loop.run_in_executor(self._executor, self.run_batch, key, flat)
                except Exception as exc:  # every waiting request gets the failure, the loop goes on
                    for item in group:
                        if not item.future.done():
                            item.future.set_exception(exc)
                    continue
                for item in group:
                    mine, outputs = outputs[:len(item.inputs)], outputs[len(item.inputs):]
                    if not item.future.done():  # a client that went away cancelled its future
                        item.future.set_result(mine)


# ---------------------------------------------------------------- guard: auth + body size


class Guard:
    """ASGI middleware: bearer token (when set) and a request body size limit (413)."""

    def __init__(self, app, token: str | None, max_body_bytes: int):
        self.app, self.max_body = app, max_body_bytes
        self.token = token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.token and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            if not (given.startswith(b"Bearer ") and hmac.compare_digest(given[7:].strip(), self.token)):
                return await _reply(send, 401, "missing or invalid bearer token",
                                    [(b"www-authenticate", b"Bearer")])
        body, size, more = [], 0, True
        while more:  # read the body (draining what is over the limit) before answering
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body:
                body.append(chunk)
            elif size > 64 * self.max_body:
                break
            more = message.get("more_body", False)
        if size > self.max_body:
            return await _reply(send, 413, f"request body over {self.max_body} bytes")
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _reply(send, status: int, detail: str, extra: list | None = None) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": payload})


# ---------------------------------------------------------------- the app


def create_app(engine, heads: PredictReports | None = None, token: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, max_batch_prompts: int = 64,
               max_wait_ms: float = 5.0, log_text: bool = False, heads_dir: str | None = None):
    """The FastAPI app over a loaded `Engine` (and optionally a staging predictor)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    gen = MicroBatcher(engine.answer, max_batch_prompts, max_wait_ms)
    stage = MicroBatcher(lambda _key, texts: heads(texts), max_batch_prompts, max_wait_ms) if heads else None

    @asynccontextmanager
    async def lifespan(_app):
        for batcher in (gen, stage):
            if batcher:
                batcher.start()
        yield
        for batcher in (gen, stage):
            if batcher:
                await batcher.stop()

    app = FastAPI(title="cancerllm", version=_version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Cancer-note phenotypes, diagnosis, plan and staging from a local model.")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request, exc: RequestValidationError):
        # FastAPI's default 422 echoes the offending input back: that could be a note.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    def _log(endpoint: str, req: NoteRequest, t0: float) -> None:
        log.info("%s id=%s chars=%d ms=%.0f", endpoint, req.id, len(req.text), 1000 * (time.perf_counter() - t0))
        if log_text:
            log.info("%s id=%s text=%r", endpoint, req.id, req.text)

    async def run_job(endpoint: str, make, req: NoteRequest) -> dict:
        t0 = time.perf_counter()
        job = make(req.text)
        try:
            answers = await gen.submit(job.task, job.contexts)
        except Exception as exc:
            log.error("%s id=%s failed: %s", endpoint, req.id, type(exc).__name__)
            raise HTTPException(500, "generation failed") from None
        _log(endpoint, req, t0)
        return {"id": req.id, **job.finish(answers), "model": engine.info()}

    @app.post("/v1/extract", response_model=ExtractResponse)
    async def extract(req: NoteRequest) -> dict:
        """Phenotypes per entity type, each value with its note offsets or grounded=false."""
        return await run_job("extract", extract_job, req)

    @app.post("/v1/diagnose", response_model=GenerationResponse)
    async def diagnose(req: NoteRequest) -> dict:
        """The diagnosis generated from the note's six input sections."""
        return await run_job("diagnose", diagnose_job, req)

    @app.post("/v1/plan", response_model=GenerationResponse)
    async def plan(req: NoteRequest) -> dict:
        """The treatment plan generated from the note's eight input sections."""
        return await run_job("plan", plan_job, req)

    @app.post("/v1/stage", response_model=StageResponse)
    async def stage_report(req: NoteRequest) -> dict:
        """pT, pN, M, grade, ER, PR, HER2 classes of a pathology report (heads model)."""
        if stage is None:
            raise HTTPException(503, "no heads model loaded (start the service with --heads DIR)")
        t0 = time.perf_counter()
        try:
            (fields,) = await stage.submit("stage", [req.text])
        except Exception as exc:
            log.error("stage id=%s failed: %s", req.id, type(exc).__name__)
            raise HTTPException(500, "staging failed") from None
        _log("stage", req, t0)
        return {"id": req.id, "fields": fields}

    @app.get("/health")
    async def health() -> dict:
        """Liveness, how many requests went through in how many batches, how many prompts were cut."""
        return {"status": "ok", "model": engine.label, "heads": heads is not None,
                "requests": gen.requests, "batches": gen.batches,
                "truncated_prompts": getattr(engine, "n_truncated", 0)}

    @app.get("/v1/model")
    async def model_card() -> dict:
        """Model card: model folder, adapters per task, task limits, device, versions."""
        return {**engine.card(), "heads": heads_dir, "max_body_bytes": max_body_bytes,
                "max_note_chars": MAX_NOTE_CHARS}

    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes)
    return app


def _version() -> str:
    try:
        import importlib.metadata
        return importlib.metadata.version("cancerllm")
    except Exception:
        return "0"


# ---------------------------------------------------------------- starting it


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token_file: str | os.PathLike | None = None) -> str | None:
    """The bearer token (file first, then env); refuses a non-loopback bind without one."""
    token = None
    if token_file is not None:
        path = Path(token_file)
        if not path.is_file():
            raise ConfigError(f"token file {str(path)!r} does not exist")
        token = path.read_text(encoding="utf-8").strip() or None
        if token is None:
            raise ConfigError(f"token file {str(path)!r} is empty")
    else:
        token = (os.environ.get(TOKEN_ENV) or "").strip() or None
    if token is None and not is_loopback(host):
        raise ConfigError(f"refusing to listen on {host} without a bearer token: set {TOKEN_ENV} or pass "
                          "--token-file (or bind 127.0.0.1)")
    return token


def load_heads(heads_dir: str | os.PathLike, device: str | None = None) -> PredictReports:
    """A staging predictor from a model folder: heads (`cancerllm train heads`), classical
    (`cancerllm train staging`) or cached-feature heads; see cancerllm.serve.staging."""
    from cancerllm.offline import local_model_dir
    from cancerllm.serve.staging import load_stager, system_of
    path = local_model_dir(heads_dir, "heads model")
    return load_stager(system_of(path), path, device)


def serve(model: str | os.PathLike, adapter: list[str] | None = None, heads: str | os.PathLike | None = None,
          host: str = "127.0.0.1", port: int = 8000, token_file: str | os.PathLike | None = None,
          batch_size: int = 16, max_wait_ms: float = 5.0, device: str | None = None, dtype: str | None = None,
          max_new_tokens: int | None = None, log_text: bool = False) -> None:
    """Load the model(s) and run the service until interrupted."""
    import uvicorn

    from cancerllm.serve.engine import Engine
    token = resolve_token(host, token_file)  # before the (slow) model load
    engine = Engine.load(model, adapter, device=device, dtype=dtype, batch_size=batch_size,
                         max_new_tokens=max_new_tokens)
    predictor = load_heads(heads, device) if heads else None
    app = create_app(engine, predictor, token, max_wait_ms=max_wait_ms, log_text=log_text,
                     heads_dir=str(heads) if heads else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("serving %s on %s:%d (token %s)", engine.label, host, port, "required" if token else "off")
    uvicorn.run(app, host=host, port=port, log_level="info")
