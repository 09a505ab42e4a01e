"""The Litestar app of ``mlctl serve``: routes, error mapping, lifespan.

Built by :func:`create_app` from a :class:`ServeConfig`. The lifespan opens the
prediction log (the process refuses to start if it cannot), starts loading the model
in the background (``/health`` answers at once, ``/ready`` says 503 until the model
is loaded) and polls the registry for alias moves. On shutdown ``/ready`` turns 503,
in-flight requests finish, and the log's queue is committed before the process ends.

Every error response has one JSON shape understood by our clients, MLflow clients
and Open Inference Protocol clients alike::

    {"error": "...", "error_code": "INVALID_INPUT", "message": "...", "details": [...]}
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, head, post
from litestar.config.cors import CORSConfig
from litestar.exceptions import ClientException, HTTPException
from litestar.openapi import OpenAPIConfig

from mlctl import __version__
from mlctl.predlog import LogUnavailable, PredictionLog, rows_for
from mlctl.recipe.schema import Serve
from mlctl.serve import idempotency, mlflow_protocol, oip
from mlctl.serve.batcher import Overloaded
from mlctl.serve.body import decode_json
from mlctl.serve.cache import make_cache, row_key
from mlctl.serve.checks import InvalidFeedback, feedback_items, oip_columns, oip_id, oip_outputs
from mlctl.serve.idempotency import Answer, KeyConflict
from mlctl.serve.inputs import (
    BadRequest,
    Columns,
    InvalidInput,
    check_columnar,
    check_records,
)
from mlctl.serve.metrics import Metrics
from mlctl.serve.model import Scored
from mlctl.serve.openapi import (
    SCORING_ERRORS,
    InferOperation,
    LocalSwaggerPlugin,
    MlflowOperation,
    ServedJsonPlugin,
    errors,
)
from mlctl.serve.state import ServeState, Slot

JSON = "application/json"
_encoder = msgspec.json.Encoder()
logger = logging.getLogger("mlctl.serve")


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


# --------------------------------------------------------------------- bodies
class PredictRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Rows to score: ``records`` (row objects) or ``columns`` (column lists)."""

    records: list[Any] | None = None
    columns: dict[str, Any] | None = None  # lists, checked by check_columnar


class FeedbackItem(msgspec.Struct, forbid_unknown_fields=True):
    request_id: str
    label: str | int | float | bool


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Ground truth for earlier predictions: one item, or ``feedback`` (a list)."""

    request_id: str | None = None
    label: str | int | float | bool | None = None
    feedback: list[FeedbackItem] | None = None


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


def error_response(exc: ApiError) -> Response:
    body = exc.body or {
        "error": exc.message,
        "error_code": exc.code,
        "message": exc.message,
        "details": exc.details,
    }
    return Response(
        _encoder.encode(body), status_code=exc.status, media_type=JSON, headers=exc.headers
    )


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type=JSON, headers=headers)


def _state(request: Request) -> ServeState:
    return request.app.state.serve


def _unavailable(state: ServeState) -> ApiError:
    ok, detail = state.ready()
    why = "draining" if state.draining else "loading the model" if state.loading else "not ready"
    if not detail["log_writable"]:
        why = "the prediction log is not writable"
    elif not detail["model_loaded"] and state.load_error:
        why = state.load_error
    return ApiError(503, "UNAVAILABLE", f"not ready: {why}", headers={"Retry-After": "2"})


# ------------------------------------------------------------------- scoring
async def _score(
    state: ServeState,
    batch: Columns,
    records: list[dict[str, Any]],
    route: str,
    idempotency_key: str | None = None,
) -> Answer:
    """Score, log and wait for the commit; returns what the response needs.

    With an ``Idempotency-Key`` the request id is derived from the key: a retry gets the
    answer logged the first time, other rows under the key a 409 (see
    :mod:`mlctl.serve.idempotency`)."""
    if state.champion is None:
        raise _unavailable(state)
    if idempotency_key is None:
        return await _fresh(state, batch, records, uuid.uuid4().hex)
    return await _idempotent(state, batch, records, idempotency_key)


async def _idempotent(
    state: ServeState, batch: Columns, records: list[dict[str, Any]], key: str
) -> Answer:
    request_id = _request_id(state, key)
    probe = idempotency.probe_ids(request_id, batch.rows)
    first = idempotency.digest(records)
    claimed = await _log_call(state, state.log.claim, request_id, first)
    stored = await _log_call(state, state.log.stored, probe)
    same = idempotency.matches(stored, records)
    if claimed != first or same is False:
        raise ApiError(409, "IDEMPOTENCY_CONFLICT", str(KeyConflict(key)), [{"key": key}])
    if same is None:
        fresh = await _fresh(state, batch, records, request_id)
        # A twin request (same key, same rows) may have committed first: answer what
        # the log holds, so that every 2xx under the key is the logged answer.
        stored = await _log_call(state, state.log.stored, probe)
        if idempotency.matches(stored, records) is not True:
            return fresh
    return idempotency.replay(stored, batch.rows, _classes_of(state, stored[0][4]))


async def _log_call(state: ServeState, fn: Any, *args: Any) -> Any:
    """A read or claim on the log's connection, off the event loop, within the request
    timeout; a failure is a 503 like a failed commit."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            return await loop.run_in_executor(None, fn, *args)
    except TimeoutError:
        raise _log_unavailable(state, 0, "the prediction log did not answer in time") from None
    except LogUnavailable as exc:
        raise _log_unavailable(state, 0, str(exc)) from None


