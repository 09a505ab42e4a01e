"""Permutation importance of the raw input columns of a fitted pipeline.

Each input column of ``X`` is shuffled in turn and the whole pipeline (feature
engineering included) re-scores the shuffled data, so importances are reported per
column the user knows, not per engineered feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from mlctl.errors import DataError


def permutation_importance_table(
    pipeline: Any,
    X: pd.DataFrame,
    y: Any,
    scoring: Any,
    n_repeats: int = 5,
    max_rows: int | None = 2000,
    random_state: int = 0,
    n_jobs: int | None = 1,
) -> list[tuple[str, float, float]]:
    """``(column, mean, std)`` of the score drop when each column of ``X`` is shuffled.

    ``scoring`` is an sklearn scorer name or object (greater is better, so a positive
    mean always means the column helps). ``X`` is subsampled to ``max_rows`` rows
    (uniformly, reproducibly from ``random_state``; None keeps every row). Sorted by
    mean, largest first, ties by column name.
    """
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"permutation importance needs a DataFrame, got {type(X).__name__}")
    n = len(X)
    if n == 0:
        raise DataError("permutation importance needs at least one row, got an empty frame")
    y_arr = y.to_numpy() if isinstance(y, pd.Series | pd.DataFrame) else np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr.ravel()
    if len(y_arr) != n:
        raise DataError(f"permutation importance: X has {n} rows but y has {len(y_arr)}")
    if max_rows is not None and n > max_rows:
        rng = np.random.RandomState(random_state)
        index = np.sort(rng.choice(n, size=max_rows, replace=False))
        X = X.iloc[index]
        y_arr = y_arr[index]
    result = permutation_importance(
        pipeline,
        X,
        y_arr,
        scoring=scoring,
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    table = [
        (str(column), float(mean), float(std))
        for column, mean, std in zip(
            X.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    table.sort(key=lambda r: (np.isnan(r[1]), -r[1], r[0]))
    return table
