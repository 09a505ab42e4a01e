"""The metric registry and the test-set metrics of classifiers and regressors.

Metric names are the ones a recipe uses (``accuracy``, ``roc_auc``, ``rmse`` ...).
Every metric is reported in its *natural* direction: ``log_loss``, ``rmse``, ``mae``
and ``mape`` are lower-is-better positive numbers, the rest are higher-is-better.
sklearn's cross-validation scorers negate the lower-is-better ones (``neg_...``);
:func:`sign` turns such a CV score back into the natural value.

Conventions:

- ``proba`` columns follow the order of ``classes`` (``model.classes_``).
- ``mape`` is a fraction (0.05 means 5 %), as sklearn computes it.
- A metric that is undefined on the given data (one class present in ``y_true``,
  nothing predicted positive, no rows, ``mape`` with a zero target ...) is
  ``float('nan')``; these functions never raise for such data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlctl.errors import DataError, RecipeError
from mlctl.recipe.metrics import (  # noqa: F401  (re-exported: the metric registry)
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    TASKS,
    MetricInfo,
    metrics_for_task,
)

# CV scorer names for multiclass problems, where sklearn needs an averaging scheme.
_MULTICLASS_SCORING = {
    "precision": "precision_weighted",
    "recall": "recall_weighted",
    "f1": "f1_weighted",
    "roc_auc": "roc_auc_ovr_weighted",
}

NAN = float("nan")


def _lookup(metric: str, task: str | None = None) -> MetricInfo:
    if task is not None:
        table = metrics_for_task(task)
    else:
        table = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}
    try:
        return table[metric]
    except KeyError:
        scope = f" for task {task!r}" if task else ""
        raise RecipeError(
            f"unknown metric {metric!r}{scope}: expected one of {', '.join(table)}"
        ) from None


def cv_scoring(metric: str, task: str, n_classes: int) -> str:
    """The sklearn scorer name for cross-validating ``metric``.

    For multiclass problems (``n_classes > 2``) precision, recall and f1 use the
    ``_weighted`` scorers and roc_auc uses ``roc_auc_ovr_weighted``. Note that
    sklearn's binary ``precision``/``recall``/``f1``/``average_precision`` scorers
    assume the positive label is ``1``; for other labels use :func:`cv_scorer`.
    """
    info = _lookup(metric, task)
    assert info.sklearn_scoring is not None
    if task == "classification" and n_classes > 2:
        return _MULTICLASS_SCORING.get(metric, info.sklearn_scoring)
    return info.sklearn_scoring


def cv_scorer(
    metric: str, task: str, classes: Sequence[Any], positive_class: Any = None
) -> str | Callable[..., float]:
    """A scorer for CV that also works when the positive label is not ``1``.

    Returns the :func:`cv_scoring` name except for binary precision, recall, f1 and
    pr_auc, where it returns a scorer bound to ``positive_class`` (default: the
    last of ``classes``). Its values are in the same sign convention as the name.
    """
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        make_scorer,
        precision_score,
        recall_score,
    )

    classes = list(classes)
    name = cv_scoring(metric, task, len(classes))
    if task != "classification" or len(classes) != 2:
        return name
    pos = classes[-1] if positive_class is None else positive_class
    if metric == "precision":
        return make_scorer(precision_score, pos_label=pos, zero_division=0.0)
    if metric == "recall":
        return make_scorer(recall_score, pos_label=pos, zero_division=0.0)
    if metric == "f1":
        return make_scorer(f1_score, pos_label=pos, zero_division=0.0)
    if metric == "pr_auc":
        return make_scorer(
            average_precision_score,
            response_method=("decision_function", "predict_proba"),
            pos_label=pos,
        )
    return name


def sign(metric: str) -> float:
    """``-1.0`` if sklearn's CV scorer for ``metric`` is negated ("neg_..."), else ``1.0``.

    ``natural_value = sign(metric) * cv_score``. Accepts a metric name or an sklearn
    scorer name.
    """
    if metric.startswith("neg_"):
        return -1.0
    scoring = _lookup(metric).sklearn_scoring or ""
    return -1.0 if scoring.startswith("neg_") else 1.0


# --------------------------------------------------------------------------- helpers


def _safe(fn: Callable[[], Any]) -> float:
    """Run a metric; undefined (error, warning-only garbage, non-finite) becomes nan."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(fn())
    except (ValueError, TypeError, IndexError, ZeroDivisionError, FloatingPointError):
        return NAN
    return value if math.isfinite(value) else NAN


