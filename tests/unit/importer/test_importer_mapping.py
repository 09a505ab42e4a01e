"""Metrics, search spaces, FLAML learners and whole projects mapped to mlctl recipes."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mlctl.importer import import_project, to_dict, write_recipe
from mlctl.importer.infer import sort_columns
from mlctl.importer.metrics import map_metric, threshold_key
from mlctl.importer.models import hyperopt_space
from mlctl.recipe.loader import load_recipe

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "task", "mlctl", "key"),
    [
        ("f1_score", "classification", "f1", "min_f1"),
        ("roc_auc", "classification", "roc_auc", "min_roc_auc"),
        ("accuracy_score", "classification", "accuracy", "min_accuracy"),
        ("log_loss", "classification", "log_loss", "max_log_loss"),
        ("root_mean_squared_error", "regression", "rmse", "max_rmse"),
        ("mean_absolute_error", "regression", "mae", "max_mae"),
        ("r2_score", "regression", "r2", "min_r2"),
    ],
)
def test_metric_names_and_threshold_direction(name, task, mlctl, key) -> None:
    mapping = map_metric(name, task)
    assert mapping.name == mlctl
    assert threshold_key(mapping) == key


def test_mean_squared_error_thresholds_become_rmse() -> None:
    mapping = map_metric("mean_squared_error", "regression")
    assert (mapping.name, mapping.threshold(2500.0)) == ("rmse", 50.0)
    assert mapping.note


def test_unknown_and_wrong_task_metrics_have_no_mapping() -> None:
    assert map_metric("max_error", "regression").name is None
    assert map_metric("f1_score", "regression").name is None


@pytest.mark.parametrize(
    ("spec", "space"),
    [
        ({"values": ["l1", "l2"]}, ["l1", "l2"]),
        (
            {"distribution": "uniform", "low": 0, "high": 0.5},
            {"distribution": "uniform", "low": 0.0, "high": 0.5},
        ),
        (
            {"distribution": "randint", "low": 2, "high": 10},
            {"distribution": "int", "low": 2, "high": 9},
        ),
        ({"distribution": "randint", "upper": 5}, {"distribution": "int", "low": 0, "high": 4}),
        ({"distribution": "quniform", "low": 2, "high": 8, "q": 2}, [2, 4, 6, 8]),
        ({"distribution": "quniform", "low": 0.1, "high": 0.3, "q": 0.1}, [0.1, 0.2, 0.3]),
    ],
)
def test_hyperopt_expressions(spec, space) -> None:
    assert hyperopt_space(spec) == (space, None)


def test_hyperopt_loguniform_bounds_are_natural_logs() -> None:
    space, note = hyperopt_space({"distribution": "loguniform", "low": math.log(0.01), "high": 0})
    assert space == {"distribution": "loguniform", "low": 0.01, "high": 1.0}
    assert note is None


def test_unbounded_and_wide_quantized_spaces() -> None:
    space, note = hyperopt_space({"distribution": "normal", "mu": 0, "sigma": 1})
    assert space is None and "unbounded" in note
    space, note = hyperopt_space({"distribution": "quniform", "low": 0, "high": 1000, "q": 5})
    assert space == {"distribution": "int", "low": 0, "high": 1000}
    assert "steps are not kept" in note
    assert hyperopt_space({"distribution": "uniform", "low": 1})[0] is None


def test_columns_sorted_from_data() -> None:
    df = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(80)],
            "n": range(80),
            "charges": [" " if i == 0 else f"{i}.5" for i in range(80)],
            "city": ["a", "b"] * 40,
            "note": [f"free text {i}" for i in range(79)] + [None],
            "y": [0, 1] * 40,
        }
    )
    cols = sort_columns(df, "y")
    assert cols.numeric == ["charges"]
    assert cols.coerce == {"charges": "float"}
    assert cols.categorical == ["city"]
    assert cols.id_column == "id"
    assert list(cols.dropped) == ["n", "note"]  # a row number, and near-unique text
    assert "row number" in cols.dropped["n"]


def test_a_project_becomes_a_valid_recipe(recipes_project, tmp_path: Path) -> None:
    root = recipes_project()
    conv = import_project(root, "local", tmp_path / "out" / "demo.yaml")
    r = conv.recipe
    assert r["name"] == "demo"
    assert r["data"]["source"] == "../project/data.csv"
    assert r["data"]["positive_class"] == 1  # "1" in the template, an int target in the data
    assert r["data"]["id_column"] == "row_id"
    assert r["data"]["coerce"] == {"amount": "float"}
    assert r["split"] == {"strategy": "stratified", "test_size": 0.2, "seed": 42}
    assert r["models"]["selection_metric"] == "f1"
    assert r["models"]["candidates"] == {
        "random_forest": {
            "estimator": "random_forest",
            "params": {"n_estimators": 50, "max_depth": 4},
        }
    }
    assert r["tuning"] == {"strategy": "none"}
    assert r["readiness"]["thresholds"] == {"min_f1": 0.5, "max_log_loss": 0.6}
    assert r["deploy"] == {"model_name": "demo", "auto_promote": True}
    path = write_recipe(conv)
    assert conv.runnable, conv.blockers
    loaded = load_recipe(path)
    assert loaded.recipe.features.categorical == ["colour"]
    text = path.read_text()
    assert "# validation_criteria: f1_score 0.5" in text
    assert "defaults:" not in text


TUNED = """\
recipe: "classification/v1"
target_col: "label"
steps:
  ingest: {{INGEST_CONFIG}}
  train:
    using: custom
    estimator_method: steps.train.estimator_fn
    estimator_params: {max_depth: 6, bogus: 1}
    tuning:
      enabled: true
      algorithm: hyperopt.rand.suggest
      max_trials: 7
      sample_fraction: 0.5
      parameters:
        min_samples_leaf: {distribution: quniform, low: 1, high: 5, q: 1}
        criterion: {values: [gini, entropy]}
        alpha: {distribution: uniform, low: 0, high: 1}
