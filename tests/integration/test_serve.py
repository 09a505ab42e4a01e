"""``mlctl serve`` for real: a model trained and registered by ``mlctl run``, a server
process on a free port on 127.0.0.1, HTTP requests, and the SQLite prediction log."""

from __future__ import annotations

import json
import math
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
from serve_helpers import FAST, ROW, Server, mlctl, move_champion

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("serve"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def server(project):
    srv = Server(project, "recipes/churn.yaml")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()


def log_rows(project: Path, where: str = "1=1", *params) -> list[tuple]:
    with sqlite3.connect(project / ".mlctl" / "predictions.db") as con:
        return con.execute(f"select * from predictions where {where}", params).fetchall()


def test_a_retry_with_the_same_idempotency_key_is_logged_once(server, project) -> None:
    rows = [ROW, {**ROW, "customerID": "idem-2", "tenure": 7}]
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = server.post("/predict", {"records": rows}, headers=key)
    again = server.post("/predict", {"records": rows}, headers=key)  # the answer was "lost"
    assert first.status == again.status == 200, again.body
    assert first.json["request_id"] == again.json["request_id"]
    assert first.json["predictions"] == again.json["predictions"]
    logged = log_rows(project, "batch_id = ?", first.json["request_id"])
    assert len(logged) == 2
    mlflow_style = server.post("/invocations", {"dataframe_records": rows}, headers=key)
    assert mlflow_style.headers["x-request-id"] == first.json["request_id"]
    other = server.post("/predict", {"records": rows}, headers={"Idempotency-Key": "other"})
    assert other.json["request_id"] != first.json["request_id"]
    for bad in ("", "x" * 201, "caf\u00e9"):
        res = server.post("/predict", {"records": rows}, headers={"Idempotency-Key": bad})
        assert res.status == 400 and "Idempotency-Key" in res.json["message"], res.body


def test_monitoring_shows_the_latest_monitor_result_of_the_served_model(server, project) -> None:
    from mlctl.paths import latest_path

    path = latest_path(project / ".mlctl", "churn")
    path.unlink(missing_ok=True)
    missing = server.get("/monitoring")
    assert missing.status == 404 and "mlctl monitor" in missing.json["message"], missing.body
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "schema_version": 1,
            "status": "attention",
            "model": {"name": "churn", "version": 1},
        }
        path.write_text(json.dumps(document))
        res = server.get("/monitoring")
        assert res.status == 200, res.body
        assert res.json["result"] == document and res.json["about_served_version"] is True
        assert res.json["served"] == {"name": "churn", "version": 1}
        assert 0 <= res.json["age_seconds"] < 60
        path.write_text(json.dumps({**document, "model": {"name": "churn", "version": 99}}))
        assert server.get("/monitoring").json["about_served_version"] is False
        path.write_text("{not json")
        damaged = server.get("/monitoring")
        assert damaged.status == 503 and damaged.json["error_code"] == "UNAVAILABLE"
    finally:
        path.unlink(missing_ok=True)


def test_health_ready_and_model(server) -> None:
    assert server.get("/health").json == {"status": "ok"}
    ready = server.get("/ready").json
    assert ready["ready"] is True and ready["model"] == {"name": "churn", "version": 1}
    model = server.get("/model").json
    assert (model["name"], model["version"], model["task"]) == ("churn", 1, "classification")
    assert model["classes"] == ["No", "Yes"] and "champion" in model["aliases"]
    types = {f["name"]: f["type"] for f in model["features"]}
    assert types["tenure"] == "long" and types["Contract"] == "string"
    assert "roc_auc" in model["metrics"] and model["gate"] == "passed"
    assert len(model["sha256"]) == 64


def test_predict_records_is_logged_before_the_answer(server, project) -> None:
    rows = [ROW, {**ROW, "customerID": "x-2", "tenure": 60, "Contract": "Two year"}]
    res = server.post("/predict", {"records": rows})
    assert res.status == 200, res.body
    body = res.json
    assert body["model"] == {"name": "churn", "version": 1, "variant": "champion"}
    assert res.headers["x-model-version"] == "1"
    assert res.headers["x-request-id"] == body["request_id"]
    preds = body["predictions"]
    assert [p["customerID"] for p in preds] == ["7590-VHVEG", "x-2"]
    for p in preds:
        assert p["prediction"] in ("Yes", "No")
        assert math.isclose(sum(p["probabilities"].values()), 1.0)
        assert p["request_id"].startswith(body["request_id"])
    # 200 means committed: the rows are in the log already.
    logged = log_rows(server_project(project), "batch_id = ?", body["request_id"])
    assert sorted(r[0] for r in logged) == sorted(p["request_id"] for p in preds)


