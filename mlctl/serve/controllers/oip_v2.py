"""The Open Inference Protocol v2 (KServe / Triton): server and model metadata,
readiness and tabular inference under ``/v2``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post

from mlctl import __version__
from mlctl.serve import oip
from mlctl.serve.checks import oip_columns, oip_id, oip_outputs
from mlctl.serve.inputs import BadRequest, InvalidInput, check_columnar
from mlctl.serve.middleware import note_scored
from mlctl.serve.openapi import SCORING_ERRORS, InferOperation, errors
from mlctl.serve.requests import API_KEY, Served, check_rows, idempotency_key
from mlctl.serve.responses import ApiError, invalid, json_response, unavailable, version_headers
from mlctl.serve.scoring import score
from mlctl.serve.served_schema import OIP_TYPES
from mlctl.serve.state import Slot


def _oip_model(serve: Served, name: str, version: str | None) -> Slot:
    if name != serve.model_name:
        raise ApiError(404, "NOT_FOUND", f"unknown model '{name[:100]}'")
    if serve.champion is None:
        raise unavailable(serve)
    for slot in (serve.champion, serve.challenger):
        if slot is not None and (version is None or str(slot.model.version) == version):
            return slot
    raise ApiError(404, "NOT_FOUND", f"model '{name}' version '{version[:20]}' is not served")


def _model_ready(serve: Served, name: str, version: str | None) -> Response:
    """200 when the version answers inference; 503 while loading or draining (a stopping
    server takes no new work, as its /v2/health/ready says), 404 when unknown."""
    _oip_model(serve, name, version)
    if serve.ready()[1]["draining"]:
        raise unavailable(serve)
    return json_response({"name": name, "ready": True})


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


async def _infer(serve: Served, request: Request, name: str, version: str | None) -> Response:
    slot = _oip_model(serve, name, version)
    known = ["predict", "predict_proba"] if slot.model.classes else ["predict"]
    try:
        doc = oip.read_request(await request.body(), request.headers.get(oip.HEADER))
        request_id = oip_id(doc)
        wanted = oip_outputs(doc, known)
        binary = oip.binary_outputs(doc, known)
        columns = oip_columns(doc)
        oip.check_input_names(columns, slot.model.columns, serve.id_column)
        n = max((len(v) for v in columns.values()), default=0)
        check_rows(serve, n)
        batch = check_columnar(columns, slot.model.columns, None, strict=False)
    except InvalidInput as exc:
        raise invalid(exc) from None
    except BadRequest as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None
    keys = list(columns)
    records = [{k: columns[k][i] for k in keys} for i in range(batch.rows)]
    if version is not None and slot is not serve.champion:
        raise ApiError(409, "NOT_ROUTABLE", "only the champion version answers inference")
    answer = await score(serve, batch, records, "v2", idempotency_key(request))
    note_scored(request.scope, answer)  # for the access log
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
    headers = {**version_headers(answer), **extra}
    return Response(content, status_code=200, media_type=media_type, headers=headers)


class OpenInferenceV2(Controller):
    """Server and model metadata, readiness and tabular inference (one input per column)."""

    tags = ["OIP v2"]

    @get("/v2", summary="OIP server metadata")
    async def v2_server(self) -> Response:
        return json_response(
            {"name": "mlctl", "version": __version__, "extensions": [oip.EXTENSION]}
        )

    @get("/v2/health/live", summary="OIP liveness")
    async def v2_live(self) -> Response:
        return json_response({"live": True})

    @get("/v2/health/ready", summary="OIP readiness")
    async def v2_ready(self, serve: Served) -> Response:
        ok, _ = serve.ready()
        return json_response({"ready": ok}, 200 if ok else 503)

    @get("/v2/models/{name:str}", summary="OIP model metadata", responses=errors(404, 503))
    async def v2_model(self, serve: Served, name: str) -> Response:
        return json_response(_oip_meta(_oip_model(serve, name, None)))

    @get(
        "/v2/models/{name:str}/versions/{version:str}",
        summary="OIP model version metadata",
        responses=errors(404, 503),
    )
    async def v2_model_version(self, serve: Served, name: str, version: str) -> Response:
        return json_response(_oip_meta(_oip_model(serve, name, version)))

    @get("/v2/models/{name:str}/ready", summary="OIP model readiness", responses=errors(404, 503))
    async def v2_model_ready(self, serve: Served, name: str) -> Response:
        """200 ready; 404 an unknown model; 503 while no version is loaded or draining."""
        return _model_ready(serve, name, None)

    @get(
        "/v2/models/{name:str}/versions/{version:str}/ready",
        summary="OIP model version readiness",
        responses=errors(404, 503),
    )
    async def v2_model_version_ready(self, serve: Served, name: str, version: str) -> Response:
        """200 this version is loaded; 404 an unknown model or version; 503 while loading
        or draining."""
        return _model_ready(serve, name, version)

    @post(
        "/v2/models/{name:str}/infer",
        summary="OIP inference (tabular, one input per column)",
        status_code=200,
        operation_class=InferOperation,
        responses=errors(*SCORING_ERRORS, 404, 409),
        opt=API_KEY,
    )
    async def v2_infer(self, serve: Served, request: Request, name: str) -> Response:
        return await _infer(serve, request, name, None)

    @post(
        "/v2/models/{name:str}/versions/{version:str}/infer",
        summary="OIP inference of a version",
        status_code=200,
        operation_class=InferOperation,
        responses=errors(*SCORING_ERRORS, 404, 409),
        opt=API_KEY,
    )
    async def v2_infer_version(
        self, serve: Served, request: Request, name: str, version: str
    ) -> Response:
        return await _infer(serve, request, name, version)