"""
TUNED_TRAIN = """\
from sklearn.ensemble import RandomForestClassifier


def estimator_fn(estimator_params=None):
    return RandomForestClassifier(**estimator_params)
"""


def items(conv, status: str) -> dict[str, str]:
    return {i.source: i.detail for i in conv.report.items if i.status == status}


def test_tuning_and_estimator_params_map_to_the_candidate(recipes_project, tmp_path) -> None:
    root = recipes_project(recipe=TUNED, train=TUNED_TRAIN)
    conv = import_project(root, "local", tmp_path / "r.yaml")
    cand = conv.recipe["models"]["candidates"]["random_forest"]
    assert cand["params"] == {"max_depth": 6}
    assert cand["search"] == {"min_samples_leaf": [1, 2, 3, 4, 5], "criterion": ["gini", "entropy"]}
    assert conv.recipe["tuning"] == {"strategy": "random", "n_iter": 7}
    unmapped = items(conv, "unmapped")
    assert (
        "RandomForestClassifier has no parameter 'bogus'"
        in unmapped["steps.train.estimator_params.bogus"]
    )
    assert "has no parameter 'alpha'" in unmapped["steps.train.tuning.parameters.alpha"]
    assert "steps.train.tuning.sample_fraction" in unmapped
    assert conv.recipe["models"]["selection_metric"] == "f1"  # the Recipes default
    write_recipe(conv)
    assert conv.runnable, conv.blockers


def test_a_custom_estimator_falls_back_to_default_candidates(recipes_project, tmp_path) -> None:
    train = "def estimator_fn(estimator_params=None):\n    return build_my_model()\n"
    conv = import_project(recipes_project(train=train), "local", tmp_path / "r.yaml")
    assert list(conv.recipe["models"]["candidates"]) == [
        "logistic_regression",
        "random_forest",
        "hist_gradient_boosting",
    ]
    assert conv.recipe["tuning"] == {"strategy": "random", "n_iter": 8}
    (hint,) = [i.hint for i in conv.report.items if i.source.startswith("steps.train.estimator")]
    assert "default candidates" in hint


def flaml_recipe(budget: int, flaml_params: str) -> str:
    """A regression recipe whose train step is FLAML's AutoML."""
    return (
        'recipe: "regression/v1"\ntarget_col: x\nsteps:\n  ingest: {{INGEST_CONFIG}}\n'
        f"  train:\n    using: automl/flaml\n    time_budget_secs: {budget}\n"
        f"    flaml_params: {flaml_params}\n"
    )


