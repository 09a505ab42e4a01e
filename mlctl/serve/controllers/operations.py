"""Operations: liveness, readiness, metrics and the admin reload."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, head, post

from mlctl.serve.openapi import errors
from mlctl.serve.requests import API_KEY, Served
from mlctl.serve.responses import ApiError, json_response, unavailable


class Operations(Controller):
    """Probes, metrics and administration."""

    tags = ["operations"]

    @get("/health", summary="Liveness")
    async def health(self) -> Response:
        """The process is up; never depends on the model or the database."""
        return json_response({"status": "ok"})

    @head("/health", summary="Liveness (status only)")
    async def health_head(self) -> None:
        """As ``GET /health``, without a body (for probes that send HEAD)."""

    @get("/ready", summary="Readiness")
    async def ready(self, serve: Served) -> Response:
        """200 when the model is loaded and the log writable; 503 while loading or draining."""
        ok, detail = serve.ready()
        body = {"ready": ok, **detail}
        return json_response(body, 200 if ok else 503, None if ok else {"Retry-After": "2"})

    @head("/ready", summary="Readiness (status only)", responses=errors(503))
    async def ready_head(self, serve: Served) -> None:
        """As ``GET /ready``: 200, or 503 (not ready), without a body."""
        ok, _ = serve.ready()
        if not ok:
            raise unavailable(serve)

    @get("/metrics", summary="Prometheus metrics", media_type="text/plain")
    async def metrics(self, serve: Served, request: Request) -> Response:
        if not serve.metrics.multiprocess:
            serve.metrics.log_queue.set(serve.log.queue_depth)
        body, media_type = serve.metrics.render(request.headers.get("accept"), serve)
        return Response(body, media_type=media_type, status_code=200)

    @post(
        "/admin/reload",
        summary="Reload the aliased versions now (admin)",
        status_code=200,
        responses=errors(401, 404),
        opt=API_KEY,
    )
    async def admin_reload(self, serve: Served) -> Response:
        if not serve.settings.admin:
            raise ApiError(404, "NOT_FOUND", "admin routes are off (deploy.serve.admin)")
        changes = await serve.reload(retry_refused=True)
        return json_response({"changes": changes, "last_load_error": serve.load_error})
