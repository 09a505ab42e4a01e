"""The access log of a real ``mlctl serve``: one console line per request (request id,
method, path, status, milliseconds, and the version and variant of a scored request),
at the level ``deploy.serve.access_log`` or ``--access-log`` names; never a secret (API
key, Authorization header, query string, body); no duplicate line from uvicorn; and a
console that nobody reads never stalls the server."""

from __future__ import annotations

import re
import urllib.request

import pytest
from serve_helpers import FAST, ROW, Server, call

pytestmark = pytest.mark.integration

KEY = "sekrit-key-4711"
SECRET_ROW = {**ROW, "customerID": "BODY-SECRET-0042"}
LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>INFO|DEBUG) mlctl\.serve\.access: "
    r"(?P<rid>\S+) (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+\.\d) ms"
    r"(?: version=(?P<version>\d+) variant=(?P<variant>\w+))?$"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project):
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("access"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


def access_lines(output: str) -> list[re.Match]:
    lines = [line for line in output.splitlines() if "mlctl.serve.access" in line]
    matched = [LINE.match(line) for line in lines]
    assert all(matched), [line for line, m in zip(lines, matched, strict=True) if not m]
    return matched  # type: ignore[return-value]


def test_one_line_per_request_without_secrets(project) -> None:
    srv = Server(
        project,
        "recipes/churn.yaml",
        "deploy.serve.api_key_env=ACCESS_TEST_KEY",
        env={"ACCESS_TEST_KEY": KEY},
    )
    try:
        srv.wait_ready()
        bearer = {"authorization": f"Bearer {KEY}"}
        ok = srv.post("/predict?token=QUERY-SECRET", {"records": [SECRET_ROW]}, headers=bearer)
        assert ok.status == 200
        rid = ok.headers["x-request-id"]
        body = {"dataframe_records": [SECRET_ROW]}
        assert srv.post("/invocations", body, headers={"x-api-key": KEY}).status == 200
        assert srv.post("/predict", {"records": [SECRET_ROW]}).status == 401  # no key
        assert srv.post("/predict", b"x", content_type="text/plain", headers=bearer).status == 415
        assert call(srv.url + "/nope%0aINJECTED%20200").status == 404
        assert srv.get("/health").status == 200
    finally:
        assert srv.stop() == 0
    out = srv.output()
    for secret in (KEY, "QUERY-SECRET", "BODY-SECRET", "Bearer"):
        assert secret not in out
    assert 'HTTP/1.1" 200' not in out  # uvicorn's access log stays off
    lines = [m.groupdict() for m in access_lines(out)]
    scored = [m for m in lines if m["status"] == "200" and m["path"] == "/predict"]
    assert scored == [
        {**scored[0], "rid": rid, "method": "POST", "version": "1", "variant": "champion"}
    ]
    assert scored[0]["level"] == "INFO"
    [invocations] = [m for m in lines if m["path"] == "/invocations"]
    assert invocations["variant"] == "champion" and invocations["rid"] != "-"
    unauthorized = [m for m in lines if m["status"] == "401"]
    assert unauthorized and unauthorized[0]["rid"] == "-" and unauthorized[0]["version"] is None
    assert any(m["status"] == "415" for m in lines)
    [odd] = [m for m in lines if m["status"] == "404"]
    assert odd["path"] == "/nope\\nINJECTED%20200"
    assert "\nINJECTED" not in out  # no line forged through the path
    assert any(m["path"] == "/health" for m in lines)


@pytest.mark.parametrize(("flag", "level"), [("off", None), ("debug", "DEBUG")])
def test_the_flag_sets_the_level(project, flag, level) -> None:
    srv = Server(project, "recipes/churn.yaml", "--access-log", flag)
    try:
        srv.wait_ready()
        assert srv.post("/predict", {"records": [ROW]}).status == 200
    finally:
        assert srv.stop() == 0
    lines = access_lines(srv.output())
    if level is None:
        assert lines == []
    else:
        assert lines and {m["level"] for m in lines} == {level}


def test_an_unread_console_never_stalls_the_server(project) -> None:
    """The console pipe is never read while 3,000 requests are answered (far more lines
    than a pipe holds): the lines that do not fit are dropped and counted, never waited
    for."""
    srv = Server(project, "recipes/churn.yaml", read_console=False)
    try:
        srv.wait_ready()
        for _ in range(3000):
            with urllib.request.urlopen(srv.url + "/health", timeout=10) as res:
                assert res.status == 200
    finally:
        assert srv.stop() == 0
    assert len(access_lines(srv.output())) >= 300
