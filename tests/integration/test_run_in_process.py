"""The library called twice in one process: each run stays in its own workspace."""

from __future__ import annotations

import os
import sqlite3

import pytest
from serve_helpers import FAST

from mlctl.recipe.loader import load_recipe
from mlctl.runner import RunOptions, run

pytestmark = pytest.mark.integration


def run_names(db) -> list[str]:
    with sqlite3.connect(db) as con:
        return [n for (n,) in con.execute("SELECT name FROM runs ORDER BY start_time")]


def test_two_runs_in_one_process_keep_to_their_own_workspaces(
    tmp_path, churn_project, monkeypatch
) -> None:
    for name in ("MLCTL_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.setenv(name, "unset-me")  # recorded, so restored after the test
        monkeypatch.delenv(name)
    root = churn_project(tmp_path / "p", 600)
    loaded = load_recipe(root / "recipes" / "churn.yaml", FAST)
    first = run(loaded, RunOptions(workspace=str(tmp_path / "a"), run_name="first"))
    second = run(loaded, RunOptions(workspace=str(tmp_path / "b"), run_name="second"))
    in_a, in_b = run_names(tmp_path / "a" / "mlflow.db"), run_names(tmp_path / "b" / "mlflow.db")
    assert "first" in in_a and "second" not in in_a
    assert "second" in in_b and "first" not in in_b
    assert first.version == second.version == 1  # each registry has its own version 1
    # MLflow's set_tracking_uri exports MLFLOW_TRACKING_URI; a finished run puts the
    # environment back, so nothing else in the process is pointed at its store.
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        assert name not in os.environ
