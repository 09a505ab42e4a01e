"""Optuna tuning: spaces, pruning, refit, resumable storage, bad storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlctl.errors import RecipeError
from mlctl.recipe.schema import Distribution, Tuning
from mlctl.train.optuna_search import run_optuna, suggest

pytestmark = pytest.mark.unit


def data(n: int = 200):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = pd.Series(np.where(X["a"] + 0.5 * rng.normal(size=n) > 0, "yes", "no"))
    return X, y


def tune(tuning: Tuning, search=None):
    X, y = data()
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    return run_optuna(
        "lr",
        "logistic_regression",
        pipe,
        search or {"C": Distribution(distribution="float", low=0.01, high=10, log=True)},
        X=X,
        y=y,
        scorer=get_scorer("roc_auc"),
        metric_sign=1.0,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        tuning=tuning,
        study_name="t-lr",
        seed=0,
    )


class FakeTrial:
    def suggest_categorical(self, name, choices):
        return ("cat", name, tuple(choices))

    def suggest_int(self, name, low, high, log=False):
        return ("int", name, low, high, log)

    def suggest_float(self, name, low, high, log=False):
        return ("float", name, low, high, log)


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ([1, 2], ("cat", "p", (1, 2))),
        (Distribution(distribution="int", low=2, high=9), ("int", "p", 2, 9, False)),
        (Distribution(distribution="randint", low=2, high=9), ("int", "p", 2, 9, False)),
        (Distribution(distribution="float", low=0.1, high=1), ("float", "p", 0.1, 1.0, False)),
        (Distribution(distribution="loguniform", low=0.1, high=1), ("float", "p", 0.1, 1.0, True)),
        (
            Distribution(distribution="float", low=0.1, high=1, log=True),
            ("float", "p", 0.1, 1.0, True),
        ),
    ],
)
def test_suggest_maps_recipe_spaces(space, expected) -> None:
    assert suggest(FakeTrial(), "p", space) == expected


def test_tunes_refits_and_records_trials() -> None:
    res = tune(Tuning(strategy="optuna", n_trials=6, n_jobs=1))
    assert res.n_settings == 6 and len(res.trials) == 6
    assert 0.01 <= res.best_params["C"] <= 10
    assert len(res.cv_scores) == 3 and res.cv_mean > 0.8
    assert res.best_params["C"] == res.best_estimator.named_steps["model"].C
    best = max(t["value"] for t in res.trials if t["value"] is not None)
    assert res.cv_mean == pytest.approx(best)
    assert {t["state"] for t in res.trials} <= {"COMPLETE", "PRUNED"}


def test_same_seed_same_trials() -> None:
    a = tune(Tuning(strategy="optuna", n_trials=4, n_jobs=1, pruning=False))
    b = tune(Tuning(strategy="optuna", n_trials=4, n_jobs=1, pruning=False))
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]


def test_storage_resumes_the_study(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = tune(Tuning(strategy="optuna", n_trials=3, n_jobs=1, storage=url))
    second = tune(Tuning(strategy="optuna", n_trials=2, n_jobs=1, storage=url))
    assert len(first.trials) == 3 and len(second.trials) == 5


def test_bad_storage_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match="tuning.storage: cannot open Optuna storage"):
        tune(Tuning(strategy="optuna", n_trials=1, storage="nosuchdb://x"))
