"""The fast bootstrap metrics give the values of mlctl.evaluate.metrics."""

from __future__ import annotations

import numpy as np
import pytest

from mlctl.compare.metrics import classification, regression
from mlctl.evaluate.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    classification_metrics,
    regression_metrics,
)

pytestmark = pytest.mark.unit


def _case(k: int, n: int, seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    if ties:
        logits = np.round(logits, 0)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    return y, pred, proba


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_classification_metrics_agree(k: int, ties: bool, seed: int) -> None:
    y, pred, proba = _case(k, 300, seed, ties)
    classes = ["a", "b", "c"][:k]
    labels = np.array(classes, dtype=object)
    pos = 1 if k == 2 else None
    want = classification_metrics(labels[y], labels[pred], proba, classes, "b" if pos else None)
    for name in CLASSIFICATION_METRICS:
        got = classification(name, y, pred, proba, k, pos)
        assert got == pytest.approx(want[name], rel=1e-9, abs=1e-12), name


def test_undefined_values_are_nan() -> None:
    y = np.zeros(5, dtype=int)
    pred = np.zeros(5, dtype=int)
    proba = np.tile([0.9, 0.1], (5, 1))
    assert np.isnan(classification("roc_auc", y, pred, proba, 2, 1))
    assert np.isnan(classification("precision", y, pred, proba, 2, 1))  # nothing predicted 1
    assert np.isnan(classification("log_loss", y, pred, None, 2, 1))


def test_regression_metrics_agree() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 200)
    pred = y + rng.normal(0, 1, 200)
    want = regression_metrics(y, pred)
    for name in REGRESSION_METRICS:
        assert regression(name, y, pred) == pytest.approx(want[name], rel=1e-9), name
    y[0] = 0.0
    assert np.isnan(regression("mape", y, pred))
