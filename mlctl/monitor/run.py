"""``mlctl monitor`` as a library call: is the served model still healthy?

:func:`monitor` resolves the served model version, loads its reference profile,
reads what production saw in a time window (the prediction log of ``mlctl serve``,
or a ``--current`` file), and runs the building blocks of :mod:`mlctl.monitor`:
data drift per input column and for the dataset, prediction drift, performance on
delayed labels, and volume. It never prints and never exits; progress goes through
``on_event(kind, data)`` like :func:`mlctl.runner.run`.

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

Memory: the log is read in chunks (:class:`~mlctl.monitor.log_source.LogSource`);
only the model's input columns are kept, numbers as 8-byte values and categories as
per-chunk value counts (turned into one Categorical, 1 byte a row, at the end), so
the churn recipe's 19 inputs cost about 100 bytes a row at the peak of the drift
tests (sorting copies). Measured on a 1M-row log (benchmarks/monitor_read.py's
writer), 919,468 rows in a 30-day window: 14 s, peak RSS 666 MB, of which 343 MB is
the same command on a 1-hour window (imports, MLflow, one chunk).

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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl import __version__
from mlctl.errors import (
    DataError,
    ExitCode,
    MlctlError,
    PredictionLogError,
    RecipeError,
    TrackingError,
    UsageError,
)
from mlctl.monitor.lock import MonitorCannotRun, MonitorLock
from mlctl.monitor.notes import column_notes, finite, judged, too_little_notes
from mlctl.paths import latest_path, monitor_lock_path
from mlctl.predlog.schema import default_url

SCHEMA_VERSION = 1
HEALTHY, ATTENTION, NOT_ENOUGH_DATA = "healthy", "attention", "not_enough_data"
RESULT_ARTIFACT = "monitoring/result.json"
REPORT_ARTIFACT = "monitoring/report.html"
LAST_RUN_TAG = "mlctl.monitoring.last_run_id"
LAST_STATUS_TAG = "mlctl.monitoring.last_status"

Emit = Callable[[str, dict[str, Any]], None]

__all__ = [
    "MonitorCannotRun",
    "MonitorOptions",
    "MonitorResult",
    "drift_options",
    "monitor",
    "prediction_options",
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


# ------------------------------------------------------------------ recipe mapping


def _pair(test: Any) -> tuple[str, float | None]:
    return (test.method, test.threshold)


def drift_options(monitor_settings: Any):
    """``monitor.drift`` as :class:`~mlctl.monitor.drift.DriftOptions`."""
    from mlctl.monitor.drift import DriftOptions

    d = monitor_settings.drift
    return DriftOptions(
        method_numeric=d.numeric.method,
        method_categorical=d.categorical.method,
        threshold_numeric=d.numeric.threshold,
        threshold_categorical=d.categorical.threshold,
        per_column={name: _pair(t) for name, t in d.columns.items()},
        drift_share=d.drift_share,
        bins=d.bins,
        min_rows=d.min_rows.model_dump(),
    )


def prediction_options(monitor_settings: Any):
    """``monitor.prediction_drift`` as DriftOptions over the ``score`` and
    ``prediction`` columns of :func:`~mlctl.monitor.drift.prediction_drift`."""
    from mlctl.monitor.drift import PREDICTION, SCORE, DriftOptions

    p = monitor_settings.prediction_drift
    d = monitor_settings.drift
    return DriftOptions(
        per_column={SCORE: _pair(p.score), PREDICTION: _pair(p.prediction)},
        drift_share=d.drift_share,
        bins=d.bins,
        min_rows=d.min_rows.model_dump(),
    )


# ------------------------------------------------------------------------ monitor


def monitor(loaded: Any, options: MonitorOptions, on_event: Emit | None = None) -> MonitorResult:
    """Run one monitoring check of the recipe's served model (see the module docstring).

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
        from mlctl.recipe.checks import training_issues

        if issues := training_issues(loaded):  # fail now, not after the checks
            raise RecipeError(issues)
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
        ctx = _Context(loaded, options, ws, info, selector, emit)
        document = ctx.check()
        result = MonitorResult(document)
        _finish(ctx, result)
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