def test_automl_learners_become_candidates_within_the_budget(recipes_project, tmp_path) -> None:
    recipe = flaml_recipe(30, "{estimator_list: [rf, extra_tree, catboost, rf], seed: 1}")
    conv = import_project(recipes_project(recipe=recipe), "local", tmp_path / "r.yaml")
    assert list(conv.recipe["models"]["candidates"]) == ["random_forest", "extra_trees"]
    assert conv.recipe["tuning"] == {"strategy": "optuna", "n_trials": 20, "timeout": 15.0}
    unmapped = items(conv, "unmapped")
    assert "catboost" in unmapped["steps.train.flaml_params.estimator_list"]
    assert "steps.train.flaml_params.seed" in unmapped


def test_spark_sql_ingest_is_written_but_blocked(recipes_project, tmp_path) -> None:
    profile = 'INGEST_CONFIG:\n  using: spark_sql\n  sql: "SELECT * FROM t"\n'
    conv = import_project(recipes_project(profile=profile), "local", tmp_path / "r.yaml")
    path = write_recipe(conv)
    assert not conv.runnable
    assert conv.blockers[0] == "data.source: the Recipes ingest step could not be mapped"
    assert (
        "spark_sql source 'SELECT * FROM t'"
        in items(conv, "unmapped")["steps.ingest (using: spark_sql)"]
    )
    text = path.read_text()
    assert "# Before `mlctl run`, fix:" in text
    report = to_dict(conv)
    assert report["runnable"] is False and report["counts"]["unmapped"] >= 1


def test_existing_output_needs_force(recipes_project, tmp_path) -> None:
    from mlctl.errors import UsageError

    conv = import_project(recipes_project(), "local", tmp_path / "r.yaml")
    write_recipe(conv)
    with pytest.raises(UsageError, match="already exists"):
        write_recipe(conv)
    write_recipe(conv, force=True)


def test_multi_line_values_stay_inside_comments(recipes_project, tmp_path) -> None:
    profile = "INGEST_CONFIG:\n  using: spark_sql\n  sql: |\n    SELECT *\n    FROM t\n"
    conv = import_project(recipes_project(profile=profile), "local", tmp_path / "r.yaml")
    text = write_recipe(conv).read_text()
    assert "# Not carried over" in text
    assert all(line.startswith(("#", " ")) or ":" in line or not line for line in text.splitlines())
    import yaml

    assert yaml.safe_load(text)["data"]["target"] == "label"


def test_an_sklearn_class_outside_the_catalog_becomes_a_target(recipes_project, tmp_path) -> None:
    train = (
        "from sklearn.svm import SVC\n\n"
        "def estimator_fn(estimator_params=None):\n    return SVC(probability=True)\n"
    )
    conv = import_project(recipes_project(train=train), "local", tmp_path / "r.yaml")
    assert conv.recipe["models"]["candidates"] == {
        "svc": {"_target_": "sklearn.svm.SVC", "params": {"probability": True}}
    }


def test_a_regressor_in_a_classification_project_is_not_used(recipes_project, tmp_path) -> None:
    train = (
        "from sklearn.linear_model import SGDRegressor\n\n"
        "def estimator_fn(estimator_params=None):\n    return SGDRegressor()\n"
    )
    conv = import_project(recipes_project(train=train), "local", tmp_path / "r.yaml")
    assert "random_forest" in conv.recipe["models"]["candidates"]
    assert any("not a classification estimator" in i.detail for i in conv.report.items)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"distribution": "quniform", "low": 1, "high": 2, "q": 0}, "q must be a positive"),
        ({"distribution": "quniform", "low": 1, "high": 2, "q": -0.5}, "q must be a positive"),
        ({"distribution": "loguniform", "low": 1, "high": 1000}, "loguniform"),  # e**1000
        ({"distribution": "loguniform", "low": -1000, "high": 0}, "log scale"),  # e**-1000 = 0
        ({"distribution": "uniform", "low": 2, "high": 1}, "no value in range"),
        ({"distribution": "uniform", "low": float("nan"), "high": 1}, "not finite"),
        ({"distribution": "quniform", "low": 5, "high": 1, "q": 1}, "no value in range"),
        ({"distribution": "qloguniform", "low": 0.2, "high": 0.5, "q": 1}, "no value in range"),
        ({"distribution": "uniformint", "low": 0, "high": float("inf")}, "uniformint"),
        ({"values": [{"a": 1}, [1, 2]]}, "nested"),
    ],
)
def test_hyperopt_spaces_with_no_valid_range_are_refused(spec, why) -> None:
    space, note = hyperopt_space(spec)
    assert space is None
    assert why in note


