"""Where things live in a workspace folder: each path is computed here and only here.

Default layout (the folder is ``.mlctl`` unless ``--workspace`` or the recipe's
``tracking.workspace`` says otherwise)::

    .mlctl/
      mlflow.db                          # SQLite tracking store and model registry
      artifacts/                         # run artifacts and logged models
      reports/<model>/<run id>/          # evaluation reports and plots (mlctl run)
      predictions.db                     # the prediction log's default SQLite file
      monitoring/<model>/latest.json     # the last mlctl monitor result (GET /monitoring)
      monitoring/<model>/monitor.lock    # one monitoring run at a time
      rollout/<model>.lock               # rollout evaluations take turns

Functions take the workspace root as a ``str`` or a path; a ``PurePosixPath`` (the
workspace inside a container, :mod:`mlctl.deploy`) stays one.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import TypeVar

DEFAULT_WORKSPACE = ".mlctl"

P = TypeVar("P", bound=PurePath)


def _root(root: str | P) -> Path | P:
    return root if isinstance(root, PurePath) else Path(root)


def tracking_db(root: str | P) -> Path | P:
    """The SQLite tracking store and model registry of a local workspace."""
    return _root(root) / "mlflow.db"


def artifacts_dir(root: str | P) -> Path | P:
    """Run artifacts and logged models of a local workspace."""
    return _root(root) / "artifacts"


def reports_dir(root: str | P) -> Path | P:
    """Evaluation reports: ``reports/<model>/<run id>/``."""
    return _root(root) / "reports"


def predictions_db(root: str | P) -> Path | P:
    """The prediction log's SQLite file when ``deploy.serve.log.url`` is not set."""
    return _root(root) / "predictions.db"


def monitoring_dir(root: str | P, model_name: str) -> Path | P:
    """What ``mlctl monitor`` keeps for one model."""
    return _root(root) / "monitoring" / model_name


def latest_path(root: str | P, model_name: str) -> Path | P:
    """The latest monitoring result document of a model (``mlctl serve`` exposes it at
    ``GET /monitoring``)."""
    return monitoring_dir(root, model_name) / "latest.json"


def monitor_lock_path(root: str | P, model_name: str) -> Path | P:
    """The lock file of a model's monitoring runs (:mod:`mlctl.monitor.lock`)."""
    return monitoring_dir(root, model_name) / "monitor.lock"


def rollout_lock_path(root: str | P, model_name: str) -> Path | P:
    """The lock that makes a model's ``mlctl rollout`` evaluations take turns."""
    return _root(root) / "rollout" / f"{model_name}.lock"
