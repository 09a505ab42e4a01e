"""The lean scoring route (:mod:`mlctl.serve.fastpath`) answers exactly what the
Litestar controllers answer.

A real ``mlctl serve`` gets every request twice: as sent (the lean route takes the
plain scoring requests) and with an ``Origin`` header, which the lean route always
hands to Litestar (CORS is Litestar's). Status, headers and body must agree, request
ids and timestamps aside. An in-process app then shows which requests the lean route
answered itself, so that the comparison is not between Litestar and itself.
"""

from __future__ import annotations

import copy
import http.client
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import FAST, ROW, Reply, Server

pytestmark = pytest.mark.integration

ORIGIN = {"Origin": "http://example.com"}
ROW_NO_ID = {k: v for k, v in ROW.items() if k != "customerID"}


def _with(**changes: Any) -> dict[str, Any]:
    row = copy.deepcopy(ROW)
    for key, value in changes.items():
        if value is _DROP:
            row.pop(key)
        else:
            row[key] = value
    return row


_DROP = object()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    out.write(",".join(rows[0]) + "\n")
    for row in rows:
        out.write(",".join(str(v) for v in row.values()) + "\n")
    return out.getvalue().encode()


UNSCORABLE = {**ROW, "MonthlyCharges": -1.7976931348623155e308, "TotalCharges": 1.7e308}


def _j(value: Any) -> bytes:
    return json.dumps(value).encode()


JSON = "application/json"
# (path, body, content type, extra headers): scored, refused before scoring, odd.
CASES: list[tuple[str, bytes, str | None, dict[str, str]]] = [
    ("/predict", _j({"records": [ROW]}), JSON, {}),
    ("/predict", _j({"records": [ROW, _with(tenure=70, Contract="Two year")]}), JSON, {}),
    ("/predict", _j({"columns": {k: [v, v] for k, v in ROW.items()}}), JSON, {}),
    ("/predict", _j({"records": [ROW], "columns": None}), JSON, {}),
    ("/predict", _j({"records": [ROW]}), "application/json; charset=utf-8", {}),
    ("/predict", _j({"records": [ROW_NO_ID]}), JSON, {}),
    ("/predict", _j({"records": [_with(gender="Unknown-category")]}), JSON, {}),
    ("/predict", _j({"records": [_with(tenure="12")]}), JSON, {}),
    ("/predict", _j({"records": [_with(tenure=None)]}), JSON, {}),
    ("/predict", _j({"records": [_with(tenure=_DROP)]}), JSON, {}),
    ("/predict", _j({"records": [_with(tenure="many")]}), JSON, {}),
    ("/predict", _j({"records": [_with(tenure=True)]}), JSON, {}),
    ("/predict", _j({"records": [_with(tenure=1e309)]}), JSON, {}),
    ("/predict", _j({"records": [_with(extra=1)]}), JSON, {}),
    ("/predict", _j({"records": [ROW], "columns": {"tenure": [1]}}), JSON, {}),
    ("/predict", _j({"records": [ROW], "other": 1}), JSON, {}),
    ("/predict", _j({}), JSON, {}),
    ("/predict", _j({"records": []}), JSON, {}),
    ("/predict", _j({"records": "ROW"}), JSON, {}),
    ("/predict", _j({"records": [1, "a", None]}), JSON, {}),
    ("/predict", _j({"columns": [1]}), JSON, {}),
    ("/predict", _j({"columns": {"tenure": [1, 2], "gender": ["Male"]}}), JSON, {}),
    ("/predict", _j([ROW]), JSON, {}),
    ("/predict", b"null", JSON, {}),
    ("/predict", b"", JSON, {}),
    ("/predict", b'{"records": [', JSON, {}),
    ("/predict", b'{"records": [{"tenure": NaN}]}', JSON, {}),
    ("/predict", b'{"records": [], "records": [1]}', JSON, {}),
    ("/predict", b"\xff\xfe", JSON, {}),
    ("/predict", _j({"records": [ROW] * 1025}), JSON, {}),
    ("/predict", _j({"records": [ROW]}), "text/plain", {}),
    ("/predict", _j({"records": [ROW]}), "application/json; charset=latin-1", {}),
    ("/predict", _j({"records": [ROW]}), None, {}),
    ("/predict", _j({"records": [ROW]}), JSON, {"X-API-Key": "not-needed"}),
    ("/predict", _j({"records": [_with(gender="x" * 800_000)]}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [ROW]}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [ROW_NO_ID]}), JSON, {}),
    (
        "/invocations",
        _j({"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}}),
        JSON,
        {},
    ),
    ("/invocations", _j({"instances": [ROW]}), JSON, {}),
    ("/invocations", _j({"inputs": {k: [v] for k, v in ROW.items()}}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [ROW], "params": {"a": 1}}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [_with(extra=1)]}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [_with(tenure="many")]}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [_with(MonthlyCharges=_DROP)]}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [ROW], "instances": [ROW]}), JSON, {}),
    ("/invocations", _j({"records": [ROW]}), JSON, {}),
    ("/invocations", _j({"dataframe_records": []}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [ROW] * 1025}), JSON, {}),
    ("/invocations", b"[1, 2", JSON, {}),
    ("/invocations", _csv([ROW]), "text/csv", {}),
    ("/invocations", _csv([ROW])[:-12] + b"\n", "text/csv", {}),
    ("/invocations", _j({"dataframe_records": [ROW]}), "text/plain", {}),
    ("/invocations", _j({"dataframe_records": [ROW]}), "application/json; format=pandas", {}),
    ("/invocations", _j({"dataframe_records": [ROW]}), None, {}),
    # Rows that pass the checks but that the model cannot score: the error comes from
    # scoring, which the lean route answers itself.
    ("/predict", _j({"records": [UNSCORABLE]}), JSON, {}),
    ("/invocations", _j({"dataframe_records": [UNSCORABLE]}), JSON, {}),
]
IDS = [f"{i}-{path.strip('/')}" for i, (path, *_rest) in enumerate(CASES)]


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("fastpath"), 900, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def server(project):
    srv = Server(project, "recipes/churn.yaml", "deploy.serve.max_body_bytes=700000")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()