class _Context:
    """One run's state: what is monitored, where from, and the pieces of the document."""

    def __init__(self, loaded, options, ws, info, selector, emit) -> None:
        self.loaded, self.r, self.options = loaded, loaded.recipe, options
        self.ws, self.info = ws, info
        self._registry = None
        self.name, self.version = info.name, int(info.version)
        self.alias = selector if not str(selector).isdigit() else None
        self.emit = emit
        self.notes: list[str] = []
        self.now = time.time()
        self._model = None
        self.unscored: str | None = None  # why a --current file was not scored

    @property
    def registry(self):
        """The MLflow registry, opened on first use (a --no-mlflow check of data drift
        never needs it)."""
        if self._registry is None:
            from mlctl.tracking.registry import Registry

            self._registry = Registry(self.ws)
        return self._registry

    # ---------------------------------------------------------------- the check
    def check(self) -> dict[str, Any]:
        from mlctl.monitor.profile import ProfileNotFoundError, load_profile

        try:
            self.profile = load_profile(self.ws, self.name, self.version)
        except ProfileNotFoundError as exc:
            raise MonitorCannotRun(exc.message, hint=exc.hint) from None
        self.window = self._window()
        self.emit("stage", {"message": "reading the current data"})
        current = self._read_file() if self.options.current else self._read_log()
        if current.rows == 0 and self.options.current:
            w = self.window.to_dict() if self.window else None
            span = f" in {w['start_utc']} .. {w['end_utc']}" if w else " (a header only)"
            raise MonitorCannotRun(
                f"--current: {self.options.current} has no rows{span}: nothing to monitor",
                hint="pass a file with rows" + (", or widen --window" if self.window else ""),
            )
        if current.rows == 0:
            where = current.source["location"]
            span = (
                f" in {self.window.to_dict()['start_utc']} .. {self.window.to_dict()['end_utc']}"
                if self.window
                else ""
            )
            raise MonitorCannotRun(
                f"no predictions of model '{self.name}' to monitor{span} ({where})",
                hint="widen --window, check the server logs to this log, or pass --current FILE",
            )
        self.current = current
        self.emit("stage", {"message": f"testing drift on {current.rows:,} rows"})
        drift = self._drift(current)
        self._unusable_columns(drift, current)
        pred = self._prediction_drift(current)
        self.emit("stage", {"message": "computing performance on labelled rows"})
        perf = self._performance(current)
        volume = self._volume()
        reasons = _reasons(drift, pred, perf, volume)
        self.notes += column_notes(drift) + too_little_notes(drift, pred)
        status = ATTENTION if reasons else HEALTHY
        if not reasons and not judged(drift, pred, perf, volume):
            status = NOT_ENOUGH_DATA
            self.notes.append(
                f"not enough data to judge {current.rows:,} row{'s' if current.rows != 1 else ''}: "
                "no check reached a verdict; widen the window or wait for more traffic"
            )
        return {
            "schema_version": SCHEMA_VERSION,
            "status": status,
            "reasons": reasons,
            "notes": self.notes + current.notes,
            "recipe": str(self.loaded.path),
            "model": {
                "name": self.name,
                "version": self.version,
                "run_id": self.info.run_id,
                "alias": self.alias,
            },
            "window": self.window.to_dict() if self.window else None,
            "source": current.source,
            "drift": drift.to_dict(),
            "prediction_drift": pred.to_dict() if pred is not None else None,
            "performance": perf.to_dict() if perf is not None else None,
            "volume": volume.to_dict() if volume is not None else None,
            "alerts": [],
            "retrain": None,
            "generated_at": _iso(time.time()),
            "mlctl_version": __version__,
        }

    def _window(self):
        from mlctl.monitor.window import parse_window

        o = self.options
        if o.current and not (o.timestamp_column and (o.window or o.end is not None)):
            if o.window or o.end is not None:
                raise UsageError(
                    "--window/--end select rows of a --current file by time: pass "
                    "--timestamp-column too"
                )
            return None
        spec = o.window or self.r.monitor.window
        return parse_window(spec, self.now if o.end is None else o.end)

    # ----------------------------------------------------------------- reading
    def _read_log(self) -> _Current:
        from mlctl.monitor.log_source import LogSource

        url = self.r.deploy.serve.log.url or default_url(self.ws.root)
        try:
            src = LogSource(url)
            self.source = src
            acc = _Accumulator(self.profile, self.version)
            for chunk in src.iter_chunks(
                self.window,
                model_name=self.name,
                variant="champion",
                chunk_rows=self.options.chunk_rows,
                columns=list(self.profile.columns),
            ):
                acc.add_log_chunk(chunk)
                self.emit("rows", {"rows": acc.rows})
        except PredictionLogError as exc:
            raise MonitorCannotRun(exc.message, hint=exc.hint) from None
        out = acc.finish()
        out.source = {
            "kind": "log",
            "location": src.display_url,
            "rows": out.rows,
            "rows_by_version": {str(k): v for k, v in sorted(acc.by_version.items())},
            "monitored_version_rows": acc.version_rows,
            "variant": "champion",
            "undecodable_inputs": acc.undecodable,
        }
        others = {k: v for k, v in acc.by_version.items() if k != self.version}
        if others:
            listed = ", ".join(f"version {k}: {v:,}" for k, v in sorted(others.items()))
            out.notes.append(
                f"other versions answered part of the window ({listed}): their inputs count "
                f"for data drift, only version {self.version}'s rows for prediction drift "
                "and performance"
            )
        return out

    def _read_file(self) -> _Current:
        from mlctl.monitor.file_source import FileSource, separator_hint, shown_names

        o = self.options
        probe = FileSource(o.current, o.label_column, o.timestamp_column)
        header = probe.header()
        wanted = [c for c in self.profile.columns if c in header]
        missing = [c for c in self.profile.columns if c not in header]
        if not wanted:
            raise DataError(
                f"--current: {o.current} has none of the {len(missing)} input columns of "
                f"model version {self.version} ({shown_names(missing)}); it has: "
                f"{shown_names(header)}",
                hint=separator_hint(header)
                or "check the file's header against the recipe's features",
            )
        src = FileSource(o.current, o.label_column, o.timestamp_column, columns=wanted)
        labelled: list[Any] = []
        needs_model = self.r.monitor.prediction_drift.enabled or o.label_column
        if needs_model and missing:
            self.unscored = (
                f"--current lacks input columns {shown_names(missing)} (missing_column): "
                f"model version {self.version} is not scored without them, so prediction "
                f"drift and performance are skipped; data drift tests the other "
                f"{len(wanted)} columns"
            )
        acc = None
        if needs_model and not missing:
            try:
                acc = self._score_file(src, wanted, labelled)
            except _CannotScore as exc:
                self.unscored = (
                    f"--current: model version {self.version} cannot score {o.current} "
                    f"({exc}): not scored, so prediction drift and performance are skipped; "
                    "data drift tests the inputs"
                )
                labelled = []
        if acc is None:  # nothing needs (or can use) the model's answers: inputs only
            acc = _Accumulator(self.profile, self.version)
            for chunk in src.iter_chunks(self.window, chunk_rows=o.chunk_rows):
                acc.add_unscored_chunk(chunk[[c for c in wanted if c in chunk.columns]])
                self.emit("rows", {"rows": acc.rows})
        out = acc.finish()
        out.labelled = labelled
        out.ignored = [str(c) for c in header if c not in self.profile.columns]
        out.source = {
            "kind": "file",
            "location": str(Path(o.current).resolve()),
            "rows": out.rows,
            "rows_by_version": {str(self.version): out.rows} if out.rows else {},
            "monitored_version_rows": out.rows,
            "variant": None,
            "undecodable_inputs": 0,
        }
        if self.unscored:
            out.notes.append(self.unscored)
        elif missing:
            out.notes.append(
                f"--current lacks input columns: {shown_names(missing)} (missing_column)"
            )
        return out

    def _score_file(self, src: Any, wanted: list[str], labelled: list[Any]) -> _Accumulator:
        """Score each chunk of ``--current`` with the monitored version; keep the labels.

        Raises:
            _CannotScore: the model cannot score a chunk (the caller reads the inputs only).
        """
        from mlctl.predict.score import Scorer

        o = self.options
        acc = _Accumulator(self.profile, self.version)
        scorer = Scorer(self._load_model().pipeline)
        for chunk in src.iter_chunks(self.window, chunk_rows=o.chunk_rows):
            X = finite(chunk[[c for c in wanted if c in chunk.columns]], acc.numeric)
            try:
                pred, proba = scorer(X)
            except Exception as exc:  # the model's own error, whatever its type
                raise _CannotScore(_first_line(exc)) from None
            scores = _scores(
                self.r.task, pred, proba, scorer.classes, self._positive(scorer.classes)
            )
            acc.add_scored_chunk(X, pred, scores)
            if o.label_column:
                labelled.append(
                    _labelled_frame(chunk, o, pred, proba, scorer.classes, self.version)
                )
            self.emit("rows", {"rows": acc.rows})
        return acc

    def _load_model(self):
        if self._model is None:
            self.emit("stage", {"message": f"loading {self.name} version {self.version}"})
            from mlctl.tracking.artifacts import load_verified_model

            self._model = load_verified_model(self.registry, f"{self.name}/{self.version}")
        return self._model

    def _positive(self, classes: list[Any]) -> Any:
        return positive_class(self.r, classes)

    # ---------------------------------------------------------------- checks
    def _drift(self, current: _Current):
        from mlctl.monitor.drift import DriftOptionsError, dataset_drift

        options = drift_options(self.r.monitor)
        unknown = [c for c in options.per_column if c not in self.profile.columns]
        if unknown:  # a version trained on other features than the recipe has now
            options.per_column = {
                k: v for k, v in options.per_column.items() if k in self.profile.columns
            }
            self.notes.append(
                f"monitor.drift.columns names {', '.join(unknown)}, which version "
                f"{self.version} was not trained on: not tested"
            )
        try:
            result = dataset_drift(self.profile, current.frame, options)
        except DriftOptionsError as exc:
            raise UsageError(f"monitor.drift: {exc.message}") from None
        if current.ignored is not None:  # the file's own columns, not only those read
            result.ignored_columns = current.ignored
        return result

    def _unusable_columns(self, drift: Any, current: _Current) -> None:
        """A --current column without one usable value is treated like a missing one:
        the model's answers would measure its imputation, not the model."""
        from mlctl.monitor.file_source import shown_names

        empty = [c.column for c in drift.columns if c.status == "no_current_values"]
        if not (self.options.current and empty) or self.unscored:
            return
        self.unscored = (
            f"--current has no usable value in input columns {shown_names(empty)}: model "
            f"version {self.version}'s answers would measure their imputation, so prediction "
            "drift and performance are skipped; data drift tests the other columns"
        )
        current.notes.append(self.unscored)

    def _prediction_drift(self, current: _Current):
        from mlctl.monitor.drift import prediction_drift

        if self.unscored:
            return None
        if not self.r.monitor.prediction_drift.enabled or current.version_rows == 0:
            if current.version_rows == 0:
                self.notes.append(
                    f"version {self.version} answered no row of the window: no prediction drift"
                )
            return None
        preds = current.predictions if self.r.task == "classification" else None
        return prediction_drift(
            self.profile, current.scores, preds, prediction_options(self.r.monitor)
        )

    def _labelled(self):
        import pandas as pd

        if self.options.current:
            parts = self.current.labelled or []
            if not self.options.label_column:
                return None
            return pd.concat(parts, ignore_index=True) if parts else None
        try:
            return self.source.labelled(
                self.window, model_name=self.name, model_version=self.version, variant="champion"
            )
        except PredictionLogError as exc:
            raise MonitorCannotRun(exc.message, hint=exc.hint) from None

    def _performance(self, current: _Current):
        from mlctl.monitor.performance import performance
        from mlctl.recipe.checks import monitored_metrics

        if self.unscored:
            return None
        frame = self._labelled()
        if frame is None:
            self.notes.append("no labels: pass --label-column to compute performance")
            return None
        r, p = self.r, self.r.monitor.performance
        metrics = monitored_metrics(r)
        classes, positive = None, None
        if r.task == "classification":
            if len(frame):
                model = self._load_model()
                classes = list(model.pipeline.classes_)
                positive = self._positive(classes)
            else:
                classes = (
                    sorted(self.profile.predictions.categories) if self.profile.predictions else []
                )
        trained = {**self.profile.metrics, **self.info.metrics}
        thresholds = dict(r.readiness.thresholds) if p.check_thresholds else {}
        return performance(
            frame,
            r.task,
            classes,
            positive,
            metrics,
            trained,
            p.max_drop,
            p.min_labels,
            thresholds,
            n_predictions=current.version_rows,
        )

    def _volume(self):
        from mlctl.monitor.volume import volume_check, volume_window
        from mlctl.predlog.schema import LIVE_VARIANTS

        v = self.r.monitor.volume
        if self.options.current or not v.enabled:
            return None
        vw = volume_window(self.window.end, v.recent_hours, v.baseline_hours)
        try:
            counts = self.source.hourly_counts(
                vw, model_name=self.name, variant=LIVE_VARIANTS, origin=int(vw.start)
            )
            first = self.source.first_ts(model_name=self.name)
        except PredictionLogError as exc:
            raise MonitorCannotRun(exc.message, hint=exc.hint) from None
        return volume_check(
            counts,
            v.recent_hours,
            v.baseline_hours,
            v.max_drop_share,
            v.max_spike_factor,
            v.min_baseline_hours,
            end=self.window.end,
            history_start=first,
        )


