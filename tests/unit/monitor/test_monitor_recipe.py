"""The recipe's ``monitor:`` section: defaults, its mapping onto the building blocks'
parameters, and the cross-field checks (each naming its key)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from recipe_builders import write_recipe

from mlctl.errors import RecipeError
from mlctl.monitor.check import drift_options, prediction_options
from mlctl.monitor.drift import PREDICTION, SCORE
from mlctl.paths import latest_path
from mlctl.recipe.checks import monitored_metrics
from mlctl.recipe.loader import load_recipe

pytestmark = pytest.mark.unit

BASE = """\
name: demo
data:
  source: data.csv
  target: y
features:
  numeric: [a, b]
  categorical: [c]
  derived:
    - {name: ab, expr: a / (b + 1)}
models:
  candidates:
    lr: {estimator: logistic_regression}
readiness:
  thresholds: {min_roc_auc: 0.7, max_log_loss: 0.6}
"""


def load(tmp_path: Path, monitor: str = "", overrides: list[str] | None = None):
    path = write_recipe(tmp_path, BASE + textwrap.dedent(monitor))
    return load_recipe(path, overrides or [])


def problems(tmp_path: Path, monitor: str, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(RecipeError) as exc:
        load(tmp_path, monitor, overrides)
    return [f"{i.path}: {i.message}" for i in exc.value.issues]


def test_a_recipe_without_monitor_gets_working_defaults(tmp_path: Path) -> None:
    r = load(tmp_path).recipe
    m = r.monitor
    assert m.window == "24h" and m.retrain == "never"
    assert m.drift.drift_share == 0.5 and m.drift.bins == 30
    assert m.performance.min_labels == 100 and m.alerts.when == "attention"
    assert monitored_metrics(r) == ["roc_auc", "log_loss"]  # selection metric + thresholds
    opts = drift_options(m)
    assert (opts.method_numeric, opts.method_categorical) == ("auto", "auto")
    assert opts.threshold_numeric is None and opts.per_column == {} and opts.bins == 30


def test_mapping_onto_drift_options(tmp_path: Path) -> None:
    m = load(
        tmp_path,
        """\
        monitor:
          window: 7d
          drift:
            numeric: {method: wasserstein, threshold: 0.2}
            categorical: {method: psi}
            columns:
              a: {method: ks, threshold: 0.01}
              c: {threshold: 0.3}
            drift_share: 0.25
            bins: sturges
          prediction_drift:
            score: {method: psi, threshold: 0.25}
          performance:
            metrics: [roc_auc, recall]
            max_drop: {roc_auc: 0.02}
        """,
    ).recipe.monitor
    opts = drift_options(m)
    assert opts.method_numeric == "wasserstein" and opts.threshold_numeric == 0.2
    assert opts.method_categorical == "psi" and opts.threshold_categorical is None
    assert opts.per_column == {"a": ("ks", 0.01), "c": ("auto", 0.3)}
    assert opts.choice("c", "categorical") == ("psi", 0.3)
    assert opts.drift_share == 0.25 and opts.bins == "sturges"
    pred = prediction_options(m)
    assert pred.per_column == {SCORE: ("psi", 0.25), PREDICTION: ("auto", None)}


def test_overrides_reach_the_monitor_section(tmp_path: Path) -> None:
    r = load(tmp_path, overrides=["monitor.drift.drift_share=0.1", "monitor.window=2h"]).recipe
    assert r.monitor.drift.drift_share == 0.1 and r.monitor.window == "2h"


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        (
            "monitor:\n  drift:\n    columns:\n      aa: {method: psi}\n",
            "monitor.drift.columns.aa: 'aa' is not a feature of this recipe; features.numeric has 'a': "
            "one of the two is misspelt",
        ),
        (
            "monitor:\n  drift:\n    columns:\n      ab: {method: psi}\n",
            "monitor.drift.columns.ab: 'ab' is a derived feature",
        ),
        (
            "monitor:\n  drift:\n    columns:\n      c: {method: ks}\n",
            "monitor.drift.columns.c.method: 'c' is categorical, and ks tests numbers only",
        ),
        (
            "monitor:\n  drift:\n    numeric: {method: ks, threshold: 1.5}\n",
            "monitor.drift.numeric.threshold: ks drifts when its p-value is below the threshold",
        ),
        (
            "monitor:\n  drift:\n    numeric: {threshold: 1.0}\n",
            "monitor.drift.numeric.threshold: with method auto the threshold is a p-value",
        ),
        (
            "monitor:\n  drift:\n    categorical: {method: jensenshannon, threshold: 0.9}\n",
            "a Jensen-Shannon distance (natural log) is at most 0.8326",
        ),
        (
            "monitor:\n  drift:\n    columns:\n      a: {method: chisquare, threshold: 2}\n",
            "monitor.drift.columns.a.threshold: chisquare drifts when its p-value",
        ),
        (
            "monitor:\n  prediction_drift:\n    score: {method: psi, threshold: 0}\n",
            "monitor.prediction_drift.score.threshold: a psi distance is always at least 0",
        ),
        (
            "monitor:\n  performance:\n    metrics: [roc_acu]\n",
            "monitor.performance.metrics.0: 'roc_acu' is not a classification metric; "
            "did you mean 'roc_auc'?",
        ),
        (
            "monitor:\n  performance:\n    max_drop: {rmse: 0.1}\n",
            "monitor.performance.max_drop.rmse: 'rmse' is not among the monitored metrics",
        ),
        (
            "monitor:\n  volume:\n    baseline_hours: 12\n",
            "monitor.volume.min_baseline_hours: 24 is more than monitor.volume.baseline_hours",
        ),
        (
            "monitor:\n  alerts:\n    webhook: ftp://x\n",
            "monitor.alerts.webhook: must be an http:// or https:// URL",
        ),
        ("monitor:\n  alerts:\n    command: []\n", "monitor.alerts.command: empty"),
    ],
)
def test_cross_field_checks_name_the_key(tmp_path: Path, monitor: str, expected: str) -> None:
    found = problems(tmp_path, monitor)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("monitor", "key"),
    [
        ("monitor:\n  window: 1 day\n", "monitor.window"),
        ("monitor:\n  drift:\n    drift_share: 1.5\n", "monitor.drift.drift_share"),
        ("monitor:\n  drift:\n    numeric: {method: t_test}\n", "monitor.drift.numeric.method"),
        ("monitor:\n  retrain: always\n", "monitor.retrain"),
        ("monitor:\n  drift_shares: 0.5\n", "monitor.drift_shares"),
        ("monitor:\n  alerts:\n    on: always\n", "monitor.alerts"),
    ],
)
def test_schema_errors_name_the_key(tmp_path: Path, monitor: str, key: str) -> None:
    found = problems(tmp_path, monitor)
    assert any(p.startswith(key) for p in found), found


def test_latest_path(tmp_path: Path) -> None:
    assert latest_path(tmp_path, "churn") == tmp_path / "monitoring" / "churn" / "latest.json"


def test_the_drift_test_vocabulary_agrees_with_the_monitor() -> None:
    """One home (mlctl.recipe.schema): the recipe accepts for categories exactly the
    tests that are not numbers-only, and the monitor runs every test the recipe names."""
    from typing import get_args

    from mlctl.monitor.drift_options import DEFAULT_THRESHOLDS, METHODS
    from mlctl.recipe.schema import (
        NUMERIC_ONLY_TESTS,
        P_VALUE_TESTS,
        CategoryMethod,
        DriftMethod,
    )

    methods = set(get_args(DriftMethod)) - {"auto"}
    assert methods == set(METHODS) == set(DEFAULT_THRESHOLDS)
    assert set(get_args(CategoryMethod)) - {"auto"} == methods - NUMERIC_ONLY_TESTS
    assert P_VALUE_TESTS.issubset(methods) and NUMERIC_ONLY_TESTS.issubset(methods)