def _classes_of(state: ServeState, version: Any) -> list[Any]:
    """The classes of the served version that logged a replayed answer (else the
    champion's: a model name keeps its task)."""
    for slot in (state.challenger, state.champion):
        if slot is not None and str(slot.model.version) == str(version):
            return slot.model.classes
    return state.champion.model.classes if state.champion is not None else []


async def _fresh(
    state: ServeState, batch: Columns, records: list[dict[str, Any]], request_id: str
) -> Answer:
    """Score with the model and commit the rows to the log under ``request_id``."""
    started = time.perf_counter()
    slot, variant = state.choose(batch, records)
    timeout = state.settings.request_timeout_seconds
    phase = "score"
    # One deadline for scoring and the log commit together: a timer per phase (or
    # wait_for's extra task) was ~7 % of the event loop's time under load.
    try:
        async with asyncio.timeout(timeout):
            scored = await _cached_or_scored(state, slot, batch, records)
            phase = "log"
            ids = [f"{request_id}-{i}" for i in range(batch.rows)]
            now = time.time()
            latency_ms = (time.perf_counter() - started) * 1000
            model = slot.model
            rows = rows_for(
                ids,
                request_id,
                now,
                model.name,
                model.version,
                variant,
                records,
                scored.predictions,
                scored.scores,
                scored.probabilities,
                latency_ms,
            )
            state.metrics.log_queue.inc()
            try:
                await state.log.write_async(rows)
            finally:
                state.metrics.log_queue.dec()
    except Overloaded as exc:
        state.metrics.rows_dropped.labels("overload").inc(batch.rows)
        raise ApiError(
            503, "OVERLOADED", f"overloaded: {exc}", headers={"Retry-After": "1"}
        ) from None
    except TimeoutError:
        if phase == "score":
            state.metrics.rows_dropped.labels("timeout").inc(batch.rows)
            raise ApiError(503, "TIMEOUT", f"scoring took longer than {timeout} s") from None
        message = "the prediction log did not commit in time"
        raise _log_unavailable(state, batch.rows, message) from None
    except LogUnavailable as exc:
        message = str(exc) or "the prediction log is not writable"
        raise _log_unavailable(state, batch.rows, message) from None
    except (ValueError, ArithmeticError) as exc:
        if phase != "score":
            raise
        # The model scored its smoke rows, so a failure on checked rows comes from their
        # values, e.g. numbers whose derived features overflow to infinity.
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise ApiError(
            422, "UNSCORABLE_INPUT", f"the model cannot score these rows: {first}"
        ) from None
    for label_ in scored.predictions:  # classes only: a regression value is not a label
        name = str(label_) if model.classes else "value"
        state.metrics.predictions.labels(str(model.version), variant, name).inc()
    for s in scored.scores:
        if s is not None:
            state.metrics.scores.observe(s)
    if state.settings.traffic.shadow and state.challenger is not None and variant == "champion":
        asyncio.get_running_loop().create_task(_shadow(state, batch, records, request_id))
    return Answer(
        model.name,
        model.version,
        variant,
        model.classes,
        scored.predictions,
        scored.probabilities,
        ids,
        request_id,
        now,
    )


