"""Who may call the HTTP service and how much they may send: the bearer token, the bind rule
and the request body limit (`cancerllm.serve.http` module doc, "Security and privacy").
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from pathlib import Path

from cancerllm.errors import ConfigError

TOKEN_ENV = "CANCERLLM_API_TOKEN"
MIN_TOKEN_CHARS = 16
OPEN_PATHS = {"/health", "/openapi.json"}


class Guard:
    """ASGI middleware: bearer token (when set) and a request body size limit (413)."""

    def __init__(self, app, token: str | None, max_body_bytes: int):
        self.app, self.max_body = app, max_body_bytes
        self.token = token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if not self.token and not _loopback_host(headers.get(b"host", b"")):
            # No token means loopback only: a page in the user's browser that points its own
            # name at 127.0.0.1 (DNS rebinding) sends its own Host; refuse it.
            return await _reply(send, 421, "Host header is not a loopback name; without a token the service "
                                           "answers only localhost, 127.0.0.1 and [::1]")
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


def _loopback_host(host: bytes) -> bool:
    name = host.decode("latin-1").strip().lower()
    if name.startswith("["):
        name = name[1:name.find("]")] if "]" in name else name
    else:
        name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    return is_loopback(name)


async def _reply(send, status: int, detail: str, extra: list | None = None) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": payload})


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
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"the bearer token has {len(token)} characters; use at least {MIN_TOKEN_CHARS} "
                          "random ones (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return token
