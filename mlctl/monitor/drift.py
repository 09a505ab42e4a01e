"""Per-column drift tests of current data against a reference profile.

``method="auto"`` picks the test Evidently picks by default (docs: protocols.md), from the
reference size ``n_ref`` (its non-missing values) and the number of distinct values over
reference ∪ current ``n_unique``:

=============  ========================  =====================  ====================
``n_ref``      column                    ``n_unique``           test (drift when)
=============  ========================  =====================  ====================
≤ 1000         numeric                   > 5                    ``ks`` (p ≤ 0.05)
≤ 1000         numeric                   3..5                   ``chisquare`` (p < 0.05)
≤ 1000         numeric or categorical    ≤ 2                    ``z`` (p < 0.05)
≤ 1000         categorical               > 2                    ``chisquare`` (p < 0.05)
> 1000         numeric                   > 5                    ``wasserstein`` (≥ 0.1)
> 1000         numeric ≤ 5, categorical  any                    ``jensenshannon`` (≥ 0.1)
=============  ========================  =====================  ====================

The tests, computed as Evidently 0.7 computes them (``evidently.legacy.calculations.
stattests``): ``ks`` is scipy's two-sample KS test; ``chisquare`` compares current counts
with the reference counts scaled to the current size; ``z`` is the two-proportion z-test
of "is the first (sorted) value"; ``wasserstein`` is W1 (scipy's ``wasserstein_distance``) over
``max(std_ref, 0.001)`` (population std); ``jensenshannon`` is scipy's JS distance
(natural log) of shares; ``psi`` is ``sum((ref% - cur%) * ln(ref% / cur%))`` (drift ≥ 0.1;
≥ :data:`PSI_MAJOR` is the common "major shift" band); ``kl_div`` is scipy's entropy of
reference vs current shares. Shares are per value for categories and for numeric columns
with at most 20 distinct reference values, else over equal-width bins spanning
reference ∪ current (:attr:`DriftOptions.bins`, 30). ``psi`` and ``kl_div`` replace empty
shares by a small value exactly as Evidently does; ``jensenshannon`` does not need to.

Exactness: a reference numeric column with at most 1,000 distinct values is stored
exactly in the profile, and so is every categorical column with at most 1,000 categories,
so every statistic on them equals the one computed from the raw training data. Above
that, the profile holds a 1,001-point quantile sketch and the reference is taken as
the piecewise-linear quantile function through it. Then ``wasserstein`` is the exact W1
between that and the current data (tests/unit/monitor measure its error against the raw
Telco data: < 1e-3 on the normed distance), bin shares come from the interpolated CDF,
and ``ks`` uses that CDF with Smirnov's asymptotic p-value (scipy ``kstwo``, what scipy
uses above 10,000 values). ``chisquare`` and ``z`` need the exact distribution and report
an error on a sketched column (never the case for ``auto``: it only picks them with
≤ 1,000 reference values). Such results carry ``approximate=True``.

Not tested, but reported: a column missing from the current data, one whose current
(or reference) values are all missing. They do not count in the share of drifted columns.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlctl.errors import DriftOptionsError, EmptyDataError
from mlctl.monitor.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    ReferenceProfile,
    read_categories,
    read_numeric,
)

METHODS = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div")
P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})  # drift when the p-value is low
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
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
SMALL_REFERENCE = 1000  # reference values up to which auto uses hypothesis tests
VALUE_SHARES_UP_TO = 20  # numeric columns with more distinct reference values are binned
PLOT_BINS = 20  # histogram bins for plots when the test itself does not bin
PLOT_LABELS = 30  # categories kept by name in plot histograms
SCORE, PREDICTION = "score", "prediction"  # the columns of prediction_drift
NOT_ENOUGH_DATA = "not_enough_data"
OTHER = "\x00other"  # the bucket of categories a truncated profile or a plot folds together
_OTHER_LABEL = {OTHER: "(other)"}


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
        _check_method("method_numeric", self.method_numeric, "numeric")
        _check_method("method_categorical", self.method_categorical, "categorical")
        _check_threshold("threshold_numeric", self.threshold_numeric)
        _check_threshold("threshold_categorical", self.threshold_categorical)
        per_column = {}
        for name, spec in dict(self.per_column).items():
            if not isinstance(spec, list | tuple) or len(spec) != 2:
                raise DriftOptionsError(
                    f"The 'per_column.{name}' option must be a (method, threshold) pair. "
                    f"Got {spec!r} instead."
                )
            method, threshold = spec[0] or "auto", spec[1]
            _check_method(f"per_column.{name}", method, None)
            _check_threshold(f"per_column.{name}", threshold)
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
        self.min_rows = _check_min_rows(self.min_rows)

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
            _check_method(f"per_column.{name}", method, kinds[name])


def _check_method(key: str, method: Any, kind: str | None) -> None:
    if method != "auto" and method not in METHODS:
        close = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DriftOptionsError(
            f"The '{key}' option must be 'auto' or one of {', '.join(METHODS)}. "
            f"Got {method!r} instead{hint}."
        )
    if kind == "categorical" and method in NUMERIC_ONLY:
        raise DriftOptionsError(
            f"The '{key}' option must be a test for categories. Got {method!r} instead, "
            "which tests numbers only."
        )


def _check_min_rows(value: Any) -> dict[str, int]:
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


def _check_threshold(key: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise DriftOptionsError(
            f"The '{key}' threshold must be a number ≥ 0 or None. Got {value!r} instead."
        )


# ----------------------------------------------------------------------- results


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
    approximate: bool = False  # computed from the reference's quantile sketch
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


# --------------------------------------------------------------------- reference


class _Reference:
    """A numeric reference column: its exact distribution, or its quantile sketch."""

    def __init__(self, p: NumericProfile) -> None:
        self.n = p.count
        self.std = p.std or 0.0
        self.min, self.max = p.min, p.max
        self.n_unique = p.n_unique
        self.exact = p.values is not None
        if self.exact:
            self.values = np.asarray(p.values, dtype=np.float64)
            self.counts = np.asarray(p.counts, dtype=np.int64)
        else:
            self.q = np.asarray(p.quantiles, dtype=np.float64)
            self.u = np.linspace(0.0, 1.0, len(self.q))

    def samples(self) -> np.ndarray:
        return np.repeat(self.values, self.counts)

    def cdf(self, x: np.ndarray, side: str = "right") -> np.ndarray:
        """``P(X <= x)`` (``side="right"``) or ``P(X < x)`` (``"left"``)."""
        if self.exact:
            cum = np.r_[0, np.cumsum(self.counts)]
            return cum[np.searchsorted(self.values, x, side=side)] / self.n
        q, u, k = self.q, self.u, np.searchsorted(self.q, x, side=side)
        out = np.where(k == 0, 0.0, 1.0)
        inner = (k > 0) & (k < len(q))
        kk = k[inner]
        lo, hi = q[kk - 1], q[kk]  # lo <= x < hi (right) or lo < x <= hi (left): hi > lo
        out[inner] = u[kk - 1] + (x[inner] - lo) / (hi - lo) * (u[kk] - u[kk - 1])
        return out

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        """Shares per bin, with numpy.histogram's bins ([a, b), the last one closed)."""
        if self.exact:
            return np.histogram(self.values, edges, weights=self.counts)[0] / self.n
        below = self.cdf(edges, "left")
        upper = below[1:].copy()
        upper[-1] = self.cdf(edges[-1:], "right")[0]
        return upper - below[:-1]


