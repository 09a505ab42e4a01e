"""The MLflow scoring protocol: ``/invocations``, as ``mlflow models serve`` answers it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post

from mlctl.serve.body import csv_records, decode_json
from mlctl.serve.inputs import BadRequest, InvalidInput, check_records, check_split
from mlctl.serve.openapi import SCORING_ERRORS, MlflowOperation, errors
from mlctl.serve.requests import check_rows, idempotency_key, require_api_key
from mlctl.serve.responses import ApiError, invalid, json_response, unavailable, version_headers
from mlctl.serve.scoring import score
from mlctl.serve.state import ServeState

MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _mlflow_records(doc: Any, columns: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise BadRequest(f"expected a JSON object with one of {', '.join(MLFLOW_KEYS)}")
    keys = [k for k in MLFLOW_KEYS if k in doc]
    if len(keys) != 1:
        raise BadRequest(
            f"the body must hold exactly one of {', '.join(MLFLOW_KEYS)}; found "
            f"{', '.join(keys) if keys else 'none'}"
        )
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        names = value.get("columns") if isinstance(value, dict) else None
        batch = check_split(value, columns)
        names = names or batch.names
        return [dict(zip(names, row, strict=True)) for row in value["data"]]
    if key in ("dataframe_records", "instances"):
        if not isinstance(value, list):
            raise BadRequest(f"'{key}' must be a list of row objects")
        return value
    if isinstance(value, dict):  # inputs: columnar
        lengths = {len(v) for v in value.values() if isinstance(v, list)}
        if len(lengths) != 1 or not all(isinstance(v, list) for v in value.values()):
            raise BadRequest("'inputs' must map each column to a list of one length")
        n = lengths.pop()
        return [{k: v[i] for k, v in value.items()} for i in range(n)]
    if isinstance(value, list):
        return value
    raise BadRequest("'inputs' must be an object of column lists or a list of row objects")


class MlflowScoring(Controller):
    """``mlflow models serve``'s scoring routes."""

    tags = ["MLflow"]

    @post(
        "/invocations",
        summary="MLflow scoring protocol",
        status_code=200,
        operation_class=MlflowOperation,
        responses=errors(*SCORING_ERRORS),
        guards=[require_api_key],
    )
    async def invocations(self, serve: ServeState, request: Request) -> Response:
        """``mlflow models serve``'s protocol: ``dataframe_split``, ``dataframe_records``,
        ``instances`` or ``inputs`` (JSON), or ``text/csv``; answers ``{"predictions": [...]}``."""
        if serve.champion is None:
            raise unavailable(serve)
        model = serve.champion.model
        body = await request.body()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if ctype == "text/csv":
                records = csv_records(body)
            else:
                records = _mlflow_records(decode_json(body), model.columns)
            check_rows(serve, len(records))
            batch = check_records(records, model.columns, None, strict=False)
        except InvalidInput as exc:
            raise invalid(exc) from None
        except BadRequest as exc:
            raise ApiError(400, "BAD_REQUEST", str(exc)) from None
        answer = await score(serve, batch, records, "invocations", idempotency_key(request))
        return json_response({"predictions": answer.predictions}, headers=version_headers(answer))
