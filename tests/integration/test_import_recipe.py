"""``mlctl import-recipe`` end to end: the Recipes example projects under
tests/fixtures/mlflow_recipes/ imported by the real command, the written recipe
validated and run by the real ``mlctl run`` (SQLite MLflow in a temporary workspace),
and the example in docs/migrating-from-mlflow-recipes.md checked against the output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mlctl.cli.main import cli

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path("tests") / "fixtures" / "mlflow_recipes"
TELCO = Path("data") / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
DOC = REPO / "docs" / "migrating-from-mlflow-recipes.md"
FAST = [
    "evaluation.importance_repeats=0",
    "models.cv_folds=2",
    "tuning.n_trials=2",
    "tuning.n_jobs=1",
]


def invoke(cwd: Path, *args: str):
    """The real command in-process, from ``cwd`` (relative paths as a user types them)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    """The repository's layout in a temporary folder: the telco_churn Recipes project,
    and the first 800 Telco rows where its local profile expects the data."""
    root = tmp_path_factory.mktemp("import")
    shutil.copytree(REPO / FIXTURES / "telco_churn", root / FIXTURES / "telco_churn")
    (root / TELCO).parent.mkdir(parents=True)
    raw = pd.read_csv(REPO / TELCO, dtype=str, keep_default_na=False)
    raw.head(800).to_csv(root / TELCO, index=False)
    return root


@pytest.fixture(scope="module")
def imported(layout: Path) -> tuple[Path, dict]:
    res = invoke(
        layout,
        "import-recipe",
        str(FIXTURES / "telco_churn" / "recipe.yaml"),
        "--out",
        "recipes/telco_churn.yaml",
        "--json",
    )
    assert res.exit_code == 0, res.output
    return layout / "recipes" / "telco_churn.yaml", json.loads(res.stdout)


def test_the_report_lists_mapped_and_unmapped_items(imported) -> None:
    _, report = imported
    assert report["runnable"] is True and report["blockers"] == []
    by_source = {i["source"]: i for i in report["items"]}
    assert by_source["target_col"]["target"] == "data.target"
    assert by_source["positive_class"]["detail"] == "'Yes'"
    assert by_source["steps.evaluate.validation_criteria.0"]["target"] == (
        "readiness.thresholds.min_roc_auc"
    )
    transform = by_source["steps.transform.transformer_method (transformer_fn)"]
    assert transform["status"] == "unmapped" and "features.derived" in transform["hint"]
    assert by_source["custom_metrics (revenue_at_risk)"]["status"] == "unmapped"
    assert report["counts"] == {"mapped": 14, "approximated": 4, "unmapped": 4}


def test_the_docs_example_is_what_the_command_writes(imported) -> None:
    path, _ = imported
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    written = path.read_text()
    assert written in blocks, "docs/migrating-from-mlflow-recipes.md shows another recipe"


def test_the_imported_recipe_runs(imported, layout: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    res = subprocess.run(
        [sys.executable, "-m", "mlctl", "run", "recipes/telco_churn.yaml", *FAST, "--json"],
        cwd=layout,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["status"] == "ready"
    # allow_non_validated_model: false → auto_promote: a validated model is served at once
    assert doc["model"]["name"] == "telco_churn"
    assert "champion" in doc["model"]["aliases"]
    checks = {c["name"] for c in doc["gate"]["checks"]}
    assert {"test min_roc_auc", "test min_f1"} <= checks


def test_a_spark_sql_profile_is_written_but_not_runnable(layout: Path) -> None:
    res = invoke(
        layout,
        "import-recipe",
        str(FIXTURES / "telco_churn"),
        "--profile",
        "databricks",
        "--out",
        "recipes/from_databricks.yaml",
    )
    assert res.exit_code == 3, res.output
    assert "before mlctl run, fix:" in res.stdout
    assert "data.source: the Recipes ingest step could not be mapped" in res.stdout
    written = (layout / "recipes" / "from_databricks.yaml").read_text()
    assert "spark_sql source 'SELECT * FROM crm.telco_customers'" in written
    assert "# Before `mlctl run`, fix:" in written


def test_the_automl_regression_example_validates(tmp_path: Path) -> None:
    out = tmp_path / "housing.yaml"
    res = invoke(
        REPO, "import-recipe", str(FIXTURES / "california_housing"), "--out", str(out), "--json"
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["name"] == "housing_prices"
    text = out.read_text()
    assert "timeout: 20.0  # steps.train.time_budget_secs 60 / 3 candidates" in text
    res = invoke(tmp_path, "validate", str(out), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["data"]["rows"] == 20640


def test_bad_input_says_what_was_expected(layout: Path) -> None:
    res = invoke(REPO, "import-recipe", "recipes/churn.yaml", "--out", "/dev/null.yaml")
    assert res.exit_code == 4
    assert "found no `recipe:` key; expected an MLflow Recipes project" in res.stderr
    res = invoke(layout, "import-recipe", str(FIXTURES / "telco_churn"), "--profile", "prod")
    assert res.exit_code == 4
    assert "profile 'prod' not found" in res.stderr and "databricks, local" in res.stderr


def test_an_existing_recipe_is_kept_without_force(imported, layout: Path) -> None:
    path, _ = imported
    before = path.read_text()
    args = ["import-recipe", str(FIXTURES / "telco_churn"), "--out", "recipes/telco_churn.yaml"]
    res = invoke(layout, *args)
    assert res.exit_code == 2
    assert "already exists; it was left untouched" in res.stderr
    assert path.read_text() == before
    assert invoke(layout, *args, "--overwrite").exit_code == 0
