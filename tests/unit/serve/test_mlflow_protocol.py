"""MLflow's scoring protocol (mlctl.serve.mlflow_protocol), checked against MLflow's own
code where MLflow has it: which Content-Types its scoring server refuses, and the
error body ``MlflowException`` writes for a code."""

from __future__ import annotations

import io
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from mlflow.pyfunc import scoring_server

from mlctl.serve.inputs import BadRequest
from mlctl.serve.mlflow_protocol import (
    MLFLOW_CODES,
    TooManyRows,
    UnsupportedMediaType,
    error_body,
    json_records,
    media_type,
    mlflow_version,
    parquet_records,
)

pytestmark = pytest.mark.unit

NAMES = ["tenure", "Contract", "MonthlyCharges"]
ROWS = [
    {"tenure": 1, "Contract": "Month-to-month", "MonthlyCharges": 29.85},
    {"tenure": 60, "Contract": "Two year", "MonthlyCharges": None},
]

HEADERS = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "Application/JSON",
    "text/csv; Charset=utf-8",
    "text/csv",
    "text/csv; charset=utf-8",
    "application/vnd.apache.parquet",
    "application/json; charset=latin-1",
    "application/json; charset=utf8",
    "application/json; format=pandas-split",
    "text/csv; header=present",
    "application/json; charset=utf-8; q=1",
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/parquet",
    "",
]


def mlflow_refuses(header: str) -> bool:
    """Whether MLflow's own scoring code answers 415 for this Content-Type (it looks
    at the header before the body or the model, so neither is needed here)."""
    try:
        reply = scoring_server.invocations(b"", header, None, None)
    except Exception:
        return False  # it got past the Content-Type and failed on the (missing) body
    return reply.status == 415


# Where mlctl reads a header that MLflow refuses: type and parameter names are
# case-insensitive (RFC 9110, sections 8.3.1 and 5.6.6); MLflow compares them as sent.
CASE_INSENSITIVE = {"Application/JSON", "text/csv; Charset=utf-8"}


@pytest.mark.parametrize("header", HEADERS)
def test_content_types_are_refused_exactly_where_mlflow_refuses_them(header) -> None:
    try:
        media_type(header)
        refused = False
    except UnsupportedMediaType:
        refused = True
    if header in CASE_INSENSITIVE:
        assert (refused, mlflow_refuses(header)) == (False, True)
    else:
        assert refused == mlflow_refuses(header), header


def test_no_content_type_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="no Content-Type"):
        media_type(None)  # MLflow itself fails with a 500 (None.split)


@pytest.mark.parametrize(
    "doc",
    [
        {"dataframe_records": ROWS},
        {"dataframe_split": {"columns": NAMES, "data": [list(r.values()) for r in ROWS]}},
        {
            "dataframe_split": {
                "columns": NAMES,
                "data": [list(r.values()) for r in ROWS],
                "index": [7, 8],
            }
        },
        {"dataframe_split": {"data": [list(r.values()) for r in ROWS]}},  # signature order
        {"instances": ROWS},
        {"instances": {k: [r[k] for r in ROWS] for k in NAMES}},
        {"inputs": ROWS},
        {"inputs": {k: [r[k] for r in ROWS] for k in NAMES}},
        {"inputs": ROWS, "params": {"threshold": 0.3}, "other": 1},
    ],
    ids=[
        "records",
        "split",
        "split-index",
        "split-positional",
        "instances",
        "instances-columnar",
        "inputs-rows",
        "inputs-columnar",
        "params",
    ],
)
def test_every_json_layout_gives_the_same_rows(doc) -> None:
    assert json_records(doc, NAMES, 10) == ROWS


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ([ROWS[0]], "JSON object with one of"),
        ({"records": ROWS}, "found none"),
        ({"instances": ROWS, "inputs": ROWS}, "found instances, inputs"),
        ({"dataframe_records": {"tenure": [1]}}, "list of row objects"),
        ({"instances": 5}, "'instances' must be"),
        ({"dataframe_split": {"columns": NAMES, "data": [], "foo": 1}}, "'foo'"),
        ({"dataframe_split": {"columns": NAMES}}, "'columns' and 'data'"),
        ({"dataframe_split": {"columns": NAMES, "data": [[1]]}}, "row 0"),
        ({"dataframe_split": {"columns": NAMES, "data": [[1, "a", 2]], "index": [1, 2]}}, "index"),
        ({"dataframe_split": {"columns": ["a", "a"], "data": []}}, "'a' more than once"),
        ({"inputs": {"tenure": [1, 2], "Contract": ["a"]}}, "differ in length"),
        ({"inputs": {"tenure": 1}}, "column 'tenure' must be a list"),
    ],
)
def test_layout_errors_name_what_is_wrong(doc, needle) -> None:
    with pytest.raises(BadRequest, match=needle):
        json_records(doc, NAMES, 10)


@pytest.mark.parametrize(
    "doc",
    [
        {"dataframe_records": ROWS * 3},
        {"dataframe_split": {"columns": NAMES, "data": [[1, "a", 2]] * 6}},
        {"inputs": {"tenure": [1] * 6}},
    ],
)
def test_too_many_rows_are_counted_before_rows_are_built(doc) -> None:
    with pytest.raises(TooManyRows, match="6 rows in one request; at most 5"):
        json_records(doc, NAMES, 5)