def _request_id(state: ServeState, idempotency_key: str) -> str:
    key = f"{state.model_name}\0{idempotency_key}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def _log_unavailable(state: ServeState, rows: int, message: str) -> ApiError:
    state.metrics.log_failed.inc(rows)
    return ApiError(503, "LOG_UNAVAILABLE", message, headers={"Retry-After": "2"})


async def _cached_or_scored(
    state: ServeState, slot: Slot, batch: Columns, records: list[dict[str, Any]]
) -> Scored:
    """Rows this model version scored before come from the cache; the rest are scored."""
    cache = state.cache
    if cache is None:
        return await slot.batcher.submit(batch)
    names = [c.name for c in slot.model.columns]
    keys = [row_key(slot.model.digest, r if isinstance(r, dict) else {}, names) for r in records]
    hits = await cache.get_many(keys, slot.model)  # entries it could not give: misses
    missing = [i for i, hit in enumerate(hits) if hit is None]
    if len(missing) < len(keys):
        state.metrics.cache_hits.inc(len(keys) - len(missing))
    fresh = await slot.batcher.submit(_select(batch, missing)) if missing else None
    if fresh is not None and len(missing) == len(keys):
        await cache.set_many([(keys[i], _entry(fresh, j)) for j, i in enumerate(missing)])
        return fresh
    entries: list[Any] = list(hits)
    if fresh is not None:
        new = [(keys[i], _entry(fresh, j)) for j, i in enumerate(missing)]
        for (_, entry), i in zip(new, missing, strict=True):
            entries[i] = entry
        await cache.set_many(new)
    with_proba = any(e[1] is not None for e in entries)
    return Scored(
        [e[0] for e in entries],
        [e[1] for e in entries] if with_proba else None,
        [e[2] for e in entries],
    )


def _entry(scored: Scored, i: int) -> tuple[Any, Any, Any]:
    proba = None if scored.probabilities is None else scored.probabilities[i]
    return (scored.predictions[i], proba, scored.scores[i])


def _select(batch: Columns, rows: list[int]) -> Columns:
    if len(rows) == batch.rows:
        return batch
    values = {name: [col[i] for i in rows] for name, col in batch.values.items()}
    ids = [batch.ids[i] for i in rows] if batch.ids else []
    return Columns(batch.names, values, batch.numeric, len(rows), ids)


async def _shadow(
    state: ServeState, batch: Columns, records: list[dict[str, Any]], request_id: str
) -> None:
    """The challenger scores the same rows silently; its rows are logged as 'shadow'."""
    slot = state.challenger
    if slot is None:
        return
    with contextlib.suppress(Exception):
        scored = await slot.batcher.submit(batch)
        ids = [f"{request_id}-{i}-shadow" for i in range(batch.rows)]
        rows = rows_for(
            ids,
            request_id,
            time.time(),
            slot.model.name,
            slot.model.version,
            "shadow",
            records,
            scored.predictions,
            scored.scores,
            scored.probabilities,
            0.0,
        )
        await state.log.write_async(rows)


