"""MLflow's scoring protocol, as ``mlflow models serve`` speaks it (MLflow >= 2.0).

``POST /invocations`` reads what MLflow's scoring server reads
(``mlflow/pyfunc/scoring_server/__init__.py``):

- ``Content-Type`` ``application/json``, ``text/csv`` or
  ``application/vnd.apache.parquet``; the only parameter allowed is ``charset``, and it
  must be ``utf-8`` (any other type, charset or parameter: 415);
- JSON: an object with exactly one of ``dataframe_split``, ``dataframe_records``,
  ``instances`` or ``inputs`` (rows, or columns as ``{"col": [values]}``), other keys
  (``params`` among them) ignored;
- CSV with a header line; parquet, read with pyarrow from the body's bytes after its
  metadata was checked against the row and size limits.

The rows are then checked as every scoring route checks them
(:func:`mlctl.serve.inputs.check_records`, columns the model does not read ignored).

Errors are answered in MLflow's shape (``error_code``, ``message``, ``sqlstate``,
``error_class``, as ``MlflowException.serialize_as_json`` writes them) with MLflow's
status: a body or rows that do not fit is ``400 BAD_REQUEST``, where ``/predict`` says
422. mlctl's own detail rides along: ``error`` (the message again), ``details`` (row,
column and message per bad value) and ``mlctl_error_code`` (``INVALID_INPUT``, ...).
MLflow also sends a ``stack_trace`` when the model raised; mlctl never sends one.

``GET /ping`` and ``GET /version`` answer as MLflow's server does (a newline; the
MLflow version as plain text, both labelled ``application/json``), so MLflow's
``ScoringServerClient`` finds the server ready. docs/serving.md lists every
deliberate difference; tests/integration/test_mlflow_scoring_client.py checks them
against a real ``mlflow models serve``.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Response

from mlctl.predict.validate import InputColumn
from mlctl.serve.body import csv_records, decode_json
from mlctl.serve.inputs import BadRequest
from mlctl.text import first_line

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
SPLIT_KEYS = ("columns", "data", "index")
# A parquet body is small (max_body_bytes) but may decode to far more: its values are
# read only up to this many bytes (a JSON body of the same rows is about that size).
MAX_PARQUET_EXPANSION = 16  # decoded bytes per body byte
MIN_PARQUET_DECODED = 8 * 1024 * 1024  # whatever the body's size

# MLflow's error code for the statuses mlctl answers on /invocations; a status MLflow
# never answers there (401, 413, 415) keeps mlctl's own code.
MLFLOW_CODES = {
    400: "BAD_REQUEST",
    409: "RESOURCE_CONFLICT",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}
# (sqlstate, error_class) that MlflowException derives from these codes (MLflow 3).
MLFLOW_CLASSES = {
    "BAD_REQUEST": ("KAM00", "INVALID_PARAMETER_VALUE"),
    "INTERNAL_ERROR": ("XXM00", "CLIENT_INTERNAL_ERROR"),
    "TEMPORARILY_UNAVAILABLE": ("XXM00", "CLIENT_INTERNAL_ERROR"),
}


class UnsupportedMediaType(Exception):
    """A Content-Type MLflow's scoring server refuses (HTTP 415)."""


