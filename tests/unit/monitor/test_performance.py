"""Production performance: labels mapped back to classes, drops, thresholds, too few labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlctl.errors import RecipeError
from mlctl.monitor.performance import LabelMap, performance, probability_matrix

pytestmark = pytest.mark.unit

DAY = 86400
T0 = 1_714_521_600


def binary_frame(n: int = 400, classes=(0, 1), noise: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Logged rows of a binary model: text predictions and labels, JSON probabilities."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    p1 = np.clip(0.15 + 0.7 * truth + rng.normal(0, noise, n), 0.01, 0.99)
    text = [str(c) for c in classes]
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": T0 + np.arange(n) * (3 * DAY / n),
            "model_version": 4,
            "prediction": [text[int(p >= 0.5)] for p in p1],
            "score": p1,
            "probabilities": [json.dumps({text[0]: 1 - p, text[1]: p}) for p in p1],
            "label": [text[t] for t in truth],
        }
    )


def run(frame, **kw):
    args = {
        "task": "classification",
        "classes": [0, 1],
        "positive_class": 1,
        "metrics": ["roc_auc", "accuracy", "log_loss"],
        "trained": {"roc_auc": 0.9, "accuracy": 0.85, "log_loss": 0.35},
        "max_drop": 0.05,
        "min_labels": 200,
        "thresholds": {},
        "n_predictions": 1000,
    }
    args.update(kw)
    return performance(frame, **args)


# ------------------------------------------------------------------ label mapping


@pytest.mark.parametrize(
    ("classes", "texts", "expected"),
    [
        ([0, 1], ["1", "1.0", "true", "True", " 0 ", "0.0", "false"], [1, 1, 1, 1, 0, 0, 0]),
        ([True, False], ["True", "1", "false", "0.0", "TRUE"], [0, 0, 1, 1, 0]),
        (["No", "Yes"], ["Yes", "yes", " No", "NO"], [1, 1, 0, 0]),
        (["0", "1"], ["1.0", "true", "0"], [1, 1, 0]),
        ([1.0, 2.0], ["1", "2.0", "2"], [0, 1, 1]),
        (np.array([3, 7, 9]), ["7", "9.0"], [1, 2]),
    ],
)
def test_labels_map_to_classes(classes, texts, expected) -> None:
    idx, unmatched = LabelMap(classes).map(texts)
    assert idx.tolist() == expected and unmatched == {}


def test_unmatched_labels_are_counted_not_guessed() -> None:
    idx, unmatched = LabelMap(["No", "Yes"]).map(["maybe", "1", None, "maybe", "Yes"])
    assert idx.tolist() == [-1, -1, -1, -1, 1]
    assert unmatched == {"maybe": 2, "1": 1, "<missing>": 1}


def test_ambiguous_loose_match_needs_the_exact_text() -> None:
    lm = LabelMap(["yes", "Yes"])
    assert lm.map(["yes", "Yes", "YES"])[0].tolist() == [0, 1, -1]
    lm = LabelMap([1, "1"])  # exact text finds the first; loose "1.0" names both
    assert lm.map(["1", "1.0"])[0].tolist() == [0, -1]


def test_probability_matrix_follows_the_classes() -> None:
    texts = ['{"No": 0.2, "Yes": 0.8}', None, '{"Yes": 1.0}', "not json"]
    m = probability_matrix(texts, ["No", "Yes"])
    assert m[0].tolist() == [0.2, 0.8]
    assert np.isnan(m[1]).all() and np.isnan(m[2, 0]) and m[2, 1] == 1.0
    assert np.isnan(m[3]).all()
    assert probability_matrix(['{"1": 0.3, "0": 0.7}'], [0.0, 1.0]).tolist() == [[0.7, 0.3]]


# ------------------------------------------------------------------ verdicts


def test_good_model_is_ok() -> None:
    frame = binary_frame()
    r = run(frame)
    assert r.status == "ok" and not r.flagged
    assert r.n_labelled == r.n_evaluated == 400 and r.labelled_share == 0.4
    by = {m.name: m for m in r.metrics}
    assert by["roc_auc"].production > 0.95 and by["roc_auc"].drop < 0
    assert r.probabilities == "all" and r.model_versions == {"4": 400}
    assert r.message.startswith("ok on 400 labelled predictions: roc_auc")


def test_not_enough_labels_is_a_status_not_a_failure() -> None:
    r = run(binary_frame(37), n_predictions=5000)
    assert r.status == "not_enough_labels" and not r.flagged
    assert r.message.startswith("not enough labels: 37 of 200 needed (37 of 5000")
    assert all(m.production is None for m in r.metrics) and r.checks == []
    assert r.to_dict()["metrics"]["roc_auc"]["trained"] == 0.9


def test_no_predictions() -> None:
    empty = binary_frame().iloc[:0]
    r = run(empty, n_predictions=0)
    assert r.status == "not_enough_labels" and r.message == "no predictions in the window"
    assert r.labelled_share is None


def test_unmatched_labels_are_left_out_and_reported() -> None:
    frame = binary_frame()
    frame.loc[:9, "label"] = "unknown"
    r = run(frame)
    assert r.n_labelled == 400 and r.n_evaluated == 390
    assert r.unmatched_labels == {"unknown": 10}
    assert "10 labels match no class ('unknown')" in r.message
    assert r.to_dict()["unmatched_labels"] == {"count": 10, "values": {"unknown": 10}}


def test_drop_in_the_better_direction() -> None:
    frame = binary_frame(noise=0.45, seed=1)  # a much worse model in production
    r = run(frame, trained={"roc_auc": 0.99, "accuracy": 0.97, "log_loss": 0.05})
    by = {m.name: m for m in r.metrics}
    assert by["roc_auc"].drop == pytest.approx(0.99 - by["roc_auc"].production)
    assert by["log_loss"].drop == pytest.approx(by["log_loss"].production - 0.05)  # lower is better
    assert by["roc_auc"].dropped and by["log_loss"].dropped and not by["log_loss"].greater_is_better
    assert r.status == "degraded" and r.drop_flagged
    assert "roc_auc dropped" in r.message


def test_improvement_is_never_a_drop() -> None:
    r = run(binary_frame(), trained={"roc_auc": 0.5, "accuracy": 0.5, "log_loss": 2.0})
    assert all(m.drop < 0 and not m.dropped for m in r.metrics)


def test_max_drop_per_metric() -> None:
    frame = binary_frame(noise=0.45, seed=1)
    trained = {"roc_auc": 0.99, "accuracy": 0.97, "log_loss": 0.05}
    r = run(frame, trained=trained, max_drop={"accuracy": 1.0})
    by = {m.name: m for m in r.metrics}
    assert not by["accuracy"].dropped
    assert not by["roc_auc"].dropped and by["roc_auc"].max_drop is None  # not limited
    assert r.status == "ok"


def test_missing_training_value_has_no_drop() -> None:
    r = run(binary_frame(), trained={})
    assert all(m.trained is None and m.drop is None and not m.dropped for m in r.metrics)


def test_thresholds_rechecked_on_production() -> None:
    r = run(binary_frame(noise=0.45, seed=1), thresholds={"min_roc_auc": 0.99, "max_log_loss": 5})
    assert [(c.name, c.passed) for c in r.checks] == [
        ("production min_roc_auc", False),
        ("production max_log_loss", True),
    ]
    assert r.thresholds_failed and r.status == "degraded"
    assert "production min_roc_auc is 0." in r.message


def test_string_classes_and_positive_class() -> None:
    frame = binary_frame(classes=("No", "Yes"))
    frame["label"] = frame["label"].str.lower()
    r = run(frame, classes=["No", "Yes"], positive_class="Yes", metrics=["recall", "pr_auc"])
    assert r.n_evaluated == 400 and r.status == "ok"


def test_partial_probabilities_leave_probability_metrics_undefined() -> None:
    frame = binary_frame()
    frame.loc[:4, "probabilities"] = None
    r = run(frame, thresholds={"min_roc_auc": 0.5})
    by = {m.name: m for m in r.metrics}
    assert r.probabilities == "partial"
    assert by["roc_auc"].production is None and by["accuracy"].production is not None
    assert r.checks[0].passed is False and r.checks[0].detail == "metric undefined"


def test_multiclass() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    names = ["a", "b", "c"]
    probs = np.full((300, 3), 0.1)
    probs[np.arange(300), y] = 0.8
    frame = pd.DataFrame(
        {
            "label": [names[i].upper() for i in y],
            "prediction": [names[i] for i in y],
            "probabilities": [json.dumps(dict(zip(names, p, strict=True))) for p in probs],
        }
    )
    r = run(frame, classes=names, positive_class=None, metrics=["accuracy", "roc_auc", "f1"])
    assert {m.name: m.production for m in r.metrics} == {"accuracy": 1.0, "roc_auc": 1.0, "f1": 1.0}


def test_regression() -> None:
    frame = pd.DataFrame(
        {
            "label": ["10", "20.5", "x", "30", "40"],
            "prediction": ["11", "20.5", "5", None, "39"],
            "score": [11.0, 20.5, 5.0, 31.0, 39.0],
        }
    )
    r = performance(frame, "regression", None, None, ["mae", "r2"], {"mae": 0.1}, 0.5, 3, {})
    by = {m.name: m for m in r.metrics}
    assert r.n_evaluated == 4 and r.unmatched_labels == {"x": 1}
    assert by["mae"].production == pytest.approx(0.75)  # the missing text falls back to score
    assert by["mae"].dropped and not by["mae"].greater_is_better


def test_time_series_per_bucket() -> None:
    r = run(binary_frame(300), series_min_labels=50)
    points = r.to_dict()["series"]["points"]
    assert [p["start"] for p in points] == [T0, T0 + DAY, T0 + 2 * DAY]
    assert sum(p["n_labelled"] for p in points) == 300
    assert all(p["metrics"]["roc_auc"] is not None for p in points)
    sparse = run(binary_frame(300), series_min_labels=101).to_dict()["series"]["points"]
    assert all(p["metrics"]["roc_auc"] is None for p in sparse)
    hourly = run(binary_frame(300), bucket_seconds=3600, series_min_labels=1)
    assert len(hourly.series) == 72


def test_unknown_metric() -> None:
    with pytest.raises(RecipeError, match="unknown metric 'rmse' for task 'classification'"):
        run(binary_frame(), metrics=["rmse"])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"min_labels": -1}, "'min_labels'"),
        ({"max_drop": -0.1}, "'max_drop'"),
        ({"classes": None}, "'classes'"),
    ],
)
def test_bad_parameters(kw, match) -> None:
    with pytest.raises(ValueError, match=match):
        run(binary_frame(), **kw)


def test_to_dict_is_json_safe_with_stable_keys() -> None:
    frame = binary_frame()
    frame.loc[:4, "probabilities"] = None  # undefined metrics become null, not NaN
    d = run(frame, thresholds={"min_roc_auc": 0.8}).to_dict()
    json.dumps(d, allow_nan=False)
    assert list(d) == [
        "status", "message", "task", "n_predictions", "n_labelled", "labelled_share",
        "n_evaluated", "min_labels", "flagged", "drop_flagged", "thresholds_failed",
        "metrics", "checks", "unmatched_labels", "unmatched_predictions", "probabilities",
        "model_versions", "series",
    ]  # fmt: skip
    assert list(d["metrics"]["roc_auc"]) == [
        "name", "greater_is_better", "production", "trained", "drop", "max_drop", "dropped",
    ]  # fmt: skip


def test_labels_of_one_class_are_not_judged() -> None:
    """Only one class in the labels: ROC AUC is undefined; it used to fail the
    readiness thresholds (attention), now performance is not judged and says why."""
    frame = binary_frame().assign(label="0")
    r = run(frame, thresholds={"min_roc_auc": 0.5})
    assert r.status == "not_enough_labels" and not r.flagged
    assert "all 400 labels are the class '0'" in r.message


def test_an_undefined_metric_never_fails_a_threshold() -> None:
    frame = binary_frame()
    frame.loc[:4, "probabilities"] = None  # roc_auc undefined
    r = run(frame, thresholds={"min_roc_auc": 0.5})
    assert r.status == "ok" and not r.flagged
    assert "min_roc_auc undefined on them, not judged" in r.message
