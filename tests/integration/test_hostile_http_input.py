"""Hostile request input against a real ``mlctl serve`` (docs/serving.md, "What bad
input gets").

One model is trained for the module and served on 127.0.0.1. Every case posts what a
careless or hostile client sends (huge numbers, NaN literals, duplicate keys, short CSV
rows, non-string OIP ids, unknown outputs, reused idempotency keys, unauthenticated
garbage) and asserts what the client must see: the documented 4xx, a message naming
the row / column / field / key, no 5xx, no traceback or Python repr in the body. The
idempotency cases also read the prediction log (SQLite and PostgreSQL, across a
restart): it must hold exactly what was acknowledged.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import FAST, PG_ADMIN, ROW, Reply, Server, pg_url, require

pytestmark = pytest.mark.integration

ROW_JSON = json.dumps(ROW)
BIG = "9" * 400  # an integer literal no float can hold
FORBIDDEN = ("Traceback", 'File "', "<class ", " object at 0x", "Error(", "{'")


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("hostile"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def server(project) -> Iterator[Server]:
    srv = Server(project, "recipes/churn.yaml")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0
    output = srv.output()
    assert "Traceback" not in output, output  # no request ended in an unhandled error


def refused(res: Reply, status: int, *needles: str) -> dict[str, Any]:
    """The reply is the documented refusal: status, our error shape, the needles named."""
    text = res.body.decode("utf-8", "replace")
    assert res.status < 500, text
    assert res.status == status, text
    for bad in FORBIDDEN:
        assert bad not in text, text
    doc = res.json
    assert doc["error"] == doc["message"] and doc["error_code"], text
    words = doc["message"] + json.dumps(doc["details"])
    for needle in needles:
        assert needle in words, text
    return doc


def record(**change: Any) -> str:
    """ROW as JSON text with raw JSON literals substituted (``tenure=BIG``)."""
    text = ROW_JSON
    for name, literal in change.items():
        old = f'"{name}": {json.dumps(ROW[name])}'
        assert old in text
        text = text.replace(old, f'"{name}": {literal}')
    return text


def predict_body(row: str) -> bytes:
    return ('{"records": [' + ROW_JSON + ", " + row + "]}").encode()


# ------------------------------------------------------------ numbers (issue 6)
NUMBERS = [
    ("tenure", BIG, "tenure"),
    ("tenure", "-" + BIG, "tenure"),
    ("tenure", "1e309", "tenure"),
    ("tenure", "-1e400", "tenure"),
    ("tenure", "9223372036854775808", "tenure"),  # int64 max + 1 in a long column
    ("tenure", "1e300", "tenure"),  # a float no long can hold
    ("tenure", "NaN", "tenure"),
    ("tenure", "-Infinity", "tenure"),
    ("tenure", "true", "tenure"),
    ("tenure", '"\\u0661\\u0662"', "tenure"),  # Arabic-Indic digits as text
    ("tenure", '"1_000"', "tenure"),
    ("tenure", '"1e999"', "tenure"),
    ("tenure", "[1]", "tenure"),
    ("MonthlyCharges", "1e309", "MonthlyCharges"),
    ("gender", BIG, "gender"),  # a huge integer in a text column
    ("gender", "NaN", "gender"),
]


@pytest.mark.parametrize(("column", "literal", "named"), NUMBERS)
def test_predict_refuses_numbers_it_cannot_hold(server, column, literal, named) -> None:
    res = server.post("/predict", predict_body(record(**{column: literal})))
    doc = refused(res, 422, named)
    assert doc["details"][0]["row"] == 1 and doc["details"][0]["column"] == named


def mlflow_body(form: str) -> bytes:
    """Two rows in one of MLflow's row forms; the second has a 400-digit tenure."""
    huge = record(tenure=BIG)
    if form == "dataframe_split":
        cells = [json.dumps(v) for v in ROW.values()]
        bad = [BIG if k == "tenure" else c for k, c in zip(ROW, cells, strict=True)]
        data = f"[[{', '.join(cells)}], [{', '.join(bad)}]]"
        return f'{{"dataframe_split": {{"columns": {json.dumps(list(ROW))}, "data": {data}}}}}'.encode()
    return f'{{"{form}": [{ROW_JSON}, {huge}]}}'.encode()


