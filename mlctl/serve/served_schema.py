"""The OpenAPI schema of the served model: what ``/schema/openapi.json`` adds to
Litestar's schema of the routes once a model is loaded.

Litestar's document is completed at request time with what depends on the served
model (its input columns, their types, an example row, its classes) and with each
route's 200 answer. Each route's tag is its controller's
(:mod:`mlctl.serve.controllers`). The result is cached per served version
(:mod:`mlctl.serve.openapi`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TAGS = [
    {"name": "mlctl", "description": "Scoring, feedback and the served model (mlctl's API)."},
    {"name": "MLflow", "description": "MLflow's scoring protocol (`mlflow models serve`)."},
    {"name": "OIP v2", "description": "Open Inference Protocol v2 (KServe, Triton, MLServer)."},
    {"name": "operations", "description": "Probes, metrics and administration."},
]


_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_NUM: dict[str, Any] = {"type": "number"}
_OBJ: dict[str, Any] = {"type": "object"}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    return schema


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_READY = _obj(
    {
        "ready": _BOOL,
        "model_loaded": _BOOL,
        "loading": _BOOL,
        "log_writable": _BOOL,
        "draining": _BOOL,
        "worker_pid": _INT,
        "model": _obj({"name": _STR, "version": _INT}),
        "challenger": _obj({"version": _INT}),
        "last_load_error": _STR,
        "refused_versions": _array(_OBJ),
    },
    ["ready", "model_loaded", "loading", "log_writable", "draining"],
)
_OIP_TENSOR_META = _obj({"name": _STR, "datatype": _STR, "shape": _array(_INT)})
_OIP_OUTPUT = _obj(  # a binary output has parameters.binary_data_size instead of data
    {
        "name": _STR,
        "datatype": _STR,
        "shape": _array(_INT),
        "data": {"type": "array"},
        "parameters": _OBJ,
    },
    ["name", "datatype", "shape"],
)
_MODEL = _obj(
    {
        "name": _STR,
        "version": _INT,
        "aliases": _array(_STR),
        "task": {"enum": ["classification", "regression"]},
        "classes": {"type": ["array", "null"]},
        "features": _array(
            _obj({"name": _STR, "type": {"type": ["string", "null"]}, "required": _BOOL})
        ),
        "metrics": {"type": "object", "additionalProperties": _NUM},
        "gate": {"type": ["string", "null"]},
        "selection_metric": {"type": ["string", "null"]},
        "sha256": _STR,
        "loaded_at": _NUM,
        "challenger": _obj({"version": _INT}),
        "traffic": _OBJ,
    },
    ["name", "version", "features", "sha256", "traffic"],
)

# (method, path) -> (description, media type, schema) of the 200 answer
OK: dict[tuple[str, str], tuple[str, str, dict[str, Any]]] = {
    ("post", "/invocations"): (
        "The predicted labels (or values), in row order.",
        "application/json",
        _obj({"predictions": {"type": "array"}}),
    ),
    ("post", "/feedback"): (
        "How many labels were stored, and the request ids the log does not hold.",
        "application/json",
        _obj({"accepted": _INT, "unknown": _array(_STR)}),
    ),
    ("get", "/health"): (
        "The process is up.",
        "application/json",
        _obj({"status": {"const": "ok"}}),
    ),
    ("get", "/ready"): (
        "Ready to score (503 with the same body when not).",
        "application/json",
        _READY,
    ),
    ("get", "/model"): ("The served version.", "application/json", _MODEL),
    ("get", "/monitoring"): (
        "The latest `mlctl monitor` result of the served model.",
        "application/json",
        _obj(
            {
                "served": _obj({"name": _STR, "version": {"type": ["integer", "null"]}}),
                "about_served_version": _BOOL,
                "age_seconds": _NUM,
                "result": _OBJ,
            }
        ),
    ),
    ("get", "/metrics"): (
        "Prometheus' text format, or OpenMetrics when the Accept header asks for "
        "application/openmetrics-text.",
        "text/plain",
        _STR,
    ),
    ("post", "/admin/reload"): (
        "The versions that changed, and the last load error.",
        "application/json",
        _obj({"changes": _OBJ, "last_load_error": {"type": ["string", "null"]}}),
    ),
    ("get", "/v2"): (
        "OIP server metadata.",
        "application/json",
        _obj({"name": _STR, "version": _STR, "extensions": _array(_STR)}),
    ),
    ("get", "/v2/health/live"): ("Live.", "application/json", _obj({"live": _BOOL})),
    ("get", "/v2/health/ready"): ("Ready.", "application/json", _obj({"ready": _BOOL})),
}
_OIP_META = _obj(
    {
        "name": _STR,
        "versions": _array(_STR),
        "platform": _STR,
        "inputs": _array(_OIP_TENSOR_META),
        "outputs": _array(_OIP_TENSOR_META),
        "parameters": _OBJ,
    }
)
_OIP_READY = _obj({"name": _STR, "ready": _BOOL})
_OIP_INFER = _obj(
    {
        "model_name": _STR,
        "model_version": _STR,
        "id": _STR,
        "parameters": _OBJ,
        "outputs": _array(_OIP_OUTPUT),
    }
)
for _p in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
    OK[("get", _p)] = ("OIP model metadata.", "application/json", _OIP_META)
    OK[("get", _p + "/ready")] = ("OIP model readiness.", "application/json", _OIP_READY)
    OK[("post", _p + "/infer")] = (
        "One output per name: predict (and predict_proba for a classifier).",
        "application/json",
        _OIP_INFER,
    )


def _predict_ok(classes: list[Any] | None, regression: bool = False) -> dict[str, Any]:
    """``/predict``'s 200: a classifier's prediction is one of its classes, a
    regressor's a number (unknown before a model is loaded)."""
    prediction: dict[str, Any] = {"enum": classes} if classes else _NUM if regression else {}
    answer = _obj(
        {
            "request_id": _STR,
            "model": _obj(
                {"name": _STR, "version": _INT, "variant": {"enum": ["champion", "challenger"]}}
            ),
            "timestamp": {"type": "string", "format": "date-time"},
            "predictions": _array(
                _obj(
                    {
                        "request_id": _STR,
                        "prediction": prediction,
                        "probabilities": {"type": "object", "additionalProperties": _NUM},
                    },
                    ["request_id", "prediction"],
                )
            ),
        }
    )
    return {
        "description": "One prediction per row, in request order (a class or a value).",
        "content": {"application/json": {"schema": answer}},
    }