def parquet(table: pa.Table, **kw) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def test_parquet_rows_hold_only_the_model_columns() -> None:
    table = pa.Table.from_pylist([{**r, "Churn": "No", "tags": [1, 2]} for r in ROWS])
    assert parquet_records(parquet(table), NAMES, 10) == ROWS


def test_parquet_without_a_model_column_gives_empty_rows() -> None:
    body = parquet(pa.table({"x": [1, 2, 3]}))
    assert parquet_records(body, NAMES, 10) == [{}, {}, {}]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "empty"),
        (b"PAR1 not parquet", "unreadable parquet"),
        (parquet(pa.Table.from_pylist(ROWS))[:-20], "unreadable parquet"),
        (b'{"dataframe_records": []}', "unreadable parquet"),
    ],
    ids=["empty", "garbage", "truncated", "json"],
)
def test_malformed_parquet_is_a_bad_request(body, needle) -> None:
    with pytest.raises(BadRequest, match=needle):
        parquet_records(body, NAMES, 10)


def test_parquet_row_count_is_read_from_the_footer() -> None:
    body = parquet(pa.table({"tenure": list(range(50))}))
    with pytest.raises(TooManyRows, match="50 rows in one request; at most 10"):
        parquet_records(body, NAMES, 10)


def test_parquet_columns_named_twice_or_holding_lists_are_refused() -> None:
    twice = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["tenure", "tenure"])
    with pytest.raises(BadRequest, match="'tenure' appears more than once"):
        parquet_records(parquet(twice), NAMES, 10)
    lists = pa.table({"Contract": [["a", "b"]]})
    with pytest.raises(BadRequest, match="'Contract' must hold one value per row"):
        parquet_records(parquet(lists), NAMES, 10)


def test_a_parquet_bomb_is_refused_before_it_is_decoded() -> None:
    """A few hundred bytes: one 1 MB text, compressed, used by 1000 rows through a
    dictionary — a gigabyte once each row holds its own value."""
    text = pa.DictionaryArray.from_arrays(pa.array([0] * 1000, pa.int32()), ["z" * 1_000_000])
    body = parquet(pa.table({"Contract": text}), compression="zstd")
    assert len(body) < 5000
    started = time.perf_counter()
    with pytest.raises(BadRequest, match="decodes to 1000004000 bytes"):
        parquet_records(body, NAMES, 1000)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "BAD_REQUEST"), (422, "INVALID_INPUT"), (409, "IDEMPOTENCY_CONFLICT"), (503, "TIMEOUT")],
)
def test_errors_have_the_body_mlflow_writes_plus_mlctl_detail(status, code) -> None:
    details = [{"row": 0, "column": "tenure", "message": "missing"}]
    sent, body = error_body(status, code, "the message", details)
    mlflow_code = MLFLOW_CODES[sent]
    reference = MlflowException("the message", error_code=getattr(databricks_pb2, mlflow_code))
    assert sent == reference.get_http_status_code()
    extra = {"error": "the message", "details": details, "mlctl_error_code": code}
    assert body == {**json.loads(reference.serialize_as_json()), **extra}


def test_statuses_mlflow_never_answers_keep_mlctl_codes() -> None:
    assert error_body(413, "TOO_MANY_ROWS", "m", [])[1]["error_code"] == "TOO_MANY_ROWS"
    assert error_body(415, "UNSUPPORTED_MEDIA_TYPE", "m", [])[1]["error_code"] == (
        "UNSUPPORTED_MEDIA_TYPE"
    )


def test_version_is_the_installed_mlflow() -> None:
    import mlflow

    assert mlflow_version() == mlflow.__version__


class Readiness:
    """What /ping reads of the server's state: ``ready()`` as ServeState answers it."""

    def __init__(self, ok: bool, **detail) -> None:
        self.ok = ok
        self.detail = {"draining": False, "log_writable": True, **detail}

    def ready(self):
        return self.ok, self.detail


def ping_reply(state: Readiness):
    """/ping and /version of the MLflow controller, with ``state`` as the served state."""
    from litestar import Litestar
    from litestar.di import Provide
    from litestar.testing import TestClient

    from mlctl.serve.controllers.mlflow_scoring import MlflowScoring

    app = Litestar(
        route_handlers=[MlflowScoring],
        dependencies={"serve": Provide(lambda: state, sync_to_thread=False)},
    )
    with TestClient(app) as client:
        return client.get("/ping"), client.get("/version")


def test_ping_and_version_answer_as_mlflow_once_ready() -> None:
    import mlflow

    pinged, versioned = ping_reply(Readiness(True))
    assert (pinged.status_code, pinged.content) == (200, b"\n")
    assert pinged.headers["content-type"] == "application/json"
    assert (versioned.status_code, versioned.text) == (200, mlflow.__version__)
    assert versioned.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("detail", "why"),
    [
        ({}, "loading the model"),
        ({"draining": True}, "draining"),
        ({"log_writable": False}, "the prediction log is not writable"),
    ],
)
def test_ping_is_503_until_the_model_is_loaded(detail, why) -> None:
    pinged, _ = ping_reply(Readiness(False, **detail))
    assert pinged.status_code == 503 and pinged.headers["retry-after"] == "2"
    body = pinged.json()
    assert body["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert body["message"] == f"not ready: {why}" and body["mlctl_error_code"] == "UNAVAILABLE"
