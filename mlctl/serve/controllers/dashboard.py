"""The live dashboard: ``GET /dashboard`` (the page, its script and style) and
``GET /dashboard/data`` (the JSON the page polls every two seconds).

The page itself holds no data, so it is served without the API key (a browser cannot
send a header when it navigates); the data is behind the key like the scoring routes,
and the page asks for the key once and sends it as ``Authorization: Bearer``. With
``deploy.serve.dashboard: false`` every dashboard route is 404, like an unknown path.
None of these routes is in the OpenAPI schema (the page is not JSON; the data is for
the page, its shape may change).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException

from mlctl import __version__
from mlctl.serve.dashboard import ASSETS, asset
from mlctl.serve.dashboard.data import metric_snapshot, monitor_summary
from mlctl.serve.requests import Served, require_api_key
from mlctl.serve.responses import json_response
from mlctl.serve.state import ServeState

# The page loads nothing but its own script and style, and talks to nothing but this
# server: no CDN, no inline script, no frames.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def dashboard_on(request: Any, _handler: Any = None) -> None:
    """A route guard (before the API key's): 404 when the recipe turns the dashboard off.
    A coroutine, so that Litestar does not run it on a worker thread."""
    if not request.app.state.serve.settings.dashboard:
        raise NotFoundException()


def _file(name: str) -> Response:
    return Response(asset(name), media_type=ASSETS[name], headers=PAGE_HEADERS)


class Dashboard(Controller):
    """The live dashboard of the served model."""

    tags = ["operations"]
    guards = [dashboard_on]
    include_in_schema = False

    @get("/dashboard")
    async def page(self) -> Response:
        return _file("index.html")

    @get("/dashboard/dashboard.js")
    async def script(self) -> Response:
        return _file("dashboard.js")

    @get("/dashboard/dashboard.css")
    async def style(self) -> Response:
        return _file("dashboard.css")

    @get("/dashboard/data", guards=[require_api_key])
    async def data(self, serve: Served) -> Response:
        """Cumulative counters and buckets (as ``/metrics`` renders them), the served
        versions and split, the log's health and the latest monitoring verdict."""
        body = await asyncio.to_thread(dashboard_data, serve)
        return json_response(body, headers={"Cache-Control": "no-store"})


def dashboard_data(serve: ServeState) -> dict[str, Any]:
    """The document ``GET /dashboard/data`` answers (see docs/operations.md)."""
    if not serve.metrics.multiprocess:  # as /metrics does: the gauge of this process
        serve.metrics.log_queue.set(serve.log.queue_depth)
    exposition, _ = serve.metrics.render(None, serve)
    metrics = metric_snapshot(exposition.decode())
    s = serve.settings
    writable = serve.log.healthy()
    champion = serve.champion.model if serve.champion is not None else None
    challenger = serve.challenger.model if serve.challenger is not None else None
    return {
        "time": time.time(),
        "server": {
            "mlctl_version": __version__,
            "pid": os.getpid(),
            "workers": s.workers,
            "started": serve.started,
        },
        "model": {
            "name": serve.model_name,
            "alias": serve.alias if serve.fixed_version is None else None,
            "champion": _version(champion),
            "challenger": _version(challenger),
            "loading": serve.loading,
            "load_error": serve.load_error,
        },
        "traffic": {
            "challenger_percent": s.traffic.challenger_percent,
            "shadow": s.traffic.shadow,
            "sticky_key": s.traffic.sticky_key,
        },
        "cache": {"backend": s.cache.backend},
        "slo": {
            "p95_ms": s.slo.p95_ms,
            "p99_ms": s.slo.p99_ms,
            "max_error_rate": s.slo.max_error_rate,
        },
        "log": {
            "writable": writable,
            "queue": metrics["log_queue_depth"],
            "failed_rows": metrics["log_rows_failed"],
            "last_error": None if writable else serve.log.last_error,
        },
        "metrics": metrics,
        "monitor": _monitor(serve, champion.version if champion is not None else None),
    }


def _version(model: Any) -> dict[str, Any] | None:
    if model is None:
        return None
    return {"version": model.version, "aliases": list(model.aliases)}


def _monitor(serve: ServeState, served: int | None) -> dict[str, Any]:
    """The latest ``mlctl monitor`` result (as ``GET /monitoring`` reads it), summarized."""
    if not serve.monitoring_file:
        return {"state": "missing", "message": "no monitoring result file"}
    path = Path(serve.monitoring_file)
    try:
        raw = path.read_bytes()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return {
            "state": "missing",
            "message": f"no monitoring result for model '{serve.model_name}' yet: run "
            "mlctl monitor with its recipe",
        }
    except OSError as exc:
        return {"state": "unreadable", "message": f"cannot read the monitoring result: {exc}"}
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {"state": "damaged", "message": "the monitoring result file is damaged"}
    return {"state": "ok", **monitor_summary(doc, served, age)}
