"""The Litestar app of ``mlctl serve``: built by :func:`create_app` from a
:class:`ServeConfig`; it only wires the parts together.

The lifespan opens the prediction log (the process refuses to start if it cannot),
starts loading the model in the background (``/health`` answers at once, ``/ready``
says 503 until the model is loaded) and polls the registry for alias moves. On
shutdown ``/ready`` turns 503, in-flight requests finish, and the log's queue is
committed before the process ends.

Where the rest lives:

- one Litestar controller per protocol in :mod:`mlctl.serve.controllers`: mlctl's API,
  MLflow scoring, Open Inference v2, operations; the served state reaches handlers as
  the ``serve`` dependency;
- :mod:`mlctl.serve.scoring`: scoring, the cache, the log commit, idempotency;
- :mod:`mlctl.serve.requests` (guard, headers, bodies) and
  :mod:`mlctl.serve.responses` (the error shape and the exception handlers);
- :mod:`mlctl.serve.middleware`: media types and request metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from mlctl import __version__
from mlctl.predlog import PredictionLog
from mlctl.recipe.schema import Serve
from mlctl.serve.cache import make_cache
from mlctl.serve.controllers import CONTROLLERS
from mlctl.serve.metrics import Metrics
from mlctl.serve.middleware import media_type_middleware
from mlctl.serve.openapi import LocalSwaggerPlugin, ServedJsonPlugin
from mlctl.serve.requests import JsonRequest, api_key_guards, serve_state
from mlctl.serve.responses import ApiError, api_error, http_error, internal_error
from mlctl.serve.state import ServeState


@dataclass
class ServeConfig:
    """What one server process needs; passed to worker processes as JSON."""

    model_name: str
    alias: str
    workspace: str
    tracking_uri: str
    log_url: str
    settings: dict[str, Any] = field(default_factory=dict)  # Serve fields
    id_column: str | None = None
    positive: Any = None
    api_key: str | None = None  # resolved from settings.api_key_env at start
    fixed_version: int | None = None  # serve this version only (no alias, no polling)

    def to_json(self) -> str:
        return msgspec.json.encode(self.__dict__).decode()

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        return cls(**msgspec.json.decode(text.encode()))


def create_app(config: ServeConfig, registry: Any = None, load_first: bool = False) -> Litestar:
    """The app for one server process (see the module docstring).

    ``load_first``: the lifespan returns (and the server starts listening) only once
    the model was loaded; for a worker started beside others that already serve, so
    that no connection reaches it while it loads."""
    settings = Serve.model_validate(config.settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from threadpoolctl import threadpool_limits

        from mlctl.paths import latest_path
        from mlctl.tracking.registry import Registry
        from mlctl.tracking.workspace import Workspace

        # One math-library thread per process: N workers on N cores never oversubscribe.
        threadpool_limits(1)
        reg = registry or Registry(Workspace(Path(config.workspace), config.tracking_uri, None))
        log = PredictionLog(config.log_url, settings.log.max_rows_per_commit)
        log.open()  # LogUnavailable stops the start: no silent loss
        state = ServeState(
            settings=settings,
            model_name=config.model_name,
            alias=config.alias,
            registry=reg,
            log=log,
            metrics=Metrics(),
            id_column=config.id_column,
            positive=config.positive,
            api_key=config.api_key,
            fixed_version=config.fixed_version,
            monitoring_file=str(latest_path(config.workspace, config.model_name)),
        )
        state.cache = make_cache(settings.cache, state.metrics)
        app.state.serve = state
        _announce_shutdown_on_signals()
        loader = asyncio.get_running_loop().create_task(state.load_initial())
        if load_first:
            await asyncio.shield(loader)
        state.start_polling()
        try:
            yield
        finally:
            state.draining = True
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loader
            await state.close()

    cors = CORSConfig(allow_origins=settings.cors_origins) if settings.cors_origins else None
    return Litestar(
        route_handlers=CONTROLLERS,
        dependencies={"serve": Provide(serve_state, sync_to_thread=False)},
        lifespan=[lifespan],
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
        request_max_body_size=settings.max_body_bytes,
        cors_config=cors,
        middleware=[media_type_middleware],
        openapi_config=OpenAPIConfig(
            title="mlctl serve",
            version=__version__,
            path="/schema",
            render_plugins=[LocalSwaggerPlugin(), ServedJsonPlugin()],
        ),
        logging_config=None,
        request_class=JsonRequest,
        guards=api_key_guards(config.api_key),
        debug=False,
    )


def _announce_shutdown_on_signals() -> None:
    """Chain onto the server's SIGTERM/SIGINT handlers: /ready answers 503 at once,
    while the server drains in-flight requests."""
    import signal
    import threading

    from mlctl.serve.state import SHUTTING_DOWN

    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: Any, previous: Any = previous) -> None:
            SHUTTING_DOWN.set()
            if callable(previous):
                previous(signum, frame)

        signal.signal(sig, handler)


LOAD_FIRST_ENV = "MLCTL_SERVE_LOAD_FIRST"


def app_from_env() -> Litestar:
    """Uvicorn's factory in each worker process: the config comes from the parent."""
    load_first = os.environ.get(LOAD_FIRST_ENV) == "1"
    return create_app(
        ServeConfig.from_json(os.environ["MLCTL_SERVE_CONFIG"]), load_first=load_first
    )


def route_table() -> list[tuple[str, str]]:
    """``(METHOD, path)`` of every route the OpenAPI schema publishes (Litestar's path
    syntax; not OPTIONS, the ``/schema`` pages, nor MLflow's ``/ping`` and ``/version``,
    whose bodies are not JSON)."""
    app = Litestar(
        route_handlers=CONTROLLERS,
        dependencies={"serve": Provide(serve_state, sync_to_thread=False)},
        openapi_config=None,
    )
    return sorted(
        (method, route.path)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.resolve_include_in_schema()
        for method in handler.http_methods
        if method != "OPTIONS"
    )