def server_project(project: Path) -> Path:
    return project


def test_predict_columns_form(server) -> None:
    columns = {k: [v, v] for k, v in ROW.items()}
    res = server.post("/predict", {"columns": columns})
    assert res.status == 200, res.body
    assert len(res.json["predictions"]) == 2


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needle"),
    [
        (b'{"records": [', "application/json", 400, "malformed JSON"),
        (b"", "application/json", 400, "empty"),
        (b"[1, 2]", "application/json", 400, "object"),
        (b'{"records": [], "columns": {}}', "application/json", 400, "exactly one"),
        (b"{}", "text/plain", 415, "unsupported media type"),
        (b'{"records": []}', "application/json", 422, "empty"),
        (b'{"records": [{"tenure": 1}]}', "application/json", 422, "missing"),
        (b'{"records": [[1, 2]]}', "application/json", 422, "expected an object"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested too deeply"),
    ],
)
def test_bad_requests_get_4xx(server, body, content_type, status, needle) -> None:
    res = server.post("/predict", body, content_type=content_type)
    assert res.status == status, res.body
    doc = res.json
    assert needle in doc["error"] and doc["message"] == doc["error"] and doc["error_code"]


@pytest.mark.parametrize(
    ("change", "column", "needle"),
    [
        ({"tenure": "abc"}, "tenure", "expected a number, got 'abc'"),
        ({"tenure": True}, "tenure", "boolean"),
        ({"MonthlyCharges": float("nan")}, "MonthlyCharges", "finite"),
        ({"MonthlyCharges": float("inf")}, "MonthlyCharges", "finite"),
        ({"Contract": {"a": 1}}, "Contract", "single value"),
        ({"Contrat": "Two year"}, "Contrat", "did you mean 'Contract'"),
    ],
)
def test_bad_values_name_row_and_column(server, change, column, needle) -> None:
    import json

    good = dict(ROW)
    bad = {**ROW, **change}
    body = json.dumps({"records": [good, bad]}).encode()  # NaN / Infinity as Python writes them
    res = server.post("/predict", body)
    assert res.status == 422, res.body
    details = res.json["details"]
    assert {"row": 1, "column": column} == {k: details[0][k] for k in ("row", "column")}
    assert needle in details[0]["message"]
    assert "TotalCharges" not in res.json["error"] or column == "TotalCharges"  # no schema dump


def test_unknown_categories_are_fine(server) -> None:
    res = server.post("/predict", {"records": [{**ROW, "Contract": "Ten year"}]})
    assert res.status == 200, res.body


def test_too_many_rows_and_too_large_bodies(server) -> None:
    res = server.post("/predict", {"records": [ROW] * 1001})
    assert res.status == 413 and "max_batch_rows" in res.json["error"]
    # A body over max_body_bytes is refused from its Content-Length, before it is read:
    # the client has sent only its first kilobyte when the 413 arrives.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000000\r\n\r\n" + b"a" * 1000
        )
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head


@pytest.mark.parametrize(
    "body",
    [
        {"dataframe_records": [ROW]},
        {"instances": [ROW]},
        {"inputs": {k: [v] for k, v in ROW.items()}},
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
    ],
)
def test_invocations_speaks_mlflow(server, body) -> None:
    res = server.post("/invocations", body)
    assert res.status == 200, res.body
    assert res.json["predictions"] in (["Yes"], ["No"])


def test_invocations_csv_and_errors(server) -> None:
    header = ",".join(ROW)
    line = ",".join(str(v) for v in ROW.values())
    res = server.post(
        "/invocations", f"{header}\n{line}\n{line}\n".encode(), content_type="text/csv"
    )
    assert res.status == 200, res.body
    assert len(res.json["predictions"]) == 2
    res = server.post("/invocations", {"dataframe_records": [ROW], "instances": [ROW]})
    assert res.status == 400 and "exactly one of dataframe_split" in res.json["message"]
    assert res.json["error_code"] == "BAD_REQUEST"
    res = server.post("/invocations", b"a,b", content_type="application/xml")
    assert res.status == 415


