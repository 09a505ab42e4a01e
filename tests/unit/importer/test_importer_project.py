"""Reading a Recipes project: profile rendering, and what is refused with which message."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlctl.errors import RecipeError
from mlctl.importer.project import load_project

pytestmark = pytest.mark.unit


def test_profile_variables_fill_the_template(recipes_project) -> None:
    root = recipes_project()
    project = load_project(root / "recipe.yaml", "local")
    assert project.task == "classification"
    assert project.step("ingest") == {"using": "csv", "location": "./data.csv"}
    assert project.config["model_registry"] == {"model_name": "demo"}  # merged from the profile


def test_a_folder_names_its_recipe_yaml(recipes_project) -> None:
    assert load_project(recipes_project()).recipe_file.name == "recipe.yaml"


def test_an_undefined_variable_names_itself_and_the_profile(recipes_project) -> None:
    root = recipes_project(profile="model_registry:\n  model_name: demo\n")
    with pytest.raises(RecipeError) as err:
        load_project(root)
    assert "'INGEST_CONFIG' is undefined" in err.value.message
    assert "local.yaml" in err.value.message


def test_an_unknown_profile_lists_the_profiles(recipes_project) -> None:
    with pytest.raises(RecipeError) as err:
        load_project(recipes_project(), "prod")
    assert "profile 'prod' not found" in err.value.message
    assert "profiles here: local" in err.value.message


def test_an_mlctl_recipe_is_not_a_recipes_project() -> None:
    churn = Path(__file__).resolve().parents[3] / "recipes" / "churn.yaml"
    with pytest.raises(RecipeError) as err:
        load_project(churn)
    assert "found no `recipe:` key" in err.value.message
    assert "recipe: classification/v1" in err.value.message


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ('recipe: "forecasting/v1"\ntarget_col: y\n', "found `recipe: forecasting/v1`"),
        ('recipe: "regression/v1"\nsteps: {}\n', "missing or empty: MLflow Recipes needs the name"),
        ("recipe:\n  - a list\n", "found `recipe: ['a list']`"),
    ],
)
def test_wrong_templates_say_what_was_expected(recipes_project, recipe, expected) -> None:
    with pytest.raises(RecipeError) as err:
        load_project(recipes_project(recipe=recipe))
    assert expected in err.value.message


def test_older_projects_with_template_key_are_read(recipes_project) -> None:
    root = recipes_project(recipe='template: "regression/v1"\ntarget_col: y\nsteps: {}\n')
    assert load_project(root).task == "regression"


def test_a_profile_key_overriding_the_recipe_is_reported(recipes_project) -> None:
    root = recipes_project(
        profile="primary_metric: roc_auc\nINGEST_CONFIG:\n  using: csv\n  location: d.csv\n"
    )
    project = load_project(root)
    assert project.config["primary_metric"] == "roc_auc"
    assert project.profile_overrides == ["primary_metric"]


def test_from_json_reads_only_inside_the_project(recipes_project, tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text('{"a": 1}')
    root = recipes_project(profile='INGEST_CONFIG: {{ "../secret.json" | from_json }}\n')
    with pytest.raises(RecipeError) as err:
        load_project(root)
    assert "outside the project folder" in err.value.message


def test_templates_run_sandboxed(recipes_project) -> None:
    root = recipes_project(recipe="recipe: {{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(RecipeError) as err:
        load_project(root)
    assert "cannot render the template" in err.value.message
