"""The selection metric per value of chosen input columns, on the test set.

``evaluation.segments`` names the columns. Each value with at least
``evaluation.segment_min_rows`` test rows is its own segment; the rarer values are
pooled into one ``(other)`` segment, missing values are ``(missing)``, and a numeric
column with more than :data:`MAX_VALUES` distinct values is cut into quartiles
first. A segment whose metric is worse than the whole test set's by more than
``evaluation.segment_max_gap`` (in the metric's own units and direction) is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlctl.errors import DataError
from mlctl.evaluate.metrics import classification_metrics, metrics_for_task, regression_metrics
from mlctl.recipe.checks import segment_column_problem

OTHER = "(other)"
MISSING = "(missing)"
MAX_VALUES = 10  # a numeric column with more distinct values is cut into quartiles
RANK_METRICS = ("roc_auc", "pr_auc")


def segment_values(column: pd.Series) -> tuple[pd.Series, list[str] | None, str | None]:
    """The segment label of each row (strings); for a numeric column cut into quartiles
    also the labels in the quartiles' order, and a note saying so. A quartile is
    labelled by the smallest and largest value in it ("9–28")."""
    s = column.reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if not numeric or s.nunique(dropna=True) <= MAX_VALUES:
        return s.astype(object).map(lambda v: MISSING if pd.isna(v) else str(v)), None, None
    codes = pd.qcut(s, 4, labels=False, duplicates="drop")
    names = {}
    for code in sorted(codes.dropna().unique()):
        inside = s[codes == code]
        names[code] = f"{inside.min():g}–{inside.max():g}"
    labels = codes.map(lambda c: MISSING if pd.isna(c) else names[c]).astype(str)
    return labels, list(names.values()), f"{s.nunique()} distinct values, cut into quartiles"


def segment_table(
    X: pd.DataFrame,
    columns: Sequence[str],
    *,
    task: str,
    metric: str,
    y_true: Any,
    y_pred: Any,
    proba: Any,
    classes: Sequence[Any],
    positive_class: Any,
    min_rows: int,
    max_gap: float,
) -> dict[str, Any]:
    """``ctx["segments"]``: the whole test set's ``metric`` and one row per segment.

    ``X`` holds the test rows' input columns, in the order of ``y_true``, ``y_pred``
    and ``proba``. A segment's score is None (with a note) when the metric is undefined
    on its rows, e.g. ROC AUC where only one class occurs.

    Raises:
        DataError: a column of ``columns`` is not in ``X``.
    """
    for col in columns:
        if col not in X.columns:
            problem = segment_column_problem(col, list(map(str, X.columns)))
            raise DataError(f"evaluation.segments: {problem}")
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    proba = None if proba is None else np.asarray(proba, dtype=float)
    greater = metrics_for_task(task)[metric].greater_is_better
    binary = task == "classification" and len(classes) == 2
    pos = (classes[-1] if positive_class is None else positive_class) if binary else None

    def score(mask: np.ndarray) -> tuple[float | None, str | None]:
        if task == "regression":
            value = regression_metrics(y_true[mask], y_pred[mask])[metric]
        else:
            p = None if proba is None else proba[mask]
            value = classification_metrics(y_true[mask], y_pred[mask], p, classes, pos)[metric]
        if math.isfinite(value):
            return float(value), None
        if task == "classification" and len(np.unique(y_true[mask])) < 2:
            return None, f"only one class in these rows: {metric} is undefined"
        return None, f"{metric} is undefined on these rows"

    whole, _ = score(np.ones(len(y_true), dtype=bool))
    rows = []
    for col in columns:
        labels, order, binned = segment_values(X[col])
        counts = labels.value_counts()
        rank = {v: i for i, v in enumerate(order or [])}
        kept = sorted(
            (v for v, n in counts.items() if n >= min_rows),
            key=lambda v: (rank.get(v, len(rank)), -counts[v], v),
        )
        first = len(rows)
        groups = [(v, (labels == v).to_numpy()) for v in kept]
        rare = ~labels.isin(kept).to_numpy()
        if rare.any():
            groups.append((OTHER, rare))
        for i, (value, mask) in enumerate(groups):
            value_score, note = score(mask)
            gap = None
            if value_score is not None and whole is not None:
                gap = whole - value_score if greater else value_score - whole
            if value == OTHER:
                pooled = int((counts < min_rows).sum())
                note = _join(f"{pooled} values with fewer than {min_rows} rows each", note)
            rows.append(
                {
                    "column": col,
                    "value": value,
                    "rows": int(mask.sum()),
                    "positive_rate": float(np.mean(y_true[mask] == pos)) if binary else None,
                    "score": value_score,
                    "gap": gap,
                    "flagged": gap is not None and gap > max_gap,
                    "note": _join(binned if i == 0 else None, note),
                }
            )
        _note_rank_metric(rows[first:], metric)
    return {"metric": metric, "whole": whole, "max_gap": float(max_gap), "rows": rows}


def _note_rank_metric(rows: list[dict[str, Any]], metric: str) -> None:
    """Every value of a column below the whole, on a rank metric: say why (Simpson-like
    effect) on the column's first row."""
    scored = [r for r in rows if r["gap"] is not None]
    if metric not in RANK_METRICS or len(scored) < 2 or not all(r["gap"] > 0 for r in scored):
        return
    why = (
        f"every value scores below the whole test set: {metric} within a segment cannot "
        "credit the column's own separation of the classes; compare the values with each other"
    )
    rows[0]["note"] = _join(rows[0]["note"], why)


def _join(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return "; ".join(kept) if kept else None