def test_open_inference_protocol(server) -> None:
    assert server.get("/v2").json["name"] == "mlctl"
    assert server.get("/v2/health/live").json == {"live": True}
    assert server.get("/v2/health/ready").json == {"ready": True}
    meta = server.get("/v2/models/churn").json
    assert meta["name"] == "churn" and meta["versions"] == ["1"]
    assert {"name": "tenure", "datatype": "INT64", "shape": [-1]} in meta["inputs"]
    assert server.get("/v2/models/churn/ready").json == {"name": "churn", "ready": True}
    assert server.get("/v2/models/nope").status == 404
    inputs = [
        {
            "name": k,
            "shape": [2],
            "datatype": "BYTES" if isinstance(v, str) else "FP64",
            "data": [v, v],
        }
        for k, v in ROW.items()
        if k != "customerID"
    ]
    req = {
        "id": "abc",
        "parameters": {"content_type": "pd"},
        "inputs": inputs,
        "outputs": [{"name": "predict", "parameters": {"binary_data": False}}],
    }
    res = server.post("/v2/models/churn/infer", req)
    assert res.status == 200, res.body
    doc = res.json
    assert doc["id"] == "abc" and doc["model_name"] == "churn" and doc["model_version"] == "1"
    assert [o["name"] for o in doc["outputs"]] == ["predict"]
    assert doc["outputs"][0]["shape"] == [2] and len(doc["outputs"][0]["data"]) == 2
    del req["outputs"]
    outputs = server.post("/v2/models/churn/infer", req).json["outputs"]
    proba = next(o for o in outputs if o["name"] == "predict_proba")
    assert proba["shape"] == [2, 2] and len(proba["data"]) == 4
    bad = server.post("/v2/models/churn/infer", {"inputs": [{"name": "tenure"}]})
    assert bad.status == 400 and isinstance(bad.json["error"], str)


def test_feedback_joins_by_request_id_and_keeps_unknown_ids(server, project) -> None:
    pred = server.post("/predict", {"records": [ROW, ROW]}).json["predictions"]
    ids = [p["request_id"] for p in pred]
    one = server.post("/feedback", {"request_id": ids[0], "label": "Yes"})
    assert one.status == 200 and one.json == {"accepted": 1, "unknown": []}
    batch = server.post(
        "/feedback",
        {
            "feedback": [
                {"request_id": ids[1], "label": "No"},
                {"request_id": "nope", "label": "No"},
            ]
        },
    )
    assert batch.json == {"accepted": 1, "unknown": ["nope"]}
    again = server.post("/feedback", {"request_id": ids[0], "label": "Yes"})  # idempotent
    assert again.json == {"accepted": 1, "unknown": []}
    with sqlite3.connect(project / ".mlctl" / "predictions.db") as con:
        labels = dict(con.execute("select request_id, label from feedback").fetchall())
        orphans = con.execute("select request_id, seen from feedback_orphans").fetchall()
    assert labels[ids[0]] == "Yes" and labels[ids[1]] == "No"
    assert ("nope", 1) in orphans
    assert server.post("/feedback", {"label": "x"}).status == 400


def test_metrics_in_prometheus_format(server) -> None:
    server.post("/predict", {"records": [ROW]})
    server.post("/predict", {"records": []})
    res = server.get("/metrics")
    assert res.status == 200 and res.headers["content-type"].startswith("text/plain")
    text = res.body.decode()
    assert 'mlctl_requests_total{code="200",route="/predict"}' in text
    assert 'mlctl_requests_total{code="422",route="/predict"}' in text
    assert 'mlctl_model_info{alias="champion",name="churn",role="champion",version="1"} 1.0' in text
    assert "mlctl_request_seconds_bucket" in text and "mlctl_prediction_score_bucket" in text
    assert "mlctl_predictions_total" in text and "mlctl_log_queue_depth" in text


def test_openapi_schema_and_docs(server) -> None:
    schema = server.get("/schema/openapi.json").json
    assert "/predict" in schema["paths"] and "/v2/models/{name}/infer" in schema["paths"]
    assert server.get("/schema/swagger").status == 200


def test_admin_routes_are_off_by_default(server) -> None:
    assert server.post("/admin/reload", {}).status == 404


