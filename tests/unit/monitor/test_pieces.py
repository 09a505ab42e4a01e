"""Small pieces of mlctl monitor: alert targets and policy, category accumulation,
the atomic latest.json, key metrics, the lock within one process."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mlctl.errors import ExitCode, MonitorCannotRun
from mlctl.monitor.alerts import run_command, safe_target, should_alert
from mlctl.monitor.lock import MonitorLock
from mlctl.monitor.profile import read_categories
from mlctl.monitor.run import key_metrics, write_atomic
from mlctl.monitor.summary import CategorySummary

pytestmark = pytest.mark.unit


def test_webhook_target_keeps_no_secret() -> None:
    url = "https://user:pw@hooks.example.com:8443/services/T0/B1?token=abc"
    assert safe_target(url) == "https://hooks.example.com:8443/services/T0/B1"


@pytest.mark.parametrize(
    ("webhook", "command", "when", "status", "sent"),
    [
        (None, None, "always", "attention", False),
        ("http://x", None, "attention", "healthy", False),
        ("http://x", None, "attention", "attention", True),
        (None, ["true"], "always", "healthy", True),
    ],
)
def test_alert_policy(webhook, command, when, status, sent) -> None:
    settings = SimpleNamespace(webhook=webhook, command=command, when=when)
    assert should_alert(settings, status) is sent


def test_command_gets_the_result_path_and_status(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    code = f"import os; open({str(out)!r}, 'w').write(os.environ['MLCTL_MONITOR_RESULT'] + ' ' + os.environ['MLCTL_MONITOR_STATUS'])"
    import sys

    done = run_command([sys.executable, "-c", code], "/r.json", "attention", 30)
    assert done.ok and done.status == 0 and out.read_text() == "/r.json attention"
    missing = run_command("no-such-program-here --x", "/r.json", "attention", 5)
    assert not missing.ok and missing.detail.startswith("cannot start it")
    slow = run_command([sys.executable, "-c", "import time; time.sleep(5)"], "/r", "x", 0.5)
    assert not slow.ok and "still running after 0.5 s" in slow.detail


def test_category_counts_over_chunks_read_like_one_column() -> None:
    chunks = [
        pd.Series(["a", "b", None, " "], dtype=object),
        pd.Series(["b", "b", np.nan], dtype=object),
        pd.Series([1, 1.0, "1"], dtype=object),
    ]
    acc = CategorySummary()
    for c in chunks:
        acc.add(c)
    together = read_categories(pd.concat(chunks, ignore_index=True))
    assert (acc.counts, acc.read_missing) == (together.counts, together.missing)
    assert list(acc.counts) == list(together.counts)  # the same order


def test_latest_json_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "monitoring" / "churn" / "latest.json"
    write_atomic(path, {"status": "healthy"})
    write_atomic(path, {"status": "attention"})
    assert json.loads(path.read_text()) == {"status": "attention"}
    assert [p.name for p in path.parent.iterdir()] == ["latest.json"]  # no temp file left


def test_key_metrics_are_finite_numbers() -> None:
    doc = {
        "status": "attention",
        "source": {"rows": 10},
        "drift": {"share_drifted": 0.5, "n_drifted": 2},
        "prediction_drift": {"columns": [{"column": "score", "score": None}]},
        "performance": {"n_evaluated": 3, "metrics": {"roc_auc": {"production": 0.8}}},
        "volume": {"recent": {"per_hour": 4.0}, "ratio": None},
    }
    assert key_metrics(doc) == {
        "attention": 1.0,
        "rows": 10.0,
        "drift_share": 0.5,
        "drifted_columns": 2.0,
        "labelled_rows": 3.0,
        "production_roc_auc": 0.8,
        "volume_recent_per_hour": 4.0,
    }


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = tmp_path / "m" / "monitor.lock"
    with MonitorLock(path):
        with pytest.raises(MonitorCannotRun, match="holds the lock at") as exc, MonitorLock(path):
            pass
        assert exc.value.exit_code == ExitCode.CANNOT_RUN == 7
    with MonitorLock(path):  # released on exit
        pass


def _doc(status="attention", dataset=False, pred=0, perf=False) -> dict:
    return {
        "status": status,
        "drift": {"dataset_drift": dataset},
        "prediction_drift": {"n_drifted": pred},
        "performance": {"flagged": perf},
    }


@pytest.mark.parametrize(
    ("policy", "flag", "doc", "trigger"),
    [
        ("never", False, _doc(dataset=True), None),
        ("never", True, _doc("healthy"), "--retrain"),
        ("on_drift", False, _doc(dataset=True), "on_drift"),
        ("on_drift", False, _doc(pred=1), "on_drift"),
        ("on_drift", False, _doc(perf=True), None),
        ("on_drift", False, _doc("healthy"), None),
        ("on_performance_drop", False, _doc(perf=True), "on_performance_drop"),
        ("on_performance_drop", False, _doc(dataset=True), None),
        ("on_attention", False, _doc(), "on_attention"),
    ],
)
def test_retrain_policy(policy, flag, doc, trigger) -> None:
    from mlctl.monitor.retrain import retrain_trigger

    ctx = SimpleNamespace(
        options=SimpleNamespace(retrain=flag),
        r=SimpleNamespace(monitor=SimpleNamespace(retrain=policy)),
    )
    assert retrain_trigger(ctx, doc) == trigger
