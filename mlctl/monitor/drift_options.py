"""How drift is tested: the tests there are, their thresholds, and :class:`DriftOptions`
(the ``monitor:`` section of a recipe, checked here). See :mod:`mlctl.monitor.drift`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from mlctl.errors import DriftOptionsError
from mlctl.recipe.schema import NUMERIC_ONLY_TESTS, P_VALUE_TESTS

METHODS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div")
BINNED = frozenset({"jensenshannon", "psi", "kl_div"})  # tests of shares
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "kl_div": 0.1,
}
PSI_MAJOR = 0.25  # PSI at or above this is a major shift (0.1..0.25: moderate)
# Fewest current values a column needs to be tested, per test family (docs/monitoring.md,
# "Too little data"). A p-value test keeps its false-drift rate on any sample but has
# little power below ~30 values (KS at 0.05 and n=30 catches a 2/3-sd shift half the
# time); a distance has no sample-size correction, and on undrifted Telco rows
# Wasserstein ≥ 0.1 still flags 5 % of columns at 300 rows (33 % at 100, all at 3).
MIN_ROWS = {"p_value": 30, "distance": 300}


@dataclass
class DriftOptions:
    """How columns are tested. Every default is Evidently's (``monitor:`` in a recipe).

    Attributes:
        method_numeric: Test of numeric columns: ``auto`` (the table in this module's
            docstring) or one of :data:`METHODS`.
        method_categorical: Test of categorical columns: ``auto`` or one of
            :data:`METHODS` except ``ks`` and ``wasserstein``.
        threshold_numeric: Threshold of numeric columns' tests; None means the chosen
            test's default (:data:`DEFAULT_THRESHOLDS`). For ``ks``, ``chisquare`` and
            ``z`` it is a p-value (drift when below; ``ks``: at or below); for the others
            a distance (drift when at or above). As in Evidently, one threshold applies
            to whichever test ``auto`` picks.
        threshold_categorical: The same for categorical columns.
        per_column: Column name to ``(method, threshold)``, winning over the above;
            ``"auto"`` / None keep the kind's choice. ``score`` and ``prediction`` name the
            columns of :func:`prediction_drift`.
        drift_share: The dataset drifts when at least this share of the tested
            columns drift.
        bins: Bins of numeric columns for ``jensenshannon``, ``psi`` and ``kl_div``: a
            number of equal-width bins, or ``"sturges"`` (what Evidently 0.7.x's code
            does: ``numpy.histogram_bin_edges(..., bins="sturges")``).
        min_rows: Fewest current values a column needs, per test family: ``p_value``
            (ks, chisquare, z) and ``distance`` (the others); fewer gives the status
            ``not_enough_data``, never a drift (:data:`MIN_ROWS`; 0 turns it off).
    """

    method_numeric: str = "auto"
    method_categorical: str = "auto"
    threshold_numeric: float | None = None
    threshold_categorical: float | None = None
    per_column: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    drift_share: float = 0.5
    bins: int | str = 30
    min_rows: dict[str, int] = field(default_factory=lambda: dict(MIN_ROWS))

    def __post_init__(self) -> None:
        check_method("method_numeric", self.method_numeric, "numeric")
        check_method("method_categorical", self.method_categorical, "categorical")
        check_threshold("threshold_numeric", self.threshold_numeric)
        check_threshold("threshold_categorical", self.threshold_categorical)
        per_column = {}
        for name, spec in dict(self.per_column).items():
            if not isinstance(spec, list | tuple) or len(spec) != 2:
                raise DriftOptionsError(
                    f"The 'per_column.{name}' option must be a (method, threshold) pair. "
                    f"Got {spec!r} instead."
                )
            method, threshold = spec[0] or "auto", spec[1]
            check_method(f"per_column.{name}", method, None)
            check_threshold(f"per_column.{name}", threshold)
            per_column[str(name)] = (method, threshold)
        self.per_column = per_column
        if not 0.0 <= float(self.drift_share) <= 1.0:
            raise DriftOptionsError(
                f"The 'drift_share' option must be between 0 and 1. Got {self.drift_share!r} instead."
            )
        bins_ok = self.bins == "sturges" or (
            isinstance(self.bins, int) and not isinstance(self.bins, bool) and self.bins >= 1
        )
        if not bins_ok:
            raise DriftOptionsError(
                f"The 'bins' option must be a positive integer or 'sturges'. Got {self.bins!r} instead."
            )
        self.min_rows = check_min_rows(self.min_rows)

    def choice(self, column: str, kind: str) -> tuple[str, float | None]:
        """The (method, threshold) asked for a column; ``auto`` / None still to resolve."""
        method = self.method_numeric if kind == "numeric" else self.method_categorical
        threshold = self.threshold_numeric if kind == "numeric" else self.threshold_categorical
        if column in self.per_column:
            m, t = self.per_column[column]
            method = method if m == "auto" else m
            threshold = threshold if t is None else t
        return method, threshold

    def check_columns(self, kinds: dict[str, str]) -> None:
        """Every ``per_column`` name must be a profiled column, and its method fit the kind.

        Raises:
            DriftOptionsError: naming the column, the nearest known one, or the method.
        """
        for name, (method, _) in self.per_column.items():
            if name not in kinds:
                close = difflib.get_close_matches(name, list(kinds), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise DriftOptionsError(
                    f"per_column names '{name}', which is not a column of the reference "
                    f"profile{hint}"
                )
            check_method(f"per_column.{name}", method, kinds[name])


def check_method(key: str, method: Any, kind: str | None) -> None:
    if method != "auto" and method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DriftOptionsError(
            f"The '{key}' option must be 'auto' or one of {', '.join(METHODS)}. "
            f"Got {method!r} instead{hint}."
        )
    if kind == "categorical" and method in NUMERIC_ONLY_TESTS:
        raise DriftOptionsError(
            f"The '{key}' option must be a test for categories. Got {method!r} instead, "
            "which tests numbers only."
        )


def check_min_rows(value: Any) -> dict[str, int]:
    given = dict(value or {})
    for key, n in given.items():
        if key not in MIN_ROWS:
            raise DriftOptionsError(
                f"The 'min_rows' option takes {' and '.join(MIN_ROWS)}. Got {key!r} instead."
            )
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise DriftOptionsError(
                f"The 'min_rows.{key}' option must be an int >= 0. Got {n!r} instead."
            )
    return {**MIN_ROWS, **given}


def family(test: str) -> str:
    """``p_value`` for ks, chisquare and z, else ``distance`` (the keys of min_rows)."""
    return "p_value" if test in P_VALUE_TESTS else "distance"


def check_threshold(key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise DriftOptionsError(
            f"The '{key}' threshold must be a number ≥ 0 or None. Got {value!r} instead."
        )
