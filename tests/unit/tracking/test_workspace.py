"""Where the tracking store is: the workspace and URI precedence, and a store that is
not there (real SQLite files, no MLflow server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from recipe_builders import MINIMAL, write_recipe

from mlctl.errors import ExitCode, RegistryError
from mlctl.recipe.loader import load_recipe
from mlctl.tracking.local_read import ReadOnlyRegistry
from mlctl.tracking.workspace import for_recipe, open_existing, resolve_workspace

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _no_env_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLCTL_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_default_is_sqlite_in_dot_mlctl_here(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = resolve_workspace()
    assert ws.root == tmp_path / ".mlctl"
    assert ws.database == tmp_path / ".mlctl" / "mlflow.db"
    assert ws.is_embedded and ws.artifact_location == (ws.root / "artifacts").as_uri()


def test_flag_beats_recipe_and_env_beats_both_uris(tmp_path: Path, monkeypatch) -> None:
    flag, recipe_ws = tmp_path / "flag", tmp_path / "recipe"
    assert resolve_workspace(flag, recipe_ws).root == flag
    assert resolve_workspace(None, recipe_ws).root == recipe_ws
    server = resolve_workspace(flag, None, "http://127.0.0.1:5000")
    assert server.tracking_uri == "http://127.0.0.1:5000" and not server.is_embedded
    assert server.database is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert resolve_workspace(flag, None, "http://x:1").tracking_uri.endswith(":5001")
    monkeypatch.setenv("MLCTL_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    env = resolve_workspace(flag)
    assert env.database == tmp_path / "env.db"
    assert env.artifact_location == (flag / "artifacts").as_uri()  # not ./mlruns


def test_a_recipe_workspace_is_relative_to_the_recipe(tmp_path: Path) -> None:
    text = MINIMAL + "tracking:\n  workspace: store\n"
    loaded = load_recipe(write_recipe(tmp_path / "project", text))
    assert for_recipe(loaded).root == (tmp_path / "project" / "store").resolve()
    assert for_recipe(loaded, tmp_path / "other").root == tmp_path / "other"


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    ws = resolve_workspace(tmp_path / "none")
    with pytest.raises(RegistryError, match="no tracking database") as err:
        open_existing(ws)
    assert err.value.exit_code == ExitCode.BAD_INPUT
    assert "mlctl run RECIPE" in (err.value.hint or "")
    with pytest.raises(RegistryError):
        ReadOnlyRegistry(ws).versions("churn")
    assert not (tmp_path / "none").exists()