def _check_rows(state: ServeState, n: int) -> None:
    limit = state.settings.max_batch_rows
    if n > limit:
        raise ApiError(
            413, "TOO_MANY_ROWS", f"{n} rows in one request; at most {limit} (max_batch_rows)"
        )


def _invalid(exc: InvalidInput) -> ApiError:
    return ApiError(
        422,
        "INVALID_INPUT",
        str(exc),
        [e.to_dict() for e in exc.errors] + ([{"total": exc.total}] if exc.total > 1 else []),
    )


IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY = 200


def _idempotency_key(request: Request) -> str | None:
    """The client's ``Idempotency-Key`` header: 1-200 printable ASCII characters."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not (key.isascii() and key.isprintable()):
        raise ApiError(
            400,
            "BAD_REQUEST",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    return key


def _auth(request: Any, _handler: Any = None) -> None:
    """A route guard: runs before the body is read, so an unauthenticated client's body
    is never parsed."""
    key = _state(request).api_key
    if not key:
        return
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), key.encode()):
        raise ApiError(
            401,
            "UNAUTHORIZED",
            "missing or wrong API key (Authorization: Bearer KEY or X-API-Key)",
            headers={"WWW-Authenticate": "Bearer"},
        )


# -------------------------------------------------------------------- routes
@post(
    "/predict",
    summary="Score rows",
    status_code=200,
    responses=errors(*SCORING_ERRORS),
    guards=[_auth],
)
async def predict(request: Request, data: PredictRequest | None = None) -> Response:
    """Rows in (``records`` or ``columns``); per row the prediction, class probabilities
    and a request id; the model name and version; committed to the log before 200."""
    state = _state(request)
    if state.champion is None:
        raise _unavailable(state)
    if data is None:
        raise ApiError(400, "BAD_REQUEST", "the request body is empty")
    if (data.records is None) == (data.columns is None):
        raise ApiError(400, "BAD_REQUEST", "send exactly one of 'records' or 'columns'")
    model = state.champion.model
    try:
        if data.records is not None:
            _check_rows(state, len(data.records))
            batch = check_records(data.records, model.columns, state.id_column)
            records = data.records
        else:
            n = max((len(v) for v in data.columns.values() if isinstance(v, list)), default=0)
            _check_rows(state, n)
            batch = check_columnar(data.columns, model.columns, state.id_column)
            keys = list(data.columns)
            records = [{k: data.columns[k][i] for k in keys} for i in range(batch.rows)]
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except BadRequest as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None
    answer = await _score(state, batch, records, "predict", _idempotency_key(request))
    out = []
    for i in range(batch.rows):
        row: dict[str, Any] = {"request_id": answer.ids[i], "prediction": answer.predictions[i]}
        if answer.probabilities is not None:
            row["probabilities"] = answer.probabilities[i]
        if state.id_column and batch.ids:
            row[state.id_column] = batch.ids[i]
        out.append(row)
    body = {
        "request_id": answer.request_id,
        "model": {"name": answer.name, "version": answer.version, "variant": answer.variant},
        "timestamp": datetime.fromtimestamp(answer.ts, UTC).isoformat(timespec="milliseconds"),
        "predictions": out,
    }
    return _json(body, headers=_version_headers(answer))


def _version_headers(answer: Answer) -> dict[str, str]:
    return {
        "x-model-name": answer.name,
        "x-model-version": str(answer.version),
        "x-request-id": answer.request_id,
    }


@post(
    "/invocations",
    summary="MLflow scoring protocol",
    status_code=200,
    operation_class=MlflowOperation,
    responses=errors(*SCORING_ERRORS),
    guards=[_auth],
)
async def invocations(request: Request) -> Response:
    """``mlflow models serve``'s protocol: ``dataframe_split``, ``dataframe_records``,
    ``instances`` or ``inputs`` (JSON), ``text/csv`` or parquet; answers
    ``{"predictions": [...]}``, and errors in MLflow's shape (see
    :mod:`mlctl.serve.mlflow_protocol`)."""
    try:
        return await _invocations(request)
    except ApiError as exc:
        status, body = mlflow_protocol.error_body(exc.status, exc.code, exc.message, exc.details)
        raise ApiError(status, exc.code, exc.message, exc.details, exc.headers, body) from None


async def _invocations(request: Request) -> Response:
    state = _state(request)
    if state.champion is None:
        raise _unavailable(state)
    model = state.champion.model
    try:
        mime = mlflow_protocol.media_type(request.headers.get("content-type"))
        records = mlflow_protocol.read_rows(
            await request.body(), mime, model.columns, state.settings.max_batch_rows
        )
        batch = check_records(records, model.columns, None, strict=False)
    except mlflow_protocol.UnsupportedMediaType as exc:
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", str(exc)) from None
    except mlflow_protocol.TooManyRows as exc:
        raise ApiError(413, "TOO_MANY_ROWS", str(exc)) from None
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except BadRequest as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None
    answer = await _score(state, batch, records, "invocations", _idempotency_key(request))
    return _json({"predictions": answer.predictions}, headers=_version_headers(answer))


class JsonRequest(Request):
    """Litestar's request, parsing bodies with :func:`decode_json`."""

    async def json(self) -> Any:
        try:
            return decode_json(await self.body())
        except BadRequest as exc:
            raise ClientException(str(exc)) from None


