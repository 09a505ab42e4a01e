"""How the model does on production data, once ground truth has come back.

Input: labelled predictions (:meth:`mlctl.monitor.log_source.LogSource.labelled`), in
which predictions and labels are text and probabilities a JSON object per row. They
are mapped back to the model's classes (:class:`LabelMap`), scored with the same
metric code as the test set (:mod:`mlctl.evaluate.metrics`), compared with the values
recorded at training, and checked against the recipe's readiness thresholds.

Too few labels is a status (``not_enough_labels``), not a failure: ground truth
often arrives days after the prediction.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from mlctl.errors import RecipeError
from mlctl.evaluate.metrics import (
    classification_metrics,
    metrics_for_task,
    regression_metrics,
    sign,
)
from mlctl.readiness.gate import Check, threshold_checks
from mlctl.text import class_text, json_number

OK, DEGRADED, NOT_ENOUGH_LABELS = "ok", "degraded", "not_enough_labels"
_DECODER = msgspec.json.Decoder()
_MISSING = "<missing>"


# ------------------------------------------------------------------ label mapping


def _key(value: Any) -> tuple[str, Any]:
    """A loose identity: numbers by value (``1`` = ``1.0`` = ``true``), text by case."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return ("num", float(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number):
            return ("num", number)
    text = str(value).strip()
    low = text.lower()
    if low in ("true", "false"):
        return ("num", 1.0 if low == "true" else 0.0)
    try:
        number = float(text)
    except ValueError:
        return ("str", low)
    return ("num", number) if math.isfinite(number) else ("str", low)


class LabelMap:
    """Text from the log -> the model's class.

    Exact text first (``str(c)`` or :func:`class_text`), then a loose match where it
    names exactly one class: ``"1.0"``, ``" 1"`` and ``"true"`` find the class ``1``
    (or ``True``, or ``"1"``), ``"yes"`` finds ``"Yes"``. Text that matches no class
    (or several equally) is left unmatched and reported, never guessed.
    """

    def __init__(self, classes: Sequence[Any]) -> None:
        self.classes = list(classes)
        self._exact: dict[str, int] = {}
        loose: dict[tuple, set[int]] = {}
        for i, c in enumerate(self.classes):
            for text in (str(c), class_text(c)):
                self._exact.setdefault(text, i)
            loose.setdefault(_key(c), set()).add(i)
        self._loose = {k: next(iter(v)) for k, v in loose.items() if len(v) == 1}

    def index(self, text: str) -> int:
        """The class index of ``text``, or -1."""
        if text in self._exact:
            return self._exact[text]
        return self._loose.get(_key(text), -1)

    def map(self, texts: Any) -> tuple[np.ndarray, dict[str, int]]:
        """Class indices (-1 where unmatched) and the unmatched texts with their counts."""
        codes, uniques = pd.factorize(pd.Series(texts, dtype=object), use_na_sentinel=True)
        lookup = np.array([self.index(str(u)) for u in uniques] + [-1], dtype=np.int64)
        out = lookup[codes]  # code -1 (missing) picks the trailing -1
        unmatched: dict[str, int] = {}
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        for j, u in enumerate(uniques):
            if lookup[j] < 0:
                unmatched[str(u)] = int(counts[j])
        missing = int((codes < 0).sum())
        if missing:
            unmatched[_MISSING] = missing
        return out, unmatched


def probability_matrix(texts: Any, classes: Sequence[Any]) -> np.ndarray:
    """Rows of class probabilities (columns in ``classes`` order) from the log's JSON
    objects; NaN where a row has none or lacks a class."""
    values = ["null" if not isinstance(t, str) else t for t in texts]
    try:
        rows = _DECODER.decode(("[" + ",".join(values) + "]").encode()) if values else []
    except msgspec.DecodeError:
        rows = []
        for t in values:
            try:
                rows.append(_DECODER.decode(t.encode()))
            except msgspec.DecodeError:
                rows.append(None)
    rows = [r if isinstance(r, dict) else {} for r in rows]
    out = np.full((len(rows), len(classes)), np.nan)
    for j, c in enumerate(classes):
        keys = dict.fromkeys((class_text(c), str(c)))
        col = [next((r[k] for k in keys if k in r), None) for r in rows]
        out[:, j] = np.array(col, dtype=float)
    return out


# ------------------------------------------------------------------ results


