"""Sweep jobs, their records and the ranking; Hydra-free (see :mod:`.launch`).

One job = one ``mlctl run`` of the recipe with that job's overrides, run without
registering. It leaves a :class:`JobRecord` as ``mlctl-job.json`` in its Hydra output
folder — whatever launcher ran it, and also when it failed — and returns its
objective to the sweeper: the winner's cross-validated selection metric (test rows
never choose), NaN when the job failed.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlctl.errors import MlctlError
from mlctl.run_summary import json_safe

RECORD_FILE = "mlctl-job.json"
JSON_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class JobContext:
    """What every job needs from the driver; pickled to launcher processes."""

    recipe_path: str
    workspace: str | None
    sweep_id: str
    sweep_run_id: str
    inner_jobs: int | None = None  # tuning.n_jobs for jobs that share the cores
    tracking_uri: str | None = None  # the driver's store, for jobs on other machines


class JobResult(float):
    """A job's objective as a plain float (what sweepers such as Optuna's need) that
    also carries the job's record back through launchers that return values (Ray,
    submitit), for when the driver cannot read the job's output folder."""

    record: dict[str, Any]

    def __new__(cls, record: JobRecord) -> JobResult:
        obj = super().__new__(cls, record.objective)
        obj.record = record.to_dict()
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (_job_result, (self.record,))


def _job_result(record: dict[str, Any]) -> JobResult:
    return JobResult(JobRecord.from_dict(record))