def _post(port: int, path: str, body: bytes, content_type: str | None, headers: dict[str, str]):
    """One POST as sent, through http.client (urllib adds a Content-Type of its own)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        sent = dict(headers)
        if content_type is not None:
            sent["Content-Type"] = content_type
        conn.request("POST", path, body=body, headers=sent)
        res = conn.getresponse()
        return Reply(res.status, {k.lower(): v for k, v in res.getheaders()}, res.read())
    finally:
        conn.close()


HEX32 = re.compile(r"[0-9a-f]{32}")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def _normal(reply) -> tuple[int, dict[str, str], str]:
    """What must agree: status, the headers mlctl sets, the body without ids and times."""
    kept = ("content-type", "x-model-name", "x-model-version", "retry-after", "www-authenticate")
    headers = {k: reply.headers[k] for k in kept if k in reply.headers}
    headers["x-request-id"] = "id" if "x-request-id" in reply.headers else "none"
    body = STAMP.sub("TIME", HEX32.sub("ID", reply.body.decode("utf-8", "replace")))
    return reply.status, headers, body


@pytest.mark.parametrize(("path", "body", "content_type", "headers"), CASES, ids=IDS)
def test_the_lean_route_answers_as_the_controller(server, path, body, content_type, headers):
    lean = _post(server.port, path, body, content_type, headers)
    full = _post(server.port, path, body, content_type, {**headers, **ORIGIN})
    assert _normal(lean) == _normal(full)
    assert lean.status < 500, lean.body


class _Counting:
    """The Litestar app, noting the path of every HTTP request that reaches it."""

    def __init__(self, app: Any) -> None:
        self.app, self.state, self.paths = app, app.state, []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # UNSCORABLE
def test_the_lean_route_answers_plain_scoring_requests_and_hands_over_the_rest(
    project, tmp_path, monkeypatch
) -> None:
    from litestar.testing import TestClient

    from mlctl.recipe.loader import load_recipe
    from mlctl.serve import prepare
    from mlctl.serve.app import create_app
    from mlctl.serve.fastpath import fast_scoring

    monkeypatch.chdir(project)
    monkeypatch.setenv("FASTPATH_TEST_KEY", "s3cret")
    log = f"sqlite:///{tmp_path / 'predictions.db'}"
    overrides = ["deploy.serve.api_key_env=FASTPATH_TEST_KEY", f"deploy.serve.log.url={log}"]
    config, _ = prepare(load_recipe("recipes/churn.yaml", overrides), port=0)
    litestar = _Counting(create_app(config))
    key = {"X-API-Key": "s3cret"}
    with TestClient(fast_scoring(litestar)) as client:
        for _ in range(300):
            if client.get("/ready").status_code == 200:
                break
            time.sleep(0.1)
        litestar.paths.clear()
        answered = [
            client.post("/predict", json={"records": [ROW]}, headers=key),
            client.post(
                "/predict", json={"columns": {k: [v] for k, v in ROW.items()}}, headers=key
            ),
            client.post("/invocations", json={"dataframe_records": [ROW]}, headers=key),
            client.post(
                "/invocations", content=_csv([ROW]), headers={**key, "Content-Type": "text/csv"}
            ),
            client.post("/predict", json={"records": [UNSCORABLE]}, headers=key),
        ]
        assert [r.status_code for r in answered] == [200, 200, 200, 200, 422]
        assert litestar.paths == []  # none reached Litestar
        handed = [
            client.post("/predict", json={"records": [ROW]}),  # no key
            client.post("/predict", json={"records": [ROW]}, headers={"X-API-Key": "wrong"}),
            client.post("/predict", json={"records": [ROW]}, headers={**key, **ORIGIN}),
            client.post(
                "/predict", json={"records": [ROW]}, headers={**key, "Idempotency-Key": "k1"}
            ),
            client.post("/predict", json={"records": [ROW], "x": 1}, headers=key),
            client.post("/predict", json={"records": [_with(tenure="many")]}, headers=key),
            client.post("/invocations", json={"nothing": [ROW]}, headers=key),
            client.post(
                "/invocations", content=b"{}", headers={**key, "Content-Type": "text/plain"}
            ),
        ]
        assert [r.status_code for r in handed] == [401, 401, 200, 200, 400, 422, 400, 415]
        assert len(litestar.paths) == len(handed)
        metrics = client.get("/metrics").text
    # The lean route's answers are counted as the middleware counts Litestar's: 2 + 2
    # answers of 200 on /predict, 1 + 1 of 422 (one not scorable, one not checked).
    assert 'mlctl_requests_total{code="200",route="/predict"} 4.0' in metrics
    assert 'mlctl_requests_total{code="200",route="/invocations"} 2.0' in metrics
    assert 'mlctl_requests_total{code="422",route="/predict"} 2.0' in metrics
    assert 'mlctl_errors_total{code="422",route="/predict"} 2.0' in metrics
