"""A finished run written into an embedded SQLite workspace without importing MLflow.

``mlctl monitor`` logs one small run per check (tags, a dozen metrics, two text
artifacts) and tags the model version. Through MLflow that costs ~1.5-3 s of imports
and store start-up, more than the drift tests on a million rows. For the default
embedded workspace (see :mod:`mlctl.tracking.local_read`) this module writes the rows
MLflow's SQLAlchemy store writes for the same calls (``runs``, ``tags``, ``metrics``,
``latest_metrics``, ``model_version_tags``) in one transaction, after the artifact
files are in place, so a reader never sees a half-logged run.

It writes only when it can be sure: the conditions of :mod:`~mlctl.tracking.local_read`
(embedded store, a known schema revision, MLflow workspaces off), the experiment exists
and is active, its artifact location is a local folder, and none of MLflow's other run
context sources applies (``MLFLOW_RUN_CONTEXT``, tracking credentials). Otherwise it
returns None and the caller logs through MLflow. ``tests/integration/test_local_read.py``
checks that MLflow reads such a run back exactly as one it logged itself.
"""

from __future__ import annotations

import contextlib
import getpass
import math
import os
import shutil
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlctl import __version__
from mlctl.redact import redact_text
from mlctl.tracking.local_read import MLFLOW_WORKSPACE, direct_database, known_schema
from mlctl.tracking.workspace import Workspace

_CONTEXT_VARIABLES = ("MLFLOW_RUN_CONTEXT", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_TOKEN")


def log_finished_run(
    ws: Workspace,
    experiment: str,
    run_name: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    texts: dict[str, str],
    model_version_tags: tuple[str, int, dict[str, str]] | None = None,
    run_id_tag: str | None = None,
) -> str | None:
    """Write a FINISHED run as :class:`~mlctl.tracking.runs.ParentRun` would log it
    (``log_text`` of each of ``texts``, ``log_metrics``, then the model version's
    tags); returns its id, or None when this module cannot (nothing is written then).

    Args:
        texts: Artifact path -> text (redacted as ``ParentRun.log_text`` redacts).
        model_version_tags: ``(name, version, tags)`` set on a registered version.
        run_id_tag: Also set this tag of that version to the new run's id.
    """
    if any(os.environ.get(name) for name in _CONTEXT_VARIABLES):
        return None
    con = _connect(ws)
    if con is None:
        return None
    folder: Path | None = None
    try:
        with contextlib.closing(con):
            row = con.execute(
                "SELECT experiment_id, lifecycle_stage, artifact_location FROM experiments "
                "WHERE workspace = ? AND name = ?",
                (MLFLOW_WORKSPACE, redact_text(experiment)),
            ).fetchone()
            if row is None or row[1] != "active":
                return None
            experiment_id, _, location = row
            base = _local_folder(location)
            if base is None:
                return None
            run_id = uuid.uuid4().hex
            if model_version_tags is not None and run_id_tag:
                name, version, mv_tags = model_version_tags
                model_version_tags = (name, version, {run_id_tag: run_id, **mv_tags})
            start = _now_ms()
            folder = base / run_id / "artifacts"
            for path, text in texts.items():
                target = folder.joinpath(*path.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(redact_text(text), encoding="utf-8")
            _insert(con, run_id, experiment_id, f"{location}/{run_id}/artifacts", start,
                    redact_text(run_name), tags, metrics, model_version_tags)  # fmt: skip
            folder = None  # committed: the files belong to the run
            return run_id
    except (sqlite3.Error, OSError):
        return None
    finally:
        if folder is not None:  # written but not committed: no orphan files
            shutil.rmtree(folder.parent, ignore_errors=True)


def _insert(
    con: sqlite3.Connection,
    run_id: str,
    experiment_id: int,
    artifact_uri: str,
    start: int,
    run_name: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    model_version_tags: tuple[str, int, dict[str, str]] | None,
) -> None:
    user = _user()
    all_tags = {
        "mlflow.user": user,
        "mlflow.source.name": sys.argv[0] if sys.argv and sys.argv[0] else "<console>",
        "mlflow.source.type": "LOCAL",
        "mlctl.version": __version__,
        **{k: redact_text(v) for k, v in tags.items()},
        "mlflow.runName": run_name,
    }
    clean = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
    stamp = _now_ms()
    with con:  # one transaction
        con.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id, deleted_time) "
            "VALUES (?, ?, 'UNKNOWN', '', '', ?, 'FINISHED', ?, ?, '', 'active', ?, ?, NULL)",
            (run_id, run_name, user, start, _now_ms(), artifact_uri, experiment_id),
        )
        con.executemany(
            'INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)',
            [(k, v, run_id) for k, v in all_tags.items()],
        )
        con.executemany(
            'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) '
            "VALUES (?, ?, ?, ?, 0, 0)",
            [(k, v, stamp, run_id) for k, v in clean.items()],
        )
        con.executemany(
            'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) '
            "VALUES (?, ?, ?, 0, 0, ?)",
            [(k, v, stamp, run_id) for k, v in clean.items()],
        )
        if model_version_tags is not None:
            name, version, mv_tags = model_version_tags
            con.executemany(
                'INSERT OR REPLACE INTO model_version_tags ("key", value, name, version, '
                "workspace) VALUES (?, ?, ?, ?, ?)",
                [(k, v, name, int(version), MLFLOW_WORKSPACE) for k, v in mv_tags.items()],
            )


def _user() -> str:
    try:
        return getpass.getuser()
    except (ImportError, KeyError, OSError):
        return "unknown"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _local_folder(location: str | None) -> Path | None:
    uri = urlparse(location or "")
    if uri.scheme != "file" or uri.netloc not in ("", "localhost"):
        return None
    return Path(unquote(uri.path))


def _connect(ws: Workspace) -> sqlite3.Connection | None:
    """A read-write connection where :mod:`~mlctl.tracking.local_read` would read."""
    db_path = direct_database(ws)
    if db_path is None:
        return None
    try:
        con = sqlite3.connect(str(db_path), timeout=30, isolation_level="DEFERRED")
    except sqlite3.Error:
        return None
    if not known_schema(con):
        con.close()
        return None
    return con
