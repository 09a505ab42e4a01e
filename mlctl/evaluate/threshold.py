"""Decision thresholds of a binary classifier: the metrics at each threshold, the
rules that choose one, and the "threshold" plot.

Pure functions of the true classes (``y``: true where a row is of the positive class)
and the positive class's probabilities (``score``); nothing here fits a model. A row
is predicted positive when its probability is ``>=`` the threshold, as
:func:`mlctl.evaluate.metrics.predict_with_threshold` and scikit-learn's
``FixedThresholdClassifier`` decide.

Metrics at a threshold: precision, recall, F1 and specificity of the positive class,
and, when ``costs`` (``{"fp": cost of a false positive, "fn": cost of a false
negative}``) are given, the average cost per row, ``(fp * costs.fp + fn *
costs.fn) / rows``. A metric that is undefined (precision when nothing is predicted
positive) is None in a record and NaN in an array.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlctl.errors import DataError

RULES = ("f1", "youden", "cost")
#: Points of the curve in a report: thresholds 0, 0.01, ..., 1.
CURVE_POINTS = 101
METRICS = ("precision", "recall", "f1", "specificity", "cost")

Costs = Mapping[str, float]


def _arrays(y: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y).reshape(-1).astype(bool)
    s = np.asarray(score, dtype=float).reshape(-1)
    if t.shape != s.shape:
        raise ValueError(f"{t.size} classes but {s.size} scores")
    return t, s


def counts(y: Any, score: Any, thresholds: Any) -> dict[str, np.ndarray]:
    """True/false positives and negatives at each threshold (``tp``, ``fp``, ``fn``,
    ``tn``, each an int array shaped like ``thresholds``)."""
    t, s = _arrays(y, score)
    th = np.asarray(thresholds, dtype=float)
    positives = np.sort(s[t])
    negatives = np.sort(s[~t])
    tp = positives.size - np.searchsorted(positives, th, side="left")
    fp = negatives.size - np.searchsorted(negatives, th, side="left")
    return {"tp": tp, "fp": fp, "fn": positives.size - tp, "tn": negatives.size - fp}


def metrics_at(
    y: Any, score: Any, thresholds: Any, costs: Costs | None = None
) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` at each threshold, as float arrays (NaN where
    undefined; ``cost`` all NaN without ``costs``)."""
    c = counts(y, score, thresholds)
    tp, fp, fn, tn = (c[k].astype(float) for k in ("tp", "fp", "fn", "tn"))
    rows = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
            "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
            "specificity": np.where(tn + fp > 0, tn / (tn + fp), np.nan),
        }
        if costs is None:
            out["cost"] = np.full(tp.shape, np.nan)
        else:
            total = fp * float(costs["fp"]) + fn * float(costs["fn"])
            out["cost"] = np.where(rows > 0, total / rows, np.nan)
    return out


