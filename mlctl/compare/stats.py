"""Confidence intervals for one metric of two model versions, and their difference.

Every difference is *challenger minus champion*, in the metric's own units. The
methods, by metric and traffic (see docs/operations.md):

- ROC AUC of a binary classifier: DeLong et al. (1988), in the fast form of Sun and
  Xu (2014): the structural components of the Mann-Whitney statistic from midranks.
  Split traffic (different rows): the two variances add. Shadow traffic (the same
  rows scored by both): the covariance of the components is subtracted.
- Accuracy, and a binary model's recall (proportions of rows): Wilson score intervals
  per version; for the difference Newcombe's hybrid score interval (1998, method 10) on split traffic and
  its paired form (Newcombe 1998b, method 10, with the continuity-corrected phi) on
  shadow traffic, with the two-proportion z test and McNemar's exact test as p-values.
- Everything else: the percentile bootstrap of :func:`scipy.stats.bootstrap`, the
  two samples resampled independently on split traffic and rows resampled as pairs
  on shadow traffic.

No well-kept library offers DeLong's method (scikit-learn, SciPy and statsmodels do
not; the PyPI packages that do are small one-person projects), so it is written here
and tested against a brute-force Mann-Whitney computation and published values
(tests/unit/compare/test_stats.py).

Pure numpy/scipy; no mlctl import.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Estimate:
    """A value with its confidence interval (``low``/``high`` None when undefined)."""

    value: float | None
    low: float | None
    high: float | None
    se: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": _num(self.value), "low": _num(self.low), "high": _num(self.high)}


@dataclass(frozen=True)
class Contrast:
    """Both versions' estimates, the difference (challenger - champion), its p-value
    and the method that gave them."""

    champion: Estimate
    challenger: Estimate
    difference: Estimate
    p_value: float | None
    method: str


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def z_of(alpha: float = ALPHA) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def _normal(value: float, se: float, alpha: float, lo: float, hi: float) -> Estimate:
    if not (math.isfinite(value) and math.isfinite(se)):
        return Estimate(_num(value), None, None, None)
    z = z_of(alpha)
    return Estimate(value, max(lo, value - z * se), min(hi, value + z * se), se)


def _two_sided_p(z: float) -> float | None:
    return float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else None


# --------------------------------------------------------------------------- DeLong


def delong_components(
    y: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and the structural components of DeLong's method, from midranks.

    Args:
        y: 1 for positive rows, 0 for negative ones (both present).
        scores: ``(k, n)`` scores of ``k`` models on the same ``n`` rows (or ``(n,)``).

    Returns:
        ``(auc, v_pos, v_neg)``: ``auc`` of shape ``(k,)``; ``v_pos`` ``(k, m)`` per
        positive row, the share of negatives it outscores (ties count 1/2);
        ``v_neg`` ``(k, n0)`` per negative row, the share of positives that outscore it.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    y = np.asarray(y).astype(bool)
    pos, neg = s[:, y], s[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong needs positive and negative rows")
    r_all = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    r_pos = stats.rankdata(pos, axis=1)
    r_neg = stats.rankdata(neg, axis=1)
    v_pos = (r_all[:, :m] - r_pos) / n
    v_neg = 1.0 - (r_all[:, m:] - r_neg) / m
    auc = v_pos.mean(axis=1)
    return auc, v_pos, v_neg


def delong_cov(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``(k,)`` and their DeLong covariance matrix ``(k, k)``."""
    auc, v_pos, v_neg = delong_components(y, scores)
    m, n = v_pos.shape[1], v_neg.shape[1]
    s_pos = np.atleast_2d(np.cov(v_pos)) if m > 1 else np.zeros((len(auc), len(auc)))
    s_neg = np.atleast_2d(np.cov(v_neg)) if n > 1 else np.zeros((len(auc), len(auc)))
    return auc, s_pos / m + s_neg / n