@dataclass
class MetricComparison:
    """One metric on production data against its value at training."""

    name: str
    greater_is_better: bool
    production: float | None
    trained: float | None
    drop: float | None  # positive: worse than at training, in the metric's units
    max_drop: float | None
    dropped: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "greater_is_better": self.greater_is_better,
            "production": json_number(self.production),
            "trained": json_number(self.trained),
            "drop": json_number(self.drop),
            "max_drop": json_number(self.max_drop),
            "dropped": self.dropped,
        }


@dataclass
class PerformanceResult:
    """Metrics on the labelled production predictions of one window."""

    status: str  # "ok", "degraded" or "not_enough_labels"
    message: str
    task: str
    n_predictions: int | None
    n_labelled: int
    n_evaluated: int  # labelled rows whose label and prediction map to a class
    min_labels: int
    metrics: list[MetricComparison] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    unmatched_labels: dict[str, int] = field(default_factory=dict)
    unmatched_predictions: dict[str, int] = field(default_factory=dict)
    probabilities: str = "none"  # "all" rows had them, "partial" or "none"
    model_versions: dict[str, int] = field(default_factory=dict)
    bucket_seconds: int = 86400
    series_min_labels: int = 30
    series: list[dict[str, Any]] = field(default_factory=list)

    @property
    def labelled_share(self) -> float | None:
        if not self.n_predictions:
            return None
        return self.n_labelled / self.n_predictions

    @property
    def drop_flagged(self) -> bool:
        return any(m.dropped for m in self.metrics)

    @property
    def thresholds_failed(self) -> bool:
        """A threshold failed by a defined value (an undefined metric is not judged)."""
        return any(not c.passed and json_number(c.actual) is not None for c in self.checks)

    @property
    def flagged(self) -> bool:
        return self.drop_flagged or self.thresholds_failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "task": self.task,
            "n_predictions": self.n_predictions,
            "n_labelled": self.n_labelled,
            "labelled_share": json_number(self.labelled_share),
            "n_evaluated": self.n_evaluated,
            "min_labels": self.min_labels,
            "flagged": self.flagged,
            "drop_flagged": self.drop_flagged,
            "thresholds_failed": self.thresholds_failed,
            "metrics": {m.name: m.to_dict() for m in self.metrics},
            "checks": [
                {
                    **c.to_dict(),
                    "actual": json_number(c.actual),
                    "required": json_number(c.required),
                }
                for c in self.checks
            ],
            "unmatched_labels": {
                "count": sum(self.unmatched_labels.values()),
                "values": dict(self.unmatched_labels),
            },
            "unmatched_predictions": {
                "count": sum(self.unmatched_predictions.values()),
                "values": dict(self.unmatched_predictions),
            },
            "probabilities": self.probabilities,
            "model_versions": dict(self.model_versions),
            "series": {
                "bucket_seconds": self.bucket_seconds,
                "min_labels": self.series_min_labels,
                "points": [dict(p) for p in self.series],
            },
        }


# ------------------------------------------------------------------ performance