@pytest.mark.parametrize("form", ["dataframe_records", "instances", "dataframe_split"])
def test_invocations_refuses_a_huge_integer(server, form) -> None:
    body = mlflow_body(form)
    doc = refused(server.post("/invocations", body), 400, "tenure")  # MLflow's 400, not 422
    assert doc["details"][0]["row"] == 1
    assert (doc["error_code"], doc["mlctl_error_code"]) == ("BAD_REQUEST", "INVALID_INPUT")


def test_invocations_columnar_and_oip_refuse_huge_numbers(server) -> None:
    cols = ", ".join(
        f'"{k}": [{json.dumps(v)}, {BIG if k == "tenure" else json.dumps(v)}]'
        for k, v in ROW.items()
    )
    refused(
        server.post("/invocations", ("{" + '"inputs": {' + cols + "}}").encode()), 400, "tenure"
    )
    inputs = ", ".join(
        json.dumps(
            {"name": k, "shape": [2], "datatype": "BYTES" if isinstance(v, str) else "FP64"}
        )[:-1]
        + f', "data": [{json.dumps(v)}, {"1e400" if k == "MonthlyCharges" else json.dumps(v)}]}}'
        for k, v in ROW.items()
    )
    res = server.post("/v2/models/churn/infer", ('{"inputs": [' + inputs + "]}").encode())
    doc = refused(res, 422, "MonthlyCharges")
    assert doc["details"][0]["row"] == 1


# --------------------------------------------------------------- CSV (issue 11)
HEADER = ",".join(ROW)
LINE = ",".join(str(v) for v in ROW.values())


@pytest.mark.parametrize(
    ("body", "status", "needles"),
    [
        (f"{HEADER}\n{LINE}\n{LINE.rsplit(',', 3)[0]}\n", 400, ("line 3", "17", "20")),
        (f"{HEADER}\n{LINE},extra\n{LINE}\n", 400, ("line 2", "21", "20")),
        (f"{HEADER}\n{LINE}\nshort\n", 400, ("line 3",)),
        (f"{HEADER},tenure\n{LINE},5\n", 400, ("tenure", "twice")),
        # Rows that do not fit: MLflow's 400 on /invocations (422 on /predict).
        (f"{HEADER}\n{LINE.replace(',1,', f',{BIG},', 1)}\n", 400, ("tenure",)),
        (f"{HEADER}\n{LINE.replace(',1,', ',9223372036854775808,', 1)}\n", 400, ("tenure",)),
        (f"{HEADER}\n", 400, ("empty",)),
    ],
    ids=["short-row", "long-row", "one-cell", "duplicate-header", "huge", "int64", "no-rows"],
)
def test_csv_rows_must_fit_the_header(server, body, status, needles) -> None:
    res = server.post("/invocations", body.encode(), content_type="text/csv")
    refused(res, status, *needles)


def test_csv_that_is_not_utf8_is_refused(server) -> None:
    body = f"{HEADER}\n{LINE}\n".replace("Female", "F\xe9male").encode("latin-1")
    refused(server.post("/invocations", body, content_type="text/csv"), 400, "UTF-8")


# ------------------------------------------------------------ duplicate keys
@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/predict", predict_body(record(tenure='1, "tenure": 50')), "tenure"),
        ("/predict", b'{"records": [], "records": [%s]}' % ROW_JSON.encode(), "records"),
        (
            "/invocations",
            b'{"instances": [%s, %s]}'
            % (ROW_JSON.encode(), record(tenure='1, "tenure": 2').encode()),
            "tenure",
        ),
        ("/feedback", b'{"request_id": "a", "label": "No", "label": "Yes"}', "label"),
        ("/v2/models/churn/infer", b'{"id": "a", "id": "b", "inputs": []}', "id"),
        ("/predict", predict_body(record(Contract='"a:b", "Contract": "Two year"')), "Contract"),
    ],
    ids=["record", "top-level", "invocations", "feedback", "oip", "colon-in-text"],
)
def test_duplicate_json_keys_are_refused(server, path, body, key) -> None:
    refused(server.post(path, body), 400, f"'{key}'", "more than once")


# ------------------------------------------------------------------ feedback
def a_request_id(server: Server) -> str:
    res = server.post("/predict", {"records": [ROW]})
    assert res.status == 200, res.body
    return res.json["predictions"][0]["request_id"]


