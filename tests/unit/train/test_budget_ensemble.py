"""tuning.time_budget across candidates, and models.ensemble ranked like a candidate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlctl.data.prepare import Dataset
from mlctl.errors import RecipeError
from mlctl.recipe.loader import validate
from mlctl.runner import _leaderboard
from mlctl.train.search import Budget
from mlctl.train.trainer import BASELINE, pick_winner, train_all

pytestmark = pytest.mark.unit


def dataset(rows: int = 240, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    y = pd.Series(np.where(X.a + 0.5 * X.b + rng.normal(scale=0.8, size=rows) > 0, "yes", "no"))
    cut = rows * 3 // 4
    return Dataset(
        X.iloc[:cut], X.iloc[cut:], y.iloc[:cut], y.iloc[cut:], ["a", "b"], ["no", "yes"],
        "yes", "fp", [], rows,
    )  # fmt: skip


def recipe(models: dict, tuning: dict | None = None):
    return validate(
        {
            "name": "t",
            "data": {"source": "x.csv", "target": "y"},
            "features": {"numeric": ["a", "b"]},
            "models": {"cv_folds": 2, **models},
            "tuning": {"n_jobs": 1, "n_iter": 3, **(tuning or {})},
        }
    )


CANDIDATES = {
    "logreg": {"estimator": "logistic_regression", "search": {"C": [0.01, 0.1, 1.0]}},
    "forest": {
        "estimator": "random_forest",
        "params": {"n_estimators": 5, "n_jobs": 1},
        "search": {"max_depth": [2, 3, 4]},
    },
}


@pytest.mark.parametrize("strategy", ["random", "optuna"])
def test_a_tiny_budget_stops_the_search_and_still_has_a_winner(strategy: str) -> None:
    r = recipe(
        {"candidates": CANDIDATES},
        {"strategy": strategy, "n_trials": 3, "time_budget": 0.001},
    )
    results = {res.name: res for res in train_all(r, dataset())}
    first, late = results["logreg"], results["forest"]
    # The first setting runs whatever the budget, so there is a winner ...
    assert first.n_settings == 1 and first.skipped == 2 and math.isfinite(first.cv_mean)
    assert "2 of 3 settings skipped" in first.notes[-1]
    assert pick_winner(r, list(results.values())).name == "logreg"
    # ... and a candidate that got no time is reported, not a crash.
    assert late.best_estimator is None and late.skipped == 3
    assert "time budget (tuning.time_budget: 0.001 s) was spent" in late.error
    rows = {row["candidate"]: row for row in _leaderboard(list(results.values()), {}, first)}
    assert rows["logreg"]["settings_skipped"] == 2 and rows["forest"]["settings_skipped"] == 3
    assert rows[BASELINE]["settings_skipped"] == 0


def test_without_a_budget_every_setting_runs() -> None:
    results = {res.name: res for res in train_all(recipe({"candidates": CANDIDATES}), dataset())}
    assert results["logreg"].n_settings == 3 and results["logreg"].skipped == 0
    assert results["forest"].n_settings == 3 and not results["forest"].notes


def test_budget_binds_only_after_a_finished_setting() -> None:
    budget = Budget(0.0)
    assert not budget.spent() and budget.remaining() == 0.0
    budget.scored = True
    assert budget.spent()
    assert not Budget(None).spent() and Budget(None).remaining() is None


def test_the_ensemble_is_cross_validated_and_ranked_like_a_candidate() -> None:
    r = recipe({"candidates": CANDIDATES, "ensemble": {"method": "voting", "top": 2}})
    results = train_all(r, dataset())
    by_name = {res.name: res for res in results}
    ens = by_name["ensemble"]
    assert ens.estimator in ("voting(logreg+forest)", "voting(forest+logreg)")
    assert ens.n_settings == 1 and len(ens.cv_scores) == 2 and math.isfinite(ens.cv_mean)
    assert {"logreg.C", "forest.max_depth"} <= set(ens.best_params)
    model = ens.best_estimator.steps[-1][1]
    assert type(model).__name__ == "VotingClassifier" and hasattr(model, "classes_")
    # it wins exactly when its CV is the best
    best = max((x for x in results if x.name != BASELINE), key=lambda x: x.cv_mean)
    assert pick_winner(r, results).name == best.name
    worse = [*(x for x in results if x.name != "ensemble"), _scored(ens, -1.0)]
    assert pick_winner(r, worse).name != "ensemble"
    better = [*(x for x in results if x.name != "ensemble"), _scored(ens, 2.0)]
    assert pick_winner(r, better).name == "ensemble"


def _scored(res, cv: float):
    from dataclasses import replace

    return replace(res, cv_mean=cv)


def test_stacking_for_regression() -> None:
    data = dataset()
    data.y_train = data.X_train.a * 2 + data.X_train.b
    data.y_test = data.X_test.a * 2 + data.X_test.b
    data.classes, data.positive_class = [], None
    r = validate(
        {
            "name": "t",
            "task": "regression",
            "data": {"source": "x.csv", "target": "y"},
            "features": {"numeric": ["a", "b"]},
            "models": {
                "cv_folds": 2,
                "candidates": {
                    "ridge": {"estimator": "ridge"},
                    "forest": {"estimator": "random_forest", "params": {"n_estimators": 5}},
                },
                "ensemble": {"method": "stacking", "top": 2},
            },
            "tuning": {"n_jobs": 1},
        }
    )
    ens = {res.name: res for res in train_all(r, data)}["ensemble"]
    assert ens.estimator.startswith("stacking(") and math.isfinite(ens.cv_mean)
    assert type(ens.best_estimator.steps[-1][1]).__name__ == "StackingRegressor"


def test_a_candidate_may_not_take_the_ensembles_name() -> None:
    with pytest.raises(RecipeError, match="named 'ensemble'"):
        recipe({"candidates": {"ensemble": CANDIDATES["logreg"]}, "ensemble": {"top": 2}})
