"""Would more data help? The winner refit on growing shares of the training split.

The winner's model step, with its best parameters, is fitted again on 25, 50 and 75 %
of the training rows and scored on the test set; the 100 % point is the winner
itself, already fitted and scored. The pipeline's preprocessing (imputers, encoders,
derived features) is the winner's, fitted on the whole training split, and is not
refit: the curve asks what more rows do for the model, and the statistics a
preprocessor learns (medians, scales, categories) barely move with the rows. So the
curve costs three model fits on 1.5 training splits' worth of rows (about 1.5 winner
fits for a model whose time grows with the rows, less for one that grows faster).
The shares are nested (each holds the one before) and, for classification,
stratified, so the curve's steps measure the extra rows rather than a new draw. The
test set is the one every other figure of the report uses; no choice is made from
it, so scoring on it is fair.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

FRACTIONS = (0.25, 0.5, 0.75)
MIN_ROWS = 20  # a share with fewer training rows is not fitted
MORE_DATA = "more data would likely help"
FLAT = "the curve has flattened: more rows of the same kind are unlikely to help much"


def refittable(model: Any) -> Any:
    """An unfitted copy of a fitted estimator with the same parameters.

    ``sklearn.base.clone`` keeps a :class:`~sklearn.frozen.FrozenEstimator` (the
    frozen model under a baked-in decision threshold) as it is, fitted; such a model
    is replaced by an unfitted clone of what it froze, so the copy learns it again.
    """
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    copy = clone(model)
    if not hasattr(copy, "get_params"):
        return copy
    for key, value in copy.get_params(deep=True).items():
        if isinstance(value, FrozenEstimator):
            copy.set_params(**{key: clone(value.estimator)})
    return copy


def nested_order(y: Any, seed: int, stratify: bool) -> np.ndarray:
    """A row order whose every prefix is a random sample (per class, when ``stratify``,
    in the classes' proportions)."""
    rng = np.random.default_rng(seed)
    y_arr = np.asarray(y).reshape(-1)
    n = y_arr.size
    if not stratify:
        return rng.permutation(n)
    key = np.empty(n)
    for cls in np.unique(y_arr.astype(str)):
        index = np.flatnonzero(y_arr.astype(str) == cls)
        key[index] = (rng.permutation(index.size) + rng.random(index.size)) / index.size
    return np.argsort(key, kind="stable")


def learning_curve(
    model: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    *,
    score: Callable[[Any, Any], float | None],
    final_score: float | None,
    metric: str,
    greater_is_better: bool,
    seed: int,
    stratify: bool,
    fractions: Sequence[float] = FRACTIONS,
) -> dict[str, Any]:
    """``ctx["learning_curve"]``: test scores of ``model`` refit on each share of the
    training rows (a Pipeline: its final step only), then ``final_score`` (the model
    as trained on all of them).

    ``score(fitted, X)`` scores a fitted model on ``X``, the test rows as it reads them
    (a Pipeline's test rows are transformed once, by its fitted preprocessing), and
    gives None when the metric is undefined.
    ``slope`` is the last step's change of the metric in its better direction (positive:
    the last 25 % of the rows improved the score); ``verdict`` says whether that is
    material (:func:`verdict`). ``seconds`` is what the refits took.
    """
    started = time.perf_counter()
    n = len(y_train)
    order = nested_order(y_train, seed, stratify)
    head, last = split_pipeline(model)
    X_fit = head.transform(X_train) if head is not None else X_train
    X_score = head.transform(X_test) if head is not None else X_test
    points: list[dict[str, Any]] = []
    notes: list[str] = []
    for fraction in fractions:
        rows = int(round(n * fraction))
        if rows < MIN_ROWS:
            notes.append(f"{fraction:.0%} of the training split is {rows} rows: not fitted")
            continue
        index = np.sort(order[:rows])
        estimator = refittable(last)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator.fit(_rows(X_fit, index), _rows(y_train, index))
            value = score(estimator, X_score)
        except (ValueError, TypeError, ArithmeticError, IndexError) as exc:
            notes.append(f"the fit on {rows} rows failed: {str(exc).splitlines()[0][:200]}")
            value = None
        points.append({"train_rows": rows, "score": _finite(value)})
    points.append({"train_rows": n, "score": _finite(final_score)})
    slope, text = verdict(points, greater_is_better)
    return {
        "metric": metric,
        "points": points,
        "slope": slope,
        "verdict": text,
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 2),
    }


def material_gain(final: float) -> float:
    """The smallest last-step gain called material: 0.5 % of the final score, at least
    0.002 (0.002 of ROC AUC is noise on a test set of a few thousand rows; 0.5 % of an
    RMSE is a real step)."""
    return max(0.002, 0.005 * abs(final))


def verdict(points: list[dict[str, Any]], greater_is_better: bool) -> tuple[float | None, str]:
    """The last step's gain (in the metric's better direction) and what it means."""
    if len(points) < 2 or points[-1]["score"] is None or points[-2]["score"] is None:
        return None, "not judged: the last two points of the curve are not both scored"
    last, before = points[-1]["score"], points[-2]["score"]
    slope = (last - before) if greater_is_better else (before - last)
    return slope, MORE_DATA if slope > material_gain(last) else FLAT


def split_pipeline(model: Any) -> tuple[Any, Any]:
    """A fitted Pipeline's fitted preprocessing and its final step; (None, model) for
    anything else."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1], model.steps[-1][1]
    return None, model


def _rows(values: Any, index: np.ndarray) -> Any:
    if hasattr(values, "iloc"):
        return values.iloc[index]
    return values[index] if hasattr(values, "shape") else np.asarray(values)[index]


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
