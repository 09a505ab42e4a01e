"""From labelled log rows to a verdict: methods by mode, the verdict rules, the sample
needed, thresholds, and the log's text forms mapped back to classes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlctl.compare.analysis import (
    BETTER,
    SHADOW,
    SPLIT,
    UNKNOWN,
    WORSE,
    Scored,
    analyse,
    scored,
)

pytestmark = pytest.mark.unit

CLASSES = ["No", "Yes"]


def binormal(rng, n: int, mu: float, rho: float = 0.0, mu_b: float | None = None):
    """Labels and positive-class probabilities of one or two models on the same rows."""
    y = (rng.random(n) < 0.3).astype(int)
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    sa = 1 / (1 + np.exp(-(z[:, 0] + mu * y - mu / 2)))
    sb = 1 / (1 + np.exp(-(z[:, 1] + (mu if mu_b is None else mu_b) * y - mu / 2)))
    return y, sa, sb


def as_scored(y: np.ndarray, s: np.ndarray) -> Scored:
    return Scored(y, (s >= 0.5).astype(int), np.c_[1 - s, s])


def run(mode, a, b, metrics=("roc_auc", "accuracy", "log_loss"), **kw):
    kw.setdefault("n_resamples", 300)
    return analyse(mode, a, b, "classification", list(metrics), "roc_auc", CLASSES, 1, **kw)


def test_split_traffic_uses_unpaired_methods_and_finds_a_large_gain() -> None:
    rng = np.random.default_rng(1)
    ya, sa, _ = binormal(rng, 1500, 0.8)
    yb, _, sb = binormal(rng, 1500, 2.0, mu_b=2.0)
    found = run(SPLIT, as_scored(ya, sa), as_scored(yb, sb), min_labels=100)
    methods = {m.name: m.method for m in found.metrics}
    assert methods == {
        "roc_auc": "delong_unpaired",
        "accuracy": "newcombe_unpaired",
        "log_loss": "bootstrap_unpaired",
    }
    assert found.verdict == BETTER
    auc = found.metrics[0]
    assert auc.difference.low > 0 and auc.verdict == BETTER
    assert found.message.startswith("challenger better: roc_auc +")
    assert "n = 1,500 champion / 1,500 challenger" in found.message


def test_shadow_traffic_is_paired_and_a_worse_challenger_is_worse() -> None:
    rng = np.random.default_rng(2)
    y, sa, sb = binormal(rng, 1200, 2.0, rho=0.7, mu_b=1.2)
    found = run(SHADOW, as_scored(y, sa), as_scored(y, sb), min_labels=100)
    assert {m.method for m in found.metrics} == {
        "delong_paired",
        "newcombe_paired",
        "bootstrap_paired",
    }
    assert found.verdict == WORSE
    assert found.message.startswith("challenger worse: ")


def test_recall_of_a_binary_model_is_a_proportion_of_the_positive_rows() -> None:
    rng = np.random.default_rng(11)
    y, sa, sb = binormal(rng, 600, 1.0, rho=0.5, mu_b=1.5)
    a, b = as_scored(y, sa), as_scored(y, sb)
    (m,) = run(SHADOW, a, b, metrics=("recall",)).metrics
    pos = y == 1
    assert m.method == "newcombe_paired"
    assert m.champion.value == pytest.approx(np.mean(a.pred[pos] == 1))
    assert m.difference.value == pytest.approx(
        np.mean(b.pred[pos] == 1) - np.mean(a.pred[pos] == 1)
    )
    (m,) = run(SPLIT, a, b, metrics=("recall",)).metrics
    assert m.method == "newcombe_unpaired"


def test_lower_is_better_metrics_turn_the_sign() -> None:
    rng = np.random.default_rng(3)
    y, sa, sb = binormal(rng, 1500, 0.6, rho=0.5, mu_b=2.5)
    found = run(SHADOW, as_scored(y, sa), as_scored(y, sb), metrics=("log_loss",))
    (m,) = found.metrics
    assert not m.greater_is_better and m.difference.high < 0 and m.verdict == BETTER


def test_no_difference_is_not_yet_known_with_the_sample_needed() -> None:
    rng = np.random.default_rng(4)
    y, sa, sb = binormal(rng, 400, 1.0, rho=0.3, mu_b=1.05)
    found = run(SHADOW, as_scored(y, sa), as_scored(y, sb), min_labels=50)
    assert found.verdict == UNKNOWN
    auc = found.metrics[0]
    assert auc.difference.low < 0 < auc.difference.high
    assert auc.needed["champion"] == auc.needed["challenger"] > 400
    assert "not yet known: roc_auc" in found.message and "power 0.8" in found.message


def test_too_few_labels_gives_no_verdict() -> None:
    rng = np.random.default_rng(5)
    ya, sa, _ = binormal(rng, 300, 0.5)
    yb, _, sb = binormal(rng, 300, 3.0, mu_b=3.0)
    found = run(SPLIT, as_scored(ya, sa), as_scored(yb, sb), min_labels=500)
    assert found.verdict == UNKNOWN and not found.enough
    assert found.message.startswith("not enough labels: 300 champion and 300 challenger")
    assert found.metrics[0].difference.low > 0  # the interval is still shown


def test_thresholds_are_checked_on_both_versions() -> None:
    rng = np.random.default_rng(6)
    ya, sa, _ = binormal(rng, 800, 0.6)
    yb, _, sb = binormal(rng, 800, 2.5, mu_b=2.5)
    found = run(SPLIT, as_scored(ya, sa), as_scored(yb, sb), thresholds={"min_roc_auc": 0.8})
    assert found.metrics[0].threshold == {
        "op": ">=",
        "value": 0.8,
        "champion": False,
        "challenger": True,
    }


def test_missing_probabilities_leave_probability_metrics_out() -> None:
    rng = np.random.default_rng(7)
    y, sa, sb = binormal(rng, 300, 1.0, rho=0.5)
    a, b = as_scored(y, sa), as_scored(y, sb)
    b.proba = None
    found = run(SHADOW, a, b)
    by = {m.name: m for m in found.metrics}
    assert by["roc_auc"].method == "undefined" and by["roc_auc"].verdict == UNKNOWN
    assert by["accuracy"].method == "newcombe_paired"
    assert any("no class probabilities" in n for n in found.notes)


def test_regression_uses_the_bootstrap() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(50, 10, 600)
    a = Scored(y, y + rng.normal(0, 5, 600), None)
    b = Scored(y, y + rng.normal(0, 3, 600), None)
    found = analyse(SHADOW, a, b, "regression", ["rmse", "mae", "r2"], "rmse", n_resamples=300)
    assert [m.method for m in found.metrics] == ["bootstrap_paired"] * 3
    assert found.verdict == BETTER
    assert found.metrics[0].difference.value == pytest.approx(
        math.sqrt(np.mean((b.pred - y) ** 2)) - math.sqrt(np.mean((a.pred - y) ** 2))
    )


def test_log_text_is_mapped_back_to_classes() -> None:
    frame = pd.DataFrame(
        {
            "label": ["Yes", "No", "yes", "maybe", "No"],
            "prediction": ["Yes", "No", "No", "Yes", None],
            "probabilities": [
                json.dumps({"No": 0.2, "Yes": 0.8}),
                json.dumps({"No": 0.9, "Yes": 0.1}),
                json.dumps({"No": 0.6, "Yes": 0.4}),
                json.dumps({"No": 0.3, "Yes": 0.7}),
                None,
            ],
        }
    )
    s = scored(frame, "classification", CLASSES)
    assert s.y.tolist() == [1, 0, 1] and s.pred.tolist() == [1, 0, 0] and s.unmatched == 2
    assert s.proba[:, 1].tolist() == [0.8, 0.1, 0.4]


def test_whole_pipeline_covers_known_aucs_on_shadow_traffic() -> None:
    """analyse() on simulated shadow traffic with a known AUC difference: its interval
    holds the truth at about the nominal rate (the stats tests do the same per method)."""
    rng = np.random.default_rng(99)
    mu_a, mu_b = 1.0, 1.3
    truth = stats.norm.cdf(mu_b / math.sqrt(2)) - stats.norm.cdf(mu_a / math.sqrt(2))
    hits, reps = 0, 200
    for _ in range(reps):
        y = (rng.random(400) < 0.3).astype(int)
        z = rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=400)
        sa = 1 / (1 + np.exp(-(z[:, 0] + mu_a * y)))  # monotone: same AUC as the normals
        sb = 1 / (1 + np.exp(-(z[:, 1] + mu_b * y)))
        found = run(SHADOW, as_scored(y, sa), as_scored(y, sb), metrics=("roc_auc",))
        d = found.metrics[0].difference
        hits += d.low <= truth <= d.high
    assert 0.90 <= hits / reps <= 0.99, hits / reps
