"""The learning curve: refits that really learn again, nested stratified shares, verdicts."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlctl.evaluate.learning import (
    FLAT,
    MORE_DATA,
    learning_curve,
    nested_order,
    refittable,
    verdict,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=400, n_features=6, weights=[0.8], random_state=0)
    return pd.DataFrame(X), pd.Series(y)


def test_a_frozen_model_under_a_threshold_is_learnt_again(data) -> None:
    X, y = data
    fitted = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    baked = Pipeline(
        [
            ("scale", fitted[0]),
            ("model", FixedThresholdClassifier(FrozenEstimator(fitted[-1]), threshold=0.3)),
        ]
    )
    copy = refittable(baked)
    assert copy.get_params()["model__threshold"] == 0.3
    assert not isinstance(copy.get_params()["model__estimator"], FrozenEstimator)
    copy.fit(X[:100], y[:100])
    learnt = copy[-1].estimator_.coef_
    assert not np.allclose(learnt, fitted[-1].coef_)  # refit on other rows
    assert np.allclose(baked[-1].estimator.coef_, fitted[-1].coef_)  # original untouched


def test_every_prefix_is_a_stratified_sample_and_the_shares_are_nested(data) -> None:
    _, y = data
    order = nested_order(y, seed=1, stratify=True)
    assert sorted(order) == list(range(len(y)))
    share = y.mean()
    for rows in (100, 200, 300):
        assert abs(y.iloc[order[:rows]].mean() - share) <= 1.5 / rows + 1e-9
    assert list(nested_order(y, seed=1, stratify=True)) == list(order)  # seeded


@pytest.mark.parametrize(
    ("scores", "greater", "expected_slope", "expected"),
    [
        ([0.70, 0.75, 0.78, 0.80], True, 0.02, MORE_DATA),  # 0.02 > 0.005 * 0.80
        ([0.80, 0.81, 0.812, 0.8125], True, 0.0005, FLAT),
        ([0.80, 0.81, 0.82, 0.81], True, -0.01, FLAT),
        ([10.0, 9.0, 8.5, 8.0], False, 0.5, MORE_DATA),  # rmse: lower is better, 0.5 > 0.04
    ],
)
def test_the_verdict_reads_the_last_step(scores, greater, expected_slope, expected) -> None:
    points = [{"train_rows": 100 * (i + 1), "score": s} for i, s in enumerate(scores)]
    slope, text = verdict(points, greater)
    assert slope == pytest.approx(expected_slope)
    assert text == expected


def test_an_unscored_last_point_is_not_judged() -> None:
    slope, text = verdict([{"train_rows": 1, "score": 0.8}, {"train_rows": 2, "score": None}], True)
    assert slope is None and text.startswith("not judged")


def test_the_curve_refits_three_shares_and_ends_with_the_winner(data) -> None:
    X, y = data
    X_test, y_test = X.iloc[300:], y.iloc[300:]
    X_train, y_train = X.iloc[:300], y.iloc[:300]
    winner = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    winner.fit(X_train, y_train)
    seen = []

    def score(fitted, X):
        seen.append(len(X))
        assert abs(X.mean()).max() < 0.5  # the test rows, scaled by the winner's scaler
        return roc_auc_score(y_test, fitted.predict_proba(X)[:, 1])

    curve = learning_curve(
        winner, X_train, y_train, X_test, score=score, final_score=0.9, metric="roc_auc",
        greater_is_better=True, seed=0, stratify=True,
    )  # fmt: skip
    assert [p["train_rows"] for p in curve["points"]] == [75, 150, 225, 300]
    assert seen == [100, 100, 100] and curve["points"][-1]["score"] == 0.9
    assert all(0.5 < p["score"] <= 1 for p in curve["points"])
    assert curve["metric"] == "roc_auc" and curve["verdict"] in (MORE_DATA, FLAT)
    assert curve["slope"] == pytest.approx(0.9 - curve["points"][2]["score"])


def test_a_share_too_small_to_fit_is_skipped_with_a_note(data) -> None:
    X, y = data
    winner = LogisticRegression().fit(X.iloc[:40], y.iloc[:40])
    curve = learning_curve(
        winner, X.iloc[:40], y.iloc[:40], X.iloc[40:], score=lambda m, X: 0.7, final_score=0.8,
        metric="roc_auc", greater_is_better=True, seed=0, stratify=True,
    )  # fmt: skip
    assert [p["train_rows"] for p in curve["points"]] == [20, 30, 40]
    assert curve["notes"] == ["25% of the training split is 10 rows: not fitted"]
