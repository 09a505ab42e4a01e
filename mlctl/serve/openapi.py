"""What the OpenAPI schema says beyond the handlers' signatures.

Litestar documents a route from its parameters. Two kinds of route read their body
themselves (so that a bad body gets this service's own 400/422, not the framework's):
``/invocations`` (MLflow's four JSON layouts and CSV) and the Open Inference Protocol's
``infer``. Their request bodies are declared here, through an ``operation_class``.
Every route's error answers are declared too, in the one shape they all have
(:class:`ErrorBody`), replacing Litestar's own ``{"status_code", "detail"}`` 400.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)


class ErrorBody(msgspec.Struct):
    """Every error answer: a message, a stable code, and per-row details (422)."""

    error: str
    error_code: str
    message: str
    details: list[dict[str, Any]]


_WHY = {
    400: "BAD_REQUEST: the body is not JSON, is empty, or has the wrong layout.",
    401: "UNAUTHORIZED: missing or wrong API key (when deploy.serve.api_key_env is set).",
    404: "NOT_FOUND: unknown model or version, or admin routes are off.",
    409: "NOT_ROUTABLE: the version asked for is not served.",
    413: "BODY_TOO_LARGE or TOO_MANY_ROWS: over max_body_bytes or max_batch_rows.",
    415: "UNSUPPORTED_MEDIA_TYPE: not application/json (or text/csv, or OIP's "
    "application/octet-stream, where accepted).",
    422: "INVALID_INPUT / UNSCORABLE_INPUT: rows that do not fit the model; `details` "
    "names each row and column.",
    503: "UNAVAILABLE, OVERLOADED, TIMEOUT or LOG_UNAVAILABLE: not ready, draining, the "
    "queue is full, or the prediction was not committed; retry after `Retry-After`.",
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """Response specs for these error statuses, all in the :class:`ErrorBody` shape."""
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_WHY[code], generate_examples=False
        )
        for code in codes
    }


SCORING_ERRORS = (400, 401, 413, 415, 422, 503)

_ANY = Schema(description="Any JSON value.")
_ROW = Schema(
    type=OpenAPIType.OBJECT,
    description="One row: column name → value.",
    additional_properties=_ANY,
)


def _layout(key: str, schema: Schema, description: str) -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT,
        properties={key: schema, "params": Schema(type=OpenAPIType.OBJECT)},
        required=[key],
        description=description,
    )


MLFLOW_BODY = Schema(
    one_of=[
        _layout(
            "dataframe_split",
            Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "columns": Schema(
                        type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING)
                    ),
                    "data": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.ARRAY)),
                    "index": Schema(type=OpenAPIType.ARRAY),
                },
                required=["columns", "data"],
            ),
            "pandas' split orient: column names and row lists.",
        ),
        _layout(
            "dataframe_records",
            Schema(type=OpenAPIType.ARRAY, items=_ROW),
            "A list of row objects.",
        ),
        _layout("instances", Schema(type=OpenAPIType.ARRAY), "TF-serving style rows."),
        _layout(
            "inputs",
            Schema(one_of=[Schema(type=OpenAPIType.ARRAY), Schema(type=OpenAPIType.OBJECT)]),
            "Rows, or column name → values.",
        ),
    ]
)

_TENSOR = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "name": Schema(type=OpenAPIType.STRING, description="The column."),
        "shape": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.INTEGER)),
        "datatype": Schema(
            type=OpenAPIType.STRING,
            description="BOOL, INT8..INT64, UINT8..UINT64, FP16..FP64 or BYTES.",
        ),
        "data": Schema(type=OpenAPIType.ARRAY, description="Row-major values, flat or nested."),
        "parameters": Schema(type=OpenAPIType.OBJECT),
    },
    required=["name", "shape", "datatype", "data"],
)

OIP_BODY = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "id": Schema(type=OpenAPIType.STRING, description="Echoed in the answer."),
        "parameters": Schema(
            type=OpenAPIType.OBJECT, description='{"content_type": "pd"}: one input per column.'
        ),
        "inputs": Schema(type=OpenAPIType.ARRAY, items=_TENSOR),
        "outputs": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={"name": Schema(type=OpenAPIType.STRING)},
                required=["name"],
            ),
        ),
    },
    required=["inputs"],
)


@dataclass
class MlflowOperation(Operation):
    """``/invocations``: MLflow's JSON layouts or CSV with a header row."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="One of MLflow's four JSON layouts, or CSV with a header row.",
            content={
                "application/json": OpenAPIMediaType(schema=MLFLOW_BODY),
                "text/csv": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
            },
        )


