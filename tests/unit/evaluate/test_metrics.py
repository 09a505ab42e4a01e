import math

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlctl.errors import DataError, RecipeError
from mlctl.evaluate.importance import permutation_importance_table
from mlctl.evaluate.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    MetricInfo,
    classification_metrics,
    confusion,
    cv_scorer,
    cv_scoring,
    metrics_for_task,
    predict_with_threshold,
    regression_metrics,
    sign,
)

pytestmark = pytest.mark.unit

# A hand-checkable binary problem, positive class "yes".
Y_TRUE = np.array(["no", "yes", "yes", "no", "yes", "no"])
Y_PRED = np.array(["no", "yes", "no", "no", "yes", "yes"])
P_YES = np.array([0.1, 0.9, 0.4, 0.2, 0.8, 0.6])
PROBA = np.column_stack([1 - P_YES, P_YES])


# --------------------------------------------------------------------------- registry


def test_registries_hold_the_documented_metrics():
    assert list(CLASSIFICATION_METRICS) == [
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "balanced_accuracy",
    ]
    assert list(REGRESSION_METRICS) == ["rmse", "mae", "r2", "mape"]
    assert all(isinstance(m, MetricInfo) for m in CLASSIFICATION_METRICS.values())
    assert CLASSIFICATION_METRICS["pr_auc"].sklearn_scoring == "average_precision"
    assert CLASSIFICATION_METRICS["log_loss"].greater_is_better is False
    assert REGRESSION_METRICS["rmse"].sklearn_scoring == "neg_root_mean_squared_error"
    assert REGRESSION_METRICS["r2"].greater_is_better is True


def test_metrics_for_task():
    assert metrics_for_task("classification") == CLASSIFICATION_METRICS
    assert metrics_for_task("regression") == REGRESSION_METRICS
    with pytest.raises(RecipeError, match="unknown task"):
        metrics_for_task("clustering")


@pytest.mark.parametrize(
    ("metric", "task", "n_classes", "expected"),
    [
        ("roc_auc", "classification", 2, "roc_auc"),
        ("roc_auc", "classification", 3, "roc_auc_ovr_weighted"),
        ("f1", "classification", 2, "f1"),
        ("f1", "classification", 4, "f1_weighted"),
        ("precision", "classification", 3, "precision_weighted"),
        ("recall", "classification", 3, "recall_weighted"),
        ("accuracy", "classification", 3, "accuracy"),
        ("log_loss", "classification", 3, "neg_log_loss"),
        ("pr_auc", "classification", 2, "average_precision"),
        ("balanced_accuracy", "classification", 5, "balanced_accuracy"),
        ("rmse", "regression", 0, "neg_root_mean_squared_error"),
        ("mae", "regression", 0, "neg_mean_absolute_error"),
        ("mape", "regression", 0, "neg_mean_absolute_percentage_error"),
        ("r2", "regression", 0, "r2"),
    ],
)
def test_cv_scoring(metric, task, n_classes, expected):
    assert cv_scoring(metric, task, n_classes) == expected


def test_cv_scoring_rejects_a_metric_of_the_other_task():
    with pytest.raises(RecipeError, match="unknown metric 'rmse'"):
        cv_scoring("rmse", "classification", 2)


def test_sign_turns_neg_scores_back():
    assert sign("log_loss") == -1.0
    assert sign("rmse") == -1.0
    assert sign("mae") == -1.0
    assert sign("mape") == -1.0
    assert sign("roc_auc") == 1.0
    assert sign("r2") == 1.0
    assert sign("neg_log_loss") == -1.0
    with pytest.raises(RecipeError):
        sign("nope")


def test_cv_scorer_binds_a_string_positive_label():
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression().fit(X, labels)
    scorer = cv_scorer("precision", "classification", ["no", "yes"], "yes")
    assert scorer(model, X, labels) == pytest.approx(
        precision_score(labels, model.predict(X), pos_label="yes")
    )
    ap = cv_scorer("pr_auc", "classification", ["no", "yes"], "no")
    assert ap(model, X, labels) == pytest.approx(
        average_precision_score(labels == "no", model.predict_proba(X)[:, 0])
    )
    assert cv_scorer("roc_auc", "classification", ["no", "yes"], "yes") == "roc_auc"
    assert cv_scorer("f1", "classification", [0, 1, 2]) == "f1_weighted"


# --------------------------------------------------------------------------- classification