@dataclass
class _Current:
    """A numeric current column: sorted values and their distinct values and counts."""

    sorted: np.ndarray
    unique: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, s: np.ndarray) -> _Current:
        if len(s) == 0:
            return cls(s, s, np.zeros(0, dtype=np.int64))
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        return cls(s, s[starts], np.diff(np.r_[starts, len(s)]))


# ------------------------------------------------------------------------ tests


def _ks_sketch(ref: _Reference, cur: _Current) -> tuple[float, float]:
    from scipy.stats import kstwo

    m = len(cur.sorted)
    at = np.cumsum(cur.counts) / m
    before = at - cur.counts / m
    d = max(
        float(np.max(np.abs(ref.cdf(cur.unique, "right") - at))),
        float(np.max(np.abs(ref.cdf(cur.unique, "left") - before))),
    )
    big, small = max(ref.n, m), min(ref.n, m)
    en = big * small / (big + small)
    return d, float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))


def _w1_exact(keys: np.ndarray, ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """W1 between two weighted samples on the same sorted points: the area between their
    CDFs, which is what ``scipy.stats.wasserstein_distance`` computes (equal to ~1e-15
    relative; tests compare them) without its ~0.6 s import."""
    if len(keys) < 2:
        return 0.0
    ref_cdf = np.cumsum(ref_counts[:-1]) / ref_counts.sum()
    cur_cdf = np.cumsum(cur_counts[:-1]) / cur_counts.sum()
    return float(np.sum(np.abs(ref_cdf - cur_cdf) * np.diff(keys)))


def _w1_sketch(ref: _Reference, c: np.ndarray) -> float:
    """Exact W1 between the piecewise-linear reference quantile function and the
    current data's quantile step function: sum over cells of the integral of
    |Q_ref(u) - Q_cur(u)|, where Q_ref is linear and Q_cur constant."""
    m = len(c)
    breaks = np.union1d(ref.u, np.arange(m + 1) / m)
    a, b = breaks[:-1], breaks[1:]
    width = b - a
    step = c[np.minimum(((a + b) / 2 * m).astype(np.int64), m - 1)]
    da = np.interp(a, ref.u, ref.q) - step
    db = np.interp(b, ref.u, ref.q) - step
    same_sign = da * db >= 0
    denom = np.where(same_sign, 1.0, np.abs(da) + np.abs(db))
    area = np.where(same_sign, (np.abs(da) + np.abs(db)) / 2, (da * da + db * db) / (2 * denom))
    return float(np.sum(area * width))


def _chisquare(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    from scipy.stats import chisquare

    f_exp = ref_counts * (cur_counts.sum() / ref_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        stat, p = chisquare(cur_counts, f_exp)
    return float(stat), float(p)


def _z_test(keys: list[Any], ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Evidently's two-proportion z-test of "not the first sorted value"."""
    from scipy.stats import norm

    one_value = (ref_counts > 0).sum() == 1 and (cur_counts > 0).sum() == 1
    if one_value and int(np.argmax(ref_counts)) == int(np.argmax(cur_counts)):
        return 0.0, 1.0
    first = min(range(len(keys)), key=keys.__getitem__)  # Evidently: sorted(keys)[0]
    n1, n2 = ref_counts.sum(), cur_counts.sum()
    p1 = (n1 - ref_counts[first]) / n1
    p2 = (n2 - cur_counts[first]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * (1 - norm.cdf(np.abs(z))))


def _fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's replacement of empty shares (for psi and kl_div)."""
    out = shares.astype(np.float64).copy()
    smallest = out[out != 0].min()
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def _jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two share vectors, as
    ``scipy.spatial.distance.jensenshannon`` computes it (tests compare them); written
    out because importing scipy.spatial costs a monitor run ~0.2 s."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((left + right) / 2, 0.0)))


def _distance(method: str, ref: np.ndarray, cur: np.ndarray) -> float:
    if method == "jensenshannon":
        return _jensenshannon(ref, cur)
    ref, cur = _fill_zeroes(ref), _fill_zeroes(cur)
    if method == "psi":
        return float(np.sum((ref - cur) * np.log(ref / cur)))
    from scipy.stats import entropy  # ~0.6 s to import: only where used

    return float(entropy(ref, cur))  # kl_div


def _edges(lo: float, hi: float, n: int, bins: int | str) -> np.ndarray:
    """numpy.histogram_bin_edges over data spanning [lo, hi] with n values."""
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    if bins == "sturges":
        width = (hi - lo) / (np.log2(n) + 1.0)
        count = int(np.ceil((hi - lo) / width)) if width else 1
    else:
        count = int(bins)
    return np.linspace(lo, hi, count + 1, endpoint=True)


# ------------------------------------------------------------------ column drift


def column_drift(
    ref: ColumnProfile,
    current: Any,
    kind: str | None = None,
    method: str = "auto",
    threshold: float | None = None,
    *,
    name: str = "",
    bins: int | str = 30,
    min_rows: dict[str, int] | None = None,
) -> ColumnDrift:
    """Test one column of current data against its reference profile.

    Args:
        ref: The column's profile (from :class:`ReferenceProfile.columns`).
        current: The current values (a Series or anything array-like), raw: they are
            read as the profile says (numbers or categories, ``data.coerce`` type).
        kind: ``numeric`` or ``categorical``; defaults to the profile's (must match).
        method: ``auto`` or one of :data:`METHODS`.
        threshold: None for the method's default (:data:`DEFAULT_THRESHOLDS`).
        name: The column's name, for the result.
        bins: See :attr:`DriftOptions.bins`.
        min_rows: Fewest current values per test family (:attr:`DriftOptions.min_rows`);
            None: no minimum (every column with a value is tested).

    Raises:
        DriftOptionsError: unknown method, a method for the other kind, or ``kind``
            contradicting the profile.
    """
    kind = kind or ref.kind
    if kind != ref.kind:
        raise DriftOptionsError(f"column '{name}' is profiled as {ref.kind}, not {kind}")
    _check_method(name or "method", method, kind)
    _check_threshold(name or "threshold", threshold)
    series = current if isinstance(current, pd.Series) else pd.Series(np.asarray(current))
    out = ColumnDrift(column=name, kind=kind, n_ref=ref.count)
    total_ref = ref.count + ref.missing + getattr(ref, "invalid", 0)
    out.ref_missing_share = (total_ref - ref.count) / total_ref if total_ref else None
    if kind == "numeric":
        read = read_numeric(series, ref.coerce)
        out.n_cur, out.cur_missing, out.cur_invalid = len(read.sorted), read.missing, read.invalid
    else:
        cats = read_categories(series, ref.coerce)
        out.n_cur, out.cur_missing = cats.count, cats.missing
    out.cur_missing_share = (len(series) - out.n_cur) / len(series) if len(series) else None
    if ref.count == 0:
        out.status, out.detail = "no_reference_values", "every reference value is missing"
        return out
    if out.n_cur == 0:
        out.status = "no_current_values"
        out.detail = f"all {len(series)} current values are missing or unreadable"
        return out
    limits = _check_min_rows(min_rows) if min_rows is not None else {}
    if kind == "numeric":
        _numeric_test(out, ref, _Current.of(read.sorted), method, threshold, bins, limits)
    else:
        _categorical_test(out, ref, cats.counts, method, threshold, limits)
    return out


def _too_few(out: ColumnDrift, test: str, limits: dict[str, int]) -> bool:
    """Mark the column ``not_enough_data`` when it has fewer values than its test needs."""
    need = limits.get(family(test), 0)
    if out.n_cur >= need:
        return False
    out.test, out.status = test, NOT_ENOUGH_DATA
    out.detail = (
        f"{out.n_cur} current value{'s' if out.n_cur != 1 else ''}, fewer than the {need} "
        f"a {test} test needs (monitor.drift.min_rows.{family(test)})"
    )
    return True


def _resolve(method: str, kind: str, n_ref: int, n_unique: int) -> str:
    if method != "auto":
        return method
    if n_ref <= SMALL_REFERENCE:
        if kind == "numeric" and n_unique > 5:
            return "ks"
        return "chisquare" if n_unique > 2 else "z"
    if kind == "numeric" and n_unique > 5:
        return "wasserstein"
    return "jensenshannon"


def _decide(out: ColumnDrift, test: str, threshold: float | None) -> None:
    out.test = test
    out.threshold = DEFAULT_THRESHOLDS[test] if threshold is None else float(threshold)
    score = out.score
    if score is None or math.isnan(score):
        out.drifted = False
    elif test == "ks":
        out.drifted = score <= out.threshold
    elif test in P_VALUE_TESTS:
        out.drifted = score < out.threshold
    else:
        out.drifted = score >= out.threshold


def _numeric_test(
    out: ColumnDrift,
    p: NumericProfile,
    cur: _Current,
    method: str,
    threshold: float | None,
    bins: int | str,
    limits: dict[str, int],
) -> None:
    ref = _Reference(p)
    discrete = _discrete(ref, cur)
    n_unique = len(discrete[0]) if discrete else max(ref.n_unique, len(cur.unique))
    test = _resolve(method, "numeric", ref.n, n_unique)
    if _too_few(out, test, limits):
        return
    out.test = test
    if test in ("chisquare", "z") and discrete is None:
        out.status = "error"
        out.detail = (
            f"'{test}' needs the exact reference values, but the column has {p.n_unique} "
            "distinct values (the profile keeps a quantile sketch); use ks, wasserstein, "
            "jensenshannon or psi"
        )
        return
    out.approximate = not ref.exact
    c = cur.sorted
    lo, hi = min(ref.min, c[0]), max(ref.max, c[-1])
    edges = None
    if test in BINNED and (ref.n_unique > VALUE_SHARES_UP_TO or discrete is None):
        edges = _edges(lo, hi, ref.n + len(c), bins)
    out.statistic, out.p_value = _numeric_statistic(test, ref, cur, discrete, edges)
    _decide(out, test, threshold)
    out.histogram = _numeric_histogram(ref, c, discrete, edges, lo, hi)


def _discrete(ref: _Reference, cur: _Current) -> tuple | None:
    """(distinct values of reference ∪ current, reference counts, current counts) when
    the reference is exact, else None."""
    if not ref.exact:
        return None
    keys = np.union1d(ref.values, cur.unique)
    ref_counts, cur_counts = np.zeros(len(keys)), np.zeros(len(keys))
    ref_counts[np.searchsorted(keys, ref.values)] = ref.counts
    cur_counts[np.searchsorted(keys, cur.unique)] = cur.counts
    return keys, ref_counts, cur_counts


def _numeric_statistic(
    test: str, ref: _Reference, cur: _Current, discrete: tuple | None, edges: np.ndarray | None
) -> tuple[float, float | None]:
    """(statistic, p-value or None) of one test on a numeric column."""
    if test == "ks":
        if not ref.exact:
            return _ks_sketch(ref, cur)
        from scipy.stats import ks_2samp

        res = ks_2samp(ref.samples(), cur.sorted)
        return float(res.statistic), float(res.pvalue)
    if test == "wasserstein":
        w1 = _w1_exact(*discrete) if ref.exact else _w1_sketch(ref, cur.sorted)
        return float(w1) / max(ref.std, 0.001), None
    if test == "chisquare":
        return _chisquare(discrete[1], discrete[2])
    if test == "z":
        return _z_test(list(discrete[0]), discrete[1], discrete[2])
    if edges is not None:
        r, k = ref.histogram(edges), np.histogram(cur.sorted, edges)[0] / len(cur.sorted)
    else:
        r, k = discrete[1] / ref.n, discrete[2] / len(cur.sorted)
    return _distance(test, r, k), None


def _numeric_histogram(
    ref: _Reference,
    c: np.ndarray,
    discrete: tuple | None,
    edges: np.ndarray | None,
    lo: float,
    hi: float,
) -> Histogram:
    if edges is None and discrete is not None and len(discrete[0]) <= VALUE_SHARES_UP_TO:
        keys, ref_counts, cur_counts = discrete
        return Histogram(
            (ref_counts / ref.n).tolist(),
            (cur_counts / len(c)).tolist(),
            labels=[_label(k) for k in keys],
        )
    if edges is None:
        edges = _edges(lo, hi, ref.n + len(c), PLOT_BINS)
    return Histogram(
        ref.histogram(edges).tolist(),
        (np.histogram(c, edges)[0] / len(c)).tolist(),
        edges=edges.tolist(),
    )


def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _categorical_test(
    out: ColumnDrift,
    p: CategoricalProfile,
    cur: dict[str, int],
    method: str,
    threshold: float | None,
    limits: dict[str, int],
) -> None:
    ref_cats = p.categories
    new = [k for k in cur if k not in ref_cats]
    if p.other_count:  # truncated reference: unknown categories may be in its "other"
        other = OTHER
        cur = {k: v for k, v in cur.items() if k in ref_cats} | {other: sum(cur[k] for k in new)}
        ref_cats = {**ref_cats, other: p.other_count}
        out.approximate = True
        new = []
    out.new_categories, out.n_new_categories = [_cut(k) for k in new[:10]], len(new)
    keys = list(ref_cats) + [k for k in cur if k not in ref_cats]
    ref_counts = np.array([ref_cats.get(k, 0) for k in keys], dtype=np.float64)
    cur_counts = np.array([cur.get(k, 0) for k in keys], dtype=np.float64)
    test = _resolve(method, "categorical", p.count, len(keys))
    if _too_few(out, test, limits):
        return
    if test == "chisquare":
        out.statistic, out.p_value = _chisquare(ref_counts, cur_counts)
    elif test == "z":
        out.statistic, out.p_value = _z_test(keys, ref_counts, cur_counts)
    else:
        out.statistic = _distance(test, ref_counts / p.count, cur_counts / cur_counts.sum())
    _decide(out, test, threshold)
    ref_share, cur_share = ref_counts / p.count, cur_counts / cur_counts.sum()
    if len(keys) > PLOT_LABELS:
        keep = PLOT_LABELS - 1
        ref_share = np.r_[ref_share[:keep], ref_share[keep:].sum()]
        cur_share = np.r_[cur_share[:keep], cur_share[keep:].sum()]
        keys = [*keys[:keep], OTHER]
    out.histogram = Histogram(
        ref_share.tolist(),
        cur_share.tolist(),
        labels=[_cut(_OTHER_LABEL.get(k, k)) for k in keys],
    )


def _cut(label: Any, most: int = 200) -> Any:
    """A category as the result shows it: at most ``most`` characters (a 1 MB value
    would otherwise be copied into the document, the report and every note)."""
    return label[:most] + "…" if isinstance(label, str) and len(label) > most else label


# ----------------------------------------------------------------------- datasets


def dataset_drift(
    profile: ReferenceProfile, current: pd.DataFrame, options: DriftOptions | None = None
) -> DriftResult:
    """Test every profiled input column of ``current`` (see the module docstring).

    Columns of ``current`` that were not profiled are listed in ``ignored_columns``;
    profiled columns absent from ``current`` are reported as ``missing_column``.

    Raises:
        EmptyDataError: ``current`` has no rows.
        DriftOptionsError: ``options.per_column`` names an unknown column or a test
            that does not fit the column.
    """
    options = options or DriftOptions()
    if len(current) == 0:
        raise EmptyDataError(
            "the current data has no rows, so there is nothing to compare with the "
            "reference profile",
            hint="check the time window or the prediction log it was read from",
        )
    kinds = {name: p.kind for name, p in profile.columns.items()}
    options.check_columns({**kinds, SCORE: "numeric", PREDICTION: "categorical"})
    results = []
    for name, ref in profile.columns.items():
        if name not in current.columns:
            results.append(
                ColumnDrift(
                    column=name,
                    kind=ref.kind,
                    status="missing_column",
                    n_ref=ref.count,
                    detail=f"column '{name}' is not in the current data",
                )
            )
            continue
        method, threshold = options.choice(name, ref.kind)
        results.append(
            column_drift(
                ref,
                current[name],
                ref.kind,
                method,
                threshold,
                name=name,
                bins=options.bins,
                min_rows=options.min_rows,
            )
        )
    ignored = [str(c) for c in current.columns if c not in profile.columns]
    return DriftResult(results, options.drift_share, len(current), ignored)


def prediction_drift(
    profile: ReferenceProfile,
    scores: Any = None,
    predictions: Any = None,
    options: DriftOptions | None = None,
) -> DriftResult:
    """Test the model's scores (numeric) and predicted classes (categorical) against
    their distribution on the test split at training time; columns ``score`` and
    ``prediction`` (tuned through ``options`` like any column).

    A side that is None is not tested; a side the profile lacks is reported as
    ``no_reference_values``.

    Raises:
        EmptyDataError: no scores and no predictions, or both empty.
    """
    options = options or DriftOptions()
    sides = [
        (SCORE, "numeric", profile.scores, scores),
        (PREDICTION, "categorical", profile.predictions, predictions),
    ]
    given = [(n, k, ref, np.asarray(v)) for n, k, ref, v in sides if v is not None]
    rows = max((len(v) for *_, v in given), default=0)
    if rows == 0:
        raise EmptyDataError("no current scores or predictions to compare with the profile")
    options.check_columns({SCORE: "numeric", PREDICTION: "categorical"})
    results = []
    for name, kind, ref, values in given:
        if ref is None:
            results.append(
                ColumnDrift(
                    column=name,
                    kind=kind,
                    status="no_reference_values",
                    detail=f"the reference profile has no {name}s",
                )
            )
            continue
        method, threshold = options.choice(name, kind)
        results.append(
            column_drift(
                ref,
                pd.Series(values),
                kind,
                method,
                threshold,
                name=name,
                bins=options.bins,
                min_rows=options.min_rows,
            )
        )
    return DriftResult(results, options.drift_share, rows)
