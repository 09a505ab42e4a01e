"""Each recommendation fires on the numbers that call for it, and stays quiet otherwise."""

import copy

import pytest

from mlctl.evaluate.learning import FLAT, MORE_DATA
from mlctl.evaluate.recommend import class_shares, recommendations

pytestmark = pytest.mark.unit


def base_ctx(positives: int = 500, negatives: int = 500) -> dict:
    """A healthy balanced binary run: nothing to recommend."""
    return {
        "task": "classification",
        "selection_metric": "roc_auc",
        "threshold": 0.5,
        "data": {"test_rows": positives + negatives},
        "test_metrics": {"roc_auc": 0.84},
        "confusion": {"labels": ["No", "Yes"], "matrix": [[negatives, 0], [0, positives]]},
        "leaderboard": [
            {"candidate": "baseline", "is_winner": False, "cv_mean": 0.5, "cv_std": 0.0},
            {
                "candidate": "gbm",
                "is_winner": True,
                "cv_mean": 0.85,
                "cv_std": 0.01,
                "test": {"roc_auc": 0.84},
            },
        ],
        "calibration": {"brier": 0.13, "brier_reference": 0.19, "ece": 0.02, "bins": []},
        "segments": {
            "metric": "roc_auc",
            "whole": 0.84,
            "max_gap": 0.05,
            "rows": [
                {
                    "column": "gender",
                    "value": "F",
                    "rows": 500,
                    "score": 0.85,
                    "gap": -0.01,
                    "flagged": False,
                },
                {
                    "column": "gender",
                    "value": "M",
                    "rows": 500,
                    "score": 0.83,
                    "gap": 0.01,
                    "flagged": False,
                },
            ],
        },  # fmt: skip
        "learning_curve": {
            "metric": "roc_auc",
            "points": [{"train_rows": 100, "score": 0.80}, {"train_rows": 200, "score": 0.84}],
            "slope": 0.001,
            "verdict": FLAT,
        },
    }


def topics(ctx) -> list[str]:
    return [item["topic"] for item in recommendations(ctx)]


def only(ctx, topic) -> dict:
    found = [item for item in recommendations(ctx) if item["topic"] == topic]
    assert len(found) == 1, found
    return found[0]


def test_a_healthy_run_gets_no_recommendation() -> None:
    assert recommendations(base_ctx()) == []
    assert recommendations({}) == []


def test_every_item_has_its_figure_and_a_severity() -> None:
    ctx = base_ctx(100, 900)
    ctx["calibration"]["ece"] = 0.09
    for item in recommendations(ctx):
        assert set(item) == {"topic", "text", "figure", "severity"}
        assert item["figure"] and item["severity"] in ("info", "warn")


def test_imbalance() -> None:
    item = only(base_ctx(250, 750), "imbalance")
    assert item["figure"] == "class 'Yes' is 25.0% of the 1,000 test rows"
    assert item["severity"] == "info"
    assert only(base_ctx(50, 950), "imbalance")["severity"] == "warn"  # rare: 5 %
    ctx = base_ctx(250, 750)
    ctx["selection_metric"] = "accuracy"
    assert "chosen by accuracy" in only(ctx, "imbalance")["text"]
    assert "imbalance" not in topics(base_ctx(350, 650))
    assert class_shares(base_ctx(250, 750)) == {"No": 0.75, "Yes": 0.25}


def test_calibration() -> None:
    ctx = base_ctx()
    ctx["calibration"]["ece"] = 0.08
    item = only(ctx, "calibration")
    assert "evaluation.calibration: auto" in item["text"]
    assert item["figure"] == "ECE 0.0800; Brier 0.1300 vs 0.1900 for the base rate"
    ctx["calibration_step"] = {"requested": "auto", "applied": "sigmoid"}
    assert "still off after sigmoid" in only(ctx, "calibration")["text"]
    worse = base_ctx()
    worse["calibration"]["brier"] = 0.2  # above the base rate's 0.19
    assert "no better than always predicting the base rate" in only(worse, "calibration")["text"]


