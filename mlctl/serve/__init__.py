"""``mlctl serve``: a Litestar prediction service for a registered model.

:func:`prepare` turns a recipe (or a bare registry reference) and command-line
choices into a :class:`~mlctl.serve.app.ServeConfig`, checking up front what would
otherwise fail later (the tracking store, the model reference, the API key, the
prediction log's database); :func:`~mlctl.serve.server.run_server` serves it.
See docs/serving.md.
"""

from __future__ import annotations

import os
from typing import Any

from mlctl.errors import RegistryError, UsageError
from mlctl.recipe.schema import Serve
from mlctl.serve.app import ServeConfig
from mlctl.serve.server import Bind


def prepare(
    loaded: Any = None,
    reference: str | None = None,
    workspace: str | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> tuple[ServeConfig, Bind]:
    """What to serve and where.

    Raises:
        UsageError: neither a recipe nor a reference, or an API key variable not set.
        RegistryError: the model, version or alias does not exist (the message lists
            what does).
        TrackingError: the tracking store is unavailable.
    """
    from mlctl.predlog import LogUnavailable, PredictionLog, default_url
    from mlctl.tracking.registry import Registry, parse_reference
    from mlctl.tracking.workspace import open_existing, resolve_workspace

    if loaded is None and reference is None:
        raise UsageError("give a RECIPE or --model NAME@ALIAS")
    settings = loaded.recipe.deploy.serve if loaded is not None else Serve()
    if loaded is not None:
        from mlctl.tracking.workspace import for_recipe

        ws = for_recipe(loaded, workspace)
    else:
        ws = resolve_workspace(workspace)
    open_existing(ws)
    name = loaded.recipe.model_name if loaded is not None else None
    alias, fixed = settings.alias, None
    if reference:
        name, selector = parse_reference(reference)
        if selector.isdigit():
            fixed = int(selector)
        else:
            alias = selector
    assert name is not None
    Registry(ws).version(name, fixed if fixed is not None else alias)  # exists, or lists what does
    api_key = None
    if settings.api_key_env:
        api_key = os.environ.get(settings.api_key_env)
        if not api_key:
            raise UsageError(
                f"deploy.serve.api_key_env names {settings.api_key_env}, which is not set",
                hint=f"export {settings.api_key_env}=... or remove api_key_env",
            )
    if settings.cache.backend == "redis":
        _ping_redis(settings.cache.url or "redis://127.0.0.1:6379/0")
    log_url = settings.log.url or default_url(ws.root)
    probe = PredictionLog(log_url)
    try:
        probe.open()
    except LogUnavailable as exc:
        raise UsageError(
            str(exc), hint="check deploy.serve.log.url and that it is writable"
        ) from None
    finally:
        probe.close()
    config = ServeConfig(
        model_name=name,
        alias=alias,
        workspace=str(ws.root),
        tracking_uri=ws.tracking_uri,
        log_url=log_url,
        settings=settings.model_dump(),
        id_column=loaded.recipe.data.id_column if loaded is not None else None,
        positive=loaded.recipe.data.positive_class if loaded is not None else None,
        api_key=api_key,
        fixed_version=fixed,
    )
    bind = Bind(
        host=host or settings.host,
        port=port if port is not None else settings.port,
        workers=workers or settings.workers,
        drain_seconds=settings.drain_seconds,
    )
    _check_port(bind.host, bind.port)
    return config, bind


def _check_port(host: str, port: int) -> None:
    """Fail with a clear message (exit 2) when the address is taken, before loading."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="pick another --port, or stop what is using it",
            ) from None


def _ping_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:
        raise UsageError(
            f"deploy.serve.cache: Redis at {url} does not answer: {exc}",
            hint="start Redis, fix deploy.serve.cache.url, or use backend: memory",
        ) from None


__all__ = ["Bind", "RegistryError", "ServeConfig", "prepare"]