@dataclass
class InferOperation(Operation):
    """Open Inference Protocol v2 ``infer`` with tabular (one input per column) data."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="An inference request; with content_type pd, one input per column.",
            content={
                "application/json": OpenAPIMediaType(schema=OIP_BODY),
                # The binary tensor extension: this JSON, then the inputs' bytes
                # (Inference-Header-Content-Length gives the JSON's length).
                "application/octet-stream": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                ),
            },
        )


# ------------------------------------------------- the schema of the served model
# What ``/schema/openapi.json`` and the Swagger page show is Litestar's schema of the
# routes, completed at request time with what depends on the served model (its input
# columns, their types, an example row, its classes) and with each route's tag and
# 200 answer. It is cached per served version.

TAGS = [
    {"name": "mlctl", "description": "Scoring, feedback and the served model (mlctl's API)."},
    {"name": "MLflow", "description": "MLflow's scoring protocol (`mlflow models serve`)."},
    {"name": "OIP v2", "description": "Open Inference Protocol v2 (KServe, Triton, MLServer)."},
    {"name": "operations", "description": "Probes, metrics and administration."},
]


def tag_of(path: str) -> str:
    if path == "/invocations":
        return "MLflow"
    if path == "/v2" or path.startswith("/v2/"):
        return "OIP v2"
    if path in ("/predict", "/feedback", "/model", "/monitoring"):
        return "mlctl"
    return "operations"


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
            op["tags"] = [tag_of(path)]
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


# --------------------------------------------------- Swagger UI from local files
ASSETS_PATH = "/assets"  # under the OpenAPI router's path (/schema)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def swagger_dist() -> Path:
    """The folder of Swagger UI's dist files, as the ``flask-swagger-ui`` distribution
    ships them (only its files are used, not its Flask blueprint)."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-swagger-ui (Swagger UI's files) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "dist"


class _Cache:
    def __init__(self) -> None:
        self.key: tuple | None = None
        self.doc: dict[str, Any] | None = None


def _schema_for(request: Request, base: dict[str, Any], cache: _Cache) -> dict[str, Any]:
    state = getattr(request.app.state, "serve", None)
    view = served_view(state)
    key = (id(base), view.key() if view else None)
    if cache.key != key or cache.doc is None:
        cache.doc, cache.key = model_schema(base, view), key
    return cache.doc


class ServedJsonPlugin(JsonRenderPlugin):
    """``/schema/openapi.json``: the schema of the routes and of the served model."""

    def __init__(self) -> None:
        super().__init__()
        self._cache = _Cache()

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, _schema_for(request, openapi_schema, self._cache))


class LocalSwaggerPlugin(SwaggerRenderPlugin):
    """``/schema/swagger``: Swagger UI whose scripts, style and icon the server itself
    serves (under ``/schema/assets/``), so the page works offline."""

    def __init__(self, prefix: str = "/schema") -> None:
        base = prefix.rstrip("/") + ASSETS_PATH
        super().__init__(
            js_url=f"{base}/swagger-ui-bundle.js",
            css_url=f"{base}/swagger-ui.css",
            standalone_preset_js_url=f"{base}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{base}/favicon-32x32.png'>",
        )
        self._cache = _Cache()
        self._files: dict[str, bytes] = {}

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, _schema_for(request, openapi_schema, self._cache))

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(
            get(f"{ASSETS_PATH}/{{name:str}}", sync_to_thread=False, include_in_schema=False)(
                self.asset
            )
        )

    def asset(self, name: str) -> Response:
        media = ASSETS.get(name)
        if media is None:
            raise NotFoundException(f"no asset '{name[:100]}'")
        if name not in self._files:
            self._files[name] = (swagger_dist() / name).read_bytes()
        return Response(
            self._files[name],
            media_type=media,
            headers={"Cache-Control": "public, max-age=86400"},
        )
