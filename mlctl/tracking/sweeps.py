"""The MLflow run that groups the jobs of a sweep (``mlctl run -m``).

It is driven through ``MlflowClient``, not MLflow's fluent "active run", so jobs that
run in the same process (Hydra's basic launcher) start their own runs freely. Each
job's run names it as parent (``mlflow.parentRunId``) and carries ``mlctl.sweep_id``.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

from mlctl import __version__
from mlctl.errors import MlctlError, TrackingError
from mlctl.redact import redact_text, redact_tree
from mlctl.tracking.runs import _experiment_id, _param, use_store
from mlctl.tracking.workspace import Workspace


class SweepRun:
    """Create, annotate and end the parent run of a sweep."""

    def __init__(self, ws: Workspace, experiment: str, run_name: str, tags: dict[str, str]):
        from mlflow import MlflowClient

        self.ws = ws
        # Until end(): the jobs, in this process or launched from it, see this store.
        self._restore = use_store(ws.tracking_uri)
        self.client = MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
        try:
            self.experiment_id = _experiment_id(ws, experiment)
            run = self.client.create_run(
                self.experiment_id,
                run_name=redact_text(run_name),
                tags={
                    "mlctl.version": __version__,
                    "mlctl.kind": "sweep",
                    **{k: redact_text(v) for k, v in tags.items()},
                },
            )
        except MlctlError:
            self._restore()
            raise
        except Exception as exc:
            self._restore()
            raise TrackingError(
                redact_text(f"cannot start an MLflow run at {ws.tracking_uri}: {exc}")
            ) from None
        self.run_id: str = run.info.run_id

    def log_params(self, params: dict[str, Any]) -> None:
        for key, value in params.items():
            self.client.log_param(self.run_id, key, _param(redact_text(value)))

    def log_metrics(self, metrics: dict[str, float | None]) -> None:
        for key, value in metrics.items():
            if value is not None and math.isfinite(value):
                self.client.log_metric(self.run_id, key, float(value))

    def set_tags(self, tags: dict[str, Any], run_id: str | None = None) -> None:
        for key, value in tags.items():
            self.client.set_tag(run_id or self.run_id, key, redact_text(value))

    def log_json(self, data: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(redact_tree(data), indent=2, default=str))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.client.log_artifact(self.run_id, str(path))

    def end(self, status: str) -> None:
        """End the run as FINISHED, FAILED or KILLED (never left RUNNING)."""
        with contextlib.suppress(Exception):  # best effort: the store may be what failed
            self.client.set_terminated(self.run_id, status)
        self._restore()
