"""``mlctl monitor`` as a library call: is the served model still healthy?

:func:`monitor` resolves the served model version, loads its reference profile,
reads what production saw in a time window (the prediction log of ``mlctl serve``,
or a ``--current`` file), and runs the building blocks of :mod:`mlctl.monitor`:
data drift per input column and for the dataset, prediction drift, performance on
delayed labels, and volume. It never prints and never exits; progress goes through
``on_event(kind, data)`` like :func:`mlctl.runner.run`.

Modules: this one orchestrates and publishes (the report, ``latest.json``, alerts, the
MLflow run); :mod:`mlctl.monitor.check` reads the data and builds the document,
:mod:`mlctl.monitor.accumulate` keeps the rows compact, :mod:`mlctl.monitor.retrain`
retrains with the trainer it is given.

The result document (:meth:`MonitorResult.to_dict`, ``schema_version`` 1) is stable::

    {
      "schema_version": 1,
      "status": "healthy" | "attention" | "not_enough_data",  # the last: nothing judged
      "reasons": ["one line per reason for attention"],
      "notes": ["one line per thing worth knowing that is not a reason"],
      "recipe": "recipes/churn.yaml",
      "model": {"name", "version", "run_id", "alias"},
      "window": Window.to_dict() | null,       # null: a --current file read whole
      "source": {"kind": "log" | "file", "location" (no password), "rows",
                 "rows_by_version": {"3": 812, ...}, "monitored_version_rows",
                 "variant", "undecodable_inputs"},
      "drift": DriftResult.to_dict(),
      "prediction_drift": DriftResult.to_dict() | null,
      "performance": PerformanceResult.to_dict() | null,
      "volume": VolumeResult.to_dict() | null,
      "alerts": [AlertOutcome.to_dict(), ...],
      "retrain": null | {"trigger", "outcome", "reason", "run_id", "version", "gate",
                         "comparison", "promoted"},
      "generated_at": "2026-11-27T15:00:00Z",
      "mlctl_version": "..."
    }

Which rows (the version changed mid-window): input drift uses every champion row of
the model in the window, whatever version answered (the inputs are the traffic; the
question is whether it still looks like the data the monitored version learned
from). Prediction drift and performance use only the rows the monitored version
answered (its outputs, compared with its own test split and test metrics).
``source.rows_by_version`` shows the split and a note says when other versions
answered part of the window. Volume counts all live traffic (champion and
challenger) of the model.

Memory: the log (or a ``--current`` file) is read in chunks and each chunk is folded
into per-column summaries (:mod:`mlctl.monitor.summary`: distinct values with counts,
rounded past a cap with a documented bound; counts per category), so the peak does not
grow with the window (benchmarks/monitor_scale.py measures 1M and 10M rows). With
``monitor.engine: dask`` a Parquet file is summed up on a cluster
(:mod:`mlctl.monitor.distributed`).

Determinism: re-running a closed window (``end`` given, or fully past) gives the
same document except ``generated_at`` (labels that arrive between the runs change
``performance``, as they should).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl.errors import ExitCode, RecipeError, TrackingError, UsageError
from mlctl.monitor.check import ATTENTION, HEALTHY, Context
from mlctl.monitor.lock import MonitorLock
from mlctl.monitor.retrain import Trainer, retrain, retrain_trigger
from mlctl.paths import latest_path, monitor_lock_path

RESULT_ARTIFACT = "monitoring/result.json"
REPORT_ARTIFACT = "monitoring/report.html"
LAST_RUN_TAG = "mlctl.monitoring.last_run_id"
LAST_STATUS_TAG = "mlctl.monitoring.last_status"

Emit = Callable[[str, dict[str, Any]], None]

__all__ = [
    "MonitorOptions",
    "MonitorResult",
    "Trainer",
    "monitor",
]


@dataclass
class MonitorOptions:
    """Choices made on the command line rather than in the recipe.

    Attributes:
        workspace: As for ``mlctl run``.
        window: Length of the window (``24h``, ``7d``); default ``monitor.window``.
        end: End of the window (epoch seconds or a datetime); default now.
        model: ``NAME@ALIAS``, ``NAME/VERSION``, an alias or a version number;
            default ``deploy.model_name @ deploy.serve.alias``.
        current: A CSV or Parquet file to monitor instead of the prediction log.
        label_column: The column of true labels in ``current``.
        timestamp_column: The column of event times in ``current``; with ``window``
            or ``end`` only the rows of the window are read.
        report: Write the HTML report there.
        retrain: Retrain whatever the ``monitor.retrain`` policy says.
        log_run: Log a monitoring run to MLflow.
        chunk_rows: Rows read at a time.
    """

    workspace: str | None = None
    window: str | None = None
    end: float | datetime | None = None
    model: str | None = None
    current: str | None = None
    label_column: str | None = None
    timestamp_column: str | None = None
    report: str | None = None
    retrain: bool = False
    log_run: bool = True
    chunk_rows: int = 50_000


@dataclass
class MonitorResult:
    """The outcome of one monitoring run (:meth:`to_dict` is the document)."""

    document: dict[str, Any]
    latest: Path | None = None  # the workspace copy of the document
    report: Path | None = None
    run_id: str | None = None  # the MLflow monitoring run
    warnings: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.document["status"]

    @property
    def healthy(self) -> bool:
        return self.status == HEALTHY

    @property
    def attention(self) -> bool:
        return self.status == ATTENTION

    @property
    def exit_code(self) -> ExitCode:
        """3 for attention; 0 for healthy and for not_enough_data (nothing wrong seen)."""
        return ExitCode.NOT_READY if self.attention else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return self.document


# ------------------------------------------------------------------------ monitor


def monitor(
    loaded: Any,
    options: MonitorOptions,
    on_event: Emit | None = None,
    train: Trainer | None = None,
) -> MonitorResult:
    """Run one monitoring check of the recipe's served model (see the module docstring).

    Args:
        train: Trains the recipe when the ``monitor.retrain`` policy or ``--retrain``
            asks for it (:mod:`mlctl.monitor.retrain`); :func:`mlctl.api.monitor`
            passes one that runs :func:`mlctl.runner.run`.

    Raises:
        MonitorCannotRun: no prediction log, no rows in the window, a version
            without a reference profile, another run holds the lock (exit 7).
        RecipeError, DataError, UsageError, RegistryError, TrackingError: as usual.
    """
    from mlctl.tracking import local_read
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import for_recipe, open_existing

    emit = on_event or (lambda kind, data: None)
    r = loaded.recipe
    if options.retrain or r.monitor.retrain != "never":
        from mlctl.train.checks import training_issues

        if issues := training_issues(loaded):  # fail now, not after the checks
            raise RecipeError(issues)
        if train is None:
            raise UsageError(
                "retraining needs a trainer: call mlctl.api.monitor, or pass train= to "
                "mlctl.monitor.run.monitor",
                hint="or set monitor.retrain: never and run without --retrain",
            )
    if options.report:
        _report_writer()  # fail before any work when the report cannot be written
    ws = for_recipe(loaded, options.workspace)
    name, selector = _target(r, options.model)
    # Read without MLflow where possible: its import is most of a --no-mlflow run.
    info = local_read.version_info(ws, name, selector)
    if info is None:
        open_existing(ws)
        info = Registry(ws).version(name, selector)
    with MonitorLock(monitor_lock_path(ws.root, name)):
        emit("stage", {"message": f"monitoring {name} version {info.version}"})
        ctx = Context(loaded, options, ws, info, selector, emit)
        document = ctx.check()
        result = MonitorResult(document)
        _finish(ctx, result, train)
    return result


def _target(r: Any, reference: str | None) -> tuple[str, str]:
    from mlctl.tracking.registry import parse_reference

    name, selector = r.model_name, r.deploy.serve.alias
    if reference:
        if reference.isdigit():
            return name, reference
        if "@" in reference or "/" in reference:
            return parse_reference(reference)
        return name, reference  # a bare alias
    return name, selector


# ---------------------------------------------------------------- after the check


def _finish(ctx: Context, result: MonitorResult, train: Trainer | None) -> None:
    """Retrain, report, latest.json, alerts, MLflow: each after the verdict is known."""
    from mlctl.monitor.alerts import send_alerts, should_alert

    doc = result.document
    trigger = retrain_trigger(ctx, doc)
    if trigger and train is not None:  # monitor() refused to start without one
        doc["retrain"] = retrain(ctx, trigger, train)
    if ctx.options.report:
        ctx.emit("stage", {"message": "writing the HTML report"})
        result.report = Path(_report_writer()(doc, Path(ctx.options.report)))
    result.latest = latest_path(ctx.ws.root, ctx.name)
    write_atomic(result.latest, doc)
    alerts = ctx.r.monitor.alerts
    if should_alert(alerts, doc["status"]):
        ctx.emit("stage", {"message": "sending alerts"})
        report = str(result.report) if result.report else None
        outcomes = send_alerts(alerts, doc, str(result.latest), report)
        doc["alerts"] = [o.to_dict() for o in outcomes]
        result.warnings += [
            f"alert {o.kind} {o.target} failed: {o.detail}" for o in outcomes if not o.ok
        ]
        write_atomic(result.latest, doc)
    if ctx.options.log_run:
        ctx.emit("stage", {"message": "logging the monitoring run to MLflow"})
        try:
            result.run_id = _log_run(ctx, result)
        except TrackingError as exc:  # the verdict stands; latest.json has it
            result.warnings.append(f"the monitoring run was not logged to MLflow: {exc.message}")


def _report_writer() -> Callable[[dict[str, Any], Path], Path]:
    try:
        from mlctl.monitor.report import write_report
    except ImportError as exc:
        raise UsageError(
            f"--report: the HTML report writer (mlctl.monitor.report) is not available: {exc}",
            hint="run without --report; the JSON result is written anyway",
        ) from None
    return write_report


def write_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file in the same folder and a rename,
    so a reader (``GET /monitoring``) never sees half a document."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".latest-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _log_run(ctx: Context, result: MonitorResult) -> str:
    """A monitoring run in the recipe's experiment, linked to the model version."""
    from mlctl.tracking import local_write

    doc = result.document
    r = ctx.r
    tags = {
        "mlctl.kind": "monitoring",
        "mlctl.recipe": str(ctx.loaded.path),
        "mlctl.model_name": ctx.name,
        "mlctl.model_version": str(ctx.version),
        "mlctl.model_run_id": ctx.info.run_id or "",
        "mlctl.monitoring.status": doc["status"],
        "mlctl.monitoring.source": doc["source"]["kind"],
    }
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    experiment, run_name = r.tracking.experiment or r.name, f"monitor-{ctx.name}-{stamp}"
    texts = {RESULT_ARTIFACT: json.dumps(doc, indent=2, allow_nan=False)}
    if result.report and result.report.is_file():
        texts[REPORT_ARTIFACT] = result.report.read_text(encoding="utf-8")
    metrics = key_metrics(doc)
    version_tags = {LAST_STATUS_TAG: doc["status"]}
    # The embedded store is written directly (no MLflow import: ~2 s of a run); the
    # rows are MLflow's own (tests/integration/test_local_read.py reads them back).
    run_id = local_write.log_finished_run(
        ctx.ws, experiment, run_name, tags, metrics, texts,
        (ctx.name, ctx.version, version_tags), run_id_tag=LAST_RUN_TAG,
    )  # fmt: skip
    if run_id is not None:
        return run_id
    from mlctl.tracking.runs import ParentRun

    with ParentRun(ctx.ws, experiment, run_name, tags) as run:
        for path, text in texts.items():
            run.log_text(text, path)
        run.log_metrics(metrics)
        run_id = run.run_id
    client = ctx.registry.client
    with contextlib.suppress(Exception):  # the run is logged; a tag is a convenience
        client.set_model_version_tag(ctx.name, str(ctx.version), LAST_RUN_TAG, run_id)
        client.set_model_version_tag(ctx.name, str(ctx.version), LAST_STATUS_TAG, doc["status"])
    return run_id


def key_metrics(doc: dict[str, Any]) -> dict[str, float]:
    """The numbers worth a chart over runs: rows, drift shares, production metrics, volume."""
    out: dict[str, Any] = {
        "attention": 1.0 if doc["status"] == ATTENTION else 0.0,
        "rows": doc["source"]["rows"],
        "drift_share": doc["drift"]["share_drifted"],
        "drifted_columns": doc["drift"]["n_drifted"],
    }
    pred = doc.get("prediction_drift") or {}
    for c in pred.get("columns", []):
        out[f"prediction_drift_{c['column']}"] = c.get("score")
    perf = doc.get("performance") or {}
    out["labelled_rows"] = perf.get("n_evaluated")
    for name, m in (perf.get("metrics") or {}).items():
        out[f"production_{name}"] = m.get("production")
    vol = doc.get("volume") or {}
    if vol:
        out["volume_recent_per_hour"] = vol["recent"]["per_hour"]
        out["volume_ratio"] = vol.get("ratio")
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float) and math.isfinite(v)}
