"""A lean route for the scoring requests of ``mlctl serve``: ``POST /predict`` and
``POST /invocations``, answered in front of the Litestar app.

Litestar's work for a POST route with a body (routing, the signature model,
dependency injection, reading the body, building the response, three middleware
layers) was about half of a busy server's time for a single-row request: more than
checking the row, scoring it and committing it to the log together. This ASGI layer
answers the plain scoring requests itself, through the same functions the
controllers call (:func:`~mlctl.serve.controllers.mlctl_api.predict_rows`,
:func:`~mlctl.serve.controllers.mlflow_scoring.invocation_rows`,
:func:`~mlctl.serve.scoring.score`, the same documents and error shapes), and hands
everything else to Litestar untouched.

A request goes to Litestar as it came (its body replayed from what was read) when:

- it is not a ``POST`` to one of the two paths, or the model is not served yet;
- it carries an ``Origin`` (CORS headers are Litestar's), an ``Idempotency-Key``
  (replays are rare, and read the log first) or no ``Content-Length``
  (a chunked body);
- its API key, ``Content-Type`` or size would be refused, or the client left while
  it was sent;
- its rows do not parse or do not pass the checks: every 400, 413, 415 and 422 is
  the controller's own answer, byte for byte.

So the lean route only answers requests whose rows the controller would score too;
what it adds is a shorter way there. Once scoring started, an error (503 overloaded,
timeout or log, 422 unscorable rows, 500) is answered here in the route's shape and
counted as Litestar's handlers count it. Requests it answers are counted in
``mlctl_requests_total`` and ``mlctl_request_seconds`` as the middleware counts the
others; the access log wraps both.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mlctl.serve.body import decode_json
from mlctl.serve.controllers.mlctl_api import PredictRequest, predict_document, predict_rows
from mlctl.serve.controllers.mlflow_scoring import (
    invocation_rows,
    invocations_document,
    mlflow_error,
)
from mlctl.serve.idempotency import Answer
from mlctl.serve.inputs import Columns, Rows
from mlctl.serve.middleware import note_scored, refused_media_type
from mlctl.serve.requests import IDEMPOTENCY_HEADER, key_accepted
from mlctl.serve.responses import ApiError, encoder, error_document, version_headers
from mlctl.serve.scoring import score
from mlctl.serve.state import ServeState

logger = logging.getLogger("mlctl.serve")
ASGI = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Any]
# Requests with one of these headers go to Litestar (see the module docstring).
HANDED_OVER = {b"origin", IDEMPOTENCY_HEADER.encode(), b"transfer-encoding"}
PREDICT_KEYS = frozenset(("records", "columns"))


@dataclass(frozen=True)
class Route:
    """What differs between the two scoring routes."""

    name: str  # the scoring route's name in the log ("predict", "invocations")
    rows: Callable[[ServeState, bytes, str | None], Rows]
    document: Callable[[ServeState, Columns, Answer], Any]
    error: Callable[[ApiError], ApiError]


def _predict_rows(serve: ServeState, body: bytes, content_type: str | None) -> Rows:
    """``/predict``'s rows, for a body whose shape the controller's signature model
    would pass through unchanged: an object with ``records`` (a list) or ``columns``
    (an object) and nothing else. Any other body is Litestar's to answer."""
    doc = decode_json(body)
    if not isinstance(doc, dict) or not doc.keys() <= PREDICT_KEYS:
        raise _HandOver
    records, columns = doc.get("records"), doc.get("columns")
    if not (records is None or isinstance(records, list)):
        raise _HandOver
    if not (columns is None or isinstance(columns, dict)):
        raise _HandOver
    return predict_rows(serve, PredictRequest(records=records, columns=columns))


ROUTES = {
    "/predict": Route("predict", _predict_rows, predict_document, lambda exc: exc),
    "/invocations": Route(
        "invocations",
        invocation_rows,
        lambda serve, batch, answer: invocations_document(answer),
        mlflow_error,
    ),
}


class _HandOver(Exception):
    """Litestar answers this request."""