INT_RANGE = {"long": 2**63, "integer": 2**31}
FLOAT_MAX = 3.4028234663852886e38
OIP_TYPES = {"long": "INT64", "integer": "INT32", "double": "FP64", "float": "FP32"}


def column_schema(mlflow_type: str | None) -> dict[str, Any]:
    """The JSON schema of one input column's value, from its MLflow type (null: a
    missing value the pipeline imputes)."""
    if mlflow_type in INT_RANGE:
        bound = INT_RANGE[mlflow_type]
        return {
            "type": ["integer", "null"],
            "format": "int64" if mlflow_type == "long" else "int32",
            "minimum": -bound,
            "maximum": bound - 1,
            "description": f'{mlflow_type}; numeric text ("12") is read too',
        }
    if mlflow_type in ("double", "float"):
        schema: dict[str, Any] = {
            "type": ["number", "null"],
            "format": mlflow_type,
            "description": f'{mlflow_type}; numeric text ("29.85") is read too',
        }
        if mlflow_type == "float":
            schema.update(minimum=-FLOAT_MAX, maximum=FLOAT_MAX)
        return schema
    if mlflow_type == "boolean":
        return {"type": ["boolean", "null"], "description": "boolean"}
    if mlflow_type == "string":
        return {"type": ["string", "null"], "description": "string"}
    return {
        "type": ["string", "number", "boolean", "null"],
        "description": "any scalar (no type recorded)",
    }