@dataclass
class JobRecord:
    """The outcome of one sweep job (``mlctl-job.json``)."""

    job: int
    overrides: list[str]
    status: str  # ready | not_ready | failed
    run_id: str | None = None
    model_uri: str | None = None
    winner: str | None = None
    selection_metric: str | None = None
    greater_is_better: bool = True
    cv_mean: float | None = None
    cv_std: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str | None = None
    error: str | None = None
    seconds: float = 0.0
    output_dir: str | None = None
    host: str | None = None  # where the launcher ran the job
    pid: int | None = None

    @property
    def objective(self) -> float:
        """What the sweeper optimises: the winner's CV selection metric; NaN if failed."""
        if self.status == "failed" or self.cv_mean is None:
            return math.nan
        return float(self.cv_mean)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def run_job(
    ctx: JobContext,
    composed: dict[str, Any] | None,
    choices: dict[str, str],
    overrides: list[str],
    job: int,
    output_dir: Path,
    compose_error: str | None = None,
) -> JobRecord:
    """Validate and run one job; never raises for a job that fails (but for Ctrl-C)."""
    from mlctl.evaluate.metrics import metrics_for_task
    from mlctl.recipe.loader import from_composed
    from mlctl.runner import RunOptions, run
    from mlctl.train.checks import TRAINING_CHECKS

    started = time.perf_counter()
    if ctx.tracking_uri and not (
        os.environ.get("MLCTL_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
    ):
        # A job on another machine must log where the driver looks (docs/sweeps.md).
        os.environ["MLCTL_TRACKING_URI"] = ctx.tracking_uri
    record = JobRecord(job=job, overrides=list(overrides), status="failed")
    record.output_dir = str(output_dir)
    record.host, record.pid = socket.gethostname(), os.getpid()
    try:
        if composed is None:
            raise RuntimeError(compose_error or "the job's configuration could not be composed")
        loaded = from_composed(
            Path(ctx.recipe_path), composed, choices, overrides, extra_checks=TRAINING_CHECKS
        )
        r = loaded.recipe
        if ctx.inner_jobs and r.tuning.n_jobs == -1:
            r.tuning.n_jobs = ctx.inner_jobs
        record.selection_metric = r.selection_metric
        record.greater_is_better = metrics_for_task(r.task)[r.selection_metric].greater_is_better
        options = RunOptions(
            workspace=ctx.workspace,
            register=False,
            tags={
                "mlctl.sweep_id": ctx.sweep_id,
                "mlctl.sweep_job": str(job),
                "mlctl.sweep_overrides": " ".join(overrides),
            },
            parent_run_id=ctx.sweep_run_id,
            run_name=f"{ctx.sweep_id}-job{job}",
        )
        summary = run(loaded, options, None)
    except KeyboardInterrupt:
        raise
    except MlctlError as exc:
        record.error = exc.message
    except Exception as exc:  # a job's failure is reported in the table, not raised
        frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        where = f" ({Path(frame[0].filename).name}:{frame[0].lineno})" if frame else ""
        record.error = f"{type(exc).__name__}: {exc}{where}"
    else:
        record.status = "ready" if summary.ready else "not_ready"
        record.run_id = summary.run_id
        record.model_uri = summary.model_uri
        record.winner = summary.winner
        record.cv_mean = summary.cv.get("mean")
        record.cv_std = summary.cv.get("std")
        record.test_metrics = dict(summary.test_metrics)
        record.gate = summary.verdict.to_dict()
        record.data_fingerprint = summary.data.get("fingerprint")
    record.seconds = round(time.perf_counter() - started, 2)
    write_record(output_dir, record)
    return record


def write_record(output_dir: Path, record: JobRecord) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    tmp = output_dir / f".{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps(record.to_dict(), indent=2))
    tmp.replace(output_dir / RECORD_FILE)


def read_records(sweep_dir: Path) -> list[JobRecord]:
    """Every job record under a sweep folder, in job order."""
    records: dict[int, JobRecord] = {}
    for path in sweep_dir.rglob(RECORD_FILE):
        try:
            record = JobRecord.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue  # a half-written file of a killed job: it has no result
        records[record.job] = record
    return [records[k] for k in sorted(records)]


def merge_records(from_files: list[JobRecord], returned: list[JobRecord]) -> list[JobRecord]:
    """Records read from the sweep folder, completed by those launchers returned."""
    by_job = {r.job: r for r in returned} | {r.job: r for r in from_files}
    return [by_job[k] for k in sorted(by_job)]


def rank(records: list[JobRecord]) -> list[JobRecord]:
    """Jobs best first by objective; jobs without a score (failed) last, by job number."""
    scored = [r for r in records if not math.isnan(r.objective)]
    greater = scored[0].greater_is_better if scored else True
    scored.sort(key=lambda r: (-r.objective if greater else r.objective, r.job))
    rest = sorted((r for r in records if math.isnan(r.objective)), key=lambda r: r.job)
    return scored + rest


def best_passing(ranked: list[JobRecord]) -> JobRecord | None:
    """The best job that passed the readiness gate, if any."""
    return next((r for r in ranked if r.status == "ready"), None)


@dataclass
class SweepSummary:
    """Everything about one sweep (its ``to_dict`` is the ``--json`` document)."""

    recipe: str
    sweep_id: str
    sweep_run_id: str
    sweep_dir: str
    experiment_id: str
    tracking_uri: str
    sweeper: str
    launcher: str
    model_name: str
    selection_metric: str
    greater_is_better: bool
    planned: int | None
    jobs: list[JobRecord]
    best: JobRecord | None = None
    version: int | None = None
    aliases: list[str] = field(default_factory=list)
    error: str | None = None  # the sweep itself stopped early (e.g. a launcher failure)
    seconds: float = 0.0

    @property
    def ready(self) -> bool:
        return self.best is not None and self.version is not None

    @property
    def status(self) -> str:
        if self.ready:
            return "ready"
        if any(j.status != "failed" for j in self.jobs):
            return "not_ready"
        return "failed"

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (secrets masked, :mod:`mlctl.redact`)."""
        from mlctl.redact import redact_tree

        ranked = self.jobs
        return redact_tree(self._document(ranked))

    def _document(self, ranked: list[JobRecord]) -> dict[str, Any]:
        return json_safe(
            {
                "schema_version": JSON_SCHEMA_VERSION,
                "kind": "sweep",
                "status": self.status,
                "recipe": self.recipe,
                "sweep_id": self.sweep_id,
                "run_id": self.sweep_run_id,
                "experiment_id": self.experiment_id,
                "tracking_uri": self.tracking_uri,
                "sweep_dir": self.sweep_dir,
                "sweeper": self.sweeper,
                "launcher": self.launcher,
                "objective": {
                    "metric": f"cv_{self.selection_metric}_mean",
                    "direction": "maximize" if self.greater_is_better else "minimize",
                },
                "planned_jobs": self.planned,
                "jobs": [{"rank": i + 1, **j.to_dict()} for i, j in enumerate(ranked)],
                "best_job": self.best.job if self.best else None,
                "model": {
                    "name": self.model_name,
                    "version": self.version,
                    "aliases": self.aliases,
                    "uri": self.best.model_uri if self.best else None,
                },
                "error": self.error,
                "seconds": round(self.seconds, 2),
            }
        )
