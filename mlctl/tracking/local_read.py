"""Read-only lookups in an embedded SQLite workspace without importing MLflow.

``mlctl monitor`` needs three small facts before it can test drift: which version an
alias points at, that version's run and tags, and the run's reference profile.
Asking MLflow for them costs ~1.4 s of imports (``mlflow`` and its SQLAlchemy store),
more than the drift tests on a million rows. For the default embedded workspace
(``sqlite:///…/mlflow.db`` with artifacts in the workspace folder) this module reads
the same rows MLflow reads, with :mod:`sqlite3`, in a read-only connection.

It answers only when it can be sure: the database's schema revision must be one it was
checked against (:data:`KNOWN_SCHEMAS`; ``tests/integration/test_local_read.py``
compares it with MLflow's answers on a real registry and fails when MLflow writes a
revision not listed here), MLflow's workspaces feature must be off, and the artifact
store must be the local folder. Otherwise, and on any SQLite error or a missing row,
it returns ``None`` and the caller asks MLflow, which also words the errors.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlctl.tracking import registry
from mlctl.tracking.registry import VersionInfo
from mlctl.tracking.workspace import Workspace

# Alembic revisions of MLflow's tracking schema (the newest migration applied) whose
# tables this module has been checked against, with the MLflow release that writes it.
KNOWN_SCHEMAS = frozenset({"dc11669786a5"})  # MLflow 3.17
DELETED_STAGE = "Deleted_Internal"  # MLflow's soft-deleted model versions
MLFLOW_WORKSPACE = "default"


def version_info(ws: Workspace, name: str, selector: str | int) -> VersionInfo | None:
    """The registered version ``selector`` (a number or an alias) of model ``name``, as
    :meth:`~mlctl.tracking.registry.Registry.version` gives it, or None when this
    module cannot tell (see the module docstring)."""
    con = _connect(ws)
    if con is None:
        return None
    try:
        with contextlib.closing(con):
            return _version_info(con, name, selector)
    except sqlite3.Error:
        return None


def versions(ws: Workspace, name: str) -> list[VersionInfo] | None:
    """Every registered version of model ``name``, newest first, as
    :meth:`~mlctl.tracking.registry.Registry.versions` gives them, or None when this
    module cannot tell (an unknown model included: MLflow words that error)."""
    con = _connect(ws)
    if con is None:
        return None
    key = (MLFLOW_WORKSPACE, name)
    try:
        with contextlib.closing(con):
            known = con.execute(
                "SELECT 1 FROM registered_models WHERE workspace = ? AND name = ?", key
            ).fetchone()
            if known is None:
                return None
            numbers = con.execute(
                "SELECT version FROM model_versions "
                "WHERE workspace = ? AND name = ? AND current_stage != ? ORDER BY version DESC",
                (*key, DELETED_STAGE),
            ).fetchall()
            found = [_version_info(con, name, int(v)) for (v,) in numbers]
    except sqlite3.Error:
        return None
    return None if None in found else found


def _version_info(con: sqlite3.Connection, name: str, selector: str | int) -> VersionInfo | None:
    key = (MLFLOW_WORKSPACE, name)
    if str(selector).isdigit():
        version = int(selector)
    else:
        row = con.execute(
            "SELECT version FROM registered_model_aliases "
            "WHERE workspace = ? AND name = ? AND alias = ?",
            (*key, str(selector)),
        ).fetchone()
        if row is None:
            return None
        version = int(row[0])
    row = con.execute(
        "SELECT run_id, source, creation_time FROM model_versions "
        "WHERE workspace = ? AND name = ? AND version = ? AND current_stage != ?",
        (*key, version, DELETED_STAGE),
    ).fetchone()
    if row is None:
        return None
    run_id, source, created_ms = row
    aliases = con.execute(
        "SELECT alias FROM registered_model_aliases "
        "WHERE workspace = ? AND name = ? AND version = ?",
        (*key, version),
    ).fetchall()
    tags = dict(
        con.execute(
            'SELECT "key", value FROM model_version_tags '
            "WHERE workspace = ? AND name = ? AND version = ?",
            (*key, version),
        ).fetchall()
    )
    return registry.version_info(
        name, version, [a for (a,) in aliases], run_id, created_ms, tags, source
    )


def run_artifact(ws: Workspace, run_id: str, path: str) -> Path | None:
    """Where a run's artifact file is in the workspace folder, or None when this module
    cannot tell. The file itself may not exist (the run did not log it)."""
    con = _connect(ws)
    if con is None:
        return None
    try:
        with contextlib.closing(con):
            row = con.execute(
                "SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)
            ).fetchone()
    except sqlite3.Error:
        return None
    if row is None or not row[0]:
        return None
    uri = urlparse(row[0])
    if uri.scheme != "file" or uri.netloc not in ("", "localhost"):
        return None
    return Path(unquote(uri.path)).joinpath(*path.split("/"))


def direct_database(ws: Workspace) -> Path | None:
    """The workspace's SQLite file when mlctl may use it without MLflow (read here,
    written by :mod:`~mlctl.tracking.local_write`): an embedded store with MLflow's
    workspaces off; the schema revision is checked by :func:`known_schema`."""
    db_path = ws.database
    if (
        not ws.is_embedded
        or db_path is None
        or not db_path.is_file()
        or os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").strip().lower() in ("true", "1")
        or os.environ.get("MLFLOW_WORKSPACE")
    ):
        return None
    return db_path


def known_schema(con: sqlite3.Connection) -> bool:
    """The database's one schema revision is in :data:`KNOWN_SCHEMAS`."""
    try:
        revisions = [r for (r,) in con.execute("SELECT version_num FROM alembic_version")]
    except sqlite3.Error:
        return False
    return len(revisions) == 1 and revisions[0] in KNOWN_SCHEMAS


def _connect(ws: Workspace) -> sqlite3.Connection | None:
    """A read-only connection to the workspace's database when it may be read directly."""
    db_path = direct_database(ws)
    if db_path is None:
        return None
    try:
        con = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    if not known_schema(con):
        con.close()
        return None
    return con


class ReadOnlyRegistry:
    """The registry's queries for read-only commands (``mlctl models list`` and
    ``describe``): answered from the SQLite file where this module can be sure, else by
    :class:`~mlctl.tracking.registry.Registry` (MLflow), which also words the errors."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def versions(self, name: str) -> list[VersionInfo]:
        found = versions(self.ws, name)
        return found if found is not None else self._mlflow().versions(name)

    def version(self, name: str, selector: str | int) -> VersionInfo:
        found = version_info(self.ws, name, selector)
        return found if found is not None else self._mlflow().version(name, selector)

    def _mlflow(self) -> registry.Registry:
        """MLflow's answer; a workspace without a database is an error there."""
        from mlctl.tracking.workspace import open_existing

        open_existing(self.ws)
        return registry.Registry(self.ws)