class _CannotScore(Exception):
    """The monitored version cannot score a --current file (the model's message)."""


def positive_class(r: Any, classes: list[Any]) -> Any:
    """The recipe's positive class among a binary model's classes (default: the last)."""
    classes = list(classes)
    if len(classes) != 2:
        return None
    pos = r.data.positive_class
    match = [c for c in classes if pos is not None and (c == pos or str(c) == str(pos))]
    return match[0] if match else classes[-1]


# ----------------------------------------------------------------- accumulation


@dataclass
class _Current:
    frame: Any  # the input columns (pandas DataFrame)
    rows: int
    scores: Any  # the monitored version's scores (numpy) or None
    predictions: Any  # ... and predicted classes (pandas Series) or None
    version_rows: int
    source: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    labelled: list[Any] | None = None
    ignored: list[str] | None = None  # a --current file's columns the profile lacks


class _Accumulator:
    """Input columns of many chunks, kept compact: numbers as float64 arrays where they
    are numbers, categories as per-chunk value counts turned into one Categorical."""

    def __init__(self, profile: Any, version: int) -> None:
        from collections import Counter

        self.kinds = {name: p.kind for name, p in profile.columns.items()}
        self.version = version
        self.numeric: dict[str, list[Any]] = {
            n: [] for n, k in self.kinds.items() if k == "numeric"
        }
        self.categories = {n: _Counts() for n, k in self.kinds.items() if k == "categorical"}
        self.scores: list[Any] = []
        self.preds = _Counts()
        self.rows = 0
        self.version_rows = 0
        self.by_version: Counter[int] = Counter()
        self.undecodable = 0

    def add_inputs(self, chunk: Any) -> None:
        import numpy as np
        import pandas as pd

        for name, parts in self.numeric.items():
            if name not in chunk.columns:
                continue
            col = chunk[name]
            if pd.api.types.is_float_dtype(col.dtype):
                parts.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
            else:
                parts.append(col.reset_index(drop=True))
        for name, counts in self.categories.items():
            if name in chunk.columns:
                counts.add(chunk[name])
        self.rows += len(chunk)

    def add_log_chunk(self, chunk: Any) -> None:
        import numpy as np

        meta = chunk.attrs.get("meta", {})
        self.undecodable += int(chunk.attrs.get("undecodable_inputs", 0))
        versions = chunk[meta.get("model_version", "model_version")].to_numpy()
        uniq, counts = np.unique(versions, return_counts=True)
        for v, n in zip(uniq.tolist(), counts.tolist(), strict=True):
            self.by_version[int(v)] += int(n)
        self.add_inputs(chunk[[c for c in self.kinds if c in chunk.columns]])
        mine = versions == self.version
        n = int(mine.sum())
        if n:
            self.version_rows += n
            self.scores.append(chunk[meta.get("score", "score")].to_numpy(dtype=np.float64)[mine])
            self.preds.add(chunk[meta.get("prediction", "prediction")][mine])

    def add_unscored_chunk(self, X: Any) -> None:
        """Inputs of the monitored version that were not scored (no check needs it)."""
        self.add_inputs(X)
        self.by_version[self.version] += len(X)
        self.version_rows += len(X)

    def add_scored_chunk(self, X: Any, pred: Any, scores: Any) -> None:
        import numpy as np
        import pandas as pd

        from mlctl.monitor.performance import class_text

        self.add_unscored_chunk(X)
        if scores is not None:
            self.scores.append(np.asarray(scores, dtype=np.float64))
        # A classifier's predictions hold a few classes of one dtype: convert each once.
        codes, classes = pd.factorize(np.asarray(pred))
        texts = np.array([class_text(c) for c in np.asarray(classes)], dtype=object)
        self.preds.add(pd.Series(texts[codes], dtype=object))

    def finish(self) -> _Current:
        import numpy as np
        import pandas as pd

        columns: dict[str, Any] = {}
        for name, kind in self.kinds.items():
            if kind == "numeric":
                parts = self.numeric[name]
                if not parts:
                    continue
                if all(isinstance(p, np.ndarray) for p in parts):
                    columns[name] = pd.Series(np.concatenate(parts))
                else:
                    columns[name] = pd.concat([pd.Series(p) for p in parts], ignore_index=True)
            elif self.categories[name].seen:
                columns[name] = self.categories[name].series()
        frame = pd.DataFrame(columns, index=pd.RangeIndex(self.rows))
        scores = np.concatenate(self.scores) if self.scores else None
        preds = self.preds.series() if self.preds.seen else None
        return _Current(frame, self.rows, scores, preds, self.version_rows)


