"""``mlctl init`` through the real command: the recipes it writes pass ``mlctl validate``
as written, and bad input gets a clear message and the documented exit code.

The commands run in-process (click's CliRunner on the real ``cli``), which keeps the
many init → validate round trips fast; test_quickstart.py runs the real program.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from mlctl.cli.main import cli

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """An empty project folder as the current directory."""
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(here)


def mlctl(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def init_and_validate(*args: str) -> tuple[dict, dict]:
    """``init --json`` then ``validate --json`` on what it wrote; both must exit 0."""
    made = mlctl("init", *args, "--json")
    assert made.exit_code == 0, made.output
    decided = json.loads(made.stdout)
    checked = mlctl("validate", decided["recipe"], "--json")
    assert checked.exit_code == 0, checked.output
    return decided, json.loads(checked.stdout)


def mixed_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Columns of every kind init tells apart, around a signal in x1 and plan."""
    x1 = rng.normal(size=n)
    return pd.DataFrame(
        {
            "row_id": np.arange(1, n + 1),
            "x1": x1,
            "x2": rng.normal(size=n),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "region": "EU",
            "email": [f"u{i % (n * 3 // 4)}@example.com" for i in rng.permutation(n)],
            "comment": [f"customer {i} asked about the bill for month {i % 12}" for i in range(n)],
            "amount": [" " if i % 37 == 0 else f"{abs(v) * 100:.2f}" for i, v in enumerate(x1)],
            "signed_up": pd.date_range("2022-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )


def test_binary_with_id_constant_high_cardinality_text_and_coercion(project: Path) -> None:
    rng = np.random.default_rng(1)
    frame = mixed_frame(400, rng)
    frame["churned"] = np.where(frame["x1"] + rng.normal(0, 0.5, 400) > 0.6, "yes", "no")
    frame.to_csv(project / "customers.csv", index=False)
    decided, checked = init_and_validate("customers.csv", "--target", "churned", "--name", "churn")
    assert decided["recipe"] == str(project / "recipes" / "churn.yaml")
    assert decided["target"]["task"] == "classification"
    assert decided["target"]["positive_class"] == "yes"
    assert decided["id_column"] == "row_id"
    assert decided["coerce"] == {"amount": "float"}
    assert {d["name"]: d["kind"] for d in decided["dropped"]} == {
        "row_id": "id",
        "region": "constant",
        "email": "high_cardinality",
        "comment": "text",
        "signed_up": "datetime",
    }
    assert decided["split"]["strategy"] == "stratified"
    assert checked["data"]["classes"] == ["no", "yes"]
    text = (project / "recipes" / "churn.yaml").read_text()
    assert "#   email: high-cardinality, 300 distinct values in 400 rows" in text
    assert "positive_class: 'yes'" in text  # quoted: YAML 1.1 reads a bare yes as true


def test_multiclass_from_whole_numbers(project: Path) -> None:
    rng = np.random.default_rng(2)
    frame = mixed_frame(300, rng).drop(columns=["comment"])
    frame["tier"] = np.digitize(frame["x1"], [-0.5, 0.5]) + 1
    frame.to_parquet(project / "tiers.parquet")
    decided, checked = init_and_validate("tiers.parquet", "--target", "tier")
    assert decided["name"] == "tiers"
    assert decided["target"]["task"] == "classification"
    assert decided["target"]["classes"] == [1, 2, 3]
    assert decided["target"]["positive_class"] is None
    assert checked["data"]["classes"] == ["1", "2", "3"]


def test_regression_with_a_time_split(project: Path) -> None:
    rng = np.random.default_rng(3)
    frame = mixed_frame(300, rng)
    frame["revenue"] = 1000 + 300 * frame["x1"] + rng.normal(0, 50, 300)
    (project / "data").mkdir()
    frame.to_csv(project / "data" / "sales.csv", index=False)
    out = project / "models" / "sales.yaml"
    decided, checked = init_and_validate(
        "data/sales.csv", "-t", "revenue", "--time-column", "signed_up", "--out", str(out)
    )
    assert decided["target"]["task"] == "regression"
    assert decided["split"] == {"strategy": "time", "test_size": 0.2, "time_column": "signed_up"}
    assert decided["source"] == "../data/sales.csv"
    assert [c["name"] for c in decided["candidates"]] == ["hgb", "ridge", "random_forest"]
    recipe = yaml.safe_load(out.read_text())
    assert recipe["readiness"]["beat_baseline_by"] > 0
    assert recipe["split"]["time_column"] == "signed_up"
    assert checked["data"]["train_rows"] == 240


def test_telco_recipe_finds_the_coercion_and_the_id(project: Path) -> None:
    decided, checked = init_and_validate(str(TELCO), "--target", "Churn", "--name", "telco")
    assert decided["coerce"] == {"TotalCharges": "float"}
    assert decided["id_column"] == "customerID"
    assert decided["target"]["positive_class"] == "Yes"
    assert len(decided["numeric"]) + len(decided["categorical"]) == 19
    assert checked["data"]["rows"] == 7043


def test_a_semicolon_file_with_decimal_commas_needs_no_sep(project: Path) -> None:
    """A European export (';' between fields, ',' in numbers): init reads the separator
    off the file, writes it into the recipe, and validate reads the data with it."""
    frame = pd.read_csv(TELCO, nrows=400)
    frame.to_csv(project / "telco_eu.csv", sep=";", decimal=",", index=False)
    decided, checked = init_and_validate("telco_eu.csv", "--target", "Churn", "--name", "eu")
    recipe = yaml.safe_load((project / decided["recipe"]).read_text())
    assert recipe["data"]["csv_separator"] == ";"
    assert decided["id_column"] == "customerID"
    assert checked["data"]["rows"] == 400


def test_human_summary_says_what_was_dropped_and_why(project: Path) -> None:
    rng = np.random.default_rng(4)
    frame = mixed_frame(200, rng)
    frame["y"] = rng.choice(["a", "b"], 200)
    frame.to_csv(project / "t.csv", index=False)
    result = mlctl("init", "t.csv", "--target", "y")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "dropped (constant) one value ('EU') in every row" in out
    assert "note: date column signed_up: pass --time-column signed_up" in out
    assert f"wrote {project / 'recipes' / 't.yaml'}" in out


def test_existing_recipe_is_kept_without_force(project: Path) -> None:
    pd.DataFrame({"x": [i % 7 for i in range(40)], "y": [0, 1] * 20}).to_csv(
        project / "d.csv", index=False
    )
    (project / "recipes").mkdir()
    mine = project / "recipes" / "d.yaml"
    mine.write_text("# my recipe\n")
    refused = mlctl("init", "d.csv", "--target", "y")
    assert refused.exit_code == 2
    assert "already exists; it was left untouched" in refused.stderr
    assert "pass --overwrite" in refused.stderr
    assert mine.read_text() == "# my recipe\n"
    forced = mlctl("init", "d.csv", "--target", "y", "--force")  # old spelling still works
    assert forced.exit_code == 0 and "replaced" in forced.stdout
    assert mlctl("validate", str(mine)).exit_code == 0


@pytest.mark.parametrize(
    ("frame", "target", "messages"),
    [
        (
            {"tenure": [1, 2] * 10, "Churn": ["No", "Yes"] * 10},
            "churn",
            [
                "target column 'churn' is not in",
                "did you mean 'Churn'?",
                "columns in the file: tenure, Churn",
            ],
        ),
        ({"x": range(20), "y": ["same"] * 20}, "y", ["has one value only ('same' in 20 rows)"]),
        (
            {"x": range(30), "y": [f"label-{i}" for i in range(30)]},
            "y",
            ["a different value in every row (30 values)", "cannot be a classification target"],
        ),
    ],
)
def test_bad_targets_exit_4_and_say_why(project: Path, frame, target: str, messages) -> None:
    pd.DataFrame(frame).to_csv(project / "bad.csv", index=False)
    result = mlctl("init", "bad.csv", "--target", target)
    assert result.exit_code == 4
    err = " ".join(result.stderr.split())
    for message in messages:
        assert message in err
    assert not (project / "recipes").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nope.csv", None, "error: file not found: "),
        ("broken.parquet", b"PAR1 not really", "error: cannot read "),
        ("blank.csv", b"", "the file is empty"),
    ],
)
def test_unreadable_file_is_named(project: Path, name: str, content, message: str) -> None:
    if content is not None:
        (project / name).write_bytes(content)
    result = mlctl("init", name, "--target", "y")
    assert result.exit_code == 4
    assert message in result.stderr
    assert str(project / name) in " ".join(result.stderr.split())


def test_bad_time_column_is_a_usage_error(project: Path) -> None:
    rng = np.random.default_rng(6)
    frame = mixed_frame(100, rng)
    frame["y"] = rng.normal(size=100)
    frame.to_csv(project / "t.csv", index=False)
    result = mlctl("init", "t.csv", "--target", "y", "--time-column", "x1")
    assert result.exit_code == 2
    assert "--time-column 'x1' does not hold dates" in result.stderr
    assert "date columns found: signed_up" in result.stderr


def test_whole_number_labels_read_as_floats_still_validate(project: Path) -> None:
    """A 0/1 target with blank rows is read as floats; the label check must match 1.0."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=300)
    y = (x > 0.3).astype(float)
    y[::50] = np.nan
    pd.DataFrame({"x": x, "g": rng.choice(["a", "b"], 300), "y": y}).to_csv(
        project / "f.csv", index=False
    )
    decided, checked = init_and_validate("f.csv", "--target", "y")
    assert decided["target"]["positive_class"] == 1
    assert any("6 rows have no 'y' value" in note for note in decided["notes"])
    assert checked["data"]["rows"] == 294