def auc_estimate(y: np.ndarray, score: np.ndarray, alpha: float = ALPHA) -> Estimate:
    """One ROC AUC with DeLong's standard error (normal interval, within [0, 1])."""
    auc, cov = delong_cov(y, score)
    return _normal(float(auc[0]), math.sqrt(max(cov[0, 0], 0.0)), alpha, 0.0, 1.0)


def auc_unpaired(
    y_a: np.ndarray, s_a: np.ndarray, y_b: np.ndarray, s_b: np.ndarray, alpha: float = ALPHA
) -> Contrast:
    """Champion ``a`` and challenger ``b`` on different rows (split traffic)."""
    a, b = auc_estimate(y_a, s_a, alpha), auc_estimate(y_b, s_b, alpha)
    d = b.value - a.value
    se = math.sqrt(a.se**2 + b.se**2)
    return Contrast(a, b, _normal(d, se, alpha, -1.0, 1.0), _p(d, se), "delong_unpaired")


def auc_paired(y: np.ndarray, s_a: np.ndarray, s_b: np.ndarray, alpha: float = ALPHA) -> Contrast:
    """Champion ``a`` and challenger ``b`` scoring the same rows (shadow traffic)."""
    auc, cov = delong_cov(y, np.vstack([s_a, s_b]))
    se_a, se_b = (math.sqrt(max(cov[i, i], 0.0)) for i in (0, 1))
    d = float(auc[1] - auc[0])
    se = math.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0))
    return Contrast(
        _normal(float(auc[0]), se_a, alpha, 0.0, 1.0),
        _normal(float(auc[1]), se_b, alpha, 0.0, 1.0),
        _normal(d, se, alpha, -1.0, 1.0),
        _p(d, se),
        "delong_paired",
    )


def _p(d: float, se: float) -> float | None:
    if se > 0:
        return _two_sided_p(d / se)
    return 1.0 if d == 0 else 0.0


# ------------------------------------------------------------------ proportions


def wilson(k: int, n: int, alpha: float = ALPHA) -> Estimate:
    """The Wilson score interval of ``k`` successes in ``n``."""
    if n <= 0:
        return Estimate(None, None, None)
    z = z_of(alpha)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    se = math.sqrt(p * (1 - p) / n)
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), se)


