"""The dashboard's pure parts: the metrics parsed back from the exposition ``/metrics``
renders, PromQL's histogram_quantile, the monitoring summary, the packaged files."""

from __future__ import annotations

import math
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlctl.serve.dashboard import ASSETS, asset
from mlctl.serve.dashboard.data import histogram_quantile, metric_snapshot, monitor_summary
from mlctl.serve.metrics import LATENCY_BUCKETS, Metrics

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]


def _state() -> SimpleNamespace:
    model = SimpleNamespace(name="churn", version=3)
    return SimpleNamespace(
        champion=SimpleNamespace(model=model),
        challenger=SimpleNamespace(model=SimpleNamespace(name="churn", version=4)),
        alias="champion",
        fixed_version=None,
    )


def test_the_snapshot_has_the_numbers_of_the_exposition(monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    m = Metrics()
    m.requests.labels("/predict", "200").inc(7)
    m.requests.labels("/predict", "422").inc(2)
    m.requests.labels("/invocations", "503").inc()
    m.errors.labels("/predict", "422").inc(2)
    for seconds in (0.002, 0.004, 0.02, 30.0):
        m.latency.labels("/predict").observe(seconds)
    m.predictions.labels("3", "champion", "Yes").inc(5)
    m.predictions.labels("4", "challenger", "No").inc(2)
    for score in (0.05, 0.55, 0.95):
        m.scores.observe(score)
    m.batch_rows.observe(3)
    m.cache_hits.inc(4)
    m.log_failed.inc(6)
    m.log_queue.set(2)
    m.rows_dropped.labels("overload").inc(9)
    body, _ = m.render(None, _state())
    snap = metric_snapshot(body.decode())

    assert {(r["route"], r["code"], r["value"]) for r in snap["requests"]} == {
        ("/predict", "200", 7.0),
        ("/predict", "422", 2.0),
        ("/invocations", "503", 1.0),
    }
    assert snap["errors"] == [{"route": "/predict", "code": "422", "value": 2.0}]
    assert snap["predictions"] == [
        {"version": "3", "variant": "champion", "label": "Yes", "value": 5.0},
        {"version": "4", "variant": "challenger", "label": "No", "value": 2.0},
    ]  # sorted by their labels
    lat = snap["latency"]["/predict"]
    assert lat["le"] == list(LATENCY_BUCKETS)  # +Inf is the last count, not a bound
    assert len(lat["counts"]) == len(lat["le"]) + 1
    assert lat["counts"][lat["le"].index(0.005)] == 2.0
    assert lat["counts"][-1] == lat["count"] == 4.0  # 30 s: only in +Inf
    assert lat["sum"] == pytest.approx(30.026)
    assert snap["scores"]["count"] == 3.0 and snap["scores"]["counts"][-1] == 3.0
    assert snap["batch_rows"]["sum"] == 3.0
    assert (snap["cache_hits"], snap["log_rows_failed"], snap["log_queue_depth"]) == (4, 6, 2)
    assert snap["rows_dropped"] == [{"reason": "overload", "value": 9.0}]
    assert snap["models"] == [
        {"name": "churn", "version": "3", "alias": "champion", "role": "champion"},
        {"name": "churn", "version": "4", "alias": "challenger", "role": "challenger"},
    ]


def test_an_empty_registry_gives_zeros(monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    snap = metric_snapshot(Metrics().render(None, None)[0].decode())
    assert snap["requests"] == [] and snap["latency"] == {} and snap["models"] == []
    assert snap["scores"]["count"] == 0 and snap["scores"]["counts"][-1] == 0


@pytest.mark.parametrize(
    ("q", "le", "counts", "expected"),
    [
        # linear inside the bucket the rank falls in: rank 20 of 40, bucket (0.1, 0.5]
        (0.5, [0.1, 0.5, 1.0], [10, 30, 40, 40], 0.1 + 0.4 * (20 - 10) / 20),
        (0.95, [0.1, 0.5, 1.0], [10, 30, 40, 40], 0.5 + 0.5 * (38 - 30) / 10),
        # the first bucket starts at 0
        (0.25, [0.1, 0.5, 1.0], [10, 30, 40, 40], 0.1),
        (0.1, [0.1, 0.5, 1.0], [10, 30, 40, 40], 0.04),
        # the rank falls in +Inf: the highest finite bound (PromQL)
        (0.99, [0.1, 0.5, 1.0], [10, 30, 40, 45], 1.0),
        # a first bound <= 0: that bound
        (0.5, [0.0, 0.1], [3, 4, 4], 0.0),
        # no observations (or a bad q): nothing
        (0.5, [1, 2], [0, 0, 0], None),
        (1.5, [1, 2], [1, 1, 1], None),
    ],
)
def test_histogram_quantile_is_promqls(q, le, counts, expected) -> None:
    found = histogram_quantile(q, le, counts)
    assert found == pytest.approx(expected) if expected is not None else found is None


def _doc() -> dict:
    return {
        "schema_version": 1,
        "status": "attention",
        "reasons": ["data drift: 2 of 3 columns drifted"],
        "model": {"name": "churn", "version": 3},
        "window": {"start_utc": "2026-12-04T00:00:00Z", "end_utc": "2026-12-05T00:00:00Z"},
        "source": {"rows": 812},
        "drift": {
            "status": "drift",
            "n_tested": 3,
            "n_drifted": 2,
            "share_drifted": 2 / 3,
            "columns": [
                {
                    "column": "tenure",
                    "drifted": True,
                    "test": "ks",
                    "score": 0.2,
                    "p_value": 0.001,
                    "threshold": 0.05,
                },
                {
                    "column": "Contract",
                    "drifted": True,
                    "test": "psi",
                    "score": 0.9,
                    "p_value": None,
                    "threshold": 0.1,
                },
                {"column": "gender", "drifted": False, "test": "chisquare", "score": 0.01},
            ],
        },  # fmt: skip
        "prediction_drift": {"columns": [{"column": "score", "drifted": False}]},
        "performance": {
            "status": "degraded",
            "message": "roc_auc dropped",
            "n_evaluated": 400,
            "metrics": {"roc_auc": {"production": 0.71, "trained": 0.84, "dropped": True}},
        },
        "volume": {"status": "ok", "message": "usual volume"},
        "generated_at": "2026-12-05T00:00:03Z",
    }


def test_monitor_summary_has_the_verdict_drifted_columns_and_metrics() -> None:
    s = monitor_summary(_doc(), 3, 125.04)
    assert s["status"] == "attention" and s["about_served_version"] is True
    assert s["model_version"] == "3"
    assert s["age_seconds"] == 125.0 and s["rows"] == 812
    assert [c["column"] for c in s["drift"]["drifted"]] == ["Contract", "tenure"]  # worst first
    assert s["drift"]["n_drifted"] == 2 and s["prediction_drift"] == []
    assert s["performance"]["metrics"] == [
        {"name": "roc_auc", "production": 0.71, "trained": 0.84, "dropped": True}
    ]
    assert monitor_summary(_doc(), 4, 1)["about_served_version"] is False


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "text",
        {"status": 3, "drift": "x", "performance": [], "model": None},
        {"drift": {"columns": [None, 1, {"drifted": True, "score": "high"}]}},
        {"performance": {"metrics": {"auc": None}}, "reasons": "not a list"},
        {"drift": {"n_tested": math.inf, "share_drifted": math.nan}},
    ],
)
def test_monitor_summary_reads_anything_without_failing(doc) -> None:
    s = monitor_summary(doc, 1, None)
    assert isinstance(s["status"], str) and isinstance(s["drift"]["drifted"], list)
    assert s["drift"]["n_tested"] is None or math.isfinite(s["drift"]["n_tested"])


def test_the_page_files_ship_in_the_wheel_and_ask_for_nothing_remote() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["mlctl.serve.dashboard"]
    for name in ASSETS:
        assert any(fnmatch(name, p) for p in patterns), f"{name} is not package data"
        text = asset(name).decode()
        # the one URL is SVG's namespace, a name, never fetched
        remote = set(re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s'\"]*", text))
        assert remote <= {"http://www.w3.org/2000/svg"}, (name, remote)
    with pytest.raises(KeyError):
        asset("../__init__.py")
