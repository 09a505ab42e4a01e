"""collect: the sections a task gets, their PNGs, and the headline metrics."""

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline

from mlctl.evaluate.insight_plots import gain_png, learning_curve_png, lift_png
from mlctl.evaluate.insights import add_insights, collect, finish_insights, headline_metrics
from mlctl.evaluate.lift import lift_table
from mlctl.evaluate.metrics import classification_metrics, regression_metrics

pytestmark = pytest.mark.unit


@dataclass
class Data:
    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any
    positive_class: Any = None


@dataclass
class Scored:
    metrics: dict
    y_pred: Any
    proba: Any
    classes: list = field(default_factory=list)


def recipe(task: str, metric: str, segments=()) -> SimpleNamespace:
    evaluation = SimpleNamespace(segments=list(segments), segment_min_rows=30, segment_max_gap=0.05)
    return SimpleNamespace(task=task, selection_metric=metric, seed=0, evaluation=evaluation)


def frame(X) -> pd.DataFrame:
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    df["plan"] = np.where(df["x0"] > 0, "big", "small")
    return df


def test_a_binary_run_gets_every_section(tmp_path) -> None:
    X, y = make_classification(n_samples=600, n_features=4, random_state=0)
    df, y = frame(X), pd.Series(np.where(y == 1, "Yes", "No"))
    data = Data(df[:450], df[450:], y[:450], y[450:], "Yes")
    cols = ["x0", "x1", "x2", "x3"]  # the model reads these; "plan" is a segment
    model = Pipeline([("cols", ColumnTransformer([("keep", "passthrough", cols)])),
                      ("model", LogisticRegression())]).fit(data.X_train, data.y_train)  # fmt: skip
    proba = model.predict_proba(data.X_test)
    pred = model.predict(data.X_test)
    scored = Scored(
        classification_metrics(data.y_test, pred, proba, ["No", "Yes"], "Yes"),
        pred,
        proba,
        ["No", "Yes"],
    )
    ctx, plots = collect(
        recipe("classification", "roc_auc", ["plan"]), data, scored, model, tmp_path
    )
    assert set(ctx) == {"calibration", "lift", "segments", "learning_curve"}
    assert set(plots) == {"gain", "lift", "learning_curve"}
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in plots.values())
    assert sorted(r["value"] for r in ctx["segments"]["rows"]) == ["big", "small"]
    assert ctx["learning_curve"]["points"][-1] == {
        "train_rows": 450,
        "score": scored.metrics["roc_auc"],
    }
    assert len(ctx["learning_curve"]["points"]) == 4
    head = headline_metrics(ctx)
    assert head["test_brier"] == ctx["calibration"]["brier"]
    assert head["test_top_decile_lift"] == ctx["lift"]["bins"][0]["lift"] > 1
    logged = {}
    full = {"plots": {"roc": tmp_path / "roc.png"}}
    add_insights(full, recipe("classification", "roc_auc"), data, scored, model, tmp_path,
                 logged.update)  # fmt: skip
    assert set(full["plots"]) == {"roc", "gain", "lift", "learning_curve"}
    assert logged == headline_metrics(full)


def test_a_regression_run_gets_the_learning_curve_only(tmp_path) -> None:
    X, y = make_regression(n_samples=200, n_features=3, noise=5.0, random_state=0)
    df, y = pd.DataFrame(X, columns=["a", "b", "c"]), pd.Series(y)
    data = Data(df[:150], df[150:], y[:150], y[150:])
    model = LinearRegression().fit(data.X_train, data.y_train)
    pred = model.predict(data.X_test)
    scored = Scored(regression_metrics(data.y_test, pred), pred, None)
    ctx, plots = collect(recipe("regression", "rmse"), data, scored, model, tmp_path)
    assert set(ctx) == {"learning_curve"} and set(plots) == {"learning_curve"}
    assert headline_metrics(ctx) == {
        "test_brier": None,
        "test_ece": None,
        "test_top_decile_lift": None,
    }


def test_plots_of_undefined_sections_say_so(tmp_path) -> None:
    empty = lift_table([0] * 10, np.linspace(0, 1, 10))
    for draw, name in ((gain_png, "gain"), (lift_png, "lift")):
        assert draw(empty, tmp_path / f"{name}.png").stat().st_size > 1000
    curve = {"metric": "rmse", "points": [{"train_rows": 10, "score": None}], "slope": None}
    assert learning_curve_png(curve, tmp_path / "lc.png").stat().st_size > 1000


def test_finish_makes_the_recommendations_and_writes_valid_json(tmp_path) -> None:
    ctx = {
        "task": "classification",
        "selection_metric": "roc_auc",
        "threshold": 0.5,
        "confusion": {"labels": ["No", "Yes"], "matrix": [[80, 0], [0, 20]]},
        "calibration": {"brier": 0.1, "brier_reference": 0.16, "ece": float("nan"), "bins": []},
        "lift": {"base_rate": np.float64(0.2), "bins": []},
        "name": "not an insight",
    }
    path = finish_insights(ctx, tmp_path)
    assert [item["topic"] for item in ctx["recommendations"]] == ["imbalance", "threshold"]
    written = json.loads(path.read_text())  # NaN written as null: valid JSON
    assert set(written) == {"calibration", "lift", "recommendations"}
    assert written["calibration"]["ece"] is None and written["lift"]["base_rate"] == 0.2


def test_a_classifier_without_probabilities_gets_lift_but_no_calibration(tmp_path) -> None:
    from sklearn.svm import LinearSVC

    X, y = make_classification(n_samples=300, n_features=4, random_state=1)
    df = pd.DataFrame(X, columns=list("abcd"))
    data = Data(df[:200], df[200:], pd.Series(y[:200]), pd.Series(y[200:]), 1)
    model = LinearSVC().fit(data.X_train, data.y_train)
    p = 1 / (1 + np.exp(-model.decision_function(data.X_test)))  # as the runner scores it
    pred = model.predict(data.X_test)
    proba = np.column_stack([1 - p, p])
    scored = Scored(
        classification_metrics(data.y_test, pred, proba, [0, 1], 1), pred, proba, [0, 1]
    )
    ctx, _ = collect(recipe("classification", "roc_auc"), data, scored, model, tmp_path)
    assert "lift" in ctx and "calibration" not in ctx
    assert ctx["learning_curve"]["points"][0]["score"] > 0.5  # scored from decision_function
