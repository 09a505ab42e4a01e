"""How far predicted probabilities are from observed rates: Brier score and ECE.

Binary classification only. ``y`` is the 0/1 (or bool) truth of the positive class,
``p`` its predicted probability. The bins are *equal-count*: the rows sorted by
``p`` and cut into (at most) ``n_bins`` groups of nearly the same size, so every bin
has enough rows to say something, where equal-width bins leave most of them empty
for a model that rarely predicts above 0.6.
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_BINS = 10


def _arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y).reshape(-1).astype(float)
    p_arr = np.asarray(p, dtype=float).reshape(-1)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"{y_arr.size} labels but {p_arr.size} probabilities")
    return y_arr, p_arr


def brier(y: Any, p: Any) -> float:
    """Mean squared difference between the probability and the 0/1 outcome."""
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2)) if y_arr.size else float("nan")


def equal_count_bins(y: Any, p: Any, n_bins: int = N_BINS) -> list[dict[str, Any]]:
    """The rows sorted by ``p`` (ties in their given order) and cut into
    ``min(n_bins, rows)`` groups whose sizes differ by at most one; per group the mean
    probability, the observed share of positives and the row count."""
    y_arr, p_arr = _arrays(y, p)
    order = np.argsort(p_arr, kind="stable")
    bins = []
    for index in np.array_split(order, min(n_bins, y_arr.size)) if y_arr.size else []:
        bins.append(
            {
                "mean_predicted": float(p_arr[index].mean()),
                "fraction_positive": float(y_arr[index].mean()),
                "rows": int(index.size),
            }
        )
    return bins


def expected_calibration_error(bins: list[dict[str, Any]]) -> float:
    """Row-weighted mean of ``|mean_predicted - fraction_positive|`` over the bins."""
    rows = sum(b["rows"] for b in bins)
    if not rows:
        return float("nan")
    gaps = sum(b["rows"] * abs(b["mean_predicted"] - b["fraction_positive"]) for b in bins)
    return float(gaps / rows)


def calibration_summary(y: Any, p: Any, base_rate: float, n_bins: int = N_BINS) -> dict[str, Any]:
    """``ctx["calibration"]``: Brier score, the Brier score of always predicting
    ``base_rate`` (the training split's positive share: what a model without skill
    knows), the ECE of ``n_bins`` equal-count bins and the bins themselves."""
    y_arr, p_arr = _arrays(y, p)
    bins = equal_count_bins(y_arr, p_arr, n_bins)
    return {
        "brier": brier(y_arr, p_arr),
        "brier_reference": brier(y_arr, np.full(y_arr.shape, float(base_rate))),
        "ece": expected_calibration_error(bins),
        "bins": bins,
    }