@pytest.mark.parametrize(
    ("label", "needle"),
    [
        (b"NaN", "finite"),
        (b"-Infinity", "finite"),
        (b'"Maybe"', "not a class"),
        (b"true", "not a class"),
        (b"1", "not a class"),
        (b'"No\\u0000"', "not a class"),
    ],
)
def test_feedback_labels_must_be_classes(server, project, label, needle) -> None:
    rid = a_request_id(server)
    single = b'{"request_id": "%s", "label": %s}' % (rid.encode(), label)
    refused(server.post("/feedback", single), 422, "label", needle)
    many = b'{"feedback": [{"request_id": "%s", "label": "No"}, {"request_id": "%s", "label": %s}]}'
    doc = refused(server.post("/feedback", many % (rid.encode(), rid.encode(), label)), 422)
    assert doc["details"][0]["item"] == 1 and doc["details"][0]["field"] == "label"
    with sqlite3.connect(project / ".mlctl" / "predictions.db") as con:
        stored = con.execute("select label from feedback where request_id = ?", (rid,)).fetchall()
    assert stored == []  # nothing of a refused request is written


@pytest.mark.parametrize(
    "request_id", ["", "a\u0000b", "x" * 300], ids=["empty", "nul", "too-long"]
)
def test_feedback_request_ids_are_checked(server, request_id) -> None:
    res = server.post("/feedback", {"request_id": request_id, "label": "No"})
    refused(res, 422, "request_id")


# ----------------------------------------------------------------------- OIP
def oip_inputs(rows: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "name": k,
            "shape": [rows],
            "datatype": "BYTES" if isinstance(v, str) else "FP64",
            "data": [v] * rows,
        }
        for k, v in ROW.items()
    ]


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"id": {"a": 1}}, ("'id'", "string", "object")),
        ({"id": [1, 2]}, ("'id'", "string", "list")),
        ({"id": 7}, ("'id'", "string")),
        ({"outputs": [{"name": "predict"}, {"name": "nope"}]}, ("'nope'", "predict_proba")),
        ({"inputs": oip_inputs() + oip_inputs()[:1]}, ("customerID", "more than once")),
        (
            {"inputs": [{**oip_inputs()[0], "shape": [3]}] + oip_inputs()[1:]},
            ("customerID", "shape"),
        ),
        (
            {"inputs": [{**oip_inputs()[0], "datatype": "NOPE"}] + oip_inputs()[1:]},
            ("customerID", "datatype"),
        ),
        ({"parameters": [1]}, ("'parameters'",)),
    ],
    ids=[
        "id-object",
        "id-list",
        "id-number",
        "unknown-output",
        "dup-input",
        "shape",
        "datatype",
        "parameters",
    ],
)
def test_oip_requests_are_checked(server, change, needles) -> None:
    body = {"inputs": oip_inputs(), **change}
    refused(server.post("/v2/models/churn/infer", body), 400, *needles)


def test_oip_id_is_echoed_as_sent(server) -> None:
    res = server.post("/v2/models/churn/infer", {"id": "req-\u00e9-1", "inputs": oip_inputs()})
    assert res.status == 200 and res.json["id"] == "req-\u00e9-1", res.body


# ------------------------------------------------------- other shapes, every route
@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/predict", b"[" * 5000 + b"]" * 5000, 400, "nested too deeply"),
        (
            "/invocations",
            b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            400,
            "nested too deeply",
        ),
        ("/invocations", b'{"instances": []}', 400, "empty"),  # MLflow's 400 (422 elsewhere)
        ("/invocations", b'{"dataframe_split": {"columns": [], "data": []}}', 400, "empty"),
        ("/invocations", b'"text"', 400, "dataframe_split"),
        ("/invocations", b'{"instances": 5}', 400, "instances"),
        ("/v2/models/churn/infer", b'{"inputs": []}', 422, "empty"),
        ("/v2/models/churn/infer", b"[]", 400, "inputs"),
        ("/feedback", b'{"feedback": []}', 422, "empty"),
        ("/feedback", b"[1]", 400, "object"),
        ("/predict", b'{"records": [{"tenure": "\\ud800"}]}', 400, "Unicode"),
        ("/predict", b'{"records": 5}', 400, "records"),
        ("/predict", b'{"columns": {"tenure": 5}}', 400, "tenure"),
        ("/feedback", b'{"request_id": "a", "label": [1]}', 400, "label"),
        ("/feedback", b'{"feedback": [{"request_id": 5, "label": "No"}]}', 400, "request_id"),
        (
            "/invocations",
            b'{"dataframe_split": {"columns": ["tenure", "tenure"], "data": [[1, 2]]}}',
            400,
            "'tenure' more than once",
        ),
    ],
)
def test_odd_shapes_get_4xx_on_every_route(server, path, body, status, needle) -> None:
    refused(server.post(path, body), status, needle)


