"""Recipe loading: safe YAML, Hydra composition, schema errors with key paths and lines."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recipe_builders import write_recipe as write

from mlctl.errors import RecipeError
from mlctl.recipe.loader import load_recipe, validate
from mlctl.recipe.yamlsafe import parse_yaml
from mlctl.train.checks import load_training_recipe, training_issues

pytestmark = pytest.mark.unit

BASE = """\
name: demo
data:
  source: data.csv
  target: y
features:
  numeric: [a, b]
  categorical: [c]
models:
  candidates:
    lr:
      estimator: logistic_regression
      search:
        C: [0.1, 1.0]
"""


def issues_of(exc: pytest.ExceptionInfo[RecipeError]) -> list[str]:
    return [i.render() for i in exc.value.issues]


def test_valid_recipe_loads_with_defaults(tmp_path: Path) -> None:
    loaded = load_recipe(write(tmp_path, BASE))
    r = loaded.recipe
    assert r.name == "demo"
    assert r.split.strategy == "stratified"
    assert r.selection_metric == "roc_auc"
    assert r.model_name == "demo"
    assert loaded.resolve_path(r.data.source) == tmp_path / "data.csv"
    assert len(loaded.hash) == 64


def test_overrides_and_interpolation(tmp_path: Path) -> None:
    text = BASE + "seed: 3\nsplit:\n  seed: ${seed}\n"
    loaded = load_recipe(write(tmp_path, text), ["seed=11", "tuning.n_iter=4"])
    assert loaded.recipe.split.seed == 11
    assert loaded.recipe.tuning.n_iter == 4


def test_config_groups_from_conf_folder(tmp_path: Path) -> None:
    (tmp_path / "conf" / "tuning").mkdir(parents=True)
    (tmp_path / "conf" / "tuning" / "quick.yaml").write_text("strategy: grid\nmax_grid: 7\n")
    (tmp_path / "recipes").mkdir()
    text = "defaults:\n  - tuning: quick\n  - _self_\n" + BASE
    loaded = load_recipe(write(tmp_path / "recipes", text))
    assert loaded.recipe.tuning.strategy == "grid"
    assert loaded.choices["tuning"] == "quick"
    assert loaded.location("tuning.max_grid").endswith("quick.yaml:2")


def test_unknown_key_suggests_nearest_with_line(tmp_path: Path) -> None:
    text = BASE.replace("features:", "featurs:")
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, text))
    rendered = issues_of(exc)
    assert any("featurs" in i and "did you mean 'features'" in i for i in rendered)
    assert any("recipe.yaml:5" in i for i in rendered)


def test_all_schema_errors_reported_together(tmp_path: Path) -> None:
    text = BASE + "split:\n  test_size: 1.5\n  strategy: sideways\nmodels:\n  cv_folds: five\n"
    text = text.replace("models:\n  candidates", "xmodels:\n  candidates", 1)
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, text))
    paths = {i.path for i in exc.value.issues}
    assert {"split.test_size", "split.strategy", "models.cv_folds"} <= paths
    assert "errors" in str(exc.value)


def test_yaml_11_trap_is_caught_by_types(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, BASE.replace("name: demo", "name: NO")))
    assert any(i.path == "name" and "string" in i.message for i in exc.value.issues)


def test_cross_field_checks(tmp_path: Path) -> None:
    text = BASE.replace("categorical: [c]", "categorical: [c, a]")
    text = text.replace("C: [0.1, 1.0]", "Cc: [0.1, 1.0]")
    text += "readiness:\n  thresholds:\n    min_rmse: 1.0\n"
    with pytest.raises(RecipeError) as exc:
        load_training_recipe(write(tmp_path, text))
    rendered = "\n".join(issues_of(exc))
    assert "column 'a' is listed as numeric too" in rendered
    assert "LogisticRegression has no parameter 'Cc'; did you mean 'C'?" in rendered
    assert "'rmse' is not a classification metric" in rendered
    assert "recipe.yaml:" in rendered


def test_target_outside_allowlist_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("estimator: logistic_regression", "_target_: os.system")
    text = text.replace("      search:\n        C: [0.1, 1.0]\n", "")
    with pytest.raises(RecipeError) as exc:
        load_training_recipe(write(tmp_path, text))
    assert "class path 'os.system' is not allowed" in str(exc.value)


def test_target_inside_allowlist_is_accepted(tmp_path: Path) -> None:
    text = BASE.replace(
        "estimator: logistic_regression", "_target_: sklearn.linear_model.LogisticRegression"
    )
    assert load_recipe(write(tmp_path, text)).recipe.models.candidates["lr"].target_


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "recipe file is empty"),
        ("name: 'unclosed\n", "invalid YAML"),
        ("a: !!python/object/apply:os.system ['echo hi']\n", "tag not allowed"),
        ("a: 1\na: 2\n", "duplicate key"),
        ("- a\n- b\n", "must be a mapping"),
        ("name:\n\tbad: 1\n", "invalid YAML"),
    ],
)
def test_unsafe_or_broken_yaml(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, text))
    assert needle in str(exc.value)


def test_alias_bomb_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, "\n".join(lines) + "\n"))
    assert "aliases" in str(exc.value)


def test_a_missing_file_names_its_path_and_the_nearest_recipe(tmp_path: Path) -> None:
    (tmp_path / "churn.yaml").write_text(BASE)
    (tmp_path / "housing.yaml").write_text(BASE)
    with pytest.raises(RecipeError) as exc:
        load_recipe(tmp_path / "chrun.yaml")
    assert str(exc.value) == f"recipe error: recipe file not found: {tmp_path / 'chrun.yaml'}"
    assert exc.value.hint == f"did you mean '{tmp_path / 'churn.yaml'}'?"
    with pytest.raises(RecipeError) as exc:
        load_recipe(tmp_path / "zzz.yaml")
    assert exc.value.hint == f"recipes in {tmp_path}/: churn.yaml, housing.yaml"
    with pytest.raises(RecipeError) as exc:
        load_recipe(tmp_path / "empty" / "x.yaml")  # no such folder: look in recipes/
    assert "<recipe>" not in str(exc.value)


def test_a_schema_error_does_not_hide_a_cross_field_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, BASE), ["split.test_size=1.5", "models.selection_metric=auc"])
    paths = [issue.path for issue in exc.value.issues]
    assert paths[:2] == ["split.test_size", "models.selection_metric"]
    assert "'auc' is not a classification metric" in exc.value.issues[1].message
    assert "command-line override 'models.selection_metric=auc'" in str(exc.value)


def test_a_required_key_refused_reports_the_schema_alone(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, BASE), ["data.target=[1,2]", "models.selection_metric=auc"])
    assert [issue.path for issue in exc.value.issues] == ["data.target"]


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")
    other = tmp_path / "recipe.yml"
    other.write_text(BASE)
    with pytest.raises(RecipeError, match=r"must end in \.yaml"):
        load_recipe(other)


def test_unknown_override_key_suggests(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, BASE), ["tunning.n_iter=3"])
    assert "override of an unknown key" in str(exc.value)
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, BASE), ["tuning.n_itr=3"])
    assert "did you mean 'tuning.n_iter'" in str(exc.value)


def test_unset_env_interpolation_is_named(tmp_path: Path) -> None:
    text = BASE.replace("source: data.csv", "source: ${oc.env:MLCTL_TEST_SURELY_UNSET}")
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, text))
    assert "MLCTL_TEST_SURELY_UNSET" in str(exc.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_text_is_yaml_or_recipe_error(text: str) -> None:
    with contextlib.suppress(RecipeError):
        parse_yaml(text, Path("fuzz.yaml"))


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_any_mapping_is_recipe_or_recipe_error(data) -> None:
    try:
        validate(data if isinstance(data, dict) else {"name": data})
    except RecipeError as exc:
        assert exc.issues


def test_commands_that_do_not_train_skip_the_candidate_checks(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("C: [0.1, 1.0]", "Cc: [0.1, 1.0]"))
    with pytest.raises(RecipeError) as exc:
        load_training_recipe(path)
    assert any("no parameter 'Cc'" in line for line in issues_of(exc))
    loaded = load_recipe(path)  # serve, predict, monitor: nothing trains
    assert [i.path for i in training_issues(loaded)] == ["models.candidates.lr.search.Cc"]
    assert training_issues(load_recipe(write(tmp_path, BASE, "ok.yaml"))) == []


def test_an_issue_about_a_feature_named_elsewhere_waits_for_the_data(tmp_path: Path) -> None:
    """A drift test of a feature that the features list misspells: with data_first, the
    issue waits in ``pending`` (the data check names the misspelt column first)."""
    text = BASE + "monitor:\n  drift:\n    columns:\n      bb: {method: psi}\n"
    with pytest.raises(RecipeError) as exc:
        load_recipe(write(tmp_path, text))
    assert "features.numeric has 'b': one of the two is misspelt" in str(exc.value)
    loaded = load_recipe(write(tmp_path, text), data_first=True)
    assert [i.path for i in loaded.pending] == ["monitor.drift.columns.bb"]
    with pytest.raises(RecipeError) as exc:  # a real error is never held back
        load_recipe(write(tmp_path, text), ["split.test_size=1.5"], data_first=True)
    assert len(exc.value.issues) == 2
