"""SHAP explanations per raw input column (mlctl.evaluate.explain), on real pipelines
built from a recipe's features section: one-hot columns and derived features are
traced back to the raw columns they come from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import SVC

from mlctl.errors import RecipeError
from mlctl.evaluate import explain as ex
from mlctl.features.build import build_pipeline
from mlctl.recipe.schema import Evaluation, Features
from mlctl.train.trainer import with_threshold

pytestmark = pytest.mark.unit

shap_present = pytest.mark.skipif(not ex.shap_installed(), reason="needs shap (mlctl[explain])")

FEATURES = Features.model_validate(
    {
        "numeric": ["signal", "noise"],
        "categorical": ["plan", "color"],
        "derived": [
            {"name": "signal_ratio", "expr": "signal / (noise + 10)"},  # two raw columns
            {"name": "noise_big", "expr": "noise > 1"},  # one raw column
        ],
    }
)


def frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``plan`` decides most of the label, ``signal`` some of it; ``noise`` and
    ``color`` none. Returns (X, y as "yes"/"no", a numeric target)."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "premium"], n)
    signal = rng.normal(size=n)
    X = pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=n),
            "plan": plan,
            "color": rng.choice(["red", "green", "blue"], n),
        }
    )
    logit = 3.0 * (plan == "premium") - 3.0 * (plan == "basic") + 0.8 * signal
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    target = 5.0 * signal + rng.normal(scale=0.1, size=n)
    return X, y, target


def fitted(estimator, y_kind: str = "class"):
    X, y, target = frame()
    pipe = build_pipeline(FEATURES, {}, estimator)
    pipe.fit(X, y if y_kind == "class" else target)
    return pipe, X


def by_name(result) -> dict[str, dict]:
    return {f["feature"]: f for f in result["features"]}


@shap_present
def test_tree_model_ranks_the_deciding_column_first_per_raw_column() -> None:
    pipe, X = fitted(GradientBoostingClassifier(n_estimators=60, max_depth=2, random_state=0))
    result = ex.explain(pipe, X, X, max_rows=200, seed=1, positive_class="yes")
    assert result["unavailable"] is None
    assert result["explainer"] == "TreeExplainer on GradientBoostingClassifier"
    assert result["output"] == "log-odds of class 'yes'"
    assert result["rows"] == 200
    names = [f["feature"] for f in result["features"]]
    assert names[0] == "plan"  # its three one-hot columns summed into one
    # every raw column once; the derived feature of one column is inside that column,
    # the one of two columns keeps its name and says which it reads
    assert set(names) == {"plan", "signal", "noise", "color", "signal_ratio"}
    feats = by_name(result)
    assert feats["signal_ratio"]["inputs"] == ["noise", "signal"]
    assert feats["noise"]["inputs"] == ["noise"]
    assert feats["plan"]["mean_abs_shap"] > 2 * feats["color"]["mean_abs_shap"]
    values = [f["mean_abs_shap"] for f in result["features"]]
    assert values == sorted(values, reverse=True)


@shap_present
def test_linear_model_and_a_baked_in_threshold() -> None:
    pipe, X = fitted(LogisticRegression(max_iter=1000))
    _, y, _ = frame()
    pipe = with_threshold(pipe, 0.3, "yes", X, y)  # FixedThresholdClassifier(Frozen(...))
    result = ex.explain(pipe, X, X, max_rows=100, seed=1, positive_class="yes")
    assert result["explainer"] == "LinearExplainer on LogisticRegression"
    assert result["output"] == "log-odds of class 'yes'"
    assert result["features"][0]["feature"] == "plan"
    feats = by_name(result)
    assert feats["signal"]["mean_abs_shap"] > feats["color"]["mean_abs_shap"]


@shap_present
def test_the_sum_of_one_hot_values_not_the_sum_of_their_absolute_values() -> None:
    """A linear model's SHAP values are exact: coef * (x - background mean). The value
    reported for ``plan`` is the mean over rows of |the sum over its one-hot columns|."""
    pipe, X = fitted(LogisticRegression(max_iter=1000))
    result = ex.explain(pipe, X, X, max_rows=400, seed=0)
    head, model = pipe[:-1], pipe[-1]
    matrix = head.transform(X)
    names = [n.split("__", 1)[-1] for n in head.get_feature_names_out()]
    plan = [i for i, n in enumerate(names) if n.startswith("plan_")]
    sample = ex._sample(X, ex.BACKGROUND_ROWS, 0)
    centre = head.transform(sample).mean(axis=0)
    contributions = (matrix[:, plan] - centre[plan]) * model.coef_[0, plan]
    expected = np.mean(np.abs(contributions.sum(axis=1)))
    assert by_name(result)["plan"]["mean_abs_shap"] == pytest.approx(expected, rel=1e-6)
    assert expected < np.mean(np.abs(contributions).sum(axis=1))


@shap_present
def test_regression_multiclass_and_calibrated_models() -> None:
    pipe, X = fitted(Ridge(), y_kind="target")
    result = ex.explain(pipe, X, X, max_rows=100)
    assert result["output"] == "the target's units"
    assert result["features"][0]["feature"] == "signal"

    X3, _, target = frame()
    y3 = np.digitize(target, [-2.0, 2.0]).astype(str)
    rf = build_pipeline(FEATURES, {}, RandomForestClassifier(30, max_depth=4, random_state=0))
    result = ex.explain(rf.fit(X3, y3), X3, X3, max_rows=100)
    assert result["output"] == "probability (mean over classes)"
    assert result["features"][0]["feature"] in {"signal", "signal_ratio"}

    X, y, _ = frame()
    calibrated = CalibratedClassifierCV(LogisticRegression(max_iter=1000), cv=3)
    pipe = build_pipeline(FEATURES, {}, calibrated).fit(X, y)
    result = ex.explain(pipe, X, X, max_rows=100, positive_class="yes")
    assert result["explainer"] == (
        "LinearExplainer on LogisticRegression (the mean of 3 models before calibration)"
    )
    assert result["features"][0]["feature"] == "plan"


@shap_present
def test_a_model_without_a_fast_explainer_is_unavailable_with_the_reason() -> None:
    pipe, X = fitted(SVC(kernel="rbf"))
    result = ex.explain(pipe, X, X, max_rows=50)
    assert result["features"] == []
    assert result["unavailable"].startswith("no fast SHAP explainer for SVC")


def test_off_computes_nothing() -> None:
    pipe, X = fitted(LogisticRegression(max_iter=1000))
    assert ex.explain(pipe, X, X, mode="off") is None
    ctx: dict = {}
    ex.add_explanations(ctx, Evaluation(shap="off"), pipe, X, X, "unused")
    assert ctx == {}


def test_auto_without_shap_says_how_to_install(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(ex, "shap_installed", lambda: False)
    pipe, X = fitted(LogisticRegression(max_iter=1000))
    ctx: dict = {}
    ex.add_explanations(ctx, Evaluation(shap="auto"), pipe, X, X, tmp_path)
    assert ctx["explanations"]["features"] == []
    assert ctx["explanations"]["unavailable"] == (
        "the optional package shap is not installed (pip install 'mlctl[explain]')"
    )
    assert "plots" not in ctx and not list(tmp_path.iterdir())


def test_on_without_shap_is_a_recipe_error_naming_the_key(monkeypatch) -> None:
    monkeypatch.setattr(ex, "shap_installed", lambda: False)
    with pytest.raises(RecipeError) as caught:
        ex.check_shap("on")
    message = str(caught.value)
    assert "evaluation.shap: is 'on' but the optional package 'shap' is not installed" in message
    assert "pip install 'mlctl[explain]'" in str(caught.value.hint)
    ex.check_shap("auto")  # auto and off never fail
    ex.check_shap("off")


def test_a_run_with_shap_on_fails_before_training(monkeypatch, tmp_path) -> None:
    """The runner checks evaluation.shap first: no data read, no MLflow run started."""
    from recipe_builders import MINIMAL, write_recipe

    from mlctl.runner import RunOptions, run
    from mlctl.train.checks import load_training_recipe

    monkeypatch.setattr(ex, "shap_installed", lambda: False)
    path = write_recipe(tmp_path, MINIMAL + "evaluation:\n  shap: 'on'\n")
    loaded = load_training_recipe(path)
    with pytest.raises(RecipeError, match="evaluation.shap"):
        run(loaded, RunOptions(workspace=str(tmp_path / "ws")))
    assert not (tmp_path / "ws").exists()


@shap_present
def test_add_explanations_draws_the_shap_plot(tmp_path) -> None:
    pipe, X = fitted(GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0))
    ctx: dict = {}
    ex.add_explanations(ctx, Evaluation(shap="on", shap_max_rows=50), pipe, X, X, tmp_path, 3)
    assert ctx["explanations"]["rows"] == 50
    assert ctx["plots"]["shap"] == tmp_path / "shap.png"
    assert (tmp_path / "shap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