def test_threshold_fixed_at_half_on_imbalanced_data() -> None:
    item = only(base_ctx(200, 800), "threshold")
    assert "{optimize: f1}" in item["text"]
    assert item["figure"] == "threshold 0.5; class 'Yes' is 20.0% of the test rows"
    ctx = base_ctx(200, 800)
    ctx["threshold"] = 0.3
    assert "threshold" not in topics(ctx)


def analysis(method: str, chosen: float, curve_best: float | None = None) -> dict:
    curve = [
        {"threshold": t / 10, "f1": 0.5 - abs(t / 10 - (curve_best or 0.5))} for t in range(1, 10)
    ]
    return {
        "method": method,
        "chosen": chosen,
        "costs": None,
        "at_chosen": {"f1": 0.62, "recall": 0.75},
        "at_default": {"f1": 0.58, "recall": 0.52},
        "curve": curve,
    }


def test_threshold_from_the_out_of_fold_curve() -> None:
    ctx = base_ctx(200, 800)
    ctx["threshold_analysis"] = analysis("fixed", 0.5, curve_best=0.3)
    item = only(ctx, "threshold")
    assert item["severity"] == "warn" and "{optimize: f1}" in item["text"]
    assert item["figure"] == "out-of-fold F1 0.3000 at 0.50 vs 0.5000 at 0.30"
    ctx["threshold_analysis"] = analysis("fixed", 0.5, curve_best=0.5)  # 0.5 is the best
    assert "threshold" not in topics(ctx)


def test_an_optimized_threshold_far_from_half_is_explained() -> None:
    ctx = base_ctx()
    ctx["threshold_analysis"] = analysis("f1", 0.31)
    item = only(ctx, "threshold")
    assert item["severity"] == "info"
    assert item["figure"] == "test f1 0.6200 at 0.31 vs 0.5800 at 0.5"
    ctx["threshold_analysis"] = analysis("f1", 0.45)
    assert "threshold" not in topics(ctx)


def test_overfitting() -> None:
    ctx = base_ctx()
    ctx["leaderboard"][1]["test"]["roc_auc"] = 0.80  # 0.05 below CV, more than 2 x 0.01
    item = only(ctx, "overfitting")
    assert item["figure"] == "test 0.8000 vs CV 0.8500 ± 0.0100 (gap 0.0500)"
    ctx["leaderboard"][1]["test"]["roc_auc"] = 0.835  # within 2 std
    assert "overfitting" not in topics(ctx)
    better = base_ctx()
    better["leaderboard"][1]["test"]["roc_auc"] = 0.95  # better than CV: fine
    assert "overfitting" not in topics(better)
    rmse = base_ctx()
    rmse.update(task="regression", selection_metric="rmse", confusion=None)
    rmse["leaderboard"][1].update(cv_mean=10.0, cv_std=0.5, test={"rmse": 12.0})
    assert only(rmse, "overfitting")["severity"] == "warn"


def test_flagged_segments() -> None:
    ctx = base_ctx()
    ctx["segments"]["rows"][1].update(score=0.70, gap=0.14, flagged=True)
    ctx["segments"]["rows"][0].update(score=0.86, gap=-0.02)
    item = only(ctx, "segments")
    assert "gender = M" in item["text"] and item["severity"] == "warn"
    assert (
        item["figure"]
        == "roc_auc 0.7000 vs 0.8400 on the whole test set (gap 0.1400 > 0.0500; 500 rows)"
    )


def test_every_segment_below_the_whole_on_a_rank_metric_is_one_info_item() -> None:
    ctx = copy.deepcopy(base_ctx())
    for row, (score, gap) in zip(
        ctx["segments"]["rows"], [(0.76, 0.08), (0.73, 0.11)], strict=True
    ):
        row.update(score=score, gap=gap, flagged=True)
    item = only(ctx, "segments")
    assert item["severity"] == "info" and "the weakest is gender = M" in item["text"]
    assert (
        item["figure"] == "roc_auc 0.7300 to 0.7600 within segments vs 0.8400 on the whole test set"
    )


def test_learning_curve() -> None:
    ctx = base_ctx()
    ctx["learning_curve"].update(slope=0.02, verdict=MORE_DATA)
    item = only(ctx, "learning curve")
    assert item["figure"] == "+0.0200 over the last step (100 rows 0.8000, 200 rows 0.8400)"
