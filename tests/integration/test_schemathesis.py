"""schemathesis against a real ``mlctl serve``: every operation of its OpenAPI schema,
generated requests (valid and invalid ones), and no response may be a 5xx.

Two schemas are fuzzed, each operation with at most ``MAX_EXAMPLES`` generated requests
(schemathesis' positive and negative generation), within ``BUDGET_SECONDS`` for the
module:

- ``served``: ``/schema/openapi.json`` exactly as the server publishes it;
- ``with model inputs``: the same schema, with the request bodies the served one leaves
  open typed from the model's signature (``GET /model``): rows of ``/predict``
  (``records`` and ``columns``), the four MLflow forms and CSV of ``/invocations``, the
  Open Inference ``infer`` body, and the model's name and version as path parameters.
  Valid requests then get past the row checks and are scored, logged and answered.

Besides schemathesis' server-error check, every error response must have the error
shape of docs/serving.md (``error``, ``error_code``, ``message``, ``details``).

The operations come from the app's routes, and each is driven through
``operation.as_strategy()`` with hypothesis: schemathesis' own pytest integration
(``schemathesis.pytest.from_fixture(...).parametrize()``) fails on pytest 9.2 (it sets
``request.node._nodeid``, which pytest 9.2 no longer has).

``benchmarks/schemathesis_nightly.py`` runs the schemathesis CLI (every phase,
including coverage and stateful) with many more examples. Needs ``schemathesis`` 4.x
from the test extras; without it this module is skipped.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", minversion="4.0")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from serve_helpers import FAST, ROW, Server, call  # noqa: E402

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25
BUDGET_SECONDS = 240.0
REQUEST_TIMEOUT = 30.0
ERROR_KEYS = {"error", "error_code", "message", "details"}

STATS: dict[str, Counter] = {"served": Counter(), "with model inputs": Counter()}
_deadline: list[float] = []


# ------------------------------------------------------------ schema helpers
def with_model_inputs(spec: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The served OpenAPI document with request bodies typed by the model's signature.

    Args:
        spec: The document from ``/schema/openapi.json``.
        model: The document from ``GET /model`` (``name``, ``version``, ``features``).
    """
    spec = copy.deepcopy(spec)
    number = {"long": "integer", "integer": "integer", "double": "number", "float": "number"}
    values = {
        f["name"]: {"anyOf": [{"type": number.get(f["type"], "string")}, {"type": "null"}]}
        for f in model["features"]
    }
    names = list(values)
    row = {"type": "object", "properties": values, "required": names}
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": 4}
    columns = {
        "type": "object",
        "properties": {
            k: {"type": "array", "items": v, "minItems": 2, "maxItems": 2}
            for k, v in values.items()
        },
        "required": names,
    }
    split = {
        "type": "object",
        "properties": {
            "columns": {"const": names},
            "data": {
                "type": "array",
                "minItems": 1,
                "maxItems": 3,
                "items": {
                    "type": "array",
                    "prefixItems": list(values.values()),
                    "minItems": len(names),
                    "maxItems": len(names),
                },
            },
        },
        "required": ["columns", "data"],
    }
    _body(
        spec,
        "/predict",
        {"application/json": {"oneOf": [_only("records", rows), _only("columns", columns)]}},
    )
    item = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string"},
            "label": {"type": ["string", "integer", "number", "boolean"]},
        },
        "required": ["request_id", "label"],
        "additionalProperties": False,
    }
    items = {"type": "array", "items": item, "minItems": 1, "maxItems": 5}
    _body(spec, "/feedback", {"application/json": {"oneOf": [item, _only("feedback", items)]}})
    mlflow = {
        "oneOf": [
            _only(key, value)
            for key, value in (
                ("dataframe_split", split),
                ("dataframe_records", rows),
                ("instances", rows),
                ("inputs", columns),
            )
        ]
    }
    _body(spec, "/invocations", {"application/json": mlflow, "text/csv": {"type": "string"}})
    tensors = [  # one row: every input of the same length
        {
            "type": "object",
            "properties": {
                "name": {"const": name},
                "datatype": {"enum": ["BYTES", "INT64", "FP64"]},
                "shape": {"const": [1]},
                "data": {"type": "array", "items": value, "minItems": 1, "maxItems": 1},
            },
            "required": ["name", "datatype", "shape", "data"],
        }
        for name, value in values.items()
    ]
    infer = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object", "properties": {"content_type": {"const": "pd"}}},
            "inputs": {
                "type": "array",
                "prefixItems": tensors,
                "minItems": len(tensors),
                "maxItems": len(tensors),
            },
            "outputs": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
        },
        "required": ["inputs"],
    }
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        _body(spec, path, {"application/json": infer})
    for operations in spec["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"] == "name":
                    param["schema"] = {"type": "string", "enum": [model["name"]]}
                elif param["in"] == "path" and param["name"] == "version":
                    param["schema"] = {"type": "string", "enum": [str(model["version"])]}
    return spec


