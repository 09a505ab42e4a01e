"""Metrics by threshold, the rules that choose one, and the threshold plot."""

from __future__ import annotations

import numpy as np
import pytest

from mlctl.errors import DataError
from mlctl.evaluate import threshold as th
from mlctl.evaluate.metrics import classification_metrics, predict_with_threshold

pytestmark = pytest.mark.unit

# Sorted by score: 0.1 (neg), 0.35 (pos), 0.4 (neg), 0.6 (pos), 0.7 (neg), 0.8 (pos).
Y = np.array([0, 0, 1, 1, 1, 0], dtype=bool)
S = np.array([0.1, 0.4, 0.35, 0.8, 0.6, 0.7])


def test_point_counts_by_hand() -> None:
    # >= 0.5: 0.6 (pos), 0.7 (neg), 0.8 (pos): tp 2, fp 1, fn 1, tn 2
    c = th.counts(Y, S, [0.5, 0.6, 0.0, 0.9])
    assert c["tp"].tolist() == [2, 2, 3, 0]
    assert c["fp"].tolist() == [1, 1, 3, 0]
    assert c["fn"].tolist() == [1, 1, 0, 3]
    assert c["tn"].tolist() == [2, 2, 0, 3]
    p = th.point(Y, S, 0.5, {"fp": 1, "fn": 5})
    assert p == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "specificity": 2 / 3, "cost": 1.0}
    )
    nothing = th.point(Y, S, 0.9)  # nothing predicted positive: precision undefined
    assert nothing["precision"] is None and nothing["recall"] == 0.0 and nothing["cost"] is None


def test_point_agrees_with_the_test_set_metrics() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500).astype(bool)
    score = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    proba = np.column_stack([1 - score, score])
    for threshold in (0.2, 0.5, 0.71):
        pred = predict_with_threshold(proba, [False, True], True, threshold)
        m = classification_metrics(y, pred, proba, [False, True], True)
        p = th.point(y, score, threshold)
        assert p["precision"] == pytest.approx(m["precision"])
        assert p["recall"] == pytest.approx(m["recall"])
        assert p["f1"] == pytest.approx(m["f1"])


def test_f1_rule_by_hand() -> None:
    # F1 by lowest positive score: 0.1 -> 6/9, 0.35 -> 6/8 (best), 0.4 -> 4/7, 0.6 -> 4/6.
    # Every threshold in (0.1, 0.35] predicts the same rows; the shortest of them is 0.3.
    assert th.choose(Y, S, "f1") == 0.3


def test_youden_ties_go_to_the_threshold_nearest_one_half() -> None:
    # J = 1/3 in (0.1, 0.35], (0.4, 0.6] and (0.7, 0.8]: the middle one holds 0.5.
    assert th.choose(Y, S, "youden") == 0.5


def test_cost_rule_by_hand() -> None:
    # fn costs 5: (0.1, 0.35] catches every positive for 2 false positives (cost 2).
    assert th.choose(Y, S, "cost", {"fp": 1, "fn": 5}) == 0.3
    # fp costs 5: (0.7, 0.8] keeps one true positive and no false positive (cost 2).
    assert th.choose(Y, S, "cost", {"fp": 5, "fn": 1}) == 0.8
    # A false negative costs nothing: every threshold above the last negative (0.7)
    # costs 0, and (0.7, 0.8] is the nearest to 0.5.
    assert th.choose(Y, S, "cost", {"fp": 1, "fn": 0}) == 0.8


@pytest.mark.parametrize(("fp", "fn"), [(1.0, 5.0), (3.0, 1.0), (1.0, 1.0)])
def test_cost_rule_finds_the_bayes_threshold_on_calibrated_scores(fp: float, fn: float) -> None:
    # With calibrated probabilities the expected cost is lowest at fp / (fp + fn).
    rng = np.random.default_rng(0)
    score = rng.uniform(size=200_000)
    y = rng.uniform(size=score.size) < score
    chosen = th.choose(y, score, "cost", {"fp": fp, "fn": fn})
    assert chosen == pytest.approx(fp / (fp + fn), abs=0.02)


def test_choose_refuses_one_class_and_unknown_rules() -> None:
    with pytest.raises(DataError, match=r"evaluation\.threshold: .*both classes"):
        th.choose(np.ones(4, bool), np.linspace(0, 1, 4), "f1")
    with pytest.raises(ValueError, match="unknown threshold rule"):
        th.choose(Y, S, "accuracy")
    with pytest.raises(ValueError, match="needs costs"):
        th.choose(Y, S, "cost")


def test_curve_has_101_points_from_0_to_1() -> None:
    rng = np.random.default_rng(1)
    score = rng.uniform(size=5000)
    y = rng.uniform(size=score.size) < score
    curve = th.curve(y, score, {"fp": 1, "fn": 2})
    assert len(curve) == th.CURVE_POINTS == 101
    assert [c["threshold"] for c in curve[:3]] == [0.0, 0.01, 0.02]
    assert curve[-1]["threshold"] == 1.0
    assert curve[0]["recall"] == 1.0 and curve[0]["specificity"] == 0.0
    assert curve[50] == {"threshold": 0.5, **th.point(y, score, 0.5, {"fp": 1, "fn": 2})}
    assert set(curve[10]) == {"threshold", *th.METRICS}
    assert th.curve(y, score)[10]["cost"] is None


def test_threshold_png(tmp_path) -> None:
    rng = np.random.default_rng(2)
    score = rng.uniform(size=400)
    y = rng.uniform(size=score.size) < score
    costs = {"fp": 1.0, "fn": 5.0}
    analysis = {
        "method": "cost",
        "chosen": 0.17,
        "costs": costs,
        "curve": th.curve(y, score, costs),
    }
    for name, a in {
        "cost": analysis,
        "plain": {**analysis, "method": "fixed", "chosen": 0.5, "costs": None},
        "empty": {"method": "fixed", "chosen": 0.5, "costs": None, "curve": []},
    }.items():
        path = th.threshold_png(a, tmp_path / name / "threshold.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
