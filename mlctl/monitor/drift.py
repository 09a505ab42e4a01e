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

Modules: this one picks and runs the test of each column and sums up a dataset;
:mod:`~mlctl.monitor.drift_options` holds the tests' names, thresholds and
:class:`DriftOptions`, :mod:`~mlctl.monitor.drift_results` what was found, and
:mod:`~mlctl.monitor.stattests` the statistics themselves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mlctl.errors import DriftOptionsError, EmptyDataError
from mlctl.monitor.drift_options import (
    BINNED,
    DEFAULT_THRESHOLDS,
    DriftOptions,
    check_method,
    check_min_rows,
    check_threshold,
    family,
)
from mlctl.monitor.drift_results import NOT_ENOUGH_DATA, ColumnDrift, DriftResult, Histogram
from mlctl.monitor.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    ReferenceProfile,
)
from mlctl.monitor.stattests import (
    CurrentValues,
    Reference,
    bin_edges,
    chisquare,
    ks_counts,
    ks_sketch,
    share_distance,
    w1_exact,
    w1_sketch,
    z_test,
)
from mlctl.monitor.summary import CategorySummary, FrameSummary, NumericSummary, summarize
from mlctl.recipe.schema import P_VALUE_TESTS

SMALL_REFERENCE = 1000  # reference values up to which auto uses hypothesis tests
VALUE_SHARES_UP_TO = 20  # numeric columns with more distinct reference values are binned
PLOT_BINS = 20  # histogram bins for plots when the test itself does not bin
PLOT_LABELS = 30  # categories kept by name in plot histograms
SCORE, PREDICTION = "score", "prediction"  # the columns of prediction_drift
OTHER = "\x00other"  # the bucket of categories a truncated profile or a plot folds together
_OTHER_LABEL = {OTHER: "(other)"}


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
    check_method(name or "method", method, kind)
    check_threshold(name or "threshold", threshold)
    summary = _summary_of(current, kind, ref.coerce)
    out = ColumnDrift(column=name, kind=kind, n_ref=ref.count)
    total_ref = ref.count + ref.missing + getattr(ref, "invalid", 0)
    out.ref_missing_share = (total_ref - ref.count) / total_ref if total_ref else None
    if kind == "numeric":
        out.n_cur, out.cur_missing = summary.count, summary.missing
        out.cur_invalid = summary.invalid
        out.cur_rel_error = summary.rel_error
    else:
        out.n_cur, out.cur_missing = summary.count, summary.read_missing
    rows = summary.rows
    out.cur_missing_share = (rows - out.n_cur) / rows if rows else None
    if ref.count == 0:
        out.status, out.detail = "no_reference_values", "every reference value is missing"
        return out
    if out.n_cur == 0:
        out.status = "no_current_values"
        out.detail = f"all {rows} current values are missing or unreadable"
        return out
    limits = check_min_rows(min_rows) if min_rows is not None else {}
    if kind == "numeric":
        cur = CurrentValues(*summary.distinct())
        _numeric_test(out, ref, cur, method, threshold, bins, limits)
        out.approximate = out.approximate or not summary.exact
    else:
        _categorical_test(out, ref, summary.counts, method, threshold, limits)
    return out


def _summary_of(current: Any, kind: str, coerce: str) -> NumericSummary | CategorySummary:
    """``current`` as a summary: given (streamed chunk by chunk), or of raw values."""
    if isinstance(current, NumericSummary | CategorySummary):
        if current.kind != kind:
            raise DriftOptionsError(f"a {current.kind} summary cannot be tested as {kind}")
        return current
    series = current if isinstance(current, pd.Series) else pd.Series(np.asarray(current))
    summary = NumericSummary(coerce) if kind == "numeric" else CategorySummary(coerce)
    summary.add(series)
    return summary


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
    cur: CurrentValues,
    method: str,
    threshold: float | None,
    bins: int | str,
    limits: dict[str, int],
) -> None:
    ref = Reference(p)
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
    lo, hi = min(ref.min, cur.unique[0]), max(ref.max, cur.unique[-1])
    edges = None
    if test in BINNED and (ref.n_unique > VALUE_SHARES_UP_TO or discrete is None):
        edges = bin_edges(lo, hi, ref.n + cur.n, bins)
    out.statistic, out.p_value = _numeric_statistic(test, ref, cur, discrete, edges)
    _decide(out, test, threshold)
    out.histogram = _numeric_histogram(ref, cur, discrete, edges, lo, hi)