def _only(key: str, value: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly the one property ``key``."""
    return {
        "type": "object",
        "properties": {key: value},
        "required": [key],
        "additionalProperties": False,
    }


def _body(spec: dict[str, Any], path: str, media: dict[str, Any]) -> None:
    content = {name: {"schema": schema} for name, schema in media.items()}
    spec["paths"][path]["post"]["requestBody"] = {"required": True, "content": content}


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> None:
    """Every error answer is docs/serving.md's JSON error object."""
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body") from None
    missing = ERROR_KEYS - set(body) if isinstance(body, dict) else ERROR_KEYS
    if missing:
        raise AssertionError(f"{response.status_code} error body lacks {sorted(missing)}")


def call_checked(case: Any, base_url: str, stats: Counter) -> None:
    """Send one generated request (while the budget lasts) and run the checks."""
    if time.monotonic() > _deadline[0]:
        stats["skipped (time budget)"] += 1
        return
    response = case.call(base_url=base_url, timeout=REQUEST_TIMEOUT)
    stats["requests"] += 1
    stats[f"{case.operation.method.upper()} {case.operation.path} {response.status_code}"] += 1
    if response.status_code >= 500:
        stats["5xx"] += 1
    case.validate_response(response, checks=[not_a_server_error, error_shape])


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_churn_project):
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("schemathesis"), 700, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    srv = Server(root, "recipes/churn.yaml", "deploy.serve.max_batch_rows=50")
    srv.wait_ready()
    _deadline[:] = [time.monotonic() + BUDGET_SECONDS]
    yield srv
    assert srv.stop() == 0, srv.output()


@pytest.fixture(scope="module")
def served_schema(server):
    return schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")


@pytest.fixture(scope="module")
def model_schema(server):
    spec = call(f"{server.url}/schema/openapi.json").json
    model = call(f"{server.url}/model").json
    return schemathesis.openapi.from_dict(with_model_inputs(spec, model))


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every route of the app, in OpenAPI's path syntax."""
    from mlctl.serve.app import route_table

    return sorted((method, path.replace(":str}", "}")) for method, path in route_table())


OPERATIONS = operations()


