"""A new embedded store copied from a migrated, empty one instead of migrated again.

Creating an MLflow SQLite store runs every Alembic migration MLflow ever wrote: 4 to 7 s
on 2 cores, most of a small first ``mlctl run``. The schema only changes with MLflow's
version, so the first store created with a given MLflow version is kept, empty, in the
user's cache (``$MLCTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlctl``, else
``~/.cache/mlctl``) as ``mlflow-<version>-store.db``; later stores are a copy of it
(about 50 ms).

A copy is only used when it holds nothing but the schema and MLflow's ``Default``
experiment, and MLflow itself then checks its schema revision on the first connection;
anything else (a damaged, foreign or non-empty file) is deleted and the store is
migrated as before. The cache is a speed-up only: when it cannot be read or written,
stores are migrated as before and nothing is reported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger("mlctl.tracking")

# Tables a new store has rows in: Alembic's revision, the Default experiment and the
# default workspace.
_SEEDED = {"alembic_version", "experiments", "workspaces"}


def cache_dir() -> Path:
    """Where mlctl keeps files it can rebuild (``MLCTL_CACHE_DIR`` wins)."""
    if os.environ.get("MLCTL_CACHE_DIR"):
        return Path(os.environ["MLCTL_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mlctl"


def template_path() -> Path:
    from mlflow import __version__ as mlflow_version

    return cache_dir() / f"mlflow-{mlflow_version}-store.db"


def create_store(path: Path, migrate: Callable[[Path], None], artifacts_uri: str) -> None:
    """Create the SQLite store ``path``: a copy of the template when there is a sound one,
    else ``migrate(path)`` (which builds it from nothing) and the template is kept.
    Either way the ``Default`` experiment keeps its artifacts under ``artifacts_uri``
    (MLflow would point it at ``./mlruns/0`` of whatever folder the command ran in).

    Raises:
        whatever ``migrate`` raises.
    """
    if _copy_template(path):
        try:
            _point_default_experiment(path, artifacts_uri)
            migrate(path)  # opens the copy: MLflow checks the schema is at its head
            return
        except Exception as exc:  # a copy MLflow does not accept: forget the template
            logger.debug("store template refused (%s); migrating", exc)
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                template_path().unlink()
            # MLflow keeps its connection to the refused copy open, so the new store is
            # built under another name
            fresh = path.with_name(path.name + ".fresh")
            try:
                migrate(fresh)
                os.replace(fresh, path)
            finally:
                fresh.unlink(missing_ok=True)
            _keep_template(path)
            _point_default_experiment(path, artifacts_uri)
            return
    migrate(path)
    _keep_template(path)
    _point_default_experiment(path, artifacts_uri)


def _copy_template(path: Path) -> bool:
    try:
        template = template_path()
        if not template.is_file() or not _is_empty_store(template):
            return False
        shutil.copyfile(template, path)
        return True
    except (OSError, sqlite3.Error) as exc:
        logger.debug("store template not used: %s", exc)
        path.unlink(missing_ok=True)
        return False


def _keep_template(path: Path) -> None:
    """Copy a freshly migrated store into the cache, atomically (a concurrent reader
    sees the old file or the whole new one)."""
    try:
        template = template_path()
        template.parent.mkdir(parents=True, exist_ok=True)
        tmp = template.with_name(f".{template.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(path, tmp)
            if _is_empty_store(tmp):
                os.replace(tmp, template)
        finally:
            tmp.unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as exc:
        logger.debug("store template not kept: %s", exc)


def _is_empty_store(path: Path) -> bool:
    """Only the schema, Alembic's revision and the Default experiment."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if "alembic_version" not in tables or "experiments" not in tables:
            return False
        for table in tables:
            rows = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            if rows and table not in _SEEDED:
                return False
        (revisions,) = db.execute("SELECT COUNT(*) FROM alembic_version").fetchone()
        experiments = db.execute("SELECT experiment_id, name FROM experiments").fetchall()
        return revisions == 1 and experiments == [(0, "Default")]


def _point_default_experiment(path: Path, artifacts_uri: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0",
            (artifacts_uri.rstrip("/") + "/0",),
        )
