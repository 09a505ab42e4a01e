"""The ASGI middleware of ``mlctl serve``: 415 for a body type a route does not read
(before the body is read), and the request count and latency of every answer."""

from __future__ import annotations

import time
from typing import Any

from mlctl.serve import oip
from mlctl.serve.responses import JSON, ApiError, encoder, error_document, route_label

# () : the route reads Content-Type itself (/invocations: as MLflow does, 415 in its shape).
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {"/invocations": ()}


def media_type_middleware(app: Any) -> Any:
    """415 for a POST whose Content-Type the route does not read; request metrics."""

    async def middleware(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        empty = headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers
        if scope.get("method") == "POST" and not (empty and b"content-type" not in headers):
            raw = headers.get(b"content-type", b"").decode("latin-1").lower()
            ctype, _, params = raw.partition(";")
            ctype = ctype.strip()
            charset = params.partition("charset=")[2].split(";")[0].strip().strip('"')
            allowed = ALLOWED_TYPES.get(path, ("application/json",))
            if oip.is_infer_path(path):  # no Content-Type is JSON; binary tensors
                allowed = oip.INFER_TYPES
            if allowed and (ctype not in allowed or charset not in ("", "utf-8", "utf8")):
                message = (
                    f"unsupported media type '{raw.strip() or 'none'}'; send "
                    f"{' or '.join(t for t in allowed if t)} (UTF-8)"
                )
                body = encoder.encode(
                    error_document(ApiError(415, "UNSUPPORTED_MEDIA_TYPE", message))
                )
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