class _Counts:
    """Value counts of a categorical column over chunks; missing values apart."""

    def __init__(self) -> None:
        self.counts: dict[Any, int] = {}
        self.missing = 0
        self.seen = False

    def add(self, series: Any) -> None:
        self.seen = True
        missing = series.isna()
        self.missing += int(missing.sum())
        for key, n in series[~missing].value_counts(sort=False).items():
            k = (type(key).__name__, key)  # keep 1, True and "1" apart, as the raw values are
            self.counts[k] = self.counts.get(k, 0) + int(n)

    def series(self) -> Any:
        """A Series of these values in a canonical order (counts are what tests see)."""
        import numpy as np
        import pandas as pd

        keys = sorted(self.counts, key=lambda k: (k[0], str(k[1])))
        values = [k[1] for k in keys]
        n = np.array([self.counts[k] for k in keys], dtype=np.int64)
        codes = np.repeat(np.arange(len(keys), dtype=np.int32), n)
        if self.missing:
            codes = np.concatenate([codes, np.full(self.missing, -1, dtype=np.int32)])
        try:
            cats = pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype=object))
            return pd.Series(cats)
        except (ValueError, TypeError):  # categories equal as values (1 and True): plain
            out = np.empty(len(codes), dtype=object)
            out[: int(n.sum())] = np.repeat(np.array(values, dtype=object), n)
            out[int(n.sum()) :] = None
            return pd.Series(out, dtype=object)