BAD_SHAPES = """\
recipe: "classification/v1"
target_col: "label"
positive_class: "maybe"
steps:
  ingest: {{INGEST_CONFIG}}
  train:
    using: custom
    estimator_method: estimator_fn
    estimator_params: [max_depth]
    tuning:
      enabled: true
      max_trials: lots
      parameters: [max_depth]
  evaluate:
    validation_criteria:
      - metric: f1_score
        threshold: high
      - metric: log_loss
        threshold:
"""


def test_badly_shaped_train_and_evaluate_sections_are_reported(recipes_project, tmp_path) -> None:
    conv = import_project(recipes_project(recipe=BAD_SHAPES), "local", tmp_path / "r.yaml")
    unmapped = items(conv, "unmapped")
    assert "found list ['max_depth']" in unmapped["steps.train.estimator_params"]
    assert "found list ['max_depth']" in unmapped["steps.train.tuning.parameters"]
    assert "found 'lots'" in unmapped["steps.train.tuning.max_trials"]
    assert "'high' is not a number" in unmapped["steps.evaluate.validation_criteria.0 (f1_score)"]
    assert "None is not a number" in unmapped["steps.evaluate.validation_criteria.1 (log_loss)"]
    assert conv.recipe["tuning"] == {"strategy": "random", "n_iter": 10}
    assert conv.recipe["readiness"]["thresholds"] == {}
    assert "'maybe' is not a value of target 'label'" in unmapped["positive_class"]
    write_recipe(conv)
    assert not conv.runnable
    assert conv.blockers == [
        "data.positive_class: 'maybe' is not a value of target 'label'; values: [0, 1]"
    ]


def test_automl_budget_and_single_learner_are_checked(recipes_project, tmp_path) -> None:
    recipe = flaml_recipe(-5, "{estimator_list: rf}")
    conv = import_project(recipes_project(recipe=recipe), "local", tmp_path / "r.yaml")
    assert list(conv.recipe["models"]["candidates"]) == ["random_forest"]
    assert conv.recipe["tuning"] == {"strategy": "optuna", "n_trials": 20}
    assert "found -5" in items(conv, "unmapped")["steps.train.time_budget_secs"]
    root = conv.project.root
    (root / "recipe.yaml").write_text(recipe.replace("{estimator_list: rf}", "[rf]"))
    conv = import_project(root, "local", tmp_path / "r2.yaml")
    assert "found list ['rf']" in items(conv, "unmapped")["steps.train.flaml_params"]


def test_column_names_with_interpolation_or_line_breaks_read_back(
    recipes_project, tmp_path
) -> None:
    root = recipes_project()
    n = 60
    pd.DataFrame(
        {
            "${z}": [i % 7 * 1.5 for i in range(n)],
            "y\ncat": ["p", "q"] * (n // 2),
            "on": ["u", "v", "w"] * (n // 3),
            "label": [i % 2 for i in range(n)],
        }
    ).to_csv(root / "data.csv", index=False)
    conv = import_project(root, "local", tmp_path / "r.yaml")
    path = write_recipe(conv)
    assert conv.runnable, conv.blockers
    features = load_recipe(path).recipe.features
    assert features.numeric == ["${z}"]
    assert features.categorical == ["y\ncat", "on"]


def test_an_unreadable_source_is_one_blocker_named_once(recipes_project, tmp_path) -> None:
    profile = "INGEST_CONFIG:\n  using: csv\n  location: ./nothing/*.csv\n"
    conv = import_project(recipes_project(profile=profile), "local", tmp_path / "r.yaml")
    assert conv.blockers[0].startswith("data.source: no file matches the glob")
