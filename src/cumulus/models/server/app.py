"""The scoring ASGI app: a lean ``POST /score`` path in front of a FastAPI app.

``POST /score`` is answered by raw ASGI code (auth, body limit, JSON check, ``run()`` in a
thread with a timeout), which keeps the hot path cheaper than a FastAPI route; FastAPI serves
``/health`` and ``/swagger.json`` and documents ``/score`` in the OpenAPI schema.

Example::

    state = ServiceState(spec)
    app = ScoringApp(state)          # give it to uvicorn; state.install(handler) when loaded
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from .handler import Auth, Handler, Limits, Spec

log = logging.getLogger("cumulus.scoring")

try:  # orjson serialises numpy arrays natively and is 3-10x faster; optional
    import orjson

    _ORJSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
except ImportError:  # pragma: no cover - depends on the image
    orjson = None  # type: ignore[assignment]


def _default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """JSON-encode what ``run()`` returned (numpy arrays and scalars included)."""
    if orjson is not None:
        try:
            return orjson.dumps(value, default=_default, option=_ORJSON_OPTS)
        except TypeError:
            pass  # e.g. ints beyond 64 bits: let json try
    return json.dumps(value, default=_default, separators=(",", ":")).encode()


class ServiceState:
    """What the app serves now; the reloader replaces attributes, requests read them."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.handler: Handler | None = None
        self.auth = Auth.from_dict(spec.auth)
        self.limits = Limits.from_dict(spec.limits)
        self.pool = ThreadPoolExecutor(self.limits.max_concurrency,
                                       thread_name_prefix="score")
        self.last_reload: dict[str, Any] | None = None
        self.failed: str | None = None

    def install(self, spec: Spec, handler: Handler) -> None:
        """Swap in a new spec and handler (on the event loop thread: atomic for requests)."""
        limits = Limits.from_dict(spec.limits)
        if limits.max_concurrency != self.limits.max_concurrency:
            old, self.pool = self.pool, ThreadPoolExecutor(limits.max_concurrency,
                                                           thread_name_prefix="score")
            old.shutdown(wait=False)
        self.spec, self.handler = spec, handler
        self.auth, self.limits = Auth.from_dict(spec.auth), limits

    def health(self) -> tuple[int, dict[str, Any]]:
        if self.handler is None:
            status = "Failed" if self.failed else "Transitioning"
            return 503, {"status": status, "error": self.failed, "last_reload": None}
        return 200, {"status": "Healthy", "service": self.spec.service,
                     "revision": self.handler.revision, "last_reload": self.last_reload}


_JSON = [(b"content-type", b"application/json")]


async def _send(send: Any, status: int, body: bytes,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, status: int, message: str,
                 extra: list[tuple[bytes, bytes]] | None = None, **fields: Any) -> None:
    await _send(send, status, json.dumps({"error": message, **fields}).encode(), extra)