def _discrete(ref: Reference, cur: CurrentValues) -> tuple | None:
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
    test: str, ref: Reference, cur: CurrentValues, discrete: tuple | None, edges: np.ndarray | None
) -> tuple[float, float | None]:
    """(statistic, p-value or None) of one test on a numeric column."""
    if test == "ks":
        if not ref.exact:
            return ks_sketch(ref, cur)
        return ks_counts(ref, cur, discrete)
    if test == "wasserstein":
        w1 = w1_exact(*discrete) if ref.exact else w1_sketch(ref, cur)
        return float(w1) / max(ref.std, 0.001), None
    if test == "chisquare":
        return chisquare(discrete[1], discrete[2])
    if test == "z":
        return z_test(list(discrete[0]), discrete[1], discrete[2])
    if edges is not None:
        r, k = ref.histogram(edges), cur.histogram(edges)
    else:
        r, k = discrete[1] / ref.n, discrete[2] / cur.n
    return share_distance(test, r, k), None


def _numeric_histogram(
    ref: Reference,
    cur: CurrentValues,
    discrete: tuple | None,
    edges: np.ndarray | None,
    lo: float,
    hi: float,
) -> Histogram:
    if edges is None and discrete is not None and len(discrete[0]) <= VALUE_SHARES_UP_TO:
        keys, ref_counts, cur_counts = discrete
        return Histogram(
            (ref_counts / ref.n).tolist(),
            (cur_counts / cur.n).tolist(),
            labels=[_label(k) for k in keys],
        )
    if edges is None:
        edges = bin_edges(lo, hi, ref.n + cur.n, PLOT_BINS)
    return Histogram(
        ref.histogram(edges).tolist(),
        cur.histogram(edges).tolist(),
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
        out.statistic, out.p_value = chisquare(ref_counts, cur_counts)
    elif test == "z":
        out.statistic, out.p_value = z_test(keys, ref_counts, cur_counts)
    else:
        out.statistic = share_distance(test, ref_counts / p.count, cur_counts / cur_counts.sum())
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
    profile: ReferenceProfile,
    current: pd.DataFrame | FrameSummary,
    options: DriftOptions | None = None,
) -> DriftResult:
    """Test every profiled input column of ``current`` (see the module docstring): a
    frame, or the :class:`~mlctl.monitor.summary.FrameSummary` of many chunks (the same
    results: a frame is summed up as one chunk).

    Columns of ``current`` that were not profiled are listed in ``ignored_columns``;
    profiled columns absent from ``current`` are reported as ``missing_column``.

    Raises:
        EmptyDataError: ``current`` has no rows.
        DriftOptionsError: ``options.per_column`` names an unknown column or a test
            that does not fit the column.
    """
    options = options or DriftOptions()
    if isinstance(current, pd.DataFrame):
        current = summarize(profile, current)
    if current.rows == 0:
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
                current.columns[name],
                ref.kind,
                method,
                threshold,
                name=name,
                bins=options.bins,
                min_rows=options.min_rows,
            )
        )
    return DriftResult(results, options.drift_share, current.rows, list(current.others))


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
    given = [(n, k, ref, _values(v)) for n, k, ref, v in sides if v is not None]
    rows = max((_rows(v) for *_, v in given), default=0)
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
                values
                if isinstance(values, NumericSummary | CategorySummary)
                else pd.Series(values),
                kind,
                method,
                threshold,
                name=name,
                bins=options.bins,
                min_rows=options.min_rows,
            )
        )
    return DriftResult(results, options.drift_share, rows)


def _values(v: Any) -> Any:
    return v if isinstance(v, NumericSummary | CategorySummary) else np.asarray(v)


def _rows(v: Any) -> int:
    return v.rows if isinstance(v, NumericSummary | CategorySummary) else len(v)