@post(
    "/feedback",
    summary="Ground truth for earlier predictions",
    status_code=200,
    responses=errors(*SCORING_ERRORS),
    guards=[_auth],
)
async def feedback(request: Request, data: FeedbackRequest | None = None) -> Response:
    """Labels by request id (one, or a ``feedback`` list); idempotent. Ids the log does
    not hold are kept aside and counted."""
    state = _state(request)
    if data is None:
        raise ApiError(400, "BAD_REQUEST", "the request body is empty")
    if data.feedback is not None:
        if data.request_id is not None or data.label is not None:
            raise ApiError(400, "BAD_REQUEST", "send either 'feedback' or one request_id/label")
        sent = [(f.request_id, f.label) for f in data.feedback]
    elif data.request_id is not None and data.label is not None:
        sent = [(data.request_id, data.label)]
    else:
        raise ApiError(400, "BAD_REQUEST", "send 'request_id' and 'label', or 'feedback'")
    if not sent:
        raise ApiError(422, "INVALID_INPUT", "the feedback list is empty")
    if len(sent) > state.settings.max_batch_rows:
        raise ApiError(413, "TOO_MANY_ROWS", f"{len(sent)} feedback items in one request")
    classes = state.champion.model.classes if state.champion is not None else None
    try:
        items = feedback_items(sent, classes, single=data.feedback is None)
    except InvalidFeedback as exc:
        details = [e.to_dict() for e in exc.errors]
        raise ApiError(422, "INVALID_INPUT", str(exc), details) from None
    loop = asyncio.get_running_loop()
    try:
        result = await loop.run_in_executor(
            None, state.log.feedback, items
        )  # not behind model loads
    except LogUnavailable as exc:
        raise ApiError(503, "LOG_UNAVAILABLE", str(exc), headers={"Retry-After": "2"}) from None
    if result.unknown:
        state.metrics.feedback_unknown.inc(len(result.unknown))
    return _json({"accepted": result.accepted, "unknown": result.unknown})


@get("/health", summary="Liveness")
async def health() -> Response:
    """The process is up; never depends on the model or the database."""
    return _json({"status": "ok"})


@head("/health", summary="Liveness (status only)")
async def health_head() -> None:
    """As ``GET /health``, without a body (for probes that send HEAD)."""


