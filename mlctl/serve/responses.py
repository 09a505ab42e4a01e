"""What ``mlctl serve`` answers: the one JSON error shape, and the exception handlers.

Every error response has one JSON shape understood by our clients, MLflow clients
and Open Inference Protocol clients alike::

    {"error": "...", "error_code": "INVALID_INPUT", "message": "...", "details": [...]}
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException

from mlctl.serve.idempotency import Answer
from mlctl.serve.inputs import InvalidInput
from mlctl.serve.state import ServeState

JSON = "application/json"
encoder = msgspec.json.Encoder()
logger = logging.getLogger("mlctl.serve")


class ApiError(Exception):
    """An error response: HTTP status, machine code, message and details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,  # another protocol's shape (MLflow's)
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}
        self.body = body


def error_document(exc: ApiError) -> dict[str, Any]:
    """The error's JSON body: its own protocol's shape if it has one, else ours."""
    return exc.body or {
        "error": exc.message,
        "error_code": exc.code,
        "message": exc.message,
        "details": exc.details,
    }


def error_response(exc: ApiError) -> Response:
    return Response(
        encoder.encode(error_document(exc)),
        status_code=exc.status,
        media_type=JSON,
        headers=exc.headers,
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(encoder.encode(body), status_code=status, media_type=JSON, headers=headers)


def unavailable(state: ServeState) -> ApiError:
    ok, detail = state.ready()
    why = "draining" if state.draining else "loading the model" if state.loading else "not ready"
    if not detail["log_writable"]:
        why = "the prediction log is not writable"
    elif not detail["model_loaded"] and state.load_error:
        why = state.load_error
    return ApiError(503, "UNAVAILABLE", f"not ready: {why}", headers={"Retry-After": "2"})


def invalid(exc: InvalidInput) -> ApiError:
    return ApiError(
        422,
        "INVALID_INPUT",
        str(exc),
        [e.to_dict() for e in exc.errors] + ([{"total": exc.total}] if exc.total > 1 else []),
    )


def version_headers(answer: Answer) -> dict[str, str]:
    return {
        "x-model-name": answer.name,
        "x-model-version": str(answer.version),
        "x-request-id": answer.request_id,
    }


def api_error(request: Request, exc: ApiError) -> Response:
    _count(request, exc.status)
    return error_response(exc)


def http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status >= 500:  # Litestar's own (e.g. a dependency that failed): logged too
        return internal_error(request, exc, status)
    code = {
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        404: "NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        413: "TOO_LARGE",
        415: "UNSUPPORTED_MEDIA_TYPE",
    }.get(status, "ERROR")
    message = str(exc.detail) if exc.detail else code.lower()
    if status == 400 and getattr(exc, "extra", None):
        extra = exc.extra if isinstance(exc.extra, list) else [exc.extra]
        details = [_validation_detail(e) for e in extra]
        message = "; ".join(d["message"] for d in details)[:500] or message
    _count(request, status)
    return error_response(ApiError(status, code, message))


def _validation_detail(error: Any) -> dict[str, str]:
    """One of Litestar's validation errors as ``{"field", "message"}``, the field named
    in the message too (``records: Expected `array | null`, got `int```)."""
    if not isinstance(error, dict):
        return {"message": str(error)}
    message = str(error.get("message", error))
    key = error.get("key")
    if key and key != "data":
        return {"field": str(key), "message": f"{key}: {message}"}
    return {"message": message}


def internal_error(request: Request, exc: Exception, status: int = 500) -> Response:
    """An unexpected error: its traceback goes to the server's log, never to the client."""
    path = request.scope.get("path", "?") if isinstance(request.scope, dict) else "?"
    logger.error("unhandled error answering %s %s", request.scope.get("method"), path, exc_info=exc)
    _count(request, status)
    return error_response(ApiError(status, "INTERNAL", f"internal error: {type(exc).__name__}"))


def _count(request: Request, status: int) -> None:
    with contextlib.suppress(Exception):
        route = request.scope.get("path", "")
        request.app.state.serve.metrics.errors.labels(route_label(route), str(status)).inc()


ROUTES = {
    "/predict",
    "/invocations",
    "/ping",
    "/version",
    "/feedback",
    "/health",
    "/ready",
    "/model",
    "/monitoring",
    "/metrics",
    "/admin/reload",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
}


def route_label(path: str) -> str:
    """A bounded set of metric labels: known routes, OIP templates, else "other"."""
    if path in ROUTES:
        return path
    if path.startswith("/v2/models/"):
        tail = path.rsplit("/", 1)[-1]
        kind = tail if tail in ("infer", "ready") else "metadata"
        return f"/v2/models/{{name}}/{kind}"
    if path.startswith("/schema"):
        return "/schema"
    if path.startswith("/dashboard"):  # the page and its files, or its data polls
        return "/dashboard/data" if path == "/dashboard/data" else "/dashboard"
    return "other"
