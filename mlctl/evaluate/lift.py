"""Lift and cumulative gain by decile of the predicted score (binary classification).

The test rows are sorted by the positive-class probability, highest first, and cut
into ten groups whose sizes differ by at most one (rows of equal score keep their
test-set order, which the split shuffled). Per decile: its positive rate, its lift
(that rate over the base rate), the cumulative lift of the deciles so far, and the
gain (the share of all positives found in them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

DECILES = 10


def lift_table(y: Any, score: Any, groups: int = DECILES) -> dict[str, Any]:
    """``ctx["lift"]``: the base rate and one row per decile (1 = highest scores).

    Lifts are None when the test set holds no positive (no base rate to compare with);
    with fewer rows than ``groups`` there are as many groups as rows.
    """
    y_arr = np.asarray(y).reshape(-1).astype(bool)
    s = np.asarray(score, dtype=float).reshape(-1)
    if y_arr.shape != s.shape:
        raise ValueError(f"{y_arr.size} labels but {s.size} scores")
    total = int(y_arr.size)
    positives_all = int(y_arr.sum())
    base = positives_all / total if total else float("nan")
    order = np.argsort(-s, kind="stable")
    bins = []
    seen_rows = seen_pos = 0
    for i, index in enumerate(np.array_split(order, min(groups, total)) if total else [], 1):
        rows = int(index.size)
        pos = int(y_arr[index].sum())
        seen_rows += rows
        seen_pos += pos
        rate = pos / rows
        bins.append(
            {
                "decile": i,
                "rows": rows,
                "positives": pos,
                "rate": rate,
                "lift": rate / base if positives_all else None,
                "cumulative_lift": (seen_pos / seen_rows) / base if positives_all else None,
                "gain": seen_pos / positives_all if positives_all else None,
            }
        )
    return {"base_rate": base, "bins": bins}


def top_decile_lift(lift: dict[str, Any] | None) -> float | None:
    """The lift of the first decile, or None."""
    bins = (lift or {}).get("bins") or []
    return bins[0]["lift"] if bins else None