def fuzz(operation: Any, max_examples: int, send: Any) -> None:
    """``send(case)`` for generated cases: valid and invalid ones (when the operation
    has inputs to make invalid), at most ``max_examples`` in all."""
    from hypothesis import given
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    raw = operation.definition.raw
    strategy = operation.as_strategy(GenerationMode.POSITIVE)
    if raw.get("requestBody") or raw.get("parameters"):
        strategy = st.one_of(strategy, operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        send(case)

    run()


# ---------------------------------------------------------------------- tests
def test_the_schema_has_every_route(served_schema) -> None:
    published = {
        (method.upper(), path)
        for path, methods in served_schema.raw_schema["paths"].items()
        for method in methods
    }
    assert published == set(OPERATIONS)


@pytest.mark.parametrize("variant", ["served", "with model inputs"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(request, server, variant, method, path) -> None:
    schema = request.getfixturevalue("served_schema" if variant == "served" else "model_schema")
    stats = STATS[variant]
    fuzz(schema[path][method], MAX_EXAMPLES, lambda case: call_checked(case, server.url, stats))


def test_fuzzing_reached_the_model(server) -> None:
    """The typed run scored rows (valid requests got 200), so it tested more than the
    row checks; and nothing answered 5xx in either run."""
    typed = STATS["with model inputs"]
    if not typed["requests"]:
        pytest.skip("the fuzzing tests did not run in this session")
    print({name: dict(stats) for name, stats in STATS.items()})
    scored = sum(n for key, n in typed.items() if key.startswith("POST /predict 200"))
    assert scored > 0, dict(typed)
    assert STATS["served"]["5xx"] == 0 and typed["5xx"] == 0


# ------------------------------------------ bugs found by fuzzing (fixed)
# Lone UTF-16 surrogates ("\ud800") are valid JSON escapes but cannot be encoded as
# UTF-8: schemathesis never generates them (its strings are UTF-8), so they are tried
# here directly.
SURROGATE = "\ud800"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict", {"records": [{**ROW, "gender": SURROGATE}]}),
        ("/predict", {"records": [{**ROW, "customerID": SURROGATE}]}),
        ("/predict", {"records": [{**ROW, SURROGATE: 1}]}),
        ("/invocations", {"instances": [{**ROW, "Contract": SURROGATE}]}),
        ("/feedback", {"request_id": SURROGATE, "label": "Yes"}),
    ],
    ids=["model-column", "id-column", "unknown-key", "invocations", "feedback"],
)
def test_lone_surrogates_are_client_errors(server, path, body) -> None:
    res = server.post(path, json.dumps(body).encode())  # ensure_ascii: sent as \ud800
    assert res.status < 500, (res.status, res.body[:300])


# Finite values whose derived features overflow (charge_drift = MonthlyCharges -
# TotalCharges / (tenure + 1) becomes -inf): found by the nightly run's stateful phase.
OVERFLOW = {
    **ROW,
    "MonthlyCharges": -1.7976931348623155e308,
    "TotalCharges": 1.7976931348623155e308,
}


def test_derived_feature_overflow_is_a_client_error(server) -> None:
    res = server.post("/predict", {"records": [OVERFLOW]})
    assert res.status < 500, (res.status, res.body[:300])


@pytest.mark.parametrize(
    "bad_row", [{**ROW, "gender": SURROGATE}, OVERFLOW], ids=["surrogate", "overflow"]
)
def test_one_bad_request_does_not_fail_its_batch(server, bad_row) -> None:
    bad = json.dumps({"records": [bad_row]}).encode()
    good = {"records": [ROW] * 5}
    good_statuses: list[int] = []

    def send(body: Any, statuses: list[int]) -> None:
        statuses.append(server.post("/predict", body).status)

    for _ in range(3):  # bursts: the bad request lands in a batch with good ones
        threads = [threading.Thread(target=send, args=(good, good_statuses)) for _ in range(30)]
        threads.insert(15, threading.Thread(target=send, args=(bad, [])))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    failed = [s for s in good_statuses if s != 200]
    assert not failed, f"{len(failed)} of {len(good_statuses)} good requests failed: {failed[:5]}"


def test_oip_output_names_must_be_strings(server) -> None:
    inputs = [
        {"name": k, "shape": [1], "datatype": "BYTES", "data": [v]}
        for k, v in ROW.items()
        if k != "customerID"
    ]
    res = server.post("/v2/models/churn/infer", {"inputs": inputs, "outputs": [{"name": {}}]})
    assert res.status < 500, (res.status, res.body[:300])
