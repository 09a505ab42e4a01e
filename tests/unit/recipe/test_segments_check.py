"""evaluation.segments names the model's input columns; anything else is a recipe error."""

from pathlib import Path

import pytest
from recipe_builders import write_recipe as write

from mlctl.errors import RecipeError
from mlctl.recipe.loader import load_recipe

pytestmark = pytest.mark.unit

BASE = """\
name: demo
data:
  source: data.csv
  target: y
features:
  numeric: [tenure]
  categorical: [Contract]
  derived:
    - {name: spend, expr: "log1p(MonthlyCharges)"}
models:
  candidates:
    lr: {estimator: logistic_regression}
evaluation:
  segments: SEGMENTS
"""


def load(tmp_path: Path, segments: str, **kw):
    return load_recipe(write(tmp_path, BASE.replace("SEGMENTS", segments)), **kw)


def test_features_and_columns_that_expressions_read_are_segments(tmp_path: Path) -> None:
    loaded = load(tmp_path, "[Contract, tenure, MonthlyCharges]")
    assert loaded.recipe.evaluation.segments == ["Contract", "tenure", "MonthlyCharges"]


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        (
            "[Contrct]",
            "evaluation.segments.0 (recipe.yaml:14): 'Contrct' is not an input column of the "
            "model; did you mean 'Contract'?",
        ),
        (
            "[Contract, spend]",
            "evaluation.segments.1 (recipe.yaml:14): 'spend' is a derived feature; segments "
            "are the model's input columns (features.numeric, features.categorical and the "
            "columns expressions read)",
        ),
        (
            "[y]",
            "evaluation.segments.0 (recipe.yaml:14): 'y' is the target; segments are the "
            "model's input columns",
        ),
        (
            "[region]",
            "evaluation.segments.0 (recipe.yaml:14): 'region' is not an input column of the "
            "model; input columns: tenure, Contract, MonthlyCharges",
        ),
    ],
)
def test_a_segment_that_is_not_an_input_column_is_named(
    tmp_path: Path, segments: str, message: str
) -> None:
    with pytest.raises(RecipeError) as exc:
        load(tmp_path, segments)
    rendered = [i.render().replace(str(tmp_path) + "/", "") for i in exc.value.issues]
    assert rendered == [message]


def test_the_issue_waits_for_the_data_check_when_the_data_comes_next(tmp_path: Path) -> None:
    """A misspelt feature is reported by the data check first (as itself)."""
    loaded = load(tmp_path, "[Contrct]", data_first=True)
    assert [i.path for i in loaded.pending] == ["evaluation.segments.0"]