@pytest.mark.parametrize("route", ["invocations-json", "invocations-csv", "oip", "feedback"])
def test_a_huge_batch_is_refused_on_every_route(server, route) -> None:
    n = 1001  # max_batch_rows is 1000
    if route == "invocations-json":
        res = server.post("/invocations", {"instances": [ROW] * n})
    elif route == "invocations-csv":
        res = server.post(
            "/invocations", (HEADER + f"\n{LINE}" * n).encode(), content_type="text/csv"
        )
    elif route == "oip":
        res = server.post("/v2/models/churn/infer", {"inputs": oip_inputs(n)})
    else:
        res = server.post("/feedback", {"feedback": [{"request_id": "a", "label": "No"}] * n})
    refused(res, 413, "1001")


def test_text_oddities_are_scored_and_logged_as_sent(server, project) -> None:
    odd = {**ROW, "customerID": "nul\u0000-\U0001f600-\u202e", "Contract": "x" * 100_000}
    res = server.post("/predict", {"records": [odd, {**ROW, "tenure": -0.0}]})
    assert res.status == 200, res.body
    rid = res.json["request_id"]
    with sqlite3.connect(project / ".mlctl" / "predictions.db") as con:
        logged = con.execute(
            "select inputs from predictions where batch_id = ? order by request_id", (rid,)
        ).fetchall()
    assert [json.loads(r[0])["customerID"] for r in logged] == [odd["customerID"], "7590-VHVEG"]


# ------------------------------------------------------------------------ auth
@pytest.fixture(scope="module")
def locked(project) -> Iterator[Server]:
    srv = Server(
        project,
        "recipes/churn.yaml",
        "deploy.serve.api_key_env=HOSTILE_KEY",
        env={"HOSTILE_KEY": "k3y"},
    )
    srv.wait_ready()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    "path", ["/predict", "/feedback", "/invocations", "/v2/models/churn/infer"]
)
@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[" * 5000, b'{"records": [{"a": 1, "a": 2}]}'],
    ids=["malformed", "nested", "duplicate"],
)
def test_unauthenticated_bodies_are_not_read(locked, path, body) -> None:
    res = locked.post(path, body)
    refused(res, 401, "API key")
    assert res.headers["www-authenticate"] == "Bearer"


