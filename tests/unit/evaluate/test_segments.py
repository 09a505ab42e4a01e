"""Segments of the test set: pooling, flags in the metric's direction, undefined metrics."""

import numpy as np
import pandas as pd
import pytest

from mlctl.errors import DataError
from mlctl.evaluate.segments import segment_table, segment_values

pytestmark = pytest.mark.unit


def accuracy_case():
    """A: 40 rows all right, B: 40 rows half right, C (5) and D (3) all right."""
    region = ["A"] * 40 + ["B"] * 40 + ["C"] * 5 + ["D"] * 3
    y = np.array([1, 0] * 44)
    pred = y.copy()
    pred[40:80:2] = 1 - pred[40:80:2]  # every other B row wrong
    return pd.DataFrame({"region": region}), y, pred


def table(X, y, pred, proba=None, metric="accuracy", task="classification", **kw):
    args = {"min_rows": 30, "max_gap": 0.05} | kw
    classes = [0, 1] if task == "classification" else []
    return segment_table(
        X,
        list(X.columns),
        task=task,
        metric=metric,
        y_true=y,
        y_pred=pred,
        proba=proba,
        classes=classes,
        positive_class=1 if classes else None,
        **args,
    )


def test_a_weak_segment_is_flagged_and_rare_values_are_pooled() -> None:
    X, y, pred = accuracy_case()
    seg = table(X, y, pred)
    assert seg["metric"] == "accuracy" and seg["max_gap"] == 0.05
    assert seg["whole"] == pytest.approx(68 / 88)  # 40 + 20 + 8 right
    rows = {r["value"]: r for r in seg["rows"]}
    assert list(rows) == ["A", "B", "(other)"]
    assert rows["B"]["score"] == 0.5
    assert rows["B"]["gap"] == pytest.approx(68 / 88 - 0.5)
    assert rows["B"]["flagged"] is True
    assert rows["A"]["flagged"] is False and rows["A"]["gap"] < 0
    assert rows["B"]["positive_rate"] == 0.5
    assert rows["(other)"]["rows"] == 8
    assert rows["(other)"]["note"] == "2 values with fewer than 30 rows each"
    assert rows["(other)"]["flagged"] is False


def test_the_gap_must_exceed_max_gap() -> None:
    X, y, pred = accuracy_case()
    seg = table(X, y, pred, max_gap=0.3)  # B's gap is 0.27
    assert not any(r["flagged"] for r in seg["rows"])


def test_lower_is_better_metrics_flag_a_larger_error() -> None:
    X = pd.DataFrame({"kind": ["x"] * 30 + ["y"] * 30})
    y = np.zeros(60)
    pred = np.r_[np.full(30, 0.1), np.full(30, 1.0)]  # x: error 0.1, y: error 1.0
    seg = table(X, y, pred, metric="mae", task="regression", max_gap=0.2)
    rows = {r["value"]: r for r in seg["rows"]}
    assert seg["whole"] == pytest.approx(0.55)
    assert rows["y"]["gap"] == pytest.approx(0.45) and rows["y"]["flagged"]
    assert rows["x"]["gap"] == pytest.approx(-0.45) and not rows["x"]["flagged"]
    assert rows["x"]["positive_rate"] is None


def test_a_segment_with_one_class_has_no_roc_auc_and_says_why() -> None:
    X = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 30})
    y = np.r_[np.zeros(30, dtype=int), np.tile([0, 1], 15)]
    p = np.linspace(0.1, 0.9, 60)
    proba = np.column_stack([1 - p, p])
    seg = table(X, y, (p > 0.5).astype(int), proba=proba, metric="roc_auc")
    a = seg["rows"][0]
    assert a["value"] == "a" and a["score"] is None and a["gap"] is None
    assert a["note"] == "only one class in these rows: roc_auc is undefined"
    assert a["flagged"] is False and a["positive_rate"] == 0.0


def test_a_numeric_column_with_many_values_is_cut_into_quartiles() -> None:
    labels, order, note = segment_values(pd.Series(np.arange(40)))
    assert order == ["0–9", "10–19", "20–29", "30–39"]
    assert labels.value_counts().to_dict() == dict.fromkeys(order, 10)
    assert note == "40 distinct values, cut into quartiles"
    few, none, no_note = segment_values(pd.Series([1, 2, None, 1]))
    assert list(few) == ["1.0", "2.0", "(missing)", "1.0"] and none is None and no_note is None


def test_every_segment_below_the_whole_on_a_rank_metric_gets_a_note() -> None:
    # The column itself separates the classes: group a is mostly 0, group b mostly 1
    rng = np.random.default_rng(0)
    g = np.repeat(["a", "b"], 100)
    y = np.r_[rng.random(100) < 0.1, rng.random(100) < 0.9].astype(int)
    p = np.clip(np.r_[np.full(100, 0.1), np.full(100, 0.9)] + rng.normal(0, 0.05, 200), 0, 1)
    seg = table(pd.DataFrame({"g": g}), y, (p > 0.5).astype(int), np.column_stack([1 - p, p]),
                metric="roc_auc")  # fmt: skip
    assert all(r["gap"] > 0 for r in seg["rows"])
    assert "every value scores below the whole test set" in seg["rows"][0]["note"]


def test_a_column_not_in_the_test_set_is_a_data_error_naming_the_nearest() -> None:
    X, y, pred = accuracy_case()
    with pytest.raises(DataError) as exc:
        segment_table(X, ["regoin"], task="classification", metric="accuracy", y_true=y,
                      y_pred=pred, proba=None, classes=[0, 1], positive_class=1, min_rows=30,
                      max_gap=0.05)  # fmt: skip
    assert str(exc.value).startswith(
        "evaluation.segments: 'regoin' is not an input column of the model; did you mean 'region'?"
    )
