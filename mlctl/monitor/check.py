"""One monitoring check: read what production saw, run the checks, write the verdict.

:class:`Context` holds one run's state (the monitored version, its reference profile,
the window, the source) and :meth:`Context.check` builds the result document that
:func:`mlctl.monitor.run.monitor` then publishes. The recipe's ``monitor:`` section is
mapped to drift options here (:func:`drift_options`, :func:`prediction_options`).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlctl import __version__
from mlctl.errors import (
    DataError,
    DriftOptionsError,
    MonitorCannotRun,
    PredictionLogError,
    UsageError,
)
from mlctl.monitor.accumulate import Accumulator, Current, labelled_frame, scores_of
from mlctl.monitor.distributed import CannotScore
from mlctl.monitor.notes import column_notes, finite, judged, too_little_notes
from mlctl.predlog.schema import default_url

SCHEMA_VERSION = 1
HEALTHY, ATTENTION, NOT_ENOUGH_DATA = "healthy", "attention", "not_enough_data"


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


class Context:
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
        reasons = verdict_reasons(drift, pred, perf, volume)
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
            "generated_at": iso(time.time()),
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
    def _read_log(self) -> Current:
        from mlctl.monitor.log_source import LogSource

        url = self.r.deploy.serve.log.url or default_url(self.ws.root)
        try:
            src = LogSource(url)
            self.source = src
            acc = Accumulator(self.profile, self.version)
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

    def _read_file(self) -> Current:
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
        if self.r.monitor.engine == "dask":
            acc = self._on_dask(src, wanted, needs_model and not missing)
            return self._finish_file(acc.finish(), header, missing)
        if needs_model and not missing:
            try:
                acc = self._score_file(src, wanted, labelled)
            except CannotScore as exc:
                self.unscored = (
                    f"--current: model version {self.version} cannot score {o.current} "
                    f"({exc}): not scored, so prediction drift and performance are skipped; "
                    "data drift tests the inputs"
                )
                labelled = []
        if acc is None:  # nothing needs (or can use) the model's answers: inputs only
            acc = Accumulator(self.profile, self.version)
            if src.format == "parquet" and self.window is None:  # text stays Arrow
                chunks = src.iter_batches(chunk_rows=o.chunk_rows)
            else:
                chunks = src.iter_chunks(self.window, chunk_rows=o.chunk_rows)
            for chunk in chunks:
                acc.add_unscored_chunk(chunk)
                self.emit("rows", {"rows": acc.rows})
        out = acc.finish()
        out.labelled = labelled
        return self._finish_file(out, header, missing)

    def _finish_file(self, out: Current, header: list[str], missing: list[str]) -> Current:
        from mlctl.monitor.file_source import shown_names

        o = self.options
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

    def _on_dask(self, src: Any, wanted: list[str], scored: bool) -> Accumulator:
        """``monitor.engine: dask``: the file summed up on the cluster (a Parquet file read
        whole; scored there when a check needs the model's answers)."""
        from mlctl.monitor.distributed import Job, summarize_file

        o = self.options
        if src.format != "parquet" or o.label_column or o.timestamp_column:
            what = (
                "a CSV file" if src.format != "parquet" else "--label-column and --timestamp-column"
            )
            raise UsageError(
                f"monitor.engine: dask reads a whole --current Parquet file; {what} need "
                "the local engine",
                hint="set monitor.engine=local",
            )
        src.check_row_groups(wanted)  # each partition's row groups are read whole
        job = Job(self.profile, self.version, wanted, task=self.r.task)
        if scored:
            job.pipeline = self._load_model().pipeline
            if self.r.task == "classification":
                job.positive = self._positive(list(job.pipeline.classes_))
        try:
            return summarize_file(self.r.compute, str(src.path), job, o.chunk_rows, self.emit)
        except CannotScore as exc:
            self.unscored = (
                f"--current: model version {self.version} cannot score {o.current} "
                f"({exc}): not scored, so prediction drift and performance are skipped; "
                "data drift tests the inputs"
            )
            job.pipeline = None
            return summarize_file(self.r.compute, str(src.path), job, o.chunk_rows, self.emit)

    def _score_file(self, src: Any, wanted: list[str], labelled: list[Any]) -> Accumulator:
        """Score each chunk of ``--current`` with the monitored version; keep the labels.

        Raises:
            CannotScore: the model cannot score a chunk (the caller reads the inputs only).
        """
        from mlctl.predict.score import Scorer

        o = self.options
        acc = Accumulator(self.profile, self.version)
        scorer = Scorer(self._load_model().pipeline)
        for chunk in src.iter_chunks(self.window, chunk_rows=o.chunk_rows):
            X = finite(chunk[[c for c in wanted if c in chunk.columns]], acc.numeric)
            try:
                pred, proba = scorer(X)
            except Exception as exc:  # the model's own error, whatever its type
                raise CannotScore(first_line(exc)) from None
            scores = scores_of(
                self.r.task, pred, proba, scorer.classes, self._positive(scorer.classes)
            )
            acc.add_scored_chunk(X, pred, scores)
            if o.label_column:
                labelled.append(labelled_frame(chunk, o, pred, proba, scorer.classes, self.version))
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
    def _drift(self, current: Current):
        from mlctl.monitor.drift import dataset_drift

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
            result = dataset_drift(self.profile, current.summary, options)
        except DriftOptionsError as exc:
            raise UsageError(f"monitor.drift: {exc.message}") from None
        if current.ignored is not None:  # the file's own columns, not only those read
            result.ignored_columns = current.ignored
        return result

    def _unusable_columns(self, drift: Any, current: Current) -> None:
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

    def _prediction_drift(self, current: Current):
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

    def _performance(self, current: Current):
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


def positive_class(r: Any, classes: list[Any]) -> Any:
    """The recipe's positive class among a binary model's classes (default: the last)."""
    classes = list(classes)
    if len(classes) != 2:
        return None
    pos = r.data.positive_class
    match = [c for c in classes if pos is not None and (c == pos or str(c) == str(pos))]
    return match[0] if match else classes[-1]


# --------------------------------------------------------------------- verdict


def verdict_reasons(drift: Any, pred: Any, perf: Any, volume: Any) -> list[str]:
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


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
