"""The recipe's ``deploy.serve`` section: `mlctl serve` and its prediction log, cache
and traffic split."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mlctl.recipe.schema.base import Strict


class ServeLog(Strict):
    """Where `mlctl serve` logs every prediction (docs/serving.md#the-prediction-log)."""

    url: str | None = Field(
        None,
        description="`sqlite:///PATH` or `postgresql://user@host/db`; default "
        "`predictions.db` (SQLite) in the workspace. `${oc.env:NAME}` keeps secrets out.",
    )
    max_rows_per_commit: Annotated[int, Field(ge=1, le=100_000)] = Field(
        2000, description="Most rows one group commit writes."
    )


class ServeCache(Strict):
    """Prediction cache keyed by the row's content and the model version."""

    backend: Literal["none", "memory", "redis"] = Field(
        "none", description="none, memory (per worker, LRU) or redis (shared)."
    )
    size: Annotated[int, Field(ge=1)] = Field(
        100_000, description="memory: most rows kept per worker (least recently used go)."
    )
    url: str | None = Field(None, description="redis: `redis://host:port/db`.")
    ttl_seconds: Annotated[int, Field(ge=1)] = Field(
        3600, description="redis: how long a cached prediction lives."
    )


class ServeTraffic(Strict):
    """Champion / challenger: a traffic split or a silent shadow."""

    challenger_percent: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.0, description="Share of requests the challenger answers, 0 to 100."
    )
    sticky_key: str | None = Field(
        None,
        description="Input column (e.g. the id column) whose value pins a caller to one model; "
        "default: random per request.",
    )
    shadow: bool = Field(
        False,
        description="The challenger also scores every request silently; both are logged, "
        "the champion answers.",
    )


class ServeSlo(Strict):
    """The service level objective (docs/operations.md): what `mlctl loadtest` checks,
    what the generated Prometheus alerts fire on, and the rollout's latency and error
    guards unless `deploy.rollout.guards` sets its own."""

    p95_ms: Annotated[float, Field(gt=0)] | None = Field(
        100.0, description="Highest 95th-percentile latency in milliseconds; null: no check."
    )
    p99_ms: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Highest 99th-percentile latency in milliseconds; null: no check."
    )
    max_error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.01, description="Highest share of requests answered with a 5xx (0.01: 1 %)."
    )
    min_throughput_rps: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Lowest sustained requests per second; null: no check."
    )


class Serve(Strict):
    """`mlctl serve` settings (docs/serving.md)."""

    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 exposes the service.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(8000, description="TCP port.")
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        1, description="Server processes (each pinned to one math-library thread)."
    )
    alias: str = Field("champion", description="Registry alias served.")
    poll_seconds: Annotated[float, Field(ge=0)] = Field(
        30.0, description="How often to check whether the alias moved (0: never)."
    )
    api_key_env: str | None = Field(
        None,
        description="Environment variable holding the API key; when set, predict, feedback "
        "and admin routes need `Authorization: Bearer KEY` or `X-API-Key`.",
    )
    admin: bool = Field(False, description="Enable admin routes (POST /admin/reload).")
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        1_048_576, description="Largest request body; larger gets 413."
    )
    max_batch_rows: Annotated[int, Field(ge=1)] = Field(
        1000, description="Most rows in one request; more gets 413."
    )
    request_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        10.0, description="A request still waiting after this gets 503."
    )
    drain_seconds: Annotated[float, Field(ge=0)] = Field(
        10.0, description="On SIGTERM, how long in-flight requests may take to finish."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty: CORS off."
    )
    batch_max_rows: Annotated[int, Field(ge=1)] = Field(
        256, description="Most rows scored in one pipeline call (micro-batching)."
    )
    batch_wait_ms: Annotated[float, Field(ge=0, le=1000)] = Field(
        0.0, description="How long an idle server waits for more requests to batch."
    )
    log: ServeLog = Field(default_factory=ServeLog, description="The prediction log.")
    cache: ServeCache = Field(default_factory=ServeCache, description="Prediction cache.")
    traffic: ServeTraffic = Field(
        default_factory=ServeTraffic, description="Champion / challenger split and shadow."
    )
    slo: ServeSlo = Field(
        default_factory=ServeSlo,
        description="Service level objective: loadtest checks, alerts, rollout guards.",
    )
    dashboard: bool = Field(
        True,
        description="Serve the live dashboard at GET /dashboard (behind the API key when "
        "one is set).",
    )
    access_log: Literal["off", "info", "debug"] = Field(
        "info",
        description="One console line per request (request id, version, status, ms) at "
        "this logging level; off: none.",
    )