class ScoringApp:
    """ASGI entry point: ``POST /score`` here, everything else to the FastAPI app."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.api = build_api(state)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/score":
            await self.score(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def score(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = self.state
        if scope["method"] != "POST":
            await _error(send, 405, "use POST /score with a JSON body", [(b"allow", b"POST")])
            return
        authorization = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
        if not state.auth.check(authorization):
            await _error(send, 401, "missing or wrong key: send 'Authorization: Bearer <key>' "
                         "with the service's primary or secondary key",
                         [(b"www-authenticate", b"Bearer")])
            return
        handler = state.handler
        if handler is None:
            await _error(send, 503, "the service is starting: its model is not loaded yet",
                         [(b"retry-after", b"1")])
            return
        body = await self._read_body(receive, send, length, state.limits.max_request_bytes)
        if body is None:
            return
        try:
            raw = body.decode()
            json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            await _error(send, 400, f"the request body is not valid JSON: {exc}")
            return
        await self._run(send, handler, raw, state)

    async def _read_body(self, receive: Any, send: Any, length: bytes | None,
                         limit: int) -> bytes | None:
        too_big = f"the request body is larger than the limit of {limit} bytes"
        if length is not None and int(length) > limit:
            await _error(send, 413, too_big)
            return None
        message = await receive()
        body = message.get("body", b"")
        chunks = [body]
        size = len(body)
        while message.get("more_body") and size <= limit:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
        if size > limit:
            await _error(send, 413, too_big)
            return None
        return body if len(chunks) == 1 else b"".join(chunks)

    async def _run(self, send: Any, handler: Handler, raw: str, state: ServiceState) -> None:
        timeout = state.limits.scoring_timeout
        try:
            if timeout is None:  # configured inline: no thread hand-off, no timeout
                result = handler.run(raw)
            else:
                loop = asyncio.get_running_loop()
                result = await asyncio.wait_for(
                    loop.run_in_executor(state.pool, handler.run, raw), timeout)
        except asyncio.TimeoutError:
            rid = uuid.uuid4().hex[:12]
            log.error("request %s: run() did not return within %s s", rid, timeout)
            await _error(send, 504, f"scoring took longer than the {timeout:g} s limit",
                         request_id=rid)
            return
        except Exception as exc:
            rid = uuid.uuid4().hex[:12]
            log.error("request %s: run() raised %s: %s", rid, type(exc).__name__, exc,
                      exc_info=exc)
            await _error(send, 500, f"run() raised {type(exc).__name__}; the service log has "
                         f"the message (request id {rid})", request_id=rid)
            return
        try:
            body = dumps(result)
        except (TypeError, ValueError) as exc:
            rid = uuid.uuid4().hex[:12]
            log.error("request %s: run() returned a %s: %s", rid, type(result).__name__, exc)
            await _error(send, 500, f"run() returned a {type(result).__name__}, which is not "
                         f"JSON-serialisable (request id {rid})", request_id=rid)
            return
        await _send(send, 200, body)


def build_api(state: ServiceState) -> FastAPI:
    """FastAPI app for /health and /swagger.json (OpenAPI), with /score documented."""
    api = FastAPI(title=f"{state.spec.service} scoring API", openapi_url="/swagger.json",
                  docs_url=None, redoc_url=None)

    @api.get("/health", summary="Liveness and the loaded revision")
    async def health() -> JSONResponse:
        status, doc = state.health()
        return JSONResponse(doc, status_code=status)

    cache: dict[int, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        handler = state.handler
        key = (handler.revision if handler else 0) * 2 + state.auth.enabled
        if key not in cache:
            cache.clear()
            cache[key] = openapi_schema(api, state)
        return cache[key]

    api.openapi = openapi  # type: ignore[method-assign]
    return api


def openapi_schema(api: FastAPI, state: ServiceState) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    handler = state.handler
    version = str(handler.revision if handler else state.spec.revision)
    doc = get_openapi(title=api.title, version=version, routes=api.routes,
                      description="Scoring service deployed by Cumulus. POST a JSON document "
                                  "to /score; the entry script's run(raw_data) receives it.")
    doc["paths"]["/score"] = {"post": _score_operation(state, handler)}
    if state.auth.enabled:
        doc.setdefault("components", {})["securitySchemes"] = {
            "Bearer": {"type": "http", "scheme": "bearer",
                       "description": "The service's primary or secondary key"}}
    return doc


def _score_operation(state: ServiceState, handler: Handler | None) -> dict[str, Any]:
    def body(sample: Any) -> dict[str, Any]:
        media: dict[str, Any] = {"schema": {}}
        if sample is not None:
            media["example"] = sample
        return {"application/json": media}

    error = {"application/json": {"schema": {"type": "object",
                                             "properties": {"error": {"type": "string"}}}}}
    op: dict[str, Any] = {
        "summary": "Score a JSON document with the deployed model",
        "operationId": "score",
        "requestBody": {"required": True,
                        "content": body(handler.input_sample if handler else None)},
        "responses": {
            "200": {"description": "run() result", "content": body(
                handler.output_sample if handler else None)},
            "400": {"description": "The body is not valid JSON", "content": error},
            "401": {"description": "Missing or wrong key", "content": error},
            "413": {"description": f"Body over {state.limits.max_request_bytes} bytes",
                    "content": error},
            "500": {"description": "run() raised (the message is in the log)", "content": error},
            "503": {"description": "The model is still loading", "content": error},
        }}
    if state.limits.scoring_timeout is not None:
        op["responses"]["504"] = {
            "description": f"run() took over {state.limits.scoring_timeout:g} s",
            "content": error}
    if state.auth.enabled:
        op["security"] = [{"Bearer": []}]
    return op