@dataclass
class ServedView:
    """What the schema needs of the served model."""

    name: str
    version: int
    columns: list[tuple[str, str | None, bool]]  # name, MLflow type, required
    classes: list[Any]
    example: dict[str, Any] | None
    id_column: str | None

    def key(self) -> tuple:
        return (self.name, self.version, self.id_column)


def model_schema(base: dict[str, Any], view: ServedView | None) -> dict[str, Any]:
    """Litestar's schema ``base`` with tags, 200 answers and (given a served model) the
    model's request bodies and examples. ``base`` is not changed."""
    import copy

    doc = copy.deepcopy(base)
    doc["tags"] = TAGS
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            ok = OK.get((method, path))
            if (method, path) == ("post", "/predict"):
                op["responses"]["200"] = _predict_ok(None)
            elif ok is not None:
                description, media, schema = ok
                op["responses"]["200"] = {
                    "description": description,
                    "content": {media: {"schema": schema}},
                }
    if view is not None:
        _with_model(doc, view)
    return doc


def _with_model(doc: dict[str, Any], view: ServedView) -> None:
    values = {name: column_schema(kind) for name, kind, _ in view.columns}
    required = [name for name, _, needed in view.columns if needed]
    open_row: dict[str, Any] = {
        "type": "object",
        "description": f"One row for {view.name} version {view.version}: its input columns.",
        "properties": values,
        "required": required,
    }
    strict = {**values}
    if view.id_column and view.id_column not in strict:
        strict[view.id_column] = {
            "type": ["string", "number", "null"],
            "description": "the id column: echoed in the answer, not read by the model",
        }
    predict_row = {**open_row, "properties": strict, "additionalProperties": False}
    columns = {
        "type": "object",
        "description": "One list per column, all of one length.",
        "properties": {k: {"type": "array", "items": v} for k, v in strict.items()},
        "required": required,
        "additionalProperties": False,
    }
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["ModelRow"] = open_row
    schemas["PredictRow"] = predict_row
    schemas["PredictRequest"] = {
        "type": "object",
        "description": "Rows to score: `records` (row objects) or `columns` (column lists).",
        "properties": {
            "records": _array({"$ref": "#/components/schemas/PredictRow"}),
            "columns": columns,
        },
        "additionalProperties": False,
    }
    example = view.example
    paths = doc.get("paths", {})
    if example is not None:
        _example(paths, "/predict", {"records": [example]})
        _example(paths, "/invocations", {"dataframe_records": [example]})
        inputs = [
            {
                "name": name,
                "shape": [1],
                "datatype": OIP_TYPES.get(kind or "", "BYTES"),
                "data": [example.get(name)],
            }
            for name, kind, _ in view.columns
        ]
        infer = {"parameters": {"content_type": "pd"}, "inputs": inputs}
        for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
            _example(paths, path, infer)
    mlflow = _request_schema(paths, "/invocations")
    for layout in (mlflow or {}).get("oneOf", []):
        for key in ("dataframe_records", "instances"):
            if key in layout.get("properties", {}):
                layout["properties"][key] = _array({"$ref": "#/components/schemas/ModelRow"})
    op = paths.get("/predict", {}).get("post")
    if op is not None:
        op["responses"]["200"] = _predict_ok(view.classes or None, regression=not view.classes)


def _request_schema(paths: dict[str, Any], path: str) -> dict[str, Any] | None:
    op = paths.get(path, {}).get("post") or {}
    content = (op.get("requestBody") or {}).get("content") or {}
    return (content.get("application/json") or {}).get("schema")


def _example(paths: dict[str, Any], path: str, value: Any) -> None:
    op = paths.get(path, {}).get("post") or {}
    content = (op.get("requestBody") or {}).get("content") or {}
    if "application/json" in content:
        content["application/json"]["example"] = value


def served_view(state: Any) -> ServedView | None:
    slot = getattr(state, "champion", None)
    if slot is None:
        return None
    model = slot.model
    return ServedView(
        name=str(model.name),
        version=int(model.version),
        columns=[(c.name, c.type, c.required) for c in model.columns],
        classes=[_plain(c) for c in model.classes],
        example=getattr(model, "example", None),
        id_column=state.id_column,
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
