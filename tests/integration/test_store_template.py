"""A new embedded store is a copy of a cached, migrated, empty one (real MLflow, SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mlctl.tracking import store_template
from mlctl.tracking.workspace import ping, prepare, resolve_workspace

pytestmark = pytest.mark.integration


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MLCTL_CACHE_DIR", str(folder))
    return folder


def create(path: Path) -> str:
    """Creates a store through the template; says whether MLflow migrated from nothing."""
    seen: list[str] = []

    def migrate(target: Path) -> None:
        seen.append("opened a copy" if target.exists() else "migrated")
        ping(f"sqlite:///{target}")

    store_template.create_store(path, migrate, (path.parent / "artifacts").as_uri())
    return "opened a copy" if seen == ["opened a copy"] else "migrated"


def default_location(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        query = "SELECT artifact_location FROM experiments WHERE experiment_id = 0"
        return conn.execute(query).fetchone()[0]


def revision(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_the_first_store_is_migrated_and_kept_the_next_ones_are_copies(tmp_path, cache):
    (tmp_path / "a").mkdir()
    assert create(tmp_path / "a" / "mlflow.db") == "migrated"
    template = store_template.template_path()
    assert template.parent == cache and template.is_file()
    (tmp_path / "b").mkdir()
    assert create(tmp_path / "b" / "mlflow.db") == "opened a copy"
    # each store's Default experiment keeps its artifacts in its own workspace
    assert default_location(tmp_path / "a" / "mlflow.db") == (tmp_path / "a/artifacts/0").as_uri()
    assert default_location(tmp_path / "b" / "mlflow.db") == (tmp_path / "b/artifacts/0").as_uri()


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda t: t.write_bytes(b"not a database at all" * 100), id="garbage"),
        pytest.param(lambda t: t.write_bytes(b""), id="empty-file"),
        pytest.param(
            lambda t: sqlite3.connect(t).executescript(
                "INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, workspace) VALUES (7, 'leftover', '/x', 'active', 'default');"
            ),
            id="holds-an-experiment",
        ),
        pytest.param(
            lambda t: sqlite3.connect(t).executescript(
                "UPDATE alembic_version SET version_num = 'aaaaaaaaaaaa';"
            ),
            id="another-schema-revision",
        ),
    ],
)
def test_a_spoiled_template_is_not_used_and_is_replaced(tmp_path, cache, spoil):
    (tmp_path / "first").mkdir()
    create(tmp_path / "first" / "mlflow.db")
    template = store_template.template_path()
    spoil(template)

    (tmp_path / "second").mkdir()
    db = tmp_path / "second" / "mlflow.db"
    assert create(db) == "migrated"
    # a sound store at MLflow's head revision (MLflow keeps its connection to the refused
    # copy under this name, so the revision is read directly)
    assert revision(db) == revision(tmp_path / "first" / "mlflow.db")
    assert count(db, "experiments") == 1
    assert store_template._is_empty_store(template)  # a sound template again


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("MLCTL_CACHE_DIR", str(blocker / "mlctl"))
    for name in ("a", "b"):
        ws = resolve_workspace(tmp_path / name)
        prepare(ws)
        ping(ws.tracking_uri)
    assert not (blocker / "mlctl").exists()


def test_a_workspace_prepared_twice_reuses_the_template(tmp_path, cache):
    for name in ("one", "two"):
        ws = resolve_workspace(tmp_path / name)
        prepare(ws)
        assert default_location(ws.database) == (ws.root / "artifacts" / "0").as_uri()
    assert store_template.template_path().is_file()
