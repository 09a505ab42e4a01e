"""--json and --quiet of the commands that need no trained model (real files, the
real command line through click's runner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from recipe_builders import MINIMAL, write_recipe

from mlctl.cli.main import cli

pytestmark = pytest.mark.unit


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_validate_quiet_prints_nothing_when_valid(tmp_path: Path) -> None:
    path = str(write_recipe(tmp_path))
    assert invoke("validate", path, "--no-data").stdout.startswith("✓ recipe")
    quiet = invoke("validate", path, "--no-data", "-q")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    doc = json.loads(invoke("validate", path, "--no-data", "--json").stdout)
    assert doc["valid"] and doc["candidates"] == ["lr"]


def test_validate_quiet_still_reports_errors(tmp_path: Path) -> None:
    path = str(write_recipe(tmp_path, MINIMAL.replace("numeric: [a]", "numeric: [y]")))
    result = invoke("validate", path, "--no-data", "--quiet")
    assert result.exit_code == 4
    assert "the target 'y' cannot be a feature" in result.stderr


def test_show_quiet_is_only_yaml(tmp_path: Path) -> None:
    import yaml

    path = str(write_recipe(tmp_path))
    full = invoke("show", path, "seed=3").stdout
    assert full.startswith("# ") and "overrides: seed=3" in full
    quiet = invoke("show", path, "seed=3", "-q").stdout
    assert not quiet.startswith("#")
    assert yaml.safe_load(quiet)["seed"] == 3


def test_models_commands_on_a_missing_store_exit_4_in_every_mode(tmp_path: Path) -> None:
    ws = str(tmp_path / "none")
    for args in (["list", "churn"], ["describe", "churn"], ["describe", "churn", "-q"]):
        result = invoke("models", *args, "--workspace", ws, "--json")
        assert result.exit_code == 4, result.output
        assert result.stdout == ""  # the error is on stderr, stdout stays parseable
        assert "no tracking database" in result.stderr