def fast_scoring(app: Any) -> ASGI:
    """``app`` (the Litestar app of :func:`mlctl.serve.app.create_app`) with the lean
    scoring route in front (see the module docstring)."""
    counted: dict[tuple[str, int], Any] = {}

    async def asgi(scope: dict, receive: Any, send: Any) -> None:
        route = ROUTES.get(scope.get("path", "")) if scope["type"] == "http" else None
        serve = getattr(app.state, "serve", None) if route is not None else None
        if route is None or scope["method"] != "POST" or serve is None or serve.champion is None:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _headers(scope, serve)
        if headers is None:
            await app(scope, receive, send)
            return
        read = await _body(receive, serve.settings.max_body_bytes)
        body, messages = read
        if body is None:
            await app(scope, _replay(messages, receive), send)
            return
        try:
            batch, records = route.rows(serve, body, headers.get(b"content-type"))
        except Exception:  # _HandOver, ApiError, anything: the controller answers it
            await app(scope, _replay(messages, receive), send)
            return
        status, payload, extra = await _scored(serve, route, scope, batch, records)
        response = [(b"content-type", b"application/json")]
        response.append((b"content-length", str(len(payload)).encode()))
        response += [(k.encode(), v.encode("latin-1")) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": payload})
        metrics = counted.get((scope["path"], status))
        if metrics is None:
            requests = serve.metrics.requests.labels(scope["path"], str(status))
            latency = serve.metrics.latency.labels(scope["path"])
            metrics = counted.setdefault((scope["path"], status), (requests, latency))
        metrics[0].inc()
        metrics[1].observe(time.perf_counter() - started)

    return asgi


def _headers(scope: dict, serve: ServeState) -> dict[bytes, str] | None:
    """The request's headers the route reads, or None when Litestar must answer it
    (see the module docstring)."""
    raw = scope["headers"]
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in HANDED_OVER:
            return None
        if name in (b"content-type", b"content-length", b"x-api-key", b"authorization"):
            if name in found:  # sent twice: Litestar decides which one counts
                return None
            found[name] = value.decode("latin-1")
    length = found.get(b"content-length", "")
    if not length.isdigit() or int(length) > serve.settings.max_body_bytes:
        return None
    if serve.api_key and not key_accepted(
        serve.api_key, found.get(b"x-api-key"), found.get(b"authorization", "")
    ):
        return None
    if scope["path"] != "/invocations" and refused_media_type("POST", scope["path"], dict(raw)):
        return None  # (/invocations reads its Content-Type itself)
    return found


async def _body(receive: Any, limit: int) -> tuple[bytes | None, list[dict]]:
    """The whole body and the messages it came in; None for the body when the client
    left or sent more than ``limit`` bytes (Litestar answers those from the messages)."""
    messages: list[dict] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, messages
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def _replay(messages: list[dict], receive: Any) -> Any:
    """A ``receive`` that gives the messages already read, then reads on."""
    pending = list(messages)

    async def replayed() -> dict:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _scored(
    serve: ServeState, route: Route, scope: dict, batch: Columns, records: list[Any]
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of a request whose rows passed the checks."""
    try:
        answer = await score(serve, batch, records, route.name, None)
        note_scored(scope, answer)  # for the access log
        return 200, encoder.encode(route.document(serve, batch, answer)), version_headers(answer)
    except ApiError as exc:
        exc = route.error(exc)
        _count_error(serve, scope["path"], exc.status)
        return exc.status, encoder.encode(error_document(exc)), exc.headers
    except Exception as exc:  # as the app's internal_error handler answers it
        logger.error("unhandled error answering POST %s", scope["path"], exc_info=exc)
        _count_error(serve, scope["path"], 500)
        error = ApiError(500, "INTERNAL", f"internal error: {type(exc).__name__}")
        return 500, encoder.encode(error_document(error)), {}


def _count_error(serve: ServeState, path: str, status: int) -> None:
    serve.metrics.errors.labels(path, str(status)).inc()
