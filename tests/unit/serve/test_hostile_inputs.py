"""Request decoding and checks of the server against hostile input (pure logic and a
real SQLite log): duplicate JSON keys, CSV rows that do not fit the header, numbers
out of range, feedback labels, OIP fields, idempotency claims, unhandled errors."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from litestar import Request

from mlctl.predict.validate import InputColumn
from mlctl.predlog import PredictionLog, rows_for
from mlctl.serve import idempotency
from mlctl.serve.body import csv_records, decode_json
from mlctl.serve.checks import InvalidFeedback, feedback_items, oip_columns, oip_outputs
from mlctl.serve.inputs import BadRequest, InvalidInput, check_records
from mlctl.serve.responses import internal_error

pytestmark = pytest.mark.unit


# ---------------------------------------------------------------------- JSON
@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"a": 1, "a": 2}', "a"),
        (b'{"records": [{"x": 1, "y": 2, "x": 3}]}', "x"),
        (b'{"records": [{"t": "12:30", "t": "13:00"}]}', "t"),  # colons inside text
        (b'{"r": [{"x": NaN, "x": 1}]}', "x"),  # the lenient path checks too
        (b'[{"k": {"deep": 1, "deep": 2}}]', "deep"),
    ],
)
def test_a_repeated_key_is_refused_naming_it(body: bytes, key: str) -> None:
    with pytest.raises(BadRequest, match=f"key '{key}' appears more than once"):
        decode_json(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "x:y", "b": {"c": [1, {"d": "::"}]}}',
        b'[{"a": 1}, {"a": 1}]',  # the same key in two objects is fine
        b'{"a": "\\u003a"}',
        b"[]",
    ],
)
def test_distinct_keys_decode_as_json(body: bytes) -> None:
    assert decode_json(body) == json.loads(body)


def test_numbers_json_cannot_hold_become_floats_or_huge_ints() -> None:
    doc = decode_json(b'{"a": NaN, "b": 1e400, "c": -Infinity, "d": ' + b"9" * 5000 + b"}")
    assert doc["b"] == float("inf") and doc["c"] == float("-inf") and doc["a"] != doc["a"]
    assert doc["d"] == float("inf") or doc["d"] == int("9" * 5000)


# ----------------------------------------------------------------------- CSV
def test_csv_rows_must_have_one_cell_per_column() -> None:
    assert csv_records(b'\xef\xbb\xbfa,b\n1,"x\ny"\n\n3,\n') == [
        {"a": "1", "b": "x\ny"},
        {"a": "3", "b": ""},
    ]
    with pytest.raises(BadRequest, match="CSV line 4 has 1 cells; the header has 2"):
        csv_records(b'a,b\n1,"x\ny"\n3\n')
    with pytest.raises(BadRequest, match="CSV line 2 has 3 cells"):
        csv_records(b"a,b\n1,2,3\n")
    with pytest.raises(BadRequest, match="column 'a' appears twice"):
        csv_records(b"a,b,a\n1,2,3\n")
    with pytest.raises(BadRequest, match="not UTF-8"):
        csv_records(b"a\n\xff\n")


# ------------------------------------------------------------------- numbers
COLUMNS = [
    InputColumn("k", "long"),
    InputColumn("i", "integer"),
    InputColumn("f", "float"),
    InputColumn("d", "double"),
    InputColumn("t", "string"),
]
GOOD = {"k": 1, "i": 1, "f": 1.5, "d": 2.5, "t": "x"}


@pytest.mark.parametrize(
    ("column", "value", "needle"),
    [
        ("k", 2**63, "out of range"),
        ("k", -(2**63) - 1, "out of range"),
        ("k", 1e19, "out of range"),
        ("k", "9223372036854775808", "out of range"),
        ("i", 2**31, "out of range"),
        ("f", 1e39, "out of range"),
        ("d", 10**400, "out of range"),
        ("d", "1e400", "finite"),
        ("d", "\u0661", "expected a number"),
        ("d", "1_0", "expected a number"),
        ("t", 10**30, "out of range"),
    ],
)
def test_numbers_outside_the_column_type_are_refused(column, value, needle) -> None:
    with pytest.raises(InvalidInput) as err:
        check_records([GOOD, {**GOOD, column: value}], COLUMNS)
    first = err.value.errors[0]
    assert (first.row, first.column) == (1, column) and needle in first.message
    assert len(first.message) < 120  # a 400-digit number is not echoed whole


def test_numbers_inside_the_range_pass() -> None:
    row = {"k": 2**63 - 1, "i": -(2**31), "f": -3.4e38, "d": 1e308, "t": 2**62}
    batch = check_records([row], COLUMNS)
    assert batch.values["k"] == [float(2**63 - 1)] and batch.values["t"] == [2**62]


# ------------------------------------------------------------------ feedback
def test_feedback_labels_are_classes_stored_as_their_text() -> None:
    assert feedback_items([("r-0", 1.0), ("r-1", "0")], [0, 1], single=False) == [
        ("r-0", "1"),
        ("r-1", "0"),
    ]
    with pytest.raises(InvalidFeedback) as err:
        feedback_items([("r-0", "No"), ("", True), ("r-2", float("nan"))], ["No", "Yes"], False)
    got = [e.to_dict() for e in err.value.errors]
    assert [(e["item"], e["field"]) for e in got] == [(1, "request_id"), (1, "label"), (2, "label")]
    assert str(err.value).startswith("feedback[1].request_id: must not be empty")
    with pytest.raises(InvalidFeedback, match="expected a number"):
        feedback_items([("r-0", "high")], [], single=True)  # a regression model


# ----------------------------------------------------------------------- OIP
def test_oip_outputs_and_inputs_are_checked() -> None:
    assert oip_outputs({"outputs": []}, ["predict"]) is None
    with pytest.raises(BadRequest, match="unknown output 'x'.*predict, predict_proba"):
        oip_outputs({"outputs": [{"name": "x"}]}, ["predict", "predict_proba"])
    tensor = {"name": "a", "shape": [2, 1], "datatype": "FP64", "data": [[1], [2]]}
    assert oip_columns({"inputs": [tensor]}) == {"a": [1, 2]}
    with pytest.raises(BadRequest, match="shape \\[3\\] holds 3 values but 'data' has 2"):
        oip_columns({"inputs": [{**tensor, "shape": [3]}]})
    with pytest.raises(BadRequest, match="shape"):
        oip_columns({"inputs": [{**tensor, "shape": [True, 2]}]})


# --------------------------------------------------------------- idempotency
def old_log(path: Path) -> None:
    """A log file as servers before the claim table wrote it, with one logged request."""
    with sqlite3.connect(path) as con:
        con.executescript(
            "CREATE TABLE predictions (request_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL, "
            "ts REAL NOT NULL, model_name TEXT NOT NULL, model_version INTEGER NOT NULL, "
            "variant TEXT NOT NULL, inputs TEXT NOT NULL, prediction TEXT, score REAL, "
            "probabilities TEXT, latency_ms REAL);"
        )
        rows = rows_for(["b-0"], "b", 1.5, "m", 3, "champion", [{"x": 1}], [1], [0.9], None, 1.0)
        con.executemany(f"INSERT INTO predictions VALUES ({', '.join('?' * 11)})", rows)


def test_claims_and_replays_on_a_log_written_before_claims(tmp_path) -> None:
    path = tmp_path / "old.db"
    old_log(path)
    log = PredictionLog(f"sqlite:///{path}")
    log.open()
    try:
        assert log.claim("b", "d1") == "d1" and log.claim("b", "d2") == "d1"  # first wins
        stored = log.stored(idempotency.probe_ids("b", 1))
        assert idempotency.matches(stored, [{"x": 1}]) is True
        assert idempotency.matches(stored, [{"x": 2}]) is False  # other rows, no claim
        assert idempotency.matches(log.stored(idempotency.probe_ids("b", 0)), []) is False
        answer = idempotency.replay(stored, 1, [0, 1])
        assert (answer.predictions, answer.version, answer.ts, answer.ids) == ([1], 3, 1.5, ["b-0"])
        assert idempotency.matches(log.stored(idempotency.probe_ids("none", 2)), [{}, {}]) is None
    finally:
        log.close()
    from mlctl.monitor.log_source import LogSource  # the monitor still reads the file

    LogSource(f"sqlite:///{path}").check()
    with sqlite3.connect(path) as con:
        assert con.execute("select count(*) from predictions").fetchone() == (1,)


def test_the_digest_ignores_key_order_but_not_values() -> None:
    assert idempotency.digest([{"a": 1, "b": 2}]) == idempotency.digest([{"b": 2, "a": 1}])
    assert idempotency.digest([{"a": 1}]) != idempotency.digest([{"a": 1.0}])
    assert idempotency.digest([{"a": 1}]) != idempotency.digest([{"a": 1}, {"a": 1}])


# ------------------------------------------------------------ unhandled errors
def test_an_unhandled_error_is_logged_with_its_traceback_not_sent(caplog) -> None:
    request = Request({"type": "http", "method": "POST", "path": "/predict", "headers": []})
    try:
        int("x" * 5)
    except ValueError as exc:
        error = exc
    with caplog.at_level(logging.ERROR, logger="mlctl.serve"):
        response = internal_error(request, error)
    assert response.status_code == 500
    body = response.content.decode() if isinstance(response.content, bytes) else response.content
    assert "Traceback" not in body and "invalid literal" not in body
    (entry,) = [r for r in caplog.records if r.name == "mlctl.serve"]
    assert "POST /predict" in entry.getMessage() and entry.exc_info[1] is error
    assert "Traceback" in caplog.text and 'int("x" * 5)' in caplog.text