def proportions_unpaired(k_a: int, n_a: int, k_b: int, n_b: int, alpha: float = ALPHA) -> Contrast:
    """Newcombe's hybrid score interval for ``p_b - p_a`` (independent samples), and the
    pooled two-proportion z test."""
    a, b = wilson(k_a, n_a, alpha), wilson(k_b, n_b, alpha)
    d = b.value - a.value
    low = d - math.sqrt((b.value - b.low) ** 2 + (a.high - a.value) ** 2)
    high = d + math.sqrt((b.high - b.value) ** 2 + (a.value - a.low) ** 2)
    pooled = (k_a + k_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p = _p(d, se0)
    se = (high - low) / (2 * z_of(alpha))
    return Contrast(a, b, Estimate(d, low, high, se), p, "newcombe_unpaired")


def proportions_paired(both: int, a_only: int, b_only: int, neither: int, alpha: float = ALPHA):
    """Newcombe's paired interval (1998b, method 10) for ``p_b - p_a`` on the same rows,
    and McNemar's exact test.

    Args:
        both: rows both versions got right; ``a_only``/``b_only``: only the champion /
            only the challenger; ``neither``: both wrong.
    """
    n = both + a_only + b_only + neither
    a, b = wilson(both + a_only, n, alpha), wilson(both + b_only, n, alpha)
    d = b.value - a.value
    # Newcombe's phi: the correlation of the two outcomes, continuity-corrected.
    prod = (both + b_only) * (a_only + neither) * (both + a_only) * (b_only + neither)
    cross = both * neither - a_only * b_only
    if cross > 0:
        cross = max(cross - n / 2, 0.0)
    phi = cross / math.sqrt(prod) if prod > 0 else 0.0
    dl_b, du_b = b.value - b.low, b.high - b.value
    dl_a, du_a = a.value - a.low, a.high - a.value
    low = d - math.sqrt(max(dl_b**2 - 2 * phi * dl_b * du_a + du_a**2, 0.0))
    high = d + math.sqrt(max(du_b**2 - 2 * phi * du_b * dl_a + dl_a**2, 0.0))
    discordant = a_only + b_only
    p = float(stats.binomtest(b_only, discordant).pvalue) if discordant else 1.0
    se = (high - low) / (2 * z_of(alpha))
    return Contrast(a, b, Estimate(d, max(-1.0, low), min(1.0, high), se), p, "newcombe_paired")


# -------------------------------------------------------------------- bootstrap

Statistic = Callable[[np.ndarray], np.ndarray]  # row indices -> metric values


def bootstrap_unpaired(
    stat_a: Statistic,
    n_a: int,
    stat_b: Statistic,
    n_b: int,
    alpha: float = ALPHA,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Contrast]:
    """Percentile bootstrap of several metrics: ``stat_a(idx)`` gives the champion's
    values on rows ``idx`` of its sample, ``stat_b`` the challenger's; the samples are
    resampled independently."""
    point_a, point_b = stat_a(np.arange(n_a)), stat_b(np.arange(n_b))

    def both(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        va, vb = stat_a(i), stat_b(j)
        return np.concatenate([va, vb, vb - va])

    with _quiet():
        res = stats.bootstrap(
            (np.arange(n_a), np.arange(n_b)),
            both,
            paired=False,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=1 - alpha,
            method="percentile",
            rng=seed,
        )
    return _contrasts(point_a, point_b, res, "bootstrap_unpaired")


def bootstrap_paired(
    stat_a: Statistic,
    stat_b: Statistic,
    n: int,
    alpha: float = ALPHA,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Contrast]:
    """As :func:`bootstrap_unpaired`, on rows both versions scored: resampled as pairs."""
    point_a, point_b = stat_a(np.arange(n)), stat_b(np.arange(n))

    def both(i: np.ndarray) -> np.ndarray:
        va, vb = stat_a(i), stat_b(i)
        return np.concatenate([va, vb, vb - va])

    with _quiet():
        res = stats.bootstrap(
            (np.arange(n),),
            both,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=1 - alpha,
            method="percentile",
            rng=seed,
        )
    return _contrasts(point_a, point_b, res, "bootstrap_paired")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A resample where a metric is undefined (no positive row) makes its interval
    undefined; numpy's and SciPy's warnings about it are not for the user's terminal."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _contrasts(point_a: np.ndarray, point_b: np.ndarray, res: Any, method: str) -> list[Contrast]:
    k = len(point_a)
    lows, highs = res.confidence_interval.low, res.confidence_interval.high
    ses = res.standard_error
    out = []
    for i in range(k):
        parts = []
        for j, value in (
            (i, point_a[i]),
            (k + i, point_b[i]),
            (2 * k + i, point_b[i] - point_a[i]),
        ):
            low, high, se = (float(x) for x in (lows[j], highs[j], ses[j]))
            ok = math.isfinite(value) and math.isfinite(low) and math.isfinite(high)
            parts.append(Estimate(_num(value), low if ok else None, high if ok else None, se))
        d = parts[2]
        p = None
        if d.value is not None and d.se and math.isfinite(d.se) and d.se > 0:
            p = _two_sided_p(d.value / d.se)
        out.append(Contrast(parts[0], parts[1], d, p, method))
    return out


# ------------------------------------------------------------------- sample size


def needed_scale(difference: float | None, se: float | None, alpha: float = ALPHA) -> float | None:
    """How many times the current sample would detect ``difference`` with power
    :data:`POWER` at ``alpha`` (two-sided), the standard error shrinking as 1/sqrt(n):
    ``((z_{1-alpha/2} + z_power) * se / |difference|)^2``. None when no effect is seen."""
    if difference is None or se is None or not math.isfinite(se) or difference == 0:
        return None
    z = z_of(alpha) + float(stats.norm.ppf(POWER))
    return (z * se / abs(difference)) ** 2