class TooManyRows(Exception):
    """More rows than ``max_batch_rows`` (HTTP 413)."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(f"{rows} rows in one request; at most {limit} (max_batch_rows)")


# ------------------------------------------------------------------- requests
def media_type(header: str | None) -> str:
    """The MIME type of a request's ``Content-Type``, read as MLflow reads it, except
    that the type and parameter names are case-insensitive (RFC 9110) where MLflow
    refuses ``Application/JSON`` or ``Charset=utf-8``.

    Raises:
        UnsupportedMediaType: no header, another type, a charset other than UTF-8, or
            a parameter other than ``charset``.
    """
    if not header:
        raise UnsupportedMediaType(f"no Content-Type; send one of {', '.join(CONTENT_TYPES)}")
    mime, *params = (part.strip() for part in header.split(";"))
    mime = mime.lower()
    pairs = {k.strip().lower(): v for k, _, v in (p.partition("=") for p in params)}
    shown = header.strip()[:100]
    if mime not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"unsupported media type '{shown}'; send one of {', '.join(CONTENT_TYPES)}"
        )
    charset = pairs.pop("charset", "utf-8").strip().strip('"').lower()
    if charset != "utf-8":
        raise UnsupportedMediaType(f"unsupported media type '{shown}': only UTF-8 is read")
    if pairs:
        names = ", ".join(sorted(k[:40] for k in pairs))
        raise UnsupportedMediaType(
            f"unsupported media type '{shown}': parameter {names} is not part of MLflow's "
            "scoring protocol (only charset is)"
        )
    return mime


def read_rows(
    body: bytes, mime: str, columns: Sequence[InputColumn], max_rows: int
) -> list[dict[str, Any]]:
    """The request's rows as row objects, not yet checked against the model.

    Raises:
        BadRequest: a body that is not what ``mime`` says, or not one of MLflow's layouts.
        TooManyRows: more than ``max_rows`` rows (before they are built).
    """
    if mime == CSV:
        records = csv_records(body)
    elif mime == PARQUET:
        records = parquet_records(body, [c.name for c in columns], max_rows)
    else:
        records = json_records(decode_json(body), [c.name for c in columns], max_rows)
    if len(records) > max_rows:
        raise TooManyRows(len(records), max_rows)
    return records


def json_records(doc: Any, names: list[str], max_rows: int) -> list[dict[str, Any]]:
    """One of MLflow's four JSON layouts → row objects.

    ``names``: the model's columns, in signature order (for a ``dataframe_split``
    without ``columns``)."""
    if not isinstance(doc, dict):
        raise BadRequest(f"expected a JSON object with one of {', '.join(FORMATS)}")
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        raise BadRequest(
            f"the body must hold exactly one of {', '.join(FORMATS)}; found "
            f"{', '.join(keys) if keys else 'none'}"
        )
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        return _split(value, names, max_rows)
    if isinstance(value, dict) and key in ("instances", "inputs"):
        return _columnar(value, key, max_rows)
    if isinstance(value, list):
        if len(value) > max_rows:
            raise TooManyRows(len(value), max_rows)
        return value
    if key == "dataframe_records":
        raise BadRequest("'dataframe_records' must be a list of row objects")
    raise BadRequest(f"'{key}' must be a list of row objects or an object of column lists")


def _split(value: Any, names: list[str], max_rows: int) -> list[dict[str, Any]]:
    """pandas ``orient="split"``: ``data`` and optionally ``columns`` and ``index``."""
    if not isinstance(value, dict) or "data" not in value:
        raise BadRequest("'dataframe_split' must be an object with 'columns' and 'data'")
    extra = [k for k in value if k not in SPLIT_KEYS]
    if extra:
        raise BadRequest(
            f"'dataframe_split' holds '{str(extra[0])[:60]}'; it takes only 'columns', "
            "'data' and 'index'"
        )
    rows = value["data"]
    if not isinstance(rows, list):
        raise BadRequest("'dataframe_split.data' must be a list of rows")
    if len(rows) > max_rows:
        raise TooManyRows(len(rows), max_rows)
    given = value.get("columns")
    if given is None:
        given = names  # positional: the signature's order
    if not isinstance(given, list) or not all(isinstance(n, str) for n in given):
        raise BadRequest("'dataframe_split.columns' must be a list of column names")
    if len(set(given)) != len(given):
        twice = next(n for i, n in enumerate(given) if n in given[:i])
        raise BadRequest(f"dataframe_split.columns names '{twice[:60]}' more than once")
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(rows)):
        raise BadRequest(
            f"'dataframe_split.index' must be a list of {len(rows)} labels, one per row"
        )
    records = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(given):
            raise BadRequest(f"dataframe_split.data row {i} must be a list of {len(given)} values")
        records.append(dict(zip(given, row, strict=True)))
    return records


def _columnar(value: dict[str, Any], key: str, max_rows: int) -> list[dict[str, Any]]:
    """``{"col": [v0, v1, ...], ...}`` → row objects; every list of one length."""
    bad = next((k for k, v in value.items() if not isinstance(v, list)), None)
    if bad is not None:
        raise BadRequest(f"'{key}' column '{str(bad)[:60]}' must be a list of values")
    lengths = sorted({len(v) for v in value.values()})
    if len(lengths) > 1:
        raise BadRequest(f"'{key}' column lists differ in length: {lengths[:5]}")
    n = lengths[0] if lengths else 0
    if n > max_rows:
        raise TooManyRows(n, max_rows)
    keys = list(value)
    return [{k: value[k][i] for k in keys} for i in range(n)]


def parquet_records(body: bytes, names: list[str], max_rows: int) -> list[dict[str, Any]]:
    """A parquet file → row objects of the columns the model reads (others are not
    decoded).

    A few hundred bytes of parquet can decode to gigabytes (one long text, compressed,
    repeated through a dictionary), so sizes are bounded before Python values are
    built: at most ``max_rows`` rows (from the footer), one value per row and column
    (no lists or structs), and :func:`_decoded_limit` bytes both as the footer declares
    the pages and as the text columns expand (read as dictionaries first).

    Raises:
        BadRequest: not a parquet file, a column named twice or holding lists, or too
            large once decoded.
        TooManyRows: more than ``max_rows`` rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not body:
        raise BadRequest("the parquet body is empty")
    limit = _decoded_limit(len(body))
    try:
        file = pq.ParquetFile(pa.BufferReader(body))
        meta, schema = file.metadata, file.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise BadRequest(f"unreadable parquet: {first_line(exc)[:200]}") from None
    if meta.num_rows > max_rows:
        raise TooManyRows(meta.num_rows, max_rows)
    if len(set(schema.names)) != len(schema.names):
        twice = next(n for i, n in enumerate(schema.names) if n in schema.names[:i])
        raise BadRequest(f"parquet: column '{twice[:60]}' appears more than once")
    model = set(names)
    wanted = [f.name for f in schema if f.name in model]
    nested = next((f.name for f in schema if f.name in model and pa.types.is_nested(f.type)), None)
    if nested is not None:
        raise BadRequest(f"parquet column '{nested[:60]}' must hold one value per row, not lists")
    declared = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
        if meta.row_group(g).column(c).path_in_schema in model
    )
    if declared > limit:
        raise _too_large(declared, limit)
    try:
        table = pq.ParquetFile(pa.BufferReader(body), read_dictionary=wanted).read(wanted)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise BadRequest(f"unreadable parquet: {first_line(exc)[:200]}") from None
    if table.num_rows != meta.num_rows:
        raise BadRequest("unreadable parquet: it holds another number of rows than it says")
    decoded = sum(_decoded_bytes(chunk) for col in table.columns for chunk in col.chunks)
    if decoded > limit:
        raise _too_large(decoded, limit)
    if not wanted:  # none of the model's columns: rows without them (reported missing)
        return [{} for _ in range(table.num_rows)]
    # Plain arrays, then one list per column: 15 times faster than a dictionary
    # table's to_pylist() (2 against 30 ms for 1000 rows of 20 columns).
    columns = [
        col.cast(col.type.value_type).to_pylist()
        if pa.types.is_dictionary(col.type)
        else col.to_pylist()
        for col in table.columns
    ]
    return [dict(zip(wanted, values, strict=True)) for values in zip(*columns, strict=True)]


