"""mlctl's own API: ``/predict``, ``/feedback``, ``/model`` and ``/monitoring``."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post

from mlctl.predlog import LogUnavailable
from mlctl.serve.checks import InvalidFeedback, feedback_items
from mlctl.serve.idempotency import Answer
from mlctl.serve.inputs import (
    BadRequest,
    Columns,
    InvalidInput,
    Rows,
    check_columnar,
    check_records,
)
from mlctl.serve.middleware import note_scored
from mlctl.serve.openapi import SCORING_ERRORS, errors
from mlctl.serve.requests import API_KEY, Served, check_rows, idempotency_key
from mlctl.serve.responses import (
    ApiError,
    invalid,
    json_response,
    unavailable,
    version_headers,
)
from mlctl.serve.scoring import score
from mlctl.serve.state import ServeState


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


def predict_rows(serve: ServeState, data: PredictRequest) -> Rows:
    """The rows of a ``/predict`` body, checked against the served model (also read by
    :mod:`mlctl.serve.fastpath`).

    Raises:
        ApiError: 400 (neither or both of records/columns), 413 or 422.
    """
    if (data.records is None) == (data.columns is None):
        raise ApiError(400, "BAD_REQUEST", "send exactly one of 'records' or 'columns'")
    model = serve.champion.model
    try:
        if data.records is not None:
            check_rows(serve, len(data.records))
            return check_records(data.records, model.columns, serve.id_column), data.records
        n = max((len(v) for v in data.columns.values() if isinstance(v, list)), default=0)
        check_rows(serve, n)
        batch = check_columnar(data.columns, model.columns, serve.id_column)
        keys = list(data.columns)
        return batch, [{k: data.columns[k][i] for k in keys} for i in range(batch.rows)]
    except InvalidInput as exc:
        raise invalid(exc) from None
    except BadRequest as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None


def predict_document(serve: ServeState, batch: Columns, answer: Answer) -> dict[str, Any]:
    """``/predict``'s answer: per row the prediction, probabilities and request id."""
    out = []
    for i in range(batch.rows):
        row: dict[str, Any] = {"request_id": answer.ids[i], "prediction": answer.predictions[i]}
        if answer.probabilities is not None:
            row["probabilities"] = answer.probabilities[i]
        if serve.id_column and batch.ids:
            row[serve.id_column] = batch.ids[i]
        out.append(row)
    return {
        "request_id": answer.request_id,
        "model": {"name": answer.name, "version": answer.version, "variant": answer.variant},
        "timestamp": datetime.fromtimestamp(answer.ts, UTC).isoformat(timespec="milliseconds"),
        "predictions": out,
    }


class MlctlApi(Controller):
    """Scoring with probabilities and request ids, ground truth, the served model and
    its latest monitoring result."""

    tags = ["mlctl"]

    @post(
        "/predict",
        summary="Score rows",
        status_code=200,
        responses=errors(*SCORING_ERRORS),
        opt=API_KEY,
    )
    async def predict(
        self, serve: Served, request: Request, data: PredictRequest | None = None
    ) -> Response:
        """Rows in (``records`` or ``columns``); per row the prediction, class probabilities
        and a request id; the model name and version; committed to the log before 200."""
        if serve.champion is None:
            raise unavailable(serve)
        if data is None:
            raise ApiError(400, "BAD_REQUEST", "the request body is empty")
        batch, records = predict_rows(serve, data)
        answer = await score(serve, batch, records, "predict", idempotency_key(request))
        note_scored(request.scope, answer)  # for the access log
        return json_response(
            predict_document(serve, batch, answer), headers=version_headers(answer)
        )

    @post(
        "/feedback",
        summary="Ground truth for earlier predictions",
        status_code=200,
        responses=errors(*SCORING_ERRORS),
        opt=API_KEY,
    )
    async def feedback(
        self, serve: Served, request: Request, data: FeedbackRequest | None = None
    ) -> Response:
        """Labels by request id (one, or a ``feedback`` list); idempotent. Ids the log does
        not hold are kept aside and counted."""
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
        if len(sent) > serve.settings.max_batch_rows:
            raise ApiError(413, "TOO_MANY_ROWS", f"{len(sent)} feedback items in one request")
        classes = serve.champion.model.classes if serve.champion is not None else None
        try:
            items = feedback_items(sent, classes, single=data.feedback is None)
        except InvalidFeedback as exc:
            details = [e.to_dict() for e in exc.errors]
            raise ApiError(422, "INVALID_INPUT", str(exc), details) from None
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                None, serve.log.feedback, items
            )  # not behind model loads
        except LogUnavailable as exc:
            raise ApiError(503, "LOG_UNAVAILABLE", str(exc), headers={"Retry-After": "2"}) from None
        if result.unknown:
            serve.metrics.feedback_unknown.inc(len(result.unknown))
        return json_response({"accepted": result.accepted, "unknown": result.unknown})

    @get("/model", summary="The served model", responses=errors(503))
    async def model_info(self, serve: Served) -> Response:
        """Name, version, aliases, features with types, training metrics, gate verdict."""
        if serve.champion is None:
            raise unavailable(serve)
        body = serve.champion.model.describe()
        if serve.challenger is not None:
            body["challenger"] = {"version": serve.challenger.model.version}
        body["traffic"] = msgspec.to_builtins(serve.settings.traffic.model_dump())
        return json_response(body)

    @get(
        "/monitoring",
        summary="The latest monitoring result",
        responses=errors(401, 404),
        opt=API_KEY,
    )
    async def monitoring(self, serve: Served) -> Response:
        """The document ``mlctl monitor`` wrote last for the served model (drift,
        performance, volume), with its age and whether it is about the served version."""
        path = Path(serve.monitoring_file) if serve.monitoring_file else None
        try:
            raw = path.read_bytes() if path is not None else None
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            raise ApiError(
                503, "UNAVAILABLE", f"cannot read the monitoring result: {exc}"
            ) from None
        if raw is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"no monitoring result for model '{serve.model_name}' yet: run mlctl monitor "
                "with its recipe (on a schedule, see docs/monitoring.md)",
            )
        try:
            result = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise ApiError(503, "UNAVAILABLE", "the monitoring result file is damaged") from None
        served = serve.champion.model.version if serve.champion is not None else None
        monitored = (result.get("model") or {}).get("version") if isinstance(result, dict) else None
        body = {
            "served": {"name": serve.model_name, "version": served},
            "about_served_version": served is not None and monitored == served,
            "age_seconds": round(max(0.0, time.time() - path.stat().st_mtime), 1),
            "result": result,
        }
        return json_response(body)
