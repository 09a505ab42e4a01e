"""What the drift tests found: per column (:class:`ColumnDrift`, with a
:class:`Histogram` for plots) and per dataset (:class:`DriftResult`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlctl.monitor.drift_options import PSI_MAJOR
from mlctl.recipe.schema import P_VALUE_TESTS

NOT_ENOUGH_DATA = "not_enough_data"  # a column or test with too few values to judge


@dataclass
class Histogram:
    """Reference and current shares on common bins, for plots.

    Either ``edges`` (numeric bins, one more than the shares; the last bin is closed)
    or ``labels`` (categories or distinct values) is set.
    """

    reference: list[float]
    current: list[float]
    edges: list[float] | None = None
    labels: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reference": _floats(self.reference)}
        out["current"] = _floats(self.current)
        if self.edges is not None:
            out["edges"] = _floats(self.edges)
        if self.labels is not None:
            out["labels"] = list(self.labels)
        return out


@dataclass
class ColumnDrift:
    """The outcome of one column's test.

    ``status`` is ``tested``, or why not: ``missing_column`` (absent from the current
    data), ``no_current_values`` / ``no_reference_values`` (all missing),
    ``not_enough_data`` (fewer current values than the test's ``min_rows``), ``error``
    (the test cannot run on this column; see ``detail``).
    """

    column: str
    kind: str  # numeric | categorical
    status: str = "tested"
    test: str | None = None  # one of METHODS
    statistic: float | None = None
    p_value: float | None = None  # for ks, chisquare and z
    threshold: float | None = None
    drifted: bool = False
    n_ref: int = 0  # reference values compared (non-missing)
    n_cur: int = 0  # current values compared
    cur_missing: int = 0
    cur_invalid: int = 0  # present but not a number, in a numeric column
    ref_missing_share: float | None = None
    cur_missing_share: float | None = None
    new_categories: list[str] = field(default_factory=list)  # up to 10, most frequent first
    n_new_categories: int = 0
    approximate: bool = False  # from the reference's quantile sketch or rounded current values
    cur_rel_error: float | None = None  # current values rounded by at most this share of themselves
    detail: str | None = None
    histogram: Histogram | None = None

    @property
    def score(self) -> float | None:
        """The number compared with the threshold: the p-value of a test, else the statistic."""
        return self.p_value if self.test in P_VALUE_TESTS else self.statistic

    @property
    def band(self) -> str | None:
        """For ``psi``: ``none`` (< 0.1), ``moderate`` or ``major`` (≥ :data:`PSI_MAJOR`)."""
        if self.test != "psi" or self.statistic is None:
            return None
        return "major" if self.statistic >= PSI_MAJOR else "moderate" if self.drifted else "none"

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "histogram"}
        for key in ("statistic", "p_value", "threshold", "ref_missing_share", "cur_missing_share"):
            out[key] = _float(out[key])
        out["score"] = _float(self.score)
        if self.band:
            out["band"] = self.band
        out["histogram"] = self.histogram.to_dict() if self.histogram else None
        return out


@dataclass
class DriftResult:
    """Every column's outcome and the dataset verdict (drift when the share of drifted
    columns among the tested ones is at least ``drift_share``)."""

    columns: list[ColumnDrift]
    drift_share: float
    rows: int  # rows of the current data
    ignored_columns: list[str] = field(default_factory=list)  # current columns not profiled

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.status == "tested"]

    @property
    def drifted(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.drifted]

    @property
    def share_drifted(self) -> float:
        tested = self.tested
        return len(self.drifted) / len(tested) if tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.tested) and self.share_drifted >= self.drift_share

    @property
    def not_enough_data(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.status == NOT_ENOUGH_DATA]

    @property
    def status(self) -> str:
        """``drift``, ``ok`` (some columns tested), ``not_enough_data`` (none tested, some
        for too few values) or ``not_tested``."""
        if self.dataset_drift:
            return "drift"
        if self.tested:
            return "ok"
        return NOT_ENOUGH_DATA if self.not_enough_data else "not_tested"

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "n_tested": len(self.tested),
            "n_drifted": len(self.drifted),
            "n_untested": len(self.columns) - len(self.tested),
            "n_not_enough_data": len(self.not_enough_data),
            "rows": self.rows,
            "columns": [c.to_dict() for c in self.columns],
            "ignored_columns": list(self.ignored_columns),
        }


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _floats(values: Iterable[Any]) -> list[float | None]:
    return [_float(v) for v in values]
