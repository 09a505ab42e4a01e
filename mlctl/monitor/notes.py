"""What a monitoring run tells about its inputs besides the verdict, and whether it
judged anything at all (docs/monitoring.md, "Tiny and hostile inputs").

:func:`judged` says whether any check reached a verdict (else the run's status is
``not_enough_data``); :func:`column_notes` and :func:`too_little_notes` word the notes
that name columns; :func:`finite` reads ±inf as missing before the model scores.
"""

from __future__ import annotations

from typing import Any


def judged(drift: Any, pred: Any, perf: Any, volume: Any) -> bool:
    """Whether any check reached a verdict (tested a column, judged labels or volume)."""
    from mlctl.monitor.volume import NOT_ENOUGH_HISTORY

    return bool(
        drift.tested
        or (pred is not None and pred.tested)
        or (perf is not None and perf.status != "not_enough_labels")
        or (volume is not None and volume.status != NOT_ENOUGH_HISTORY)
    )


def column_notes(drift: Any) -> list[str]:
    """What the user should know about single columns: values that are not numbers,
    columns with no usable value, categories never seen in training."""
    from mlctl.monitor.file_source import shown_name, shown_names

    out = []
    for c in drift.columns:
        name = shown_name(c.column)
        if c.cur_invalid:
            out.append(
                f"column {name}: {c.cur_invalid:,} value{'s are' if c.cur_invalid > 1 else ' is'} "
                "not a number: read as missing, left out of its test"
            )
        if c.status in ("no_current_values", "error"):
            out.append(f"column {name} not tested ({c.status}): {c.detail}")
    new = [c for c in drift.columns if c.n_new_categories]
    if new:
        listed = "; ".join(
            f"{shown_name(c.column)}: {shown_names(c.new_categories, 3)}"
            + (f" ({c.n_new_categories} in all)" if c.n_new_categories > 3 else "")
            for c in new[:8]
        )
        out.append(f"categories never seen in training: {listed}")
    return out


def too_little_notes(drift: Any, pred: Any) -> list[str]:
    """One note per check whose columns had fewer values than ``min_rows``."""
    out = []
    for what, result in (("data drift", drift), ("prediction drift", pred)):
        few = result.not_enough_data if result is not None else []
        if few:
            names = ", ".join(c.column for c in few[:8]) + (" ..." if len(few) > 8 else "")
            out.append(
                f"{what}: not enough data to test {len(few)} column{'s' if len(few) != 1 else ''} "
                f"({names}): {few[0].detail}; not counted as drift"
            )
    return out


def finite(X: Any, numeric: Any) -> Any:
    """``X`` with ±inf in its numeric input columns read as missing, as the profile and
    the drift tests read them (the model's imputer then sees NaN, not infinity)."""
    import numpy as np
    import pandas as pd

    bad = [
        c
        for c in X.columns
        if c in numeric
        and pd.api.types.is_float_dtype(X[c].dtype)
        and np.isinf(X[c].to_numpy(dtype=float, na_value=np.nan)).any()
    ]
    return X.assign(**{c: X[c].replace([np.inf, -np.inf], np.nan) for c in bad}) if bad else X