# ---------------------------------------------------------- idempotency (issue 1)
def logged_sqlite(db: Path, batch_id: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(
            "select request_id, prediction, inputs from predictions where batch_id = ? "
            "order by request_id",
            (batch_id,),
        ).fetchall()


def check_log_matches(logged: list[tuple], answer: dict, rows: list[dict]) -> None:
    """The log holds exactly the acknowledged answer: its ids, predictions and inputs."""
    preds = answer["predictions"]
    assert [r[0] for r in logged] == [p["request_id"] for p in preds]
    assert [r[1] for r in logged] == [str(p["prediction"]) for p in preds]
    assert [json.loads(r[2]) for r in logged] == rows


def conflicting(srv: Server, key: str, first: dict, rows: list[dict]) -> None:
    """Other bodies under a used key: 409 naming it; the same body: the stored answer."""
    headers = {"Idempotency-Key": key}
    other = [{**rows[0], "tenure": 70, "Contract": "Two year"}]
    refused(srv.post("/predict", {"records": other}, headers=headers), 409, key)
    refused(srv.post("/predict", {"records": rows + rows}, headers=headers), 409, key)
    res = srv.post("/invocations", {"instances": other}, headers=headers)
    refused(res, 409, key)
    again = srv.post("/predict", {"records": rows}, headers=headers)
    assert again.status == 200, again.body
    assert again.json["request_id"] == first["request_id"]
    assert again.json["predictions"] == first["predictions"]
    assert again.json["timestamp"] == first["timestamp"]


def test_an_idempotency_key_reused_with_another_body_is_a_conflict(server, project) -> None:
    key = f"order-{uuid.uuid4()}"
    rows = [{**ROW, "tenure": 3}, {**ROW, "customerID": "idem-b", "tenure": 40}]
    first = server.post("/predict", {"records": rows}, headers={"Idempotency-Key": key})
    assert first.status == 200, first.body
    conflicting(server, key, first.json, rows)
    db = project / ".mlctl" / "predictions.db"
    check_log_matches(logged_sqlite(db, first.json["request_id"]), first.json, rows)


def test_racing_requests_under_one_key_get_one_answer(server, project) -> None:
    """Eight clients at once with one key: the same rows all get the one logged answer;
    different rows get one 200 and 409s, and the log holds only the 200's rows."""
    from concurrent.futures import ThreadPoolExecutor

    db = project / ".mlctl" / "predictions.db"
    rows = [{**ROW, "tenure": 21}]
    key = f"race-same-{uuid.uuid4()}"
    with ThreadPoolExecutor(8) as pool:
        same = list(
            pool.map(
                lambda _: server.post(
                    "/predict", {"records": rows}, headers={"Idempotency-Key": key}
                ),
                range(8),
            )
        )
    assert {r.status for r in same} == {200}, [r.body for r in same]
    assert len({json.dumps(r.json, sort_keys=True) for r in same}) == 1
    check_log_matches(logged_sqlite(db, same[0].json["request_id"]), same[0].json, rows)

    key = f"race-other-{uuid.uuid4()}"
    bodies = [[{**ROW, "tenure": 30 + i}] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        other = list(
            pool.map(
                lambda b: server.post("/predict", {"records": b}, headers={"Idempotency-Key": key}),
                bodies,
            )
        )
    won = [(r, b) for r, b in zip(other, bodies, strict=True) if r.status == 200]
    assert len(won) == 1, [r.body for r in other]
    for r in other:
        if r.status != 200:
            refused(r, 409, key)
    reply, body = won[0]
    check_log_matches(logged_sqlite(db, reply.json["request_id"]), reply.json, body)


def test_idempotency_holds_across_a_restart(project, tmp_path) -> None:
    db = tmp_path / "restart.db"
    setting = f"deploy.serve.log.url=sqlite:///{db}"
    key = f"restart-{uuid.uuid4()}"
    rows = [{**ROW, "tenure": 12}]
    srv = Server(project, "recipes/churn.yaml", setting)
    try:
        srv.wait_ready()
        first = srv.post("/predict", {"records": rows}, headers={"Idempotency-Key": key})
        assert first.status == 200, first.body
    finally:
        srv.stop()
    srv = Server(project, "recipes/churn.yaml", setting)
    try:
        srv.wait_ready()
        conflicting(srv, key, first.json, rows)
    finally:
        srv.stop()
    check_log_matches(logged_sqlite(db, first.json["request_id"]), first.json, rows)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    import psycopg

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_hostile_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_idempotency_on_postgresql_across_a_restart(project, pg_schema) -> None:
    import psycopg

    setting = f"deploy.serve.log.url='{pg_url(pg_schema)}'"
    key = f"pg-{uuid.uuid4()}"
    rows = [{**ROW, "tenure": 5}, {**ROW, "tenure": 50}]
    srv = Server(project, "recipes/churn.yaml", setting)
    try:
        srv.wait_ready()
        first = srv.post("/predict", {"records": rows}, headers={"Idempotency-Key": key})
        assert first.status == 200, first.body
        conflicting(srv, key, first.json, rows)
    finally:
        srv.stop()
    srv = Server(project, "recipes/churn.yaml", setting)
    try:
        srv.wait_ready()
        conflicting(srv, key, first.json, rows)
    finally:
        srv.stop()
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        logged = con.execute(
            f'select request_id, prediction, inputs from "{pg_schema}".predictions '
            "where batch_id = %s order by request_id",
            (first.json["request_id"],),
        ).fetchall()
    check_log_matches(logged, first.json, rows)


# ------------------------------------------------------------- unhandled errors
def test_an_unhandled_error_is_logged_by_the_server_not_sent(project, tmp_path) -> None:
    """A damaged log row (its probabilities are no longer JSON) makes the replay of an
    idempotent request fail in a way no route expects: the client gets a bare 500, the
    server's log gets the method, path and traceback."""
    db = tmp_path / "damaged.db"
    srv = Server(project, "recipes/churn.yaml", f"deploy.serve.log.url=sqlite:///{db}")
    headers = {"Idempotency-Key": "damaged-1"}
    try:
        srv.wait_ready()
        first = srv.post("/predict", {"records": [ROW]}, headers=headers)
        assert first.status == 200, first.body
        with sqlite3.connect(db) as con:
            con.execute("update predictions set probabilities = '{not json'")
        res = srv.post("/predict", {"records": [ROW]}, headers=headers)
        assert res.status == 500 and res.json["error_code"] == "INTERNAL", res.body
        for bad in FORBIDDEN:
            assert bad not in res.body.decode()
    finally:
        srv.stop()
    output = srv.output()
    assert "unhandled error answering POST /predict" in output, output
    assert "Traceback (most recent call last)" in output and "DecodeError" in output, output