def _scores(task: str, pred: Any, proba: Any, classes: list[Any], positive: Any) -> Any:
    """What the profile calls a score (see mlctl.runner._reference_profile)."""
    import numpy as np

    if task == "regression":
        return np.asarray(pred, dtype=np.float64)
    if proba is None:
        return None
    if len(classes) == 2:
        return proba[:, classes.index(positive)]
    return np.max(proba, axis=1)


def _labelled_frame(
    chunk: Any, o: MonitorOptions, pred: Any, proba: Any, classes: list[Any], version: int
) -> Any:
    """A --current file's labelled rows in the log's shape (for performance)."""
    import numpy as np
    import pandas as pd

    from mlctl.monitor.performance import class_text

    labels = chunk[o.label_column]
    keep = labels.notna().to_numpy()
    out = pd.DataFrame(
        {
            "label": [class_text(v) for v in labels[keep]],
            "prediction": [class_text(p) for p in np.asarray(pred, dtype=object)[keep]],
            "model_version": np.full(int(keep.sum()), version, dtype=np.int64),
        }
    )
    if proba is not None:
        names = [class_text(c) for c in classes]
        out["probabilities"] = [
            json.dumps(dict(zip(names, map(float, row), strict=True))) for row in proba[keep]
        ]
    if o.timestamp_column:
        out["ts"] = chunk[o.timestamp_column].to_numpy(dtype=float)[keep]
    return out


