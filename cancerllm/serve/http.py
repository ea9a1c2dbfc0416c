"""HTTP service (`cancerllm serve`): extract, diagnose, plan and stage over JSON, on-site.

Endpoints (schema at /openapi.json; the Swagger/ReDoc pages are off because they load
scripts from a CDN, and the service must not make a browser reach the internet):
  POST /v1/extract, /v1/diagnose, /v1/plan   {"text": note, "id": optional}; one per served task
                                             (the task registry: a plugin task gets its own)
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
  generation rule (`cancerllm.models.generation`) and counted in /health
  `truncated_prompts`. Invalid JSON, bytes that are not UTF-8 or fields get 400/422
  with the field location and the reason (pydantic), without FastAPI's usual echo of the
  offending input (which could be a note).
- Note text is never logged: uvicorn's access log has no bodies, and this module logs
  endpoint, request id, text length and time only (`log_text=True` is the explicit
  opt-in to log texts, for debugging on synthetic data).

Micro-batching, fairly: every generation request becomes a job (`tasks.jobs`) whose
prompts wait in the request's own queue. A collector waits up to `max_wait_ms` for more
requests, then fills a batch of up to `max_batch_prompts` prompts of one task round-robin,
one prompt per waiting request in turn, and runs it in a single worker thread (the event
loop stays free). So a large request holds the worker one batch at a time and small ones
are served between its batches. Generation is batch-invariant, so a request gets the
answer it would get alone. /v1/stage requests are batched the same way (heads model).

Load limits (all in /v1/model `limits`): a request making more than
`max_request_prompts` prompts (1024; extract asks 8 per sentence) gets 413 before any
work; when the prompts admitted and unanswered would pass `max_queued_prompts` (4096) the
request gets 429 with `Retry-After`; a request not answered within `request_timeout_s`
(120 s) gets 504, and one whose client disconnects is withdrawn: in both cases its
prompts not yet in a batch are dropped, so the worker moves on to other requests.
Responses and the model card name model and adapter folders relative to the working
directory (or by name), not by absolute path; client ids are escaped in logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cancerllm.serve.batching import Busy, MicroBatcher, TooLarge
from cancerllm.serve.guard import (MIN_TOKEN_CHARS, OPEN_PATHS, TOKEN_ENV, Guard,  # noqa: F401 - this module's API
                                   is_loopback, resolve_token)
from cancerllm.serve.predict import MAX_NOTE_CHARS

log = logging.getLogger("cancerllm.serve")

MAX_BODY_BYTES = 256 * 1024
MAX_REQUEST_PROMPTS = 1024      # extract: 8 per sentence, so a note of up to 128 sentences
MAX_QUEUED_PROMPTS = 4096       # admitted and unanswered, all requests together
REQUEST_TIMEOUT_S = 120.0
DISCONNECT_POLL_S = 0.25

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


RESPONSES = {"phenotype": ExtractResponse, "generation": GenerationResponse}  # by TaskSpec.result


class StageResponse(BaseModel):
    id: str | int | None
    fields: dict[str, dict]


# ---------------------------------------------------------------- what leaves the service


def safe_id(value) -> str:
    """A client's id as it may appear in a log line (`records.log_safe`: printable ASCII,
    escaped otherwise, at most 80 characters), so an id cannot forge or colour log lines."""
    from cancerllm.data.records import log_safe
    return log_safe(value)


def public_path(path: str | os.PathLike) -> str:
    """A folder as the service shows it: relative to the working directory when under
    it, else its name; clients need to know which model answered, not the server's layout."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.name


def public_info(info: dict) -> dict:
    """`Engine.info()` with public paths."""
    return {**info, "model_dir": public_path(info["model_dir"]),
            "adapters": {k: public_path(v) for k, v in info.get("adapters", {}).items()}}


# ---------------------------------------------------------------- the app