def test_binary_metrics_by_hand():
    m = classification_metrics(Y_TRUE, Y_PRED, PROBA, ["no", "yes"], "yes")
    assert set(m) == set(CLASSIFICATION_METRICS)
    # tp=2 (rows 1, 4), fp=1 (row 5), fn=1 (row 2), tn=2
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)
    # positives score 0.9, 0.4, 0.8; negatives 0.1, 0.2, 0.6: 8 of 9 pairs ordered
    assert m["roc_auc"] == pytest.approx(8 / 9)
    assert m["pr_auc"] == pytest.approx(average_precision_score(Y_TRUE == "yes", P_YES))
    expected_ll = -np.mean(np.log(np.where(Y_TRUE == "yes", P_YES, 1 - P_YES)))
    assert m["log_loss"] == pytest.approx(expected_ll)


def test_binary_metrics_with_the_first_class_positive():
    m = classification_metrics(Y_TRUE, Y_PRED, PROBA, ["no", "yes"], "no")
    # for "no": tp=2 (rows 0, 3), fp=1 (row 2), fn=1 (row 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y_TRUE == "no", PROBA[:, 0]))
    assert m["pr_auc"] == pytest.approx(average_precision_score(Y_TRUE == "no", PROBA[:, 0]))


def test_binary_metrics_accept_a_1d_positive_probability():
    full = classification_metrics(Y_TRUE, Y_PRED, PROBA, ["no", "yes"], "yes")
    bare = classification_metrics(Y_TRUE, Y_PRED, P_YES, ["no", "yes"], "yes")
    assert bare == pytest.approx(full)


def test_binary_metrics_match_sklearn_on_make_classification():
    X, y = make_classification(n_samples=300, n_features=6, random_state=1)
    model = LogisticRegression().fit(X[:200], y[:200])
    proba = model.predict_proba(X[200:])
    pred = model.predict(X[200:])
    m = classification_metrics(y[200:], pred, proba, [0, 1], 1)
    assert m["f1"] == pytest.approx(f1_score(y[200:], pred))
    assert m["recall"] == pytest.approx(recall_score(y[200:], pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y[200:], proba[:, 1]))
    assert m["log_loss"] == pytest.approx(log_loss(y[200:], proba))


def test_undefined_binary_metrics_are_nan():
    y_true = ["yes", "yes", "yes"]
    y_pred = ["no", "no", "no"]
    proba = np.array([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2]])
    m = classification_metrics(y_true, y_pred, proba, ["no", "yes"], "yes")
    assert math.isnan(m["roc_auc"])  # one class present
    assert math.isnan(m["pr_auc"])
    assert math.isnan(m["precision"])  # nothing predicted positive
    assert m["recall"] == 0.0
    assert m["f1"] == 0.0
    assert m["accuracy"] == 0.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.4, 0.3, 0.2])))

    none_positive = classification_metrics(["no", "no"], ["no", "no"], None, ["no", "yes"], "yes")
    assert math.isnan(none_positive["recall"])
    assert math.isnan(none_positive["f1"])
    assert math.isnan(none_positive["precision"])
    assert none_positive["accuracy"] == 1.0


def test_no_proba_gives_nan_probability_metrics():
    m = classification_metrics(Y_TRUE, Y_PRED, None, ["no", "yes"], "yes")
    for name in ("roc_auc", "pr_auc", "log_loss"):
        assert math.isnan(m[name])
    assert m["accuracy"] == pytest.approx(4 / 6)


def test_empty_input_is_all_nan():
    m = classification_metrics([], [], np.empty((0, 2)), [0, 1], 1)
    assert all(math.isnan(v) for v in m.values())


def test_unknown_positive_class_is_a_data_error():
    with pytest.raises(DataError, match="positive class"):
        classification_metrics(Y_TRUE, Y_PRED, PROBA, ["no", "yes"], "maybe")


def test_multiclass_metrics_are_weighted():
    y_true = np.array(["a", "b", "c", "a", "b", "c", "a"])
    y_pred = np.array(["a", "b", "b", "a", "c", "c", "b"])
    proba = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.5, 0.3],
            [0.6, 0.3, 0.1],
            [0.1, 0.4, 0.5],
            [0.1, 0.2, 0.7],
            [0.3, 0.4, 0.3],
        ]
    )
    classes = ["a", "b", "c"]
    m = classification_metrics(y_true, y_pred, proba, classes, None)
    assert m["accuracy"] == pytest.approx(4 / 7)
    assert m["precision"] == pytest.approx(precision_score(y_true, y_pred, average="weighted"))
    assert m["recall"] == pytest.approx(recall_score(y_true, y_pred, average="weighted"))
    assert m["f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert m["roc_auc"] == pytest.approx(
        roc_auc_score(y_true, proba, multi_class="ovr", average="weighted")
    )
    indicator = (y_true[:, None] == np.array(classes)).astype(int)
    assert m["pr_auc"] == pytest.approx(
        average_precision_score(indicator, proba, average="weighted")
    )
    assert m["log_loss"] == pytest.approx(log_loss(y_true, proba, labels=classes))

    # The same problem with classes (and proba columns) in another order.
    order = [2, 0, 1]
    shuffled = classification_metrics(
        y_true, y_pred, proba[:, order], [classes[i] for i in order], None
    )
    assert shuffled == pytest.approx(m)