def test_api_key(project) -> None:
    srv = Server(
        project,
        "recipes/churn.yaml",
        "deploy.serve.api_key_env=CHURN_KEY",
        env={"CHURN_KEY": "s3cret"},
    )
    try:
        srv.wait_ready()
        assert srv.post("/predict", {"records": [ROW]}).status == 401
        wrong = srv.post("/predict", {"records": [ROW]}, headers={"X-API-Key": "nope"})
        assert wrong.status == 401 and wrong.headers["www-authenticate"] == "Bearer"
        ok = srv.post("/predict", {"records": [ROW]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status == 200
        assert srv.get("/health").status == 200  # probes stay open
    finally:
        srv.stop()
    res = mlctl(project, "serve", "recipes/churn.yaml", "deploy.serve.api_key_env=NOT_SET_X")
    assert res.returncode == 2 and "NOT_SET_X" in res.stderr


def test_unknown_model_reference_fails_fast(project) -> None:
    res = mlctl(project, "serve", "--model", "churn@nope", timeout=60)
    assert res.returncode == 4
    assert "versions: 1" in res.stderr and "champion" in res.stderr


def test_an_override_without_a_recipe_is_a_usage_error(project) -> None:
    for args in (
        ["deploy.serve.port=9001"],
        ["--model", "churn@champion", "deploy.serve.port=9001"],
    ):
        res = mlctl(project, "serve", *args, timeout=60)
        assert res.returncode == 2, res.stderr
        assert "overrides need a RECIPE first: mlctl serve RECIPE deploy.serve.port=9001" in (
            " ".join(res.stderr.split())
        )


def test_hot_swap_under_load_and_a_tampered_version_is_refused(tmp_path, churn_project) -> None:
    root = churn_project(tmp_path, 700)
    assert (
        mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "--yes", "-q").returncode == 0
    )
    srv = Server(root, "recipes/churn.yaml", "deploy.serve.poll_seconds=0.3")
    srv.wait_ready()
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def client() -> None:
        # Paced (~100 requests/s each): requests are in flight throughout the swap, and
        # the training beside them is not starved of CPU.
        while not stop.wait(0.01):
            res = srv.post("/predict", {"records": [ROW]})
            version = res.json["model"]["version"] if res.status == 200 else -1
            seen.append((res.status, version))

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        res = mlctl(
            root, "run", "recipes/churn.yaml", *FAST, "split.seed=7", "--promote", "--yes", "-q"
        )
        assert res.returncode == 0, res.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and srv.get("/model").json["version"] != 2:
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert seen and all(status == 200 for status, _ in seen)
    versions = [v for _, v in seen]
    assert set(versions) == {1, 2}
    # Version 3 is registered, then its stored model file is damaged before promotion.
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "split.seed=8", "-q")
    assert res.returncode == 0, res.stderr
    for path in (root / ".mlctl" / "artifacts").rglob("model.skops"):
        newest = max(
            (root / ".mlctl" / "artifacts").rglob("model.skops"), key=lambda p: p.stat().st_mtime
        )
        if path == newest:
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
    # mlctl models promote refuses it (exit 8); another MLflow client may not.
    move_champion(root, 3)
    deadline = time.monotonic() + 30
    detail = {}
    while time.monotonic() < deadline:
        detail = srv.get("/ready").json
        if "last_load_error" in detail:
            break
        time.sleep(0.2)
    try:
        assert "SHA-256" in detail.get("last_load_error", ""), detail
        assert detail["ready"] is True and detail["model"]["version"] == 2  # old keeps serving
        assert srv.post("/predict", {"records": [ROW]}).json["model"]["version"] == 2
        metrics = srv.get("/metrics").body.decode()
        assert 'mlctl_model_load_failures_total{role="champion"} 1.0' in metrics
    finally:
        assert srv.stop() == 0


def test_challenger_split_is_sticky_and_shadow_logs_both(tmp_path, churn_project) -> None:
    root = churn_project(tmp_path, 700)
    assert (
        mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "--yes", "-q").returncode == 0
    )
    # A second version, registered as challenger (no --promote).
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "split.seed=5", "-q")
    assert res.returncode == 0, res.stderr
    split = Server(
        root,
        "recipes/churn.yaml",
        "deploy.serve.traffic.challenger_percent=50",
        "deploy.serve.traffic.sticky_key=customerID",
    )
    try:
        split.wait_ready()
        assert split.get("/model").json["challenger"] == {"version": 2}
        answers: dict[str, set[int]] = {}
        for i in range(40):
            for _ in range(2):  # the same caller twice
                body = {"records": [{**ROW, "customerID": f"c-{i}"}]}
                version = split.post("/predict", body).json["model"]["version"]
                answers.setdefault(f"c-{i}", set()).add(version)
        assert all(len(v) == 1 for v in answers.values())  # sticky by customerID
        both = {v for vs in answers.values() for v in vs}
        assert both == {1, 2}  # 40 callers at 50 %: both versions answer
    finally:
        assert split.stop() == 0
    shadow = Server(root, "recipes/churn.yaml", "deploy.serve.traffic.shadow=true")
    try:
        shadow.wait_ready()
        body = shadow.post("/predict", {"records": [ROW]}).json
        assert body["model"]["version"] == 1 and body["model"]["variant"] == "champion"
        deadline = time.monotonic() + 10
        rows: list[tuple] = []
        while time.monotonic() < deadline and len(rows) < 2:
            rows = log_rows(root, "batch_id = ?", body["request_id"])
            time.sleep(0.1)
    finally:
        assert shadow.stop() == 0
    variants = sorted((r[5], r[4]) for r in rows)  # (variant, model_version)
    assert variants == [("champion", 1), ("shadow", 2)]