@get("/ready", summary="Readiness")
async def ready(request: Request) -> Response:
    """200 when the model is loaded and the log writable; 503 while loading or draining."""
    ok, detail = _state(request).ready()
    body = {"ready": ok, **detail}
    return _json(body, 200 if ok else 503, None if ok else {"Retry-After": "2"})


@head("/ready", summary="Readiness (status only)", responses=errors(503))
async def ready_head(request: Request) -> None:
    """As ``GET /ready``: 200, or 503 (not ready), without a body."""
    ok, _ = _state(request).ready()
    if not ok:
        raise _unavailable(_state(request))


@get("/model", summary="The served model", responses=errors(503))
async def model_info(request: Request) -> Response:
    """Name, version, aliases, features with types, training metrics, gate verdict."""
    state = _state(request)
    if state.champion is None:
        raise _unavailable(state)
    body = state.champion.model.describe()
    if state.challenger is not None:
        body["challenger"] = {"version": state.challenger.model.version}
    body["traffic"] = msgspec.to_builtins(state.settings.traffic.model_dump())
    return _json(body)


@get(
    "/monitoring",
    summary="The latest monitoring result",
    responses=errors(401, 404),
    guards=[_auth],
)
async def monitoring(request: Request) -> Response:
    """The document ``mlctl monitor`` wrote last for the served model (drift,
    performance, volume), with its age and whether it is about the served version."""
    state = _state(request)
    path = Path(state.monitoring_file) if state.monitoring_file else None
    try:
        raw = path.read_bytes() if path is not None else None
    except FileNotFoundError:
        raw = None
    except OSError as exc:
        raise ApiError(503, "UNAVAILABLE", f"cannot read the monitoring result: {exc}") from None
    if raw is None:
        raise ApiError(
            404,
            "NOT_FOUND",
            f"no monitoring result for model '{state.model_name}' yet: run mlctl monitor "
            "with its recipe (on a schedule, see docs/monitoring.md)",
        )
    try:
        result = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise ApiError(503, "UNAVAILABLE", "the monitoring result file is damaged") from None
    served = state.champion.model.version if state.champion is not None else None
    monitored = (result.get("model") or {}).get("version") if isinstance(result, dict) else None
    body = {
        "served": {"name": state.model_name, "version": served},
        "about_served_version": served is not None and monitored == served,
        "age_seconds": round(max(0.0, time.time() - path.stat().st_mtime), 1),
        "result": result,
    }
    return _json(body)


@get("/metrics", summary="Prometheus metrics", media_type="text/plain")
async def metrics(request: Request) -> Response:
    state = _state(request)
    state.metrics.log_queue.set(state.log.queue_depth) if not state.metrics.multiprocess else None
    body, media_type = state.metrics.render(request.headers.get("accept"), state)
    return Response(body, media_type=media_type, status_code=200)


@post(
    "/admin/reload",
    summary="Reload the aliased versions now (admin)",
    status_code=200,
    responses=errors(401, 404),
    guards=[_auth],
)
async def admin_reload(request: Request) -> Response:
    state = _state(request)
    if not state.settings.admin:
        raise ApiError(404, "NOT_FOUND", "admin routes are off (deploy.serve.admin)")
    changes = await state.reload(retry_refused=True)
    return _json({"changes": changes, "last_load_error": state.load_error})


# ------------------------------------------------------- Open Inference v2
OIP_TYPES = {"long": "INT64", "integer": "INT32", "double": "FP64", "float": "FP32"}


@get("/v2", summary="OIP server metadata")
async def v2_server() -> Response:
    return _json({"name": "mlctl", "version": __version__, "extensions": [oip.EXTENSION]})


@get("/v2/health/live", summary="OIP liveness")
async def v2_live() -> Response:
    return _json({"live": True})


@get("/v2/health/ready", summary="OIP readiness")
async def v2_ready(request: Request) -> Response:
    ok, _ = _state(request).ready()
    return _json({"ready": ok}, 200 if ok else 503)