def _as_1d(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    return arr.reshape(-1) if arr.ndim != 1 else arr


def _sorted_classes(classes: Sequence[Any], proba: np.ndarray | None):
    """Classes in sorted order and ``proba`` columns reordered to match.

    sklearn's ``log_loss`` and multiclass ``roc_auc_score`` index ``y_score`` by the
    *sorted* labels; model ``classes_`` are sorted already, but callers may not be.
    """
    classes = list(classes)
    try:
        order = sorted(range(len(classes)), key=lambda i: classes[i])
    except TypeError:
        return classes, proba
    sorted_classes = [classes[i] for i in order]
    if proba is not None and proba.ndim == 2 and proba.shape[1] == len(classes):
        proba = proba[:, order]
    return sorted_classes, proba


def _positive(classes: list[Any], positive_class: Any) -> Any:
    """The positive class of a binary problem (default: the last class), checked."""
    pos = classes[-1] if positive_class is None else positive_class
    if pos not in classes:
        raise DataError(
            f"positive class {pos!r} is not one of the classes {classes!r}",
            hint="set the positive class to a value that occurs in the target column",
        )
    return pos


def _native(value: Any) -> Any:
    """numpy scalars to Python scalars (for JSON/YAML friendly output)."""
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- classification


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None,
    classes: Sequence[Any],
    positive_class: Any = None,
) -> dict[str, float]:
    """Every classification metric of :data:`CLASSIFICATION_METRICS` on one test set.

    Binary (two ``classes``): precision, recall and f1 of ``positive_class`` (default:
    the last class), roc_auc and pr_auc from its probability column. Multiclass:
    support-weighted precision/recall/f1, one-vs-rest weighted roc_auc and pr_auc.
    ``log_loss`` uses ``labels=classes``. The probability metrics are nan when
    ``proba`` is None; any undefined metric is nan. For a binary problem ``proba``
    may also be the 1-D probability of the positive class. Raises
    :class:`~mlctl.errors.DataError` only if ``positive_class`` is not in ``classes``.
    """
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        balanced_accuracy_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )
    from sklearn.preprocessing import label_binarize

    y_true = _as_1d(y_true)
    y_pred = _as_1d(y_pred)
    classes = list(classes)
    out = dict.fromkeys(CLASSIFICATION_METRICS, NAN)
    binary = len(classes) == 2
    pos = _positive(classes, positive_class) if binary else None
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        if binary and proba.ndim == 1:  # a bare positive-class probability
            pos_index = classes.index(pos)
            two = np.empty((proba.shape[0], 2))
            two[:, pos_index] = proba
            two[:, 1 - pos_index] = 1.0 - proba
            proba = two
    if y_true.size == 0 or y_true.shape != y_pred.shape:
        return out

    out["accuracy"] = _safe(lambda: accuracy_score(y_true, y_pred))
    out["balanced_accuracy"] = _safe(lambda: balanced_accuracy_score(y_true, y_pred))

    if binary:
        t = y_true == pos
        p = y_pred == pos
        for name, fn in (("precision", precision_score), ("recall", recall_score)):
            out[name] = _safe(lambda fn=fn: fn(t, p, pos_label=True, zero_division=np.nan))
        # F1 is undefined only when there is nothing positive, true or predicted.
        out["f1"] = NAN if not (t.any() or p.any()) else _safe(lambda: f1_score(t, p))
    else:
        for name, fn in (
            ("precision", precision_score),
            ("recall", recall_score),
            ("f1", f1_score),
        ):
            out[name] = _safe(
                lambda fn=fn: fn(
                    y_true, y_pred, labels=classes, average="weighted", zero_division=np.nan
                )
            )

    if proba is None or proba.ndim != 2 or proba.shape != (len(y_true), len(classes)):
        return out

    if binary:
        if t.any() and not t.all():
            score = proba[:, classes.index(pos)]
            out["roc_auc"] = _safe(lambda: roc_auc_score(t, score))
            out["pr_auc"] = _safe(lambda: average_precision_score(t, score))
    else:
        sorted_classes, sorted_proba = _sorted_classes(classes, proba)
        present = set(np.unique(y_true).tolist())
        if len(present & set(sorted_classes)) >= 2:
            out["roc_auc"] = _safe(
                lambda: roc_auc_score(
                    y_true,
                    sorted_proba,
                    multi_class="ovr",
                    average="weighted",
                    labels=sorted_classes,
                )
            )
            indicator = label_binarize(y_true, classes=sorted_classes)
            out["pr_auc"] = _safe(
                lambda: average_precision_score(indicator, sorted_proba, average="weighted")
            )
    sorted_classes, sorted_proba = _sorted_classes(classes, proba)
    out["log_loss"] = _safe(lambda: log_loss(y_true, sorted_proba, labels=sorted_classes))
    return out