def performance(
    labelled_frame: pd.DataFrame,
    task: str,
    classes: Sequence[Any] | None,
    positive_class: Any,
    metrics: Sequence[str],
    trained: Mapping[str, float],
    max_drop: Mapping[str, float] | float | None,
    min_labels: int,
    thresholds: Mapping[str, float],
    n_predictions: int | None = None,
    bucket_seconds: int = 86400,
    series_min_labels: int = 30,
) -> PerformanceResult:
    """Production metrics of the labelled predictions of one window.

    Args:
        labelled_frame: Columns ``label`` and ``prediction`` (text, as logged), and
            where present ``probabilities`` (JSON text), ``score``, ``ts`` and
            ``model_version``.
        task: "classification" or "regression".
        classes: The model's classes (``classes_`` order); None for regression.
        positive_class: The positive class of a binary classifier (None: the last).
        metrics: The metrics to report and compare with training.
        trained: Their values recorded at training (test set).
        max_drop: The largest allowed drop, in each metric's own units and measured
            in its "better" direction: one number for every metric, or per metric
            (metrics absent from the mapping are reported, never flagged).
        min_labels: Fewer mapped labels than this: ``not_enough_labels``, no verdict.
        thresholds: ``min_<metric>``/``max_<metric>`` as in the recipe's
            ``readiness.thresholds``, checked on production values.
        n_predictions: How many predictions the window holds (for the labelled share).
        bucket_seconds: The width of the time series' buckets (default: a day).
        series_min_labels: A bucket with fewer mapped labels has no metric values.

    Raises:
        RecipeError: an unknown task or a metric the task does not have.
    """
    table = metrics_for_task(task)
    unknown = [m for m in metrics if m not in table]
    if unknown:
        raise RecipeError(
            f"unknown metric {unknown[0]!r} for task {task!r}: expected one of {', '.join(table)}"
        )
    _check_int("min_labels", min_labels, 0)
    _check_int("bucket_seconds", bucket_seconds, 1)
    frame = labelled_frame.reset_index(drop=True)
    ev = _evaluable(frame, task, classes)
    result = PerformanceResult(
        status=OK,
        message="",
        task=task,
        n_predictions=None if n_predictions is None else int(n_predictions),
        n_labelled=len(frame),
        n_evaluated=int(ev.keep.sum()),
        min_labels=int(min_labels),
        unmatched_labels=ev.unmatched_labels,
        unmatched_predictions=ev.unmatched_predictions,
        probabilities=ev.proba_state,
        model_versions=_versions(frame),
        bucket_seconds=int(bucket_seconds),
        series_min_labels=int(series_min_labels),
    )
    result.series = _series(frame, ev, task, classes, positive_class, metrics, result)
    if result.n_evaluated < min_labels or result.n_evaluated == 0:
        result.status = NOT_ENOUGH_LABELS
        result.metrics = [_compare(m, None, trained, max_drop) for m in metrics]
        result.message = _not_enough(result)
        return result
    if task == "classification" and len(present := set(ev.y_true[ev.keep].tolist())) < 2:
        result.status = NOT_ENOUGH_LABELS
        result.metrics = [_compare(m, None, trained, max_drop) for m in metrics]
        result.message = (
            f"not enough labels: all {result.n_evaluated} labels are the class "
            f"{class_text(next(iter(present)))!r}; the metrics need labels of at least two "
            "classes, so performance is not judged" + _unmatched_note(result)
        )
        return result
    values = _score(ev, ev.keep, task, classes, positive_class)
    result.metrics = [_compare(m, values.get(m), trained, max_drop) for m in metrics]
    result.checks = threshold_checks(dict(thresholds), values, source="production")
    result.status = DEGRADED if result.flagged else OK
    result.message = _summary(result)
    return result


@dataclass
class _Evaluable:
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    keep: np.ndarray  # rows usable for metrics
    unmatched_labels: dict[str, int]
    unmatched_predictions: dict[str, int]
    proba_state: str


def _evaluable(frame: pd.DataFrame, task: str, classes: Sequence[Any] | None) -> _Evaluable:
    for col in ("label", "prediction"):
        if col not in frame.columns:
            raise ValueError(f"the labelled frame has no '{col}' column")
    if task == "regression":
        y_true = _numbers(frame["label"])
        y_pred = _numbers(frame["prediction"])
        if "score" in frame.columns:  # the logged value, where the text is missing
            y_pred = np.where(np.isnan(y_pred), _numbers(frame["score"]), y_pred)
        bad_true = _texts(frame["label"], np.isnan(y_true))
        bad_pred = _texts(frame["prediction"], np.isnan(y_pred))
        keep = ~np.isnan(y_true) & ~np.isnan(y_pred)
        return _Evaluable(y_true, y_pred, None, keep, bad_true, bad_pred, "none")
    if not classes:
        raise ValueError("The 'classes' parameter of performance is required for classification.")
    mapper = LabelMap(classes)
    true_idx, bad_true = mapper.map(frame["label"].to_numpy(dtype=object))
    pred_idx, bad_pred = mapper.map(frame["prediction"].to_numpy(dtype=object))
    keep = (true_idx >= 0) & (pred_idx >= 0)
    labels = np.asarray(list(classes))
    y_true = labels[np.where(true_idx >= 0, true_idx, 0)]
    y_pred = labels[np.where(pred_idx >= 0, pred_idx, 0)]
    proba, state = None, "none"
    if "probabilities" in frame.columns and len(frame):
        matrix = probability_matrix(frame["probabilities"].to_numpy(dtype=object), classes)
        complete = ~np.isnan(matrix).any(axis=1)
        if complete[keep].all() and keep.any():
            proba, state = matrix, "all"
        elif complete[keep].any():
            state = "partial"  # probability metrics need every row: left undefined
    return _Evaluable(y_true, y_pred, proba, keep, bad_true, bad_pred, state)


def _numbers(values: pd.Series) -> np.ndarray:
    out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(out), out, np.nan)