# --------------------------------------------------------------------- verdict


def _reasons(drift: Any, pred: Any, perf: Any, volume: Any) -> list[str]:
    """One line per reason for attention."""
    out = []
    if drift.dataset_drift:
        names = ", ".join(_col(c) for c in drift.drifted[:8])
        more = f" and {len(drift.drifted) - 8} more" if len(drift.drifted) > 8 else ""
        out.append(
            f"data drift: {len(drift.drifted)} of {len(drift.tested)} columns drifted "
            f"({100 * drift.share_drifted:.0f} % ≥ {100 * drift.drift_share:.0f} %): {names}{more}"
        )
    if pred is not None and pred.drifted:
        out.append("prediction drift: " + ", ".join(_col(c) for c in pred.drifted))
    if perf is not None and perf.flagged:
        out.append(f"performance {perf.message}")
    if volume is not None and volume.flagged:
        out.append(volume.message)
    return out


def _col(c: Any) -> str:
    score = c.score
    shown = "n/a" if score is None or not math.isfinite(score) else f"{score:.3g}"
    return f"{c.column} ({c.test} {shown})"


# ---------------------------------------------------------------- after the check


def _finish(ctx: _Context, result: MonitorResult) -> None:
    """Retrain, report, latest.json, alerts, MLflow: each after the verdict is known."""
    from mlctl.monitor.alerts import send_alerts, should_alert

    doc = result.document
    trigger = _retrain_trigger(ctx, doc)
    if trigger:
        doc["retrain"] = _retrain(ctx, trigger)
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


