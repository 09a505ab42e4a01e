"""The calibration step and the decision threshold chosen on out-of-fold probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier, StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlctl.data.prepare import Dataset
from mlctl.errors import RecipeError
from mlctl.evaluate import threshold as th
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.loader import validate
from mlctl.train.finalize import check_threshold_task, decision_threshold, finalize
from mlctl.train.search import SearchResult

pytestmark = pytest.mark.unit

FOLDS = 3


def recipe(**evaluation):
    return validate(
        {
            "name": "t",
            "seed": 7,
            "data": {"source": "x.csv", "target": "y"},
            "features": {"numeric": ["a", "b", "c"]},
            "models": {"cv_folds": FOLDS},
            "tuning": {"n_jobs": 1},
            "evaluation": evaluation,
        }
    )


def dataset(X: pd.DataFrame, y: np.ndarray, test: int = 300) -> Dataset:
    labels = pd.Series(np.where(y, "yes", "no"))
    return Dataset(
        X_train=X.iloc[test:].reset_index(drop=True),
        X_test=X.iloc[:test].reset_index(drop=True),
        y_train=labels.iloc[test:].reset_index(drop=True),
        y_test=labels.iloc[:test].reset_index(drop=True),
        input_columns=list(X.columns),
        classes=["no", "yes"],
        positive_class="yes",
        fingerprint="x",
        files=[],
        rows=len(X),
    )


def logistic_data(n: int = 1800, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Classes drawn from a logistic model: a logistic regression is calibrated on it."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    logit = -1.0 + 1.2 * X["a"] - 0.8 * X["b"] + 0.3 * X["c"]
    return X, rng.uniform(size=n) < 1 / (1 + np.exp(-logit))


def redundant_data(n: int = 1800, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Three copies of one signal: naive Bayes counts the evidence three times, so its
    probabilities are far too sure of themselves."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    X = pd.DataFrame({k: signal + 0.05 * rng.normal(size=n) for k in ("a", "b", "c")})
    return X, rng.uniform(size=n) < 1 / (1 + np.exp(-(signal - 0.5)))


def winner(estimator, data: Dataset) -> SearchResult:
    pipe = Pipeline([("scale", StandardScaler()), ("model", estimator)])
    pipe.fit(data.X_train, data.y_train)
    return SearchResult("w", type(estimator).__name__, 0.8, 0.01, {}, pipe, 1, 0.0)


def oof_score(pipe: Pipeline, data: Dataset, seed: int = 7) -> np.ndarray:
    cv = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    proba = cross_val_predict(pipe, data.X_train, data.y_train, cv=cv, method="predict_proba")
    return proba[:, 1]


def test_auto_leaves_a_calibrated_logistic_model_alone() -> None:
    data = dataset(*logistic_data())
    w = winner(LogisticRegression(), data)
    final = finalize(recipe(calibration="auto"), w, data)
    step = final.calibration_step
    assert step["requested"] == "auto" and step["applied"] is None
    assert "left as it is" in step["reason"]
    assert step["brier_oof_before"] > 0 and step["brier_oof_after"] is None
    assert final.pipeline is w.best_estimator  # threshold 0.5: nothing to bake
    assert final.threshold == 0.5


def test_auto_calibrates_an_overconfident_naive_bayes() -> None:
    data = dataset(*redundant_data())
    w = winner(GaussianNB(), data)
    final = finalize(recipe(calibration="auto"), w, data)
    step = final.calibration_step
    assert step["applied"] in ("sigmoid", "isotonic")
    assert f"calibrated with {step['applied']}" in step["reason"]
    assert step["brier_oof_after"] < step["brier_oof_before"] - 0.01
    model = final.pipeline.named_steps["model"]
    assert isinstance(model, CalibratedClassifierCV) and model.method == step["applied"]
    assert isinstance(model.estimator, GaussianNB)
    assert [n for n, _ in final.pipeline.steps] == ["scale", "model"]


def test_sigmoid_wraps_an_unfitted_clone_with_the_best_params_and_the_recipe_folds() -> None:
    data = dataset(*logistic_data())
    w = winner(LogisticRegression(C=0.3), data)
    final = finalize(recipe(calibration="sigmoid"), w, data)
    model = final.pipeline.named_steps["model"]
    assert isinstance(model, CalibratedClassifierCV) and model.method == "sigmoid"
    assert model.cv.get_n_splits() == FOLDS and model.cv.random_state == 7
    assert model.n_jobs is None  # the refit's workers are not logged with the model
    assert len(model.calibrated_classifiers_) == FOLDS
    assert all(c.estimator.C == 0.3 for c in model.calibrated_classifiers_)
    assert w.best_estimator.named_steps["model"] is not model.estimator
    step = final.calibration_step
    assert step["applied"] == "sigmoid" and step["reason"] == "evaluation.calibration is sigmoid"
    assert step["brier_oof_before"] is not None and step["brier_oof_after"] is not None


def test_cost_threshold_is_chosen_on_out_of_fold_probabilities_and_baked_in(tmp_path) -> None:
    data = dataset(*logistic_data())
    w = winner(LogisticRegression(), data)
    costs = {"fp": 1.0, "fn": 5.0}
    final = finalize(recipe(threshold={"optimize": "cost", "costs": costs}), w, data)
    score = oof_score(w.best_estimator, data)
    y = data.y_train.to_numpy() == "yes"
    assert final.threshold == th.choose(y, score, "cost", costs)
    assert 0.08 < final.threshold < 0.3  # near the Bayes threshold 1/6, far from 0.5
    last = final.pipeline.steps[-1][1]
    assert isinstance(last, FixedThresholdClassifier) and last.threshold == final.threshold
    p = final.pipeline.predict_proba(data.X_test)[:, 1]
    assert (
        final.pipeline.predict(data.X_test) == np.where(p >= final.threshold, "yes", "no")
    ).all()
    assert decision_threshold(recipe(), final.pipeline) == final.threshold

    class Best:  # what the runner's Evaluation holds for the test set
        proba = final.pipeline.predict_proba(data.X_test)
        classes = ["no", "yes"]

    ctx = final.context(Best, data)
    a = ctx["threshold_analysis"]
    assert list(a) == ["method", "chosen", "costs", "source", "at_chosen", "at_default", "curve"]
    assert a["method"] == "cost" and a["chosen"] == final.threshold and a["costs"] == costs
    assert (
        a["source"] == f"out-of-fold probabilities of {len(data.X_train):,} training rows (3 folds)"
    )
    y_test = data.y_test.to_numpy() == "yes"
    assert a["at_chosen"] == th.point(y_test, p, final.threshold, costs)
    assert a["at_default"] == th.point(y_test, p, 0.5, costs)
    assert a["at_chosen"]["cost"] < a["at_default"]["cost"]
    assert a["curve"] == th.curve(y, score, costs)
    assert ctx["threshold"] == final.threshold
    assert ctx["calibration_step"]["applied"] is None
    report = {"plots": {"roc": "roc.png"}}
    final.into(report, Best, data, tmp_path)
    assert report["threshold_analysis"] == a and report["plots"]["roc"] == "roc.png"
    assert report["plots"]["threshold"].read_bytes()[:4] == b"\x89PNG"


def test_fixed_threshold_is_baked_as_before_with_the_curve() -> None:
    data = dataset(*logistic_data())
    w = winner(LogisticRegression(), data)
    final = finalize(recipe(threshold=0.3), w, data)
    assert final.threshold == 0.3 and final.analysis["method"] == "fixed"
    assert final.pipeline.steps[-1][1].threshold == 0.3
    assert final.analysis["costs"] is None and len(final.analysis["curve"]) == 101


def test_threshold_after_calibration_uses_the_calibrated_pipeline() -> None:
    data = dataset(*redundant_data(900))
    w = winner(GaussianNB(), data)
    final = finalize(recipe(calibration="isotonic", threshold={"optimize": "f1"}), w, data)
    inner = final.pipeline.steps[-1][1]
    assert isinstance(inner, FixedThresholdClassifier)
    calibrated = inner.estimator.estimator  # FixedThresholdClassifier(FrozenEstimator(...))
    assert isinstance(calibrated, CalibratedClassifierCV)
    assert final.analysis["method"] == "f1"


def test_regression_is_left_alone() -> None:
    r = validate(
        {
            "name": "t",
            "task": "regression",
            "data": {"source": "x.csv", "target": "y"},
            "features": {"numeric": ["a"]},
            "split": {"strategy": "random"},
        }
    )
    sentinel = object()
    final = finalize(r, SearchResult("w", "x", 1, 0, {}, sentinel, 1, 0.0), None)
    assert final.pipeline is sentinel and final.threshold is None
    assert final.context(None, None) == {"threshold": None}


def test_a_chosen_threshold_needs_two_classes() -> None:
    r = recipe(threshold={"optimize": "f1"})
    loaded = LoadedRecipe(r, Path("r.yaml"), {}, [], {"evaluation.threshold": "r.yaml:12"})
    X, y = logistic_data(60)
    data = dataset(X, y, test=10)
    check_threshold_task(loaded, data)  # two classes: fine
    data.classes = ["a", "b", "c"]
    with pytest.raises(RecipeError, match=r"evaluation\.threshold \(r\.yaml:12\): .* has 3"):
        check_threshold_task(loaded, data)
    check_threshold_task(LoadedRecipe(recipe(threshold=0.3), Path("r.yaml"), {}, []), data)


def test_auto_on_three_classes_calibrates_one_against_the_rest() -> None:
    rng = np.random.default_rng(4)
    n = 1500
    signal = rng.normal(size=n)
    X = pd.DataFrame({k: signal + 0.05 * rng.normal(size=n) for k in ("a", "b", "c")})
    cut = signal + rng.logistic(size=n)
    labels = np.select([cut < -0.7, cut < 0.7], ["low", "mid"], "high")
    data = dataset(X, labels == "high")
    data.y_train = pd.Series(labels[300:])
    data.y_test = pd.Series(labels[:300])
    data.classes, data.positive_class = ["high", "low", "mid"], None
    final = finalize(recipe(calibration="auto"), winner(GaussianNB(), data), data)
    step = final.calibration_step
    assert step["applied"] in ("sigmoid", "isotonic")
    assert step["brier_oof_after"] < step["brier_oof_before"]
    assert final.threshold is None and final.analysis is None
    assert isinstance(final.pipeline.named_steps["model"], CalibratedClassifierCV)
    assert final.context(None, data) == {"threshold": None, "calibration_step": step}