def _oip_model(request: Request, name: str, version: str | None) -> Slot:
    state = _state(request)
    if name != state.model_name:
        raise ApiError(404, "NOT_FOUND", f"unknown model '{name[:100]}'")
    if state.champion is None:
        raise _unavailable(state)
    for slot in (state.champion, state.challenger):
        if slot is not None and (version is None or str(slot.model.version) == version):
            return slot
    raise ApiError(404, "NOT_FOUND", f"model '{name}' version '{version[:20]}' is not served")


def _oip_meta(slot: Slot) -> dict[str, Any]:
    m = slot.model
    inputs = [
        {"name": c.name, "datatype": OIP_TYPES.get(c.type or "", "BYTES"), "shape": [-1]}
        for c in m.columns
    ]
    outputs = [{"name": "predict", "datatype": "BYTES" if m.classes else "FP64", "shape": [-1]}]
    if m.classes:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(m.classes)]})
    return {
        "name": m.name,
        "versions": [str(m.version)],
        "platform": "sklearn",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"content_type": "pd"},
    }


@get("/v2/models/{name:str}", summary="OIP model metadata", responses=errors(404, 503))
async def v2_model(request: Request, name: str) -> Response:
    return _json(_oip_meta(_oip_model(request, name, None)))


@get(
    "/v2/models/{name:str}/versions/{version:str}",
    summary="OIP model version metadata",
    responses=errors(404, 503),
)
async def v2_model_version(request: Request, name: str, version: str) -> Response:
    return _json(_oip_meta(_oip_model(request, name, version)))


@get("/v2/models/{name:str}/ready", summary="OIP model readiness", responses=errors(404, 503))
async def v2_model_ready(request: Request, name: str) -> Response:
    """200 ready; 404 an unknown model; 503 while no version is loaded."""
    _oip_model(request, name, None)
    return _json({"name": name, "ready": True})


@get(
    "/v2/models/{name:str}/versions/{version:str}/ready",
    summary="OIP model version readiness",
    responses=errors(404, 503),
)
async def v2_model_version_ready(request: Request, name: str, version: str) -> Response:
    """200 this version is loaded; 404 an unknown model or version; 503 while loading."""
    _oip_model(request, name, version)
    return _json({"name": name, "ready": True})


@post(
    "/v2/models/{name:str}/infer",
    summary="OIP inference (tabular, one input per column)",
    status_code=200,
    operation_class=InferOperation,
    responses=errors(*SCORING_ERRORS, 404, 409),
    guards=[_auth],
)
async def v2_infer(request: Request, name: str) -> Response:
    return await _v2_infer(request, name, None)


@post(
    "/v2/models/{name:str}/versions/{version:str}/infer",
    summary="OIP inference of a version",
    status_code=200,
    operation_class=InferOperation,
    responses=errors(*SCORING_ERRORS, 404, 409),
    guards=[_auth],
)
async def v2_infer_version(request: Request, name: str, version: str) -> Response:
    return await _v2_infer(request, name, version)