def _retrain_trigger(ctx: _Context, doc: dict[str, Any]) -> str | None:
    if ctx.options.retrain:
        return "--retrain"
    policy = ctx.r.monitor.retrain
    if policy == "never" or doc["status"] == HEALTHY:
        return None
    drifted = bool(doc["drift"]["dataset_drift"]) or bool(
        doc["prediction_drift"] and doc["prediction_drift"]["n_drifted"]
    )
    dropped = bool(doc["performance"] and doc["performance"]["flagged"])
    if policy == "on_drift" and drifted:
        return "on_drift"
    if policy == "on_performance_drop" and dropped:
        return "on_performance_drop"
    if policy == "on_attention":
        return "on_attention"
    return None


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


def _log_run(ctx: _Context, result: MonitorResult) -> str:
    """A monitoring run in the recipe's experiment, linked to the model version."""
    from mlctl.tracking.runs import ParentRun

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
    with ParentRun(
        ctx.ws, r.tracking.experiment or r.name, f"monitor-{ctx.name}-{stamp}", tags
    ) as run:
        run.log_text(json.dumps(doc, indent=2, allow_nan=False), RESULT_ARTIFACT)
        if result.report and result.report.is_file():
            run.log_text(result.report.read_text(encoding="utf-8"), REPORT_ARTIFACT)
        run.log_metrics(key_metrics(doc))
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


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------- retrain


