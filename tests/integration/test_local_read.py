"""mlctl.tracking.local_read answers exactly as MLflow does, or not at all."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlctl.errors import RegistryError
from mlctl.tracking import local_read
from mlctl.tracking.registry import CHALLENGER, CHAMPION, Registry
from mlctl.tracking.runs import ParentRun, read_run_text
from mlctl.tracking.workspace import Workspace, prepare, resolve_workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Four versions of "m" (one unregistered, one without a profile file), one of "n",
    the champion and challenger aliases moved around."""
    saved = dict(os.environ)  # MLflow's set_tracking_uri sets MLFLOW_TRACKING_URI
    for name in ("MLCTL_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_WORKSPACE"):
        os.environ.pop(name, None)
    try:
        yield _registry(tmp_path_factory.mktemp("local_read") / "ws")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def embedded(root: Path) -> Workspace:
    """The default workspace in ``root``, whatever the environment says."""
    return Workspace(root, f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())


def _registry(folder):
    ws = resolve_workspace(folder)
    prepare(ws)
    reg = Registry(ws)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    for i, name in enumerate(["m", "m", "m", "m", "n"]):
        with ParentRun(ws, "exp", f"run{i}", {}) as run:
            if i != 1:
                run.log_text(f'{{"run": {i}}}', "monitoring/reference_profile.json")
            uri = run.log_model(model, X[:2])
            tags = {"mlctl.gate": "passed", "mlctl.metric.roc_auc": 0.5 + i / 10}
            reg.register(uri, name, run.run_id, tags)
    reg.promote("m", 1, "first")
    reg.promote("m", 2, "second")
    reg.set_challenger("m", 3)
    reg.unregister("m", 4)
    reg.promote("n", 1, "only")
    return ws, reg


SELECTORS = [("m", s) for s in (1, 2, 3, "1", CHAMPION, CHALLENGER)] + [("n", CHAMPION)]


@pytest.mark.parametrize(("name", "selector"), SELECTORS)
def test_versions_and_profiles_read_as_mlflow_reads_them(registry, name, selector) -> None:
    ws, reg = registry
    assert local_read.version_info(ws, name, selector) == reg.version(name, selector)
    run_id = reg.version(name, selector).run_id
    path = local_read.run_artifact(ws, run_id, "monitoring/reference_profile.json")
    text = read_run_text(ws, run_id, "monitoring/reference_profile.json")
    assert (path.read_text() if path.is_file() else None) == text


def test_what_mlflow_would_refuse_is_left_to_mlflow(registry) -> None:
    ws, _ = registry
    for name, selector in [("m", 4), ("m", 9), ("m", "staging"), ("nope", CHAMPION)]:
        assert local_read.version_info(ws, name, selector) is None
    assert local_read.run_artifact(ws, "0" * 32, "monitoring/reference_profile.json") is None


@pytest.mark.parametrize("name", ["m", "n"])
def test_version_lists_read_as_mlflow_reads_them(registry, name) -> None:
    """``mlctl models list`` reads them this way (the unregistered version 4 is not
    listed)."""
    ws, reg = registry
    assert local_read.versions(ws, name) == reg.versions(name)
    assert local_read.ReadOnlyRegistry(ws).versions(name) == reg.versions(name)


def test_the_read_only_registry_leaves_errors_to_mlflow(registry, tmp_path) -> None:
    ws, _ = registry
    assert local_read.versions(ws, "nope") is None
    with pytest.raises(RegistryError, match="no registered model named 'nope'"):
        local_read.ReadOnlyRegistry(ws).versions("nope")
    with pytest.raises(RegistryError, match="no version or alias 'staging'"):
        local_read.ReadOnlyRegistry(ws).version("m", "staging")
    with pytest.raises(RegistryError, match="no tracking database at"):
        local_read.ReadOnlyRegistry(embedded(tmp_path / "none")).versions("m")


def test_the_schema_mlflow_writes_is_known(registry) -> None:
    """Fails when an MLflow upgrade changes its schema: check the queries of local_read
    against the new revision, then add it to KNOWN_SCHEMAS."""
    ws, _ = registry
    with sqlite3.connect(ws.database) as con:
        (revision,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision in local_read.KNOWN_SCHEMAS


def test_no_answer_for_an_unknown_schema_workspaces_or_a_server(
    registry, tmp_path, monkeypatch
) -> None:
    ws, _ = registry
    monkeypatch.setenv("MLFLOW_WORKSPACE", "team-a")
    assert local_read.version_info(ws, "m", CHAMPION) is None
    monkeypatch.delenv("MLFLOW_WORKSPACE")
    server = Workspace(ws.root, "http://127.0.0.1:9", None)
    assert local_read.version_info(server, "m", CHAMPION) is None
    copy = tmp_path / "copy"
    shutil.copytree(ws.root, copy)
    moved = embedded(copy)
    assert moved.database != ws.database
    assert local_read.version_info(moved, "m", CHAMPION) is not None
    with sqlite3.connect(moved.database) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    assert local_read.version_info(moved, "m", CHAMPION) is None
    assert local_read.version_info(ws, "m", CHAMPION) is not None  # the original is intact
    assert local_read.version_info(embedded(tmp_path / "missing"), "m", CHAMPION) is None