async def _v2_infer(request: Request, name: str, version: str | None) -> Response:
    state = _state(request)
    slot = _oip_model(request, name, version)
    known = ["predict", "predict_proba"] if slot.model.classes else ["predict"]
    try:
        doc = oip.read_request(await request.body(), request.headers.get(oip.HEADER))
        request_id = oip_id(doc)
        wanted = oip_outputs(doc, known)
        binary = oip.binary_outputs(doc, known)
        columns = oip_columns(doc)
        oip.check_input_names(columns, slot.model.columns, state.id_column)
        n = max((len(v) for v in columns.values()), default=0)
        _check_rows(state, n)
        batch = check_columnar(columns, slot.model.columns, None, strict=False)
    except InvalidInput as exc:
        raise _invalid(exc) from None
    except BadRequest as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None
    keys = list(columns)
    records = [{k: columns[k][i] for k in keys} for i in range(batch.rows)]
    if version is not None and slot is not state.champion:
        raise ApiError(409, "NOT_ROUTABLE", "only the champion version answers inference")
    answer = await _score(state, batch, records, "v2", _idempotency_key(request))
    outputs = [
        {
            "name": "predict",
            "datatype": "BYTES" if answer.classes else "FP64",
            "shape": [batch.rows],
            "data": [str(p) if answer.classes else p for p in answer.predictions],
        }
    ]
    if answer.probabilities is not None:
        flat = [p for row in answer.probabilities for p in row.values()]
        outputs.append(
            {
                "name": "predict_proba",
                "datatype": "FP64",
                "shape": [batch.rows, len(answer.classes)],
                "data": flat,
            }
        )
    if wanted:
        outputs = [o for o in outputs if o["name"] in wanted]
    body = {
        "model_name": answer.name,
        "model_version": str(answer.version),
        "id": answer.request_id if request_id is None else request_id,
        "parameters": {"content_type": "pd"},
        "outputs": outputs,
    }
    content, media_type, extra = oip.response_body(body, binary)
    headers = {**_version_headers(answer), **extra}
    return Response(content, status_code=200, media_type=media_type, headers=headers)


# ----------------------------------------------------------------- handlers
def _api_error(request: Request, exc: ApiError) -> Response:
    _count(request, exc.status)
    return error_response(exc)


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
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


def _internal_error(request: Request, exc: Exception) -> Response:
    """An unexpected error: its traceback goes to the server's log, never to the client."""
    path = request.scope.get("path", "?") if isinstance(request.scope, dict) else "?"
    logger.error("unhandled error answering %s %s", request.scope.get("method"), path, exc_info=exc)
    _count(request, 500)
    return error_response(ApiError(500, "INTERNAL", f"internal error: {type(exc).__name__}"))


def _count(request: Request, status: int) -> None:
    with contextlib.suppress(Exception):
        route = request.scope.get("path", "")
        _state(request).metrics.errors.labels(_route_label(route), str(status)).inc()


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


def _route_label(path: str) -> str:
    """A bounded set of metric labels: known routes, OIP templates, else "other"."""
    if path in ROUTES:
        return path
    if path.startswith("/v2/models/"):
        tail = path.rsplit("/", 1)[-1]
        kind = tail if tail in ("infer", "ready") else "metadata"
        return f"/v2/models/{{name}}/{kind}"
    if path.startswith("/schema"):
        return "/schema"
    return "other"


# () : the route reads Content-Type itself (/invocations: as MLflow does, 415 in its shape).
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {"/invocations": ()}


def _media_type_middleware(app: Any) -> Any:
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
                body = _encoder.encode(
                    {
                        "error": message,
                        "error_code": "UNSUPPORTED_MEDIA_TYPE",
                        "message": message,
                        "details": [],
                    }
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
                label = _route_label(path)
                serve.metrics.requests.labels(label, str(status_holder["status"])).inc()
                serve.metrics.latency.labels(label).observe(time.perf_counter() - started)

    return middleware


# -------------------------------------------------------------------- factory
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
        route_handlers=[
            predict,
            invocations,
            feedback,
            health,
            health_head,
            mlflow_protocol.ping,
            mlflow_protocol.version,
            ready,
            ready_head,
            model_info,
            monitoring,
            metrics,
            admin_reload,
            v2_server,
            v2_live,
            v2_ready,
            v2_model,
            v2_model_version,
            v2_model_ready,
            v2_model_version_ready,
            v2_infer,
            v2_infer_version,
        ],
        lifespan=[lifespan],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        request_max_body_size=settings.max_body_bytes,
        cors_config=cors,
        middleware=[_media_type_middleware],
        openapi_config=OpenAPIConfig(
            title="mlctl serve",
            version=__version__,
            path="/schema",
            render_plugins=[LocalSwaggerPlugin(), ServedJsonPlugin()],
        ),
        logging_config=None,
        request_class=JsonRequest,
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
