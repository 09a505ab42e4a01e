"""The dashboard's routes on a Litestar app with a stand-in served state: the page's
headers, the data document, the API key, the switch, the monitoring file's states."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlctl.recipe.schema import Serve
from mlctl.serve.metrics import Metrics

pytestmark = pytest.mark.unit

KEY = "unit-dash-key"


class Log:
    queue_depth = 3
    last_error = "disk full"

    def __init__(self, healthy: bool = True) -> None:
        self._healthy = healthy

    def healthy(self) -> bool:
        return self._healthy


def _state(tmp_path: Path, monkeypatch, **settings: Any) -> SimpleNamespace:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    model = SimpleNamespace(name="churn", version=2, aliases=["champion"])
    return SimpleNamespace(
        settings=Serve.model_validate(settings),
        metrics=Metrics(),
        log=Log(),
        model_name="churn",
        alias="champion",
        fixed_version=None,
        champion=SimpleNamespace(model=model),
        challenger=None,
        loading=False,
        load_error=None,
        started=time.time(),
        api_key=None,
        monitoring_file=str(tmp_path / "latest.json"),
    )


def _client(state: SimpleNamespace):
    from litestar import Litestar
    from litestar.datastructures import State
    from litestar.di import Provide
    from litestar.exceptions import HTTPException
    from litestar.testing import TestClient

    from mlctl.serve.controllers.dashboard import Dashboard
    from mlctl.serve.responses import ApiError, api_error, http_error

    app = Litestar(
        route_handlers=[Dashboard],
        dependencies={"serve": Provide(lambda: state, sync_to_thread=False)},
        exception_handlers={ApiError: api_error, HTTPException: http_error},
        state=State({"serve": state}),
    )
    return TestClient(app)


def test_the_page_and_its_files(tmp_path, monkeypatch) -> None:
    with _client(_state(tmp_path, monkeypatch)) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert page.headers["cache-control"] == "no-store"
        assert 'src="dashboard/dashboard.js"' in page.text
        script = client.get("/dashboard/dashboard.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert "histogramQuantile" in script.text
        assert client.get("/dashboard/dashboard.css").headers["content-type"].startswith("text/css")
        assert client.get("/dashboard/index.html").status_code == 404  # fixed names only
        assert client.get("/dashboard/../pyproject.toml").status_code == 404


def test_the_data_document(tmp_path, monkeypatch) -> None:
    state = _state(tmp_path, monkeypatch, **{"traffic": {"shadow": True}})
    state.metrics.requests.labels("/predict", "200").inc(4)
    with _client(state) as client:
        reply = client.get("/dashboard/data")
    assert reply.status_code == 200 and reply.headers["cache-control"] == "no-store"
    d = reply.json()
    assert d["model"]["champion"] == {"version": 2, "aliases": ["champion"]}
    assert d["model"]["challenger"] is None and d["traffic"]["shadow"] is True
    assert d["log"] == {"writable": True, "queue": 3.0, "failed_rows": 0.0, "last_error": None}
    assert d["metrics"]["requests"] == [{"route": "/predict", "code": "200", "value": 4.0}]
    assert d["slo"]["p95_ms"] == 100.0 and d["cache"] == {"backend": "none"}
    assert d["monitor"]["state"] == "missing" and "mlctl monitor" in d["monitor"]["message"]


def test_the_log_error_is_there_when_the_log_is_not_writable(tmp_path, monkeypatch) -> None:
    state = _state(tmp_path, monkeypatch)
    state.log = Log(healthy=False)
    with _client(state) as client:
        log = client.get("/dashboard/data").json()["log"]
    assert log["writable"] is False and log["last_error"] == "disk full"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "damaged"),
        (json.dumps({"status": "healthy", "model": {"version": 2}}), "ok"),
        (json.dumps(["a", "list"]), "ok"),  # read as an empty document, not an error
    ],
)
def test_the_monitoring_file(tmp_path, monkeypatch, content, expected) -> None:
    state = _state(tmp_path, monkeypatch)
    Path(state.monitoring_file).write_text(content)
    with _client(state) as client:
        monitor = client.get("/dashboard/data").json()["monitor"]
    assert monitor["state"] == expected
    if content.startswith('{"status'):
        assert monitor["status"] == "healthy" and monitor["about_served_version"] is True


def test_the_data_is_behind_the_api_key_and_the_page_is_not(tmp_path, monkeypatch) -> None:
    state = _state(tmp_path, monkeypatch, api_key_env="DASH_KEY")
    state.api_key = KEY
    with _client(state) as client:
        assert client.get("/dashboard").status_code == 200
        refused = client.get("/dashboard/data")
        wrong = client.get("/dashboard/data", headers={"Authorization": "Bearer nope"})
        ok = client.get("/dashboard/data", headers={"Authorization": f"Bearer {KEY}"})
    assert refused.status_code == wrong.status_code == 401
    assert KEY not in refused.text + wrong.text
    assert ok.status_code == 200 and KEY not in ok.text


def test_off_is_404_before_the_key(tmp_path, monkeypatch) -> None:
    state = _state(tmp_path, monkeypatch, dashboard=False, api_key_env="DASH_KEY")
    state.api_key = KEY
    with _client(state) as client:
        for path in ("/dashboard", "/dashboard/data", "/dashboard/dashboard.css"):
            reply = client.get(path, headers={"Authorization": f"Bearer {KEY}"})
            assert reply.status_code == 404 and reply.json()["error_code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/dashboard", "/dashboard"),
        ("/dashboard/dashboard.js", "/dashboard"),
        ("/dashboard/data", "/dashboard/data"),
        ("/dashboardx/../../etc", "/dashboard"),
        ("/predict", "/predict"),
        ("/v2/models/churn/infer", "/v2/models/{name}/infer"),
        ("/nope", "other"),
    ],
)
def test_dashboard_requests_have_their_own_bounded_metric_labels(path, label) -> None:
    from mlctl.serve.responses import route_label

    assert route_label(path) == label