def confusion(y_true: Any, y_pred: Any, classes: Sequence[Any]) -> dict[str, list]:
    """The confusion matrix: ``{"labels": [...], "matrix": [[int]]}``.

    Rows are true classes, columns predicted classes, both in the order of ``classes``.
    """
    from sklearn.metrics import confusion_matrix

    labels = list(classes)
    y_true = _as_1d(y_true)
    y_pred = _as_1d(y_pred)
    if y_true.size == 0:
        matrix = [[0] * len(labels) for _ in labels]
    else:
        matrix = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return {
        "labels": [_native(c) for c in labels],
        "matrix": [[int(v) for v in row] for row in matrix],
    }


def predict_with_threshold(
    proba: np.ndarray,
    classes: Sequence[Any],
    positive_class: Any = None,
    threshold: float | None = 0.5,
) -> np.ndarray:
    """Class labels from probabilities.

    Binary: ``positive_class`` (default: the last class) where its probability is
    ``>= threshold``, the other class elsewhere. Multiclass, or ``threshold`` None:
    the class of highest probability.
    """
    proba = np.asarray(proba, dtype=float)
    labels = np.asarray(list(classes), dtype=object)
    if len(labels) == 2 and threshold is not None:
        cls = list(classes)
        pos_index = cls.index(_positive(cls, positive_class))
        index = np.where(proba[:, pos_index] >= threshold, pos_index, 1 - pos_index)
    else:
        index = np.argmax(proba, axis=1)
    out = labels[index]
    # Give back a plain numeric/str array where the labels allow it.
    try:
        return out.astype(np.asarray(list(classes)).dtype)
    except (TypeError, ValueError):
        return out


# --------------------------------------------------------------------------- regression


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """rmse, mae, r2 and mape on one test set.

    ``r2`` is nan for fewer than two rows or a constant ``y_true``; ``mape`` is nan
    when any ``y_true`` is 0.
    """
    from sklearn.metrics import (
        mean_absolute_error,
        mean_absolute_percentage_error,
        r2_score,
        root_mean_squared_error,
    )

    out = dict.fromkeys(REGRESSION_METRICS, NAN)
    try:
        y_true = _as_1d(y_true).astype(float)
        y_pred = _as_1d(y_pred).astype(float)
    except (TypeError, ValueError):
        return out
    if y_true.size == 0 or y_true.shape != y_pred.shape:
        return out
    out["rmse"] = _safe(lambda: root_mean_squared_error(y_true, y_pred))
    out["mae"] = _safe(lambda: mean_absolute_error(y_true, y_pred))
    if y_true.size >= 2 and np.ptp(y_true) > 0:
        out["r2"] = _safe(lambda: r2_score(y_true, y_pred))
    if not np.any(y_true == 0):
        out["mape"] = _safe(lambda: mean_absolute_percentage_error(y_true, y_pred))
    return out