def _decoded_limit(body_bytes: int) -> int:
    return max(MIN_PARQUET_DECODED, MAX_PARQUET_EXPANSION * body_bytes)


def _decoded_bytes(array: Any) -> int:
    """The bytes of a column once each value is its own: a dictionary's entries counted
    once per row that uses them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(array.type):
        return array.nbytes
    kind = array.type.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and not (
        pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    ):
        return array.indices.nbytes + len(array) * 16  # one fixed-width value per row
    if len(array) == 0:
        return 0
    lengths = pc.binary_length(array.dictionary)
    return int(pc.sum(pc.take(lengths, array.indices)).as_py() or 0) + array.indices.nbytes


def _too_large(size: int, limit: int) -> BadRequest:
    return BadRequest(
        f"the parquet body decodes to {size} bytes of values; at most {limit} are read"
    )


# ------------------------------------------------------------------- answers
def error_body(
    status: int, code: str, message: str, details: list[dict[str, Any]]
) -> tuple[int, dict[str, Any]]:
    """An mlctl error as MLflow's scoring server answers it: (status, body).

    422 (rows that do not fit) becomes MLflow's 400 ``BAD_REQUEST``; mlctl's code is
    kept in ``mlctl_error_code``, its per-value ``details`` and ``error`` beside."""
    status = 400 if status == 422 else status
    mlflow_code = MLFLOW_CODES.get(status, code)
    body: dict[str, Any] = {"error_code": mlflow_code, "message": message}
    if mlflow_code in MLFLOW_CLASSES:
        body["sqlstate"], body["error_class"] = MLFLOW_CLASSES[mlflow_code]
    body.update(error=message, details=details, mlctl_error_code=code)
    return status, body


@functools.cache
def mlflow_version() -> str:
    """The installed MLflow's version (what ``mlflow models serve`` answers on
    ``/version``), read from the package metadata without importing MLflow."""
    try:
        return importlib.metadata.version("mlflow")
    except importlib.metadata.PackageNotFoundError:
        return importlib.metadata.version("mlflow-skinny")


def ping(state: Any) -> Response:
    """``/ping``: 200 and a newline once the model is loaded (as ``mlflow models
    serve``); 503 while loading or draining."""
    ok, detail = state.ready()
    if ok:
        return Response(b"\n", status_code=200, media_type=JSON)
    why = (
        "draining"
        if detail["draining"]
        else "the prediction log is not writable"
        if not detail["log_writable"]
        else "loading the model"
    )
    status, body = error_body(503, "UNAVAILABLE", f"not ready: {why}", [])
    return Response(
        msgspec.json.encode(body), status_code=status, media_type=JSON, headers={"Retry-After": "2"}
    )


def version() -> Response:
    """``/version``: the MLflow version as plain text labelled ``application/json``, as
    MLflow's scoring server answers it."""
    return Response(mlflow_version().encode(), status_code=200, media_type=JSON)
