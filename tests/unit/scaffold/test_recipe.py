"""The recipe text ``mlctl init`` writes: valid YAML, valid recipe, safe quoting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlctl.errors import UsageError
from mlctl.recipe.loader import load_recipe
from mlctl.scaffold import InitOptions, scaffold
from mlctl.scaffold.core import default_name
from mlctl.scaffold.recipe import scalar

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Yes", "'Yes'"),
        ("no", "'no'"),
        ("1.10", "'1.10'"),
        ("null", "'null'"),
        ("plain", "plain"),
        ("a: b", "'a: b'"),
        (1, "1"),
        (None, "null"),
        ([0.3, "sqrt", None], "[0.3, sqrt, null]"),
        ({"low": 0.01, "high": 10.0}, "{low: 0.01, high: 10.0}"),
    ],
)
def test_scalars_read_back_as_themselves(value, text: str) -> None:
    assert scalar(value) == text
    assert yaml.safe_load(scalar(value)) == value


def test_interpolation_syntax_in_a_name_is_escaped() -> None:
    assert scalar("cost_${x}") == "cost_\\${x}"


@pytest.mark.parametrize(
    ("stem", "name"), [("WA_Fn-UseC_-Telco", "WA_Fn-UseC_-Telco"), ("My data (v2)", "My-data-v2")]
)
def test_default_name_from_the_file_stem(stem: str, name: str) -> None:
    assert default_name(Path(f"/x/{stem}.csv")) == name


def customers(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    tenure = rng.integers(0, 72, n)
    return pd.DataFrame(
        {
            "customer id": [f"c{i}" for i in range(n)],
            "tenure": tenure,
            "on": rng.choice(["yes", "no"], n),  # a YAML 1.1 boolean as a column name
            "spend": [" " if i % 50 == 0 else f"{t * 20.5:.2f}" for i, t in enumerate(tenure)],
            "churned": np.where(tenure < 20, "Yes", "No"),
        }
    )


def test_written_recipe_loads_and_matches_the_plan(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    customers().to_csv(tmp_path / "data" / "customers.csv", index=False)
    result = scaffold(InitOptions("data/customers.csv", "churned", name="churn"), cwd=tmp_path)
    assert result.path == tmp_path / "recipes" / "churn.yaml"
    r = load_recipe(result.path).recipe
    assert r.data.source == "../data/customers.csv"
    assert r.data.positive_class == "Yes" and r.data.id_column == "customer id"
    assert r.data.coerce == {"spend": "float"}
    assert r.features.numeric == ["tenure", "spend"] and r.features.categorical == ["on"]
    assert set(r.models.candidates) == {"logreg", "random_forest", "gbm"}
    assert r.readiness.beat_baseline_by == 0.05 and r.deploy.model_name == "churn"
    assert "defaults" not in result.text  # self-contained: no conf/ groups
    assert "# numbers stored as text; 4 blank or NA values" in result.text


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    customers().to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "mine.yaml"
    out.write_text("keep me\n")
    options = InitOptions("c.csv", "churned", out="mine.yaml")
    with pytest.raises(UsageError) as err:
        scaffold(options, cwd=tmp_path)
    assert "already exists" in str(err.value) and "--force" in err.value.hint
    assert out.read_text() == "keep me\n"
    options.force = True
    assert scaffold(options, cwd=tmp_path).replaced
    assert load_recipe(out).recipe.name == "c"


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"name": "bad name!"}, "not a valid recipe name"), ({"out": "r.yml"}, "must end in .yaml")],
)
def test_bad_name_or_output(tmp_path: Path, kw: dict, message: str) -> None:
    customers().to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(UsageError) as err:
        scaffold(InitOptions("c.csv", "churned", **kw), cwd=tmp_path)
    assert message in str(err.value)
