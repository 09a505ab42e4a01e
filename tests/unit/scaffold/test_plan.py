"""Task, target, sizing and gate decisions of ``mlctl init`` (mlctl/scaffold/plan.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlctl.errors import DataError, UsageError
from mlctl.scaffold.plan import (
    analyse_target,
    candidates_for,
    cv_folds_for,
    ensemble_for,
    make_plan,
    time_budget_for,
)
from mlctl.scaffold.profile import Table, profile_columns

pytestmark = pytest.mark.unit


def table(frame: pd.DataFrame, sampled: bool = False) -> Table:
    total = len(frame) * (10 if sampled else 1)
    return Table(frame, Path("/data/t.csv"), "csv", ",", total, not sampled)


def target(values, **columns) -> pd.DataFrame:
    return pd.DataFrame({"y": values, **columns})


def test_text_labels_are_binary_classification_with_the_rarer_positive() -> None:
    t = analyse_target(table(target(["No"] * 70 + ["Yes"] * 30)), "y")
    assert (t.task, t.classes, t.counts, t.positive_class) == (
        "classification",
        ["No", "Yes"],
        [70, 30],
        "Yes",
    )
    assert "rarer class" in t.positive_reason


def test_rarer_positive_class_also_when_it_sorts_first() -> None:
    t = analyse_target(table(target([0] * 20 + [1] * 80)), "y")
    assert t.positive_class == 0 and isinstance(t.positive_class, int)


def test_few_whole_numbers_are_classes_many_numbers_regression() -> None:
    multi = analyse_target(table(target([1, 2, 3, 4] * 25)), "y")
    assert multi.task == "classification" and len(multi.classes) == 4
    assert multi.positive_class is None
    reg = analyse_target(table(target(np.linspace(0, 10, 100))), "y")
    assert reg.task == "regression" and reg.std == pytest.approx(np.linspace(0, 10, 100).std())


def test_task_option_wins_over_inference() -> None:
    t = analyse_target(table(target([1, 2, 3, 4] * 25)), "y", "regression")
    assert t.task == "regression" and "--task" in t.reason


def test_missing_target_lists_the_columns_and_suggests_one() -> None:
    with pytest.raises(DataError) as err:
        analyse_target(table(target([0, 1], churned=[1, 0])), "churn")
    assert "target column 'churn' is not in /data/t.csv; did you mean 'churned'?" in str(err.value)
    assert err.value.hint == "columns in the file: y, churned"


@pytest.mark.parametrize(
    ("values", "task", "message"),
    [
        (["a"] * 10, "auto", "has one value only ('a' in 10 rows)"),
        ([np.nan] * 10, "auto", "has no values"),
        ([f"u{i}" for i in range(30)], "auto", "a different value in every row (30 values)"),
        (list(range(30)), "classification", "no class repeats"),
        ([f"c{i % 60}" for i in range(600)], "auto", "60 distinct values"),
        (["a"] * 20 + ["b"] * 20 + ["c"], "auto", "class 'c' (1) has fewer than 3 rows"),
        (["a", "b"] * 20, "regression", "holds text"),
    ],
)
def test_unlearnable_targets_say_why(values, task: str, message: str) -> None:
    with pytest.raises(DataError) as err:
        analyse_target(table(target(values)), "y", task)
    assert message in str(err.value)


def test_candidates_are_sized_to_the_rows() -> None:
    tiny = {c.name: c for c in candidates_for("classification", 500, 2)}
    assert list(tiny) == ["hgb", "logreg", "random_forest"]
    assert tiny["random_forest"].params["n_estimators"] == 100
    assert tiny["hgb"].search["max_leaf_nodes"] == [4, 7, 15]
    assert tiny["hgb"].params["early_stopping"] is True
    small = {c.name: c for c in candidates_for("classification", 1500, 2)}
    assert small["random_forest"].params["n_estimators"] == 150
    medium = {c.name: c for c in candidates_for("classification", 7_000, 2)}
    assert list(medium) == ["hgb", "logreg", "random_forest"]
    assert medium["hgb"].search["min_samples_leaf"] == [20, 50, 100]
    assert medium["hgb"].estimator == "hist_gradient_boosting"
    large = {c.name: c for c in candidates_for("regression", 50_000, 0)}
    assert list(large) == ["hgb", "ridge", "random_forest"]
    assert large["random_forest"].params["max_samples"] == 0.3
    assert large["hgb"].search["max_leaf_nodes"] == [15, 31, 63, 127]
    assert [c.name for c in candidates_for("classification", 1_000_000, 2)] == ["hgb", "logreg"]
    # No sklearn GradientBoosting on any tier: histogram boosting is as accurate, far faster.
    for rows in (500, 1500, 7_000, 50_000, 1_000_000):
        assert "gradient_boosting" not in {
            c.estimator for c in candidates_for("regression", rows, 0)
        }


def test_budget_and_ensemble_by_tier() -> None:
    assert [time_budget_for(n) for n in (500, 1500, 7_000, 50_000, 1_000_000)] == [
        60, 90, 150, 150, 150,
    ]  # fmt: skip
    assert ensemble_for(7_000) == {"method": "voting", "top": 3}
    assert ensemble_for(1_000_000) is None


def test_lightgbm_is_proposed_only_when_installed_and_trusted(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: object() if name == "lightgbm" else real(name)
    )
    monkeypatch.delenv("MLCTL_TRUSTED_PREFIXES", raising=False)
    assert "lightgbm" not in [c.name for c in candidates_for("classification", 7_000, 2)]
    monkeypatch.setenv("MLCTL_TRUSTED_PREFIXES", "lightgbm")
    names = [c.name for c in candidates_for("classification", 7_000, 2)]
    assert names == ["hgb", "logreg", "random_forest", "lightgbm"]


def test_folds_shrink_when_the_rarest_class_cannot_fill_them() -> None:
    t = analyse_target(table(target(["a"] * 100 + ["b"] * 4)), "y")
    folds, why = cv_folds_for(t)
    assert folds == 3 and "rarest class has 4 rows" in why


def plan_for(frame: pd.DataFrame, **kw):
    tab = table(frame, kw.pop("sampled", False))
    t = analyse_target(tab, "y", kw.pop("task", "auto"))
    cols = profile_columns(tab.frame, {"y"})
    return make_plan(tab, t, cols, name="demo", source="../t.csv", **kw)


def demo_frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "id": [f"id-{i}" for i in range(n)],
            "when": pd.date_range("2023-01-01", periods=n, freq="D").astype(str),
            "x": rng.normal(size=n),
            "plan": rng.choice(["a", "b"], n),
            "y": rng.normal(100, 20, n),
        }
    )


def test_plan_uses_the_id_and_relative_regression_gate() -> None:
    plan = plan_for(demo_frame())
    assert (plan.numeric, plan.categorical, plan.id_column) == (["x"], ["plan"], "id")
    assert plan.split["strategy"] == "random"
    assert [c.name for c in plan.dropped] == ["id", "when"]
    assert any("--time-column when" in n for n in plan.notes)
    std = plan.target.std
    assert plan.readiness["beat_baseline_by"] == pytest.approx(0.1 * std, rel=0.01)


def test_time_column_gives_a_time_split() -> None:
    plan = plan_for(demo_frame(), time_column="when")
    assert plan.split == {"strategy": "time", "test_size": 0.2, "time_column": "when"}
    assert "judged on the future" in plan.split_reason


@pytest.mark.parametrize(
    ("column", "message"),
    [("x", "does not hold dates"), ("wen", "did you mean 'when'?"), ("y", "is the target")],
)
def test_bad_time_column(column: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        plan_for(demo_frame(), time_column=column)
    assert message in str(err.value)


def test_a_sample_does_not_claim_what_only_the_whole_file_shows() -> None:
    plan = plan_for(demo_frame(), sampled=True)
    assert plan.id_column is None and plan.min_rows == 10
    assert any("read the first 300 of about 3,000 rows" in n for n in plan.notes)
    # The search is sized for the rows a run reads, not for the sample.
    assert plan.n_iter == 6 and plan.sizing_reason.startswith("2,000 to 20,000 rows")


def test_no_usable_feature_is_an_error_naming_each_column() -> None:
    frame = pd.DataFrame({"id": [f"k{i}" for i in range(50)], "c": 1, "y": [0, 1] * 25})
    with pytest.raises(DataError) as err:
        plan_for(frame)
    assert "'id': a different value in every row" in str(err.value)
    assert "'c': one value (1) in every row" in str(err.value)


def test_an_infinite_target_is_refused_with_its_rows() -> None:
    frame = pd.DataFrame(
        {"x": range(30), "y": [np.inf, 1.5, -np.inf] + [i * 0.7 for i in range(27)]}
    )
    with pytest.raises(
        DataError, match=r"target 'y' has infinite values \(inf or -inf at row 1, 3\)"
    ):
        analyse_target(table(frame), "y")
