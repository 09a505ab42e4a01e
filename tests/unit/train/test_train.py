"""Search spaces, fit counts, the baked-in decision threshold, winner selection."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlctl.evaluate.metrics import predict_with_threshold
from mlctl.recipe.loader import validate
from mlctl.recipe.schema import Distribution
from mlctl.train.search import SearchResult, expected_fits, grid_size, param_space
from mlctl.train.trainer import BASELINE, make_estimator, pick_winner, with_threshold

pytestmark = pytest.mark.unit


def test_grid_size_and_space() -> None:
    assert grid_size({"a": [1, 2], "b": [3, 4, 5]}) == 6
    assert grid_size({}) == 1
    dist = Distribution(distribution="loguniform", low=0.01, high=1.0)
    assert grid_size({"a": [1], "b": dist}) is None
    space = param_space({"C": dist, "n": [1, 2]})
    assert set(space) == {"model__C", "model__n"}
    draws = space["model__C"].rvs(size=200, random_state=0)
    assert draws.min() >= 0.01 and draws.max() <= 1.0
    ints = param_space({"k": Distribution(distribution="randint", low=2, high=4)})["model__k"]
    assert set(ints.rvs(size=100, random_state=0)) == {2, 3, 4}


def test_expected_fits() -> None:
    space = param_space({"a": [1, 2, 3]})
    assert expected_fits(space, "grid", 10, 5) == 15
    assert expected_fits(space, "random", 2, 5) == 10
    assert expected_fits(space, "random", 10, 5) == 15  # capped by the grid size
    assert expected_fits({}, "random", 10, 4) == 4
    assert expected_fits(space, "none", 10, 4) == 4


def test_make_estimator_seeds_random_state() -> None:
    r = validate(
        {
            "name": "t",
            "seed": 9,
            "data": {"source": "x.csv", "target": "y"},
            "features": {"numeric": ["a"]},
            "models": {
                "candidates": {"rf": {"estimator": "random_forest", "params": {"n_estimators": 5}}}
            },
        }
    )
    est, label = make_estimator(r, r.models.candidates["rf"])
    assert est.random_state == 9 and est.n_estimators == 5 and label == "random_forest"


def result(name: str, mean: float, error: str | None = None) -> SearchResult:
    return SearchResult(name, "x", mean, 0.0, {}, None, 1, 0.0, error=error)


def test_pick_winner_direction_and_failures() -> None:
    base = {"name": "t", "data": {"source": "x.csv", "target": "y"}, "features": {"numeric": ["a"]}}
    clf = validate(base)
    reg = validate({**base, "task": "regression", "split": {"strategy": "random"}})
    results = [
        result(BASELINE, 0.99),
        result("a", 0.7),
        result("b", 0.8),
        result("c", 0.9, "boom"),
        result("d", math.nan),
    ]
    assert pick_winner(clf, results).name == "b"
    assert pick_winner(reg, results).name == "a"  # rmse: lower is better


def test_threshold_is_baked_into_predict() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300)})
    y = np.where(X["a"] + rng.normal(size=300) > 0, "yes", "no")
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    assert with_threshold(pipe, 0.5, "yes", X, y) is pipe
    moved = with_threshold(pipe, 0.3, "yes", X, y)
    expected = predict_with_threshold(pipe.predict_proba(X), list(pipe.classes_), "yes", 0.3)
    assert (moved.predict(X) == expected).all()
    assert (moved.predict(X) == "yes").mean() > (pipe.predict(X) == "yes").mean()
    np.testing.assert_allclose(moved.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.unit
def test_fit_failure_note_is_one_line_with_the_cause() -> None:
    from mlctl.train.search import fit_failure_note

    text = (
        "\n9 fits failed out of a total of 18.\nThe score on these train-test partitions ...\n"
        "Below are more details about the failures:\n" + "-" * 40 + "\n"
        "9 fits failed with the following error:\nTraceback (most recent call last):\n"
        '  File "x.py", line 1, in fit\n    solver = _check_solver()\n'
        "ValueError: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty.\n"
    )
    note = fit_failure_note(text)
    assert note.startswith("9 of 18 fits failed")
    assert note.endswith(
        "ValueError: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty."
    )
    assert "\n" not in note
