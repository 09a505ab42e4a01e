"""The MLflow scoring protocol: ``/invocations``, ``/ping`` and ``/version``, as
``mlflow models serve`` answers them (the protocol itself: :mod:`mlctl.serve.mlflow_protocol`)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from mlctl.serve import mlflow_protocol
from mlctl.serve.idempotency import Answer
from mlctl.serve.inputs import BadRequest, InvalidInput, Rows, check_records
from mlctl.serve.middleware import note_scored
from mlctl.serve.openapi import SCORING_ERRORS, MlflowOperation, errors
from mlctl.serve.requests import API_KEY, Served, idempotency_key
from mlctl.serve.responses import ApiError, invalid, json_response, unavailable, version_headers
from mlctl.serve.scoring import score
from mlctl.serve.state import ServeState


def invocation_rows(serve: ServeState, body: bytes, content_type: str | None) -> Rows:
    """The rows of an ``/invocations`` body, checked against the served model (also
    read by :mod:`mlctl.serve.fastpath`).

    Raises:
        ApiError: 415, 413, 422 or 400, in mlctl's shape (see :func:`mlflow_error`).
    """
    model = serve.champion.model
    try:
        mime = mlflow_protocol.media_type(content_type)
        records = mlflow_protocol.read_rows(
            body, mime, model.columns, serve.settings.max_batch_rows
        )
        batch = check_records(records, model.columns, None, strict=False)
    except mlflow_protocol.UnsupportedMediaType as exc:
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", str(exc)) from None
    except mlflow_protocol.TooManyRows as exc:
        raise ApiError(413, "TOO_MANY_ROWS", str(exc)) from None
    except InvalidInput as exc:
        raise invalid(exc) from None
    except BadRequest as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None
    return batch, records


def invocations_document(answer: Answer) -> dict[str, Any]:
    """MLflow's answer: ``{"predictions": [...]}``."""
    return {"predictions": answer.predictions}


def mlflow_error(exc: ApiError) -> ApiError:
    """An error of ``/invocations`` in MLflow's status and shape."""
    status, body = mlflow_protocol.error_body(exc.status, exc.code, exc.message, exc.details)
    return ApiError(status, exc.code, exc.message, exc.details, exc.headers, body)


async def _invocations(serve: Served, request: Request) -> Response:
    if serve.champion is None:
        raise unavailable(serve)
    body = await request.body()
    batch, records = invocation_rows(serve, body, request.headers.get("content-type"))
    answer = await score(serve, batch, records, "invocations", idempotency_key(request))
    note_scored(request.scope, answer)  # for the access log
    return json_response(invocations_document(answer), headers=version_headers(answer))


class MlflowScoring(Controller):
    """``mlflow models serve``'s scoring routes."""

    tags = ["MLflow"]

    @post(
        "/invocations",
        summary="MLflow scoring protocol",
        status_code=200,
        operation_class=MlflowOperation,
        responses=errors(*SCORING_ERRORS),
        opt=API_KEY,
    )
    async def invocations(self, serve: Served, request: Request) -> Response:
        """``mlflow models serve``'s protocol: ``dataframe_split``, ``dataframe_records``,
        ``instances`` or ``inputs`` (JSON), ``text/csv`` or parquet; answers
        ``{"predictions": [...]}``, and errors in MLflow's shape (see
        :mod:`mlctl.serve.mlflow_protocol`)."""
        try:
            return await _invocations(serve, request)
        except ApiError as exc:
            raise mlflow_error(exc) from None

    @get("/ping", summary="MLflow's health check", include_in_schema=False)
    async def ping(self, serve: Served) -> Response:
        """200 and a newline once the model is loaded; 503 while loading or draining.
        Not in the OpenAPI schema: its body is not JSON, although labelled so, as
        MLflow's is."""
        return mlflow_protocol.ping(serve)

    @get("/version", summary="MLflow's version", include_in_schema=False)
    async def version(self) -> Response:
        return mlflow_protocol.version()