def _texts(values: pd.Series, bad: np.ndarray) -> dict[str, int]:
    """The distinct values at ``bad`` rows, with their counts."""
    counts = values[bad].astype(object).fillna(_MISSING).astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def _score(
    ev: _Evaluable,
    rows: np.ndarray,
    task: str,
    classes: Sequence[Any] | None,
    positive_class: Any,
) -> dict[str, float]:
    if task == "regression":
        return regression_metrics(ev.y_true[rows], ev.y_pred[rows])
    proba = None if ev.proba is None else ev.proba[rows]
    return classification_metrics(
        ev.y_true[rows], ev.y_pred[rows], proba, list(classes or []), positive_class
    )


def _compare(
    metric: str,
    production: float | None,
    trained: Mapping[str, float],
    max_drop: Mapping[str, float] | float | None,
) -> MetricComparison:
    higher = sign(metric) > 0
    prod = json_number(production)
    base = json_number(trained.get(metric))
    limit = max_drop.get(metric) if isinstance(max_drop, Mapping) else max_drop
    if limit is not None and (not isinstance(limit, int | float) or limit < 0):
        raise ValueError(
            f"The 'max_drop' parameter of performance must be >= 0 for {metric}. "
            f"Got {limit!r} instead."
        )
    drop = None if prod is None or base is None else sign(metric) * (base - prod)
    dropped = drop is not None and limit is not None and drop > limit + 1e-12
    return MetricComparison(metric, higher, prod, base, drop, json_number(limit), dropped)


def _series(
    frame: pd.DataFrame,
    ev: _Evaluable,
    task: str,
    classes: Sequence[Any] | None,
    positive_class: Any,
    metrics: Sequence[str],
    result: PerformanceResult,
) -> list[dict[str, Any]]:
    """Per-bucket labelled counts and metric values (None below the bucket minimum)."""
    if "ts" not in frame.columns or not len(frame):
        return []
    ts = pd.to_numeric(frame["ts"], errors="coerce").to_numpy(dtype=float)
    width = result.bucket_seconds
    bucket = np.floor(ts / width) * width
    points = []
    for start in np.unique(bucket[np.isfinite(bucket)]):
        rows = (bucket == start) & ev.keep
        n = int(rows.sum())
        values: dict[str, float | None] = dict.fromkeys(metrics)
        if n >= max(1, result.series_min_labels):
            scored = _score(ev, rows, task, classes, positive_class)
            values = {m: json_number(scored.get(m)) for m in metrics}
        points.append(
            {
                "start": int(start),
                "start_utc": datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z"),
                "n_labelled": int((bucket == start).sum()),
                "n_evaluated": n,
                "metrics": values,
            }
        )
    return points


def _versions(frame: pd.DataFrame) -> dict[str, int]:
    if "model_version" not in frame.columns or not len(frame):
        return {}
    counts = frame["model_version"].value_counts(sort=False).sort_index()
    return {str(k): int(v) for k, v in counts.items()}


def _not_enough(result: PerformanceResult) -> str:
    if result.n_predictions == 0:
        return "no predictions in the window"
    text = f"not enough labels: {result.n_evaluated} of {result.min_labels} needed"
    if result.n_predictions is not None:
        text += (
            f" ({result.n_labelled} of {result.n_predictions} predictions labelled, "
            f"{100 * (result.labelled_share or 0):.1f} %)"
        )
    text += _unmatched_note(result)
    return text


def _unmatched_note(result: PerformanceResult) -> str:
    n = sum(result.unmatched_labels.values())
    if not n:
        return ""
    sample = ", ".join(repr(k) for k in list(result.unmatched_labels)[:3])
    return f"; {n} label{' matches' if n == 1 else 's match'} no class ({sample})"


def _summary(result: PerformanceResult) -> str:
    problems = []
    for m in result.metrics:
        if m.dropped:
            problems.append(
                f"{m.name} dropped {m.drop:.4g} ({m.trained:.4g} at training -> "
                f"{m.production:.4g}; at most {m.max_drop:.4g})"
            )
    undefined = []
    for c in result.checks:
        if not c.passed and json_number(c.actual) is None:
            undefined.append(c.name)
        elif not c.passed:
            problems.append(f"{c.name} is {c.actual:.4g}, needs {c.op} {c.required:.4g}")
    head = f"{result.n_evaluated} labelled predictions"
    if undefined:
        head += f" ({', '.join(undefined)} undefined on them, not judged)"
    if problems:
        return f"degraded on {head}: " + "; ".join(problems) + _unmatched_note(result)
    shown = ", ".join(
        f"{m.name} {m.production:.4g}" for m in result.metrics if m.production is not None
    )
    return f"ok on {head}" + (f": {shown}" if shown else "") + _unmatched_note(result)


def _check_int(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(
            f"The '{name}' parameter of performance must be an int >= {low}. Got {value!r} instead."
        )
