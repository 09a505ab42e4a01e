"""The readiness gate: every check, actual vs required, both directions."""

from __future__ import annotations

import math

import pytest

from mlctl.readiness import gate

pytestmark = pytest.mark.unit


def test_thresholds_both_directions() -> None:
    checks = gate.threshold_checks(
        {"min_roc_auc": 0.8, "max_log_loss": 0.5}, {"roc_auc": 0.85, "log_loss": 0.6}
    )
    by_name = {c.name: c for c in checks}
    assert by_name["test min_roc_auc"].passed
    assert by_name["test min_roc_auc"].op == ">="
    assert not by_name["test max_log_loss"].passed
    assert by_name["test max_log_loss"].required == 0.5
    assert not gate.Verdict(checks).passed


def test_threshold_on_exact_boundary_passes() -> None:
    (check,) = gate.threshold_checks({"min_recall": 0.5}, {"recall": 0.5})
    assert check.passed


def test_undefined_metric_fails_with_detail() -> None:
    (check,) = gate.threshold_checks({"min_roc_auc": 0.5}, {"roc_auc": math.nan})
    assert not check.passed
    assert check.detail == "metric undefined"


def test_cv_checks_use_mean_minus_k_std() -> None:
    (low,) = gate.cv_checks({"min_roc_auc": 0.79}, "roc_auc", 0.84, 0.02, 2.0)
    assert low.actual == pytest.approx(0.80)
    assert low.passed
    (high,) = gate.cv_checks({"max_rmse": 10.0}, "rmse", 9.0, 1.0, 1.5)
    assert high.actual == pytest.approx(10.5)
    assert not high.passed


def test_baseline_margin() -> None:
    ok = gate.baseline_check("roc_auc", True, 0.7, 0.5, 0.1)
    assert ok.passed and ok.required == pytest.approx(0.6)
    bad = gate.baseline_check("rmse", False, 9.5, 10.0, 1.0)
    assert not bad.passed and bad.required == pytest.approx(9.0)


def test_champion_check() -> None:
    assert gate.champion_check("roc_auc", True, 0.8, None, 0.0, "champion").passed
    worse = gate.champion_check("roc_auc", True, 0.80, 0.82, 0.01, "champion v3")
    assert not worse.passed and "champion v3" in worse.detail
    tolerated = gate.champion_check("roc_auc", True, 0.815, 0.82, 0.01, "champion v3")
    assert tolerated.passed
    broken = gate.champion_check("roc_auc", True, 0.9, None, 0.0, "churn@champion", "boom")
    assert not broken.passed and "boom" in broken.detail


def test_verdict_dict() -> None:
    v = gate.Verdict(gate.threshold_checks({"min_f1": 0.1}, {"f1": 0.2}))
    d = v.to_dict()
    assert d["passed"] is True
    assert d["checks"][0] == {
        "name": "test min_f1",
        "metric": "f1",
        "op": ">=",
        "actual": 0.2,
        "required": 0.1,
        "passed": True,
        "detail": "",
    }
    assert gate.Verdict([]).passed