def _value(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def point(y: Any, score: Any, threshold: float, costs: Costs | None = None) -> dict[str, Any]:
    """The metrics at one threshold as a record (None where undefined, ``cost`` None
    without ``costs``)."""
    m = metrics_at(y, score, [threshold], costs)
    return {k: _value(m[k][0]) for k in METRICS}


def curve(
    y: Any, score: Any, costs: Costs | None = None, points: int = CURVE_POINTS
) -> list[dict[str, Any]]:
    """The metrics at ``points`` evenly spaced thresholds from 0 to 1 (101: 0, 0.01,
    ..., 1), one record each with its ``threshold``: the curve a report shows."""
    grid = np.round(np.linspace(0.0, 1.0, points), 10)
    m = metrics_at(y, score, grid, costs)
    return [
        {"threshold": float(th), **{k: _value(m[k][i]) for k in METRICS}}
        for i, th in enumerate(grid)
    ]


def _candidates(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One threshold interval ``(low, high]`` per distinct confusion matrix: every
    threshold in it predicts the same rows positive. The first predicts every row
    positive (from 0), the last none (up to 1; left out when a score is 1 or more)."""
    distinct = np.unique(s)
    low = np.concatenate(([-1.0], distinct))
    high = np.concatenate((distinct, [1.0]))
    keep = high > low
    return low[keep], high[keep]


def _shortest(low: float, high: float) -> float:
    """The number with the fewest decimals in ``(low, high]``, 0.5 if it is in it."""
    if low < 0.5 <= high:
        return 0.5
    for digits in range(1, 13):
        scale = 10.0**digits
        value = math.floor(high * scale) / scale
        if low < value <= high:
            return value
    return high


def choose(y: Any, score: Any, rule: str, costs: Costs | None = None) -> float:
    """The threshold ``rule`` chooses on these rows.

    ``f1``: the highest F1 of the positive class; ``youden``: the highest recall +
    specificity - 1 (Youden's J); ``cost``: the lowest ``fp * costs.fp + fn *
    costs.fn``. Every threshold is tried (one per distinct score), and ties go to the
    threshold nearest 0.5. The value returned is the one with the fewest decimals
    among those that predict exactly the same rows (0.5 itself when it is one of them),
    so a report shows 0.23 rather than 0.2301734.

    Raises:
        ValueError: unknown ``rule``, ``cost`` without costs, or scores that are not finite.
        DataError: the rows do not hold both classes.
    """
    if rule not in RULES:
        raise ValueError(f"unknown threshold rule {rule!r}: expected one of {', '.join(RULES)}")
    if rule == "cost" and costs is None:
        raise ValueError("the cost rule needs costs {fp, fn}")
    t, s = _arrays(y, score)
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    if not t.any() or t.all():
        raise DataError(
            f"evaluation.threshold: choosing a threshold needs both classes among the rows; "
            f"got {t.size} rows of {'the positive' if t.any() else 'the negative'} class only"
        )
    low, high = _candidates(s)
    m = metrics_at(t, s, high, costs)
    if rule == "f1":
        objective = m["f1"]
    elif rule == "youden":
        objective = m["recall"] + m["specificity"] - 1.0
    else:
        objective = -m["cost"]
    objective = np.where(np.isfinite(objective), objective, -np.inf)
    best = np.flatnonzero(np.isclose(objective, objective.max(), rtol=0.0, atol=1e-12))
    distance = np.maximum(np.maximum(low[best] - 0.5, 0.5 - high[best]), 0.0)
    k = best[int(np.argmin(distance))]
    return _shortest(float(low[k]), float(high[k]))


# --------------------------------------------------------------------------- plot


def threshold_png(analysis: Mapping[str, Any], path: Path | str) -> Path:
    """Precision, recall and F1 (and the cost per row, on its own axis, when costs
    were given) against the threshold, from a ``threshold_analysis`` record
    (``curve``, ``chosen``, ``method``); the chosen threshold and 0.5 are marked."""
    from mlctl.evaluate.plots import _COLOR, _REF, _message, _new_figure, _save

    rows: Sequence[Mapping[str, Any]] = analysis.get("curve") or []
    fig = _new_figure(6.5, 4.5)
    ax = fig.add_subplot()
    ax.set_title("Metrics by decision threshold (out-of-fold)")
    if not rows:
        _message(ax, "No out-of-fold probabilities:\nthe threshold curve is not available")
        return _save(fig, path)

    def column(name: str) -> np.ndarray:
        return np.array([np.nan if r.get(name) is None else r[name] for r in rows], dtype=float)

    x = column("threshold")
    lines = [
        ax.plot(x, column("precision"), color="#2ca02c", lw=2, label="precision")[0],
        ax.plot(x, column("recall"), color="#ff7f0e", lw=2, label="recall")[0],
        ax.plot(x, column("f1"), color=_COLOR, lw=2, label="F1")[0],
    ]
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Threshold on the positive class's probability")
    ax.set_ylabel("Precision, recall, F1")
    ax.grid(alpha=0.3)
    cost = column("cost")
    if analysis.get("costs") and np.isfinite(cost).any():
        right = ax.twinx()
        lines.append(right.plot(x, cost, color="#d62728", lw=1.5, ls="-.", label="cost per row")[0])
        right.set_ylabel("Cost per row")
        right.set_ylim(bottom=0)
    chosen = analysis.get("chosen")
    if chosen is not None:
        label = f"chosen {chosen:g} ({analysis.get('method', 'fixed')})"
        lines.append(ax.axvline(chosen, color="#000000", lw=1.5, label=label))
    if chosen != 0.5:
        lines.append(ax.axvline(0.5, color=_REF, lw=1, ls="--", label="0.5"))
    ax.legend(handles=lines, loc="lower left", fontsize=8)
    return _save(fig, path)