def create_app(engine, heads: PredictReports | None = None, token: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, max_batch_prompts: int = 64,
               max_wait_ms: float = 5.0, log_text: bool = False, heads_dir: str | None = None,
               max_request_prompts: int = MAX_REQUEST_PROMPTS, max_queued_prompts: int = MAX_QUEUED_PROMPTS,
               request_timeout_s: float = REQUEST_TIMEOUT_S):
    """The FastAPI app over a loaded `Engine` (and optionally a staging predictor)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    limits = dict(max_batch=max_batch_prompts, max_wait_ms=max_wait_ms, max_request=max_request_prompts,
                  max_queued=max_queued_prompts)
    gen = MicroBatcher(engine.answer, **limits)
    stage = MicroBatcher(lambda _key, texts: heads(texts), **limits) if heads else None
    timed_out = {"n": 0}

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
        log.info("%s id=%s chars=%d ms=%.0f", endpoint, safe_id(req.id), len(req.text),
                 1000 * (time.perf_counter() - t0))
        if log_text:
            log.info("%s id=%s text=%r", endpoint, safe_id(req.id), req.text)

    async def answer(endpoint: str, batcher: MicroBatcher, key: str, inputs: list, req: NoteRequest,
                     request: Request) -> list:
        """The batcher's outputs, within the deadline, withdrawn if the client goes away."""
        try:
            batcher.admit(len(inputs))
        except TooLarge as exc:
            raise HTTPException(413, f"{exc}: split the note, or use `cancerllm predict` for long inputs") from None
        except Busy as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": "1"}) from None
        task = asyncio.ensure_future(batcher.submit(key, inputs))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request_timeout_s
        while not task.done():
            await asyncio.wait([task], timeout=min(DISCONNECT_POLL_S, max(0.0, deadline - loop.time())))
            if task.done():
                break
            if await request.is_disconnected():
                task.cancel()
                log.info("%s id=%s withdrawn: client disconnected", endpoint, safe_id(req.id))
                raise HTTPException(499, "client disconnected")
            if loop.time() >= deadline:
                task.cancel()
                timed_out["n"] += 1
                log.warning("%s id=%s not answered within %.0f s", endpoint, safe_id(req.id), request_timeout_s)
                raise HTTPException(504, f"not answered within the {request_timeout_s:g} s request deadline "
                                         "(the service is loaded); retry later or use `cancerllm predict`")
        try:
            return task.result()
        except (Busy, TooLarge) as exc:  # admitted above, refused on submit: the queue filled meanwhile
            raise HTTPException(429, str(exc), headers={"Retry-After": "1"}) from None
        except Exception as exc:
            log.error("%s id=%s failed: %s", endpoint, safe_id(req.id), type(exc).__name__)
            raise HTTPException(500, f"{endpoint} failed") from None

    async def run_job(endpoint: str, make, req: NoteRequest, request: Request) -> dict:
        t0 = time.perf_counter()
        job = make(req.text)
        answers = await answer(endpoint, gen, job.task, job.contexts, req, request)
        _log(endpoint, req, t0)
        return {"id": req.id, **job.finish(answers), "model": public_info(engine.info())}

    def task_endpoint(spec):
        async def endpoint(req: NoteRequest, request: Request) -> dict:
            return await run_job(spec.command, spec.make_job, req, request)
        endpoint.__name__ = spec.command
        endpoint.__doc__ = spec.description
        return endpoint

    from cancerllm.tasks.registry import served_tasks
    for spec in served_tasks():  # one endpoint per served task: /v1/extract, /v1/diagnose, /v1/plan ...
        app.post(f"/v1/{spec.command}", response_model=RESPONSES[spec.result])(task_endpoint(spec))

    @app.post("/v1/stage", response_model=StageResponse)
    async def stage_report(req: NoteRequest, request: Request) -> dict:
        """pT, pN, M, grade, ER, PR, HER2 classes of a pathology report (heads model)."""
        if stage is None:
            raise HTTPException(503, "no heads model loaded (start the service with --heads DIR)")
        t0 = time.perf_counter()
        (fields,) = await answer("stage", stage, "stage", [req.text], req, request)
        _log("stage", req, t0)
        return {"id": req.id, "fields": fields}

    @app.get("/health")
    async def health() -> dict:
        """Liveness, how many requests went through in how many batches, how many prompts were cut."""
        return {"status": "ok", "model": engine.label, "heads": heads is not None,
                "requests": gen.requests, "batches": gen.batches, "queued_prompts": gen.queued,
                "refused": gen.refused, "timed_out": timed_out["n"], "withdrawn": gen.withdrawn,
                "dropped_prompts": gen.dropped_prompts,
                "truncated_prompts": getattr(engine, "n_truncated", 0)}

    @app.get("/v1/model")
    async def model_card() -> dict:
        """Model card: model folder, adapters per task, task and service limits, device, versions."""
        card = engine.card()
        card = {**card, "model_dir": public_path(card["model_dir"]),
                "adapters": {k: public_path(v) for k, v in card["adapters"].items()},
                "tasks": {t: {**v, "adapter": v["adapter"] and public_path(v["adapter"])}
                          for t, v in card["tasks"].items()}}
        return {**card, "heads": heads_dir and public_path(heads_dir), "limits": {
            "max_body_bytes": max_body_bytes, "max_note_chars": MAX_NOTE_CHARS,
            "max_request_prompts": max_request_prompts, "max_queued_prompts": max_queued_prompts,
            "max_batch_prompts": max_batch_prompts, "request_timeout_s": request_timeout_s}}

    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes)
    return app


def _version() -> str:
    try:
        import importlib.metadata
        return importlib.metadata.version("cancerllm")
    except Exception:
        return "0"


# ---------------------------------------------------------------- starting it


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
          max_new_tokens: int | None = None, log_text: bool = False, quantization: str | None = None,
          max_request_prompts: int = MAX_REQUEST_PROMPTS, max_queued_prompts: int = MAX_QUEUED_PROMPTS,
          request_timeout_s: float = REQUEST_TIMEOUT_S, num_beams: int = 1) -> None:
    """Load the model(s) and run the service until interrupted."""
    import uvicorn

    from cancerllm.serve.engine import Engine
    token = resolve_token(host, token_file)  # before the (slow) model load
    engine = Engine.load(model, adapter, device=device, dtype=dtype, batch_size=batch_size,
                         max_new_tokens=max_new_tokens, quantization=quantization, num_beams=num_beams)
    predictor = load_heads(heads, device) if heads else None
    app = create_app(engine, predictor, token, max_wait_ms=max_wait_ms, log_text=log_text,
                     heads_dir=str(heads) if heads else None, max_request_prompts=max_request_prompts,
                     max_queued_prompts=max_queued_prompts, request_timeout_s=request_timeout_s)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("serving %s on %s:%d (token %s)", engine.label, host, port, "required" if token else "off")
    uvicorn.run(app, host=host, port=port, log_level="info")