def test_multiclass_with_one_class_present_gives_nan_auc():
    proba = np.array([[0.5, 0.3, 0.2], [0.6, 0.2, 0.2]])
    m = classification_metrics([0, 0], [0, 1], proba, [0, 1, 2], None)
    assert math.isnan(m["roc_auc"])
    assert math.isnan(m["pr_auc"])
    assert m["accuracy"] == 0.5


def test_confusion_rows_are_actual_columns_predicted():
    cm = confusion(Y_TRUE, Y_PRED, ["no", "yes"])
    assert cm == {"labels": ["no", "yes"], "matrix": [[2, 1], [1, 2]]}
    assert all(type(v) is int for row in cm["matrix"] for v in row)
    cm3 = confusion(np.array([0, 1, 2]), np.array([0, 0, 0]), np.array([0, 1, 2]))
    assert cm3["matrix"] == [[1, 0, 0], [1, 0, 0], [1, 0, 0]]
    assert all(type(v) is int for v in cm3["labels"])


def test_predict_with_threshold():
    classes = ["no", "yes"]
    assert predict_with_threshold(PROBA, classes, "yes", 0.5).tolist() == [
        "no",
        "yes",
        "no",
        "no",
        "yes",
        "yes",
    ]
    assert predict_with_threshold(PROBA, classes, "yes", 0.85).tolist() == [
        "no",
        "yes",
        "no",
        "no",
        "no",
        "no",
    ]
    # threshold applies to the positive class's column, ">=" inclusive
    assert predict_with_threshold(PROBA, classes, "no", 0.9).tolist() == [
        "no",
        "yes",
        "yes",
        "yes",
        "yes",
        "yes",
    ]
    multi = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    assert predict_with_threshold(multi, [1, 2, 3], None, 0.9).tolist() == [2, 1]


# --------------------------------------------------------------------------- regression


def test_regression_metrics_by_hand():
    m = regression_metrics([1.0, 2.0, 4.0], [2.0, 2.0, 2.0])
    # errors 1, 0, -2
    assert m["mae"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(math.sqrt(5 / 3))
    # ss_res = 5, ss_tot = (1-7/3)^2 + (2-7/3)^2 + (4-7/3)^2 = 14/3
    assert m["r2"] == pytest.approx(1 - 5 / (14 / 3))
    assert m["mape"] == pytest.approx((1 + 0 + 0.5) / 3)


def test_undefined_regression_metrics_are_nan():
    m = regression_metrics(pd.Series([0.0, 1.0, 2.0]), [0.5, 1.0, 2.0])
    assert math.isnan(m["mape"])
    assert m["mae"] == pytest.approx(0.5 / 3)
    assert math.isnan(regression_metrics([3.0, 3.0], [3.0, 4.0])["r2"])
    assert math.isnan(regression_metrics([3.0], [3.0])["r2"])
    assert all(math.isnan(v) for v in regression_metrics([], []).values())


# --------------------------------------------------------------------------- importance


def test_permutation_importance_table_ranks_the_informative_column_first():
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(
        {
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "colour": rng.choice(["red", "blue"], size=n),
        }
    )
    y = (X["signal"] > 0).astype(int)
    prep = make_column_transformer(
        (StandardScaler(), ["signal", "noise"]), (OneHotEncoder(), ["colour"])
    )
    pipe = make_pipeline(prep, LogisticRegression()).fit(X, y)

    table = permutation_importance_table(pipe, X, y, "accuracy", n_repeats=3, max_rows=150)
    # one row per raw input column, not per engineered feature
    assert sorted(row[0] for row in table) == ["colour", "noise", "signal"]
    assert table[0][0] == "signal"
    assert table[0][1] > 0.2
    assert all(abs(row[1]) < 0.05 for row in table[1:])
    assert [row[1] for row in table] == sorted((row[1] for row in table), reverse=True)
    assert all(isinstance(v, float) for row in table for v in row[1:])
    # deterministic with the same random_state
    again = permutation_importance_table(pipe, X, y, "accuracy", n_repeats=3, max_rows=150)
    assert again == table


def test_permutation_importance_rejects_empty_frames():
    with pytest.raises(DataError):
        permutation_importance_table(None, pd.DataFrame({"a": []}), [], "accuracy")
