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

from mlctl.serve.served_schema import model_schema, served_view


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
