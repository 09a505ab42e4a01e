"""The ASGI middleware of ``mlctl serve``: 415 for a body type a route does not read
(before the body is read), the request count and latency of every answer, and the
access log (around the whole app, :func:`access_log_middleware`).

The access log is one line per request on the logger ``mlctl.serve.access``, at the
level ``deploy.serve.access_log`` names (``off``: none)::

    3f6d0c1e-2b1d-4c3e-9a4f-5d3c2e1b0a99 POST /predict 200 4.2 ms version=3 variant=champion
    - GET /ready 200 0.3 ms

the request id (``-`` unless the request was scored), method, path (never the query
string, headers or body: no API key or input reaches the log), status, milliseconds,
and for a scored request the version and variant that answered. The scoring handlers
hand them over with :func:`note_scored` (the ASGI scope is shared by the middleware and
the handler). :mod:`mlctl.serve.server` wraps the app with it and sends the lines to
the console off the event loop.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from mlctl.serve import oip
from mlctl.serve.responses import JSON, ApiError, encoder, error_document, route_label

# () : the route reads Content-Type itself (/invocations: as MLflow does, 415 in its shape).
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {"/invocations": ()}
ACCESS_LOGGER = "mlctl.serve.access"
ACCESS_LEVELS = {"off": None, "info": logging.INFO, "debug": logging.DEBUG}
SCORED_KEY = "mlctl.scored"  # in the ASGI scope: (request id, version, variant)
MAX_PATH = 200  # characters of a path in a line

access_logger = logging.getLogger(ACCESS_LOGGER)


def note_scored(scope: Any, answer: Any) -> None:
    """Called by a scoring handler: the request id, version and variant of its answer,
    for the access log line."""
    scope[SCORED_KEY] = (answer.request_id, answer.version, answer.variant)


def access_line(scope: dict, status: int, seconds: float) -> str:
    """The access log line of one request (see the module docstring)."""
    scored = scope.get(SCORED_KEY)
    path = scope.get("path", "")
    if len(path) > MAX_PATH or not path.isprintable() or " " in path:
        # one token, no control characters: a path cannot forge or split a line
        path = path[:MAX_PATH].encode("unicode_escape").decode("ascii").replace(" ", "%20")
    line = (
        f"{scored[0] if scored else '-'} {scope.get('method', '-')} {path} {status} "
        f"{seconds * 1000:.1f} ms"
    )
    if scored:
        line += f" version={scored[1]} variant={scored[2]}"
    return line


def refused_media_type(method: str, path: str, headers: dict[bytes, bytes]) -> str | None:
    """Why a request's ``Content-Type`` is refused (415) before its body is read, or
    None: a POST with a body must say JSON (UTF-8), except where the route reads the
    type itself (``/invocations``) or also reads binary tensors (Open Inference)."""
    empty = headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers
    if method != "POST" or (empty and b"content-type" not in headers):
        return None
    raw = headers.get(b"content-type", b"").decode("latin-1").lower()
    ctype, _, params = raw.partition(";")
    ctype = ctype.strip()
    charset = params.partition("charset=")[2].split(";")[0].strip().strip('"')
    allowed = ALLOWED_TYPES.get(path, ("application/json",))
    if oip.is_infer_path(path):  # no Content-Type is JSON; binary tensors
        allowed = oip.INFER_TYPES
    if allowed and (ctype not in allowed or charset not in ("", "utf-8", "utf8")):
        return (
            f"unsupported media type '{raw.strip() or 'none'}'; send "
            f"{' or '.join(t for t in allowed if t)} (UTF-8)"
        )
    return None


def media_type_middleware(app: Any) -> Any:
    """415 for a POST whose Content-Type the route does not read; request metrics."""

    async def middleware(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        message = refused_media_type(
            scope.get("method", ""), path, dict(scope.get("headers") or [])
        )
        if message is not None:
            body = encoder.encode(error_document(ApiError(415, "UNSUPPORTED_MEDIA_TYPE", message)))
            await send(
                {
                    "type": "http.response.start",
                    "status": 415,
                    "headers": [(b"content-type", JSON.encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            state = getattr(scope.get("app"), "state", None)
            serve = getattr(state, "serve", None) if state is not None else None
            if serve is not None:
                label = route_label(path)
                serve.metrics.requests.labels(label, str(status_holder["status"])).inc()
                serve.metrics.latency.labels(label).observe(time.perf_counter() - started)

    return middleware


class _AccessRecords:
    """Log records of access lines, made cheaply: ``LogRecord()`` looks up the thread,
    process and file of the caller for every line (a tenth of a small request's time
    on a busy server), which are the same for every access line of a process. So one
    record is made the standard way (in the process and on the thread that serves),
    and each line's record is a copy of it with its own message and time."""

    def __init__(self, level: int) -> None:
        self.level = level
        self._template: dict[str, Any] | None = None
        self._pid = -1

    def make(self, line: str) -> logging.LogRecord:
        if self._template is None or self._pid != os.getpid():
            first = access_logger.makeRecord(ACCESS_LOGGER, self.level, "", 0, "", None, None)
            self._template, self._pid = dict(first.__dict__), os.getpid()
        template = self._template
        record = logging.LogRecord.__new__(logging.LogRecord)
        record.__dict__.update(template)
        now = time.time_ns()
        record.msg = line
        record.created = now / 1e9
        record.msecs = (now % 1_000_000_000) // 1_000_000 + 0.0
        record.relativeCreated = (
            template["relativeCreated"] + (record.created - template["created"]) * 1000
        )
        return record


def access_log_middleware(app: Any, access_log: str) -> Any:
    """The app with the access log around it (outside Litestar, so that a request no
    route matches is logged too); the app itself when ``access_log`` is ``off``."""
    level = ACCESS_LEVELS[access_log]
    if level is None:
        return app
    records = _AccessRecords(level)

    async def logged(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # an app that fails before it answers: uvicorn answers 500

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            if access_logger.isEnabledFor(level):
                line = access_line(scope, status[0], time.perf_counter() - started)
                access_logger.handle(records.make(line))

    return logged