def _retrain(ctx: _Context, trigger: str) -> dict[str, Any]:
    """Run the recipe without promoting; promote the new version only if it passed the
    gate AND beats the champion on the window's labelled production rows."""
    import dataclasses

    from mlctl.runner import RunOptions, run

    block: dict[str, Any] = {
        "trigger": trigger,
        "outcome": None,
        "reason": None,
        "run_id": None,
        "version": None,
        "gate": None,
        "comparison": None,
        "promoted": False,
    }
    recipe = ctx.r.model_copy(deep=True)
    recipe.deploy.auto_promote = False  # promotion is decided here, on production rows
    loaded = dataclasses.replace(ctx.loaded, recipe=recipe)

    def progress(kind: str, data: dict[str, Any]) -> None:
        if kind == "stage":
            ctx.emit("stage", {"message": f"retrain: {data.get('message', '')}"})

    ctx.emit("stage", {"message": f"retraining ({trigger})"})
    try:
        summary = run(
            loaded,
            RunOptions(
                ctx.options.workspace, promote=False, tags={"mlctl.trigger": f"monitor {trigger}"}
            ),
            progress,
        )
    except MlctlError as exc:
        block.update(outcome="failed", reason=f"the retraining run failed: {exc.message}")
        return block
    block.update(run_id=summary.run_id, gate="passed" if summary.ready else "failed")
    if not summary.ready or summary.version is None:
        failed = [c.name for c in summary.verdict.checks if not c.passed]
        block.update(
            outcome="not_registered",
            reason="the retrained model failed its readiness gate"
            + (f" ({', '.join(failed)})" if failed else "")
            + "; nothing changes",
        )
        return block
    block["version"] = summary.version
    champion = ctx.registry.alias_version(ctx.name, "champion") or ctx.version
    try:
        comparison = _compare(ctx, champion, summary.version)
    except MlctlError as exc:
        block.update(
            outcome="stays_challenger",
            reason=f"cannot compare on production rows ({exc.message}): stays challenger",
        )
        return block
    block["comparison"] = comparison
    if comparison["rows"] < comparison["min_labels"]:
        block.update(
            outcome="stays_challenger",
            reason=f"not enough labels to compare: {comparison['rows']} of "
            f"{comparison['min_labels']} needed; stays challenger",
        )
        return block
    metric, new, old = comparison["metric"], comparison["challenger"], comparison["champion"]
    if not comparison["beats"]:
        block.update(
            outcome="stays_challenger",
            reason=f"does not beat champion v{champion} on {comparison['rows']} labelled "
            f"production rows ({metric} {_num(new)} vs {_num(old)}); stays challenger",
        )
        return block
    reason = (
        f"mlctl monitor ({trigger}): gate passed and {metric} {_num(new)} beats champion "
        f"v{champion}'s {_num(old)} on {comparison['rows']} labelled production rows"
    )
    ctx.registry.promote(ctx.name, summary.version, reason)
    block.update(outcome="promoted", reason=reason, promoted=True)
    return block


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _compare(ctx: _Context, champion: int, challenger: int) -> dict[str, Any]:
    """Both versions scored on the same labelled production rows with the selection metric."""
    from mlctl.evaluate.metrics import metrics_for_task

    r = ctx.r
    metric = r.selection_metric
    frame = _labelled_inputs(ctx)
    out: dict[str, Any] = {
        "metric": metric,
        "rows": 0,
        "min_labels": r.monitor.performance.min_labels,
        "champion_version": champion,
        "challenger_version": challenger,
        "champion": None,
        "challenger": None,
        "beats": False,
    }
    if frame is None or not len(frame):
        return out
    scores = {}
    for side, version in (("champion", champion), ("challenger", challenger)):
        from mlctl.tracking.artifacts import load_verified_model

        model = load_verified_model(ctx.registry, f"{ctx.name}/{version}")
        inputs = [c["name"] for c in model.input_schema] or list(ctx.profile.columns)
        value, rows = _metric_on(r, model.pipeline, frame, metric, inputs)
        scores[side], out["rows"] = value, rows
    out.update(scores)
    better = metrics_for_task(r.task)[metric].greater_is_better
    new, old = scores["challenger"], scores["champion"]
    if new is not None and old is not None:
        out["beats"] = bool(new > old if better else new < old)
    return out


def _labelled_inputs(ctx: _Context) -> Any:
    """Labelled rows of the window with every logged input (any version that answered;
    the two models compared may read different columns)."""
    import pandas as pd

    o = ctx.options
    if o.current:
        if not o.label_column:
            return None
        from mlctl.monitor.file_source import FileSource

        frame = FileSource(o.current, o.label_column, o.timestamp_column).read(ctx.window)
        frame = frame[frame[o.label_column].notna()]
        return (
            frame.rename(columns={o.label_column: "label"}) if o.label_column != "label" else frame
        )
    parts = list(
        ctx.source.iter_labelled(
            ctx.window, model_name=ctx.name, variant="champion", inputs=True, columns=None
        )
    )
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    meta = parts[0].attrs.get("meta", {})
    return frame.rename(columns={meta.get("label", "label"): "label"})


def _metric_on(
    r: Any, model: Any, frame: Any, metric: str, inputs: list[str]
) -> tuple[float | None, int]:
    import numpy as np
    import pandas as pd

    from mlctl.evaluate.metrics import classification_metrics, regression_metrics
    from mlctl.monitor.performance import LabelMap
    from mlctl.predict.score import Scorer

    scorer = Scorer(model)
    X = frame[[c for c in inputs if c in frame.columns]]
    if r.task == "regression":
        y = pd.to_numeric(frame["label"], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(y)
        pred, _ = scorer(X[keep])
        return regression_metrics(y[keep], pred).get(metric), int(keep.sum())
    classes = list(scorer.classes)
    idx, _ = LabelMap(classes).map(frame["label"].astype(object).to_numpy())
    keep = idx >= 0
    if not keep.any():
        return None, 0
    pred, proba = scorer(X[keep].reset_index(drop=True))
    y_true = np.asarray(classes, dtype=object)[idx[keep]]
    values = classification_metrics(y_true, pred, proba, classes, positive_class(r, classes))
    return values.get(metric), int(keep.sum())
