"""The statistics behind the drift tests, on a reference profile and current values.

A numeric reference column is exact (its distinct values and counts) or a quantile
sketch (:class:`Reference`); the tests use its CDF either way. Each function computes
its statistic as Evidently 0.7 does (see :mod:`mlctl.monitor.drift`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlctl.monitor.profile import (
    NumericProfile,
)


class Reference:
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
class CurrentValues:
    """A numeric current column: its sorted distinct values and their counts (from a
    :class:`~mlctl.monitor.summary.NumericSummary`, so possibly rounded)."""

    unique: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, s: np.ndarray) -> CurrentValues:
        """From sorted values."""
        if len(s) == 0:
            return cls(s, np.zeros(0, dtype=np.int64))
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        return cls(s[starts], np.diff(np.r_[starts, len(s)]))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def samples(self) -> np.ndarray:
        return np.repeat(self.unique, self.counts)

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        """Shares per bin, as ``numpy.histogram`` of the values gives them."""
        return np.histogram(self.unique, edges, weights=self.counts)[0] / self.n


# ------------------------------------------------------------------------ tests


def ks_sketch(ref: Reference, cur: CurrentValues) -> tuple[float, float]:
    from scipy.stats import kstwo

    m = cur.n
    at = np.cumsum(cur.counts) / m
    before = at - cur.counts / m
    d = max(
        float(np.max(np.abs(ref.cdf(cur.unique, "right") - at))),
        float(np.max(np.abs(ref.cdf(cur.unique, "left") - before))),
    )
    big, small = max(ref.n, m), min(ref.n, m)
    en = big * small / (big + small)
    return d, float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))


def w1_exact(keys: np.ndarray, ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """W1 between two weighted samples on the same sorted points: the area between their
    CDFs, which is what ``scipy.stats.wasserstein_distance`` computes (equal to ~1e-15
    relative; tests compare them) without its ~0.6 s import."""
    if len(keys) < 2:
        return 0.0
    ref_cdf = np.cumsum(ref_counts[:-1]) / ref_counts.sum()
    cur_cdf = np.cumsum(cur_counts[:-1]) / cur_counts.sum()
    return float(np.sum(np.abs(ref_cdf - cur_cdf) * np.diff(keys)))


def w1_sketch(ref: Reference, cur: CurrentValues) -> float:
    """Exact W1 between the piecewise-linear reference quantile function and the
    current data's quantile step function: sum over cells of the integral of
    |Q_ref(u) - Q_cur(u)|, where Q_ref is linear and Q_cur constant."""
    m = cur.n
    cum = np.cumsum(cur.counts)
    breaks = np.union1d(ref.u, np.r_[0, cum] / m)
    a, b = breaks[:-1], breaks[1:]
    width = b - a
    at = np.searchsorted(cum, (a + b) / 2 * m, side="right")
    step = cur.unique[np.minimum(at, len(cum) - 1)]
    da = np.interp(a, ref.u, ref.q) - step
    db = np.interp(b, ref.u, ref.q) - step
    same_sign = da * db >= 0
    denom = np.where(same_sign, 1.0, np.abs(da) + np.abs(db))
    area = np.where(same_sign, (np.abs(da) + np.abs(db)) / 2, (da * da + db * db) / (2 * denom))
    return float(np.sum(area * width))


KS_EXACT_UP_TO = 10_000  # scipy's ks_2samp: exact p-values up to this many values a side


def ks_counts(ref: Reference, cur: CurrentValues, discrete: tuple) -> tuple[float, float]:
    """scipy's ``ks_2samp`` (two-sided, ``method="auto"``) on an exact reference and
    the current counts: the same statistic (the CDFs on every distinct value) and the
    same p-value (exact up to :data:`KS_EXACT_UP_TO` values a side, else Smirnov's
    asymptotic one), without the samples when they are many."""
    from scipy.stats import ks_2samp, kstwo

    n1, n2 = ref.n, cur.n
    if max(n1, n2) <= KS_EXACT_UP_TO:
        res = ks_2samp(ref.samples(), cur.samples())
        return float(res.statistic), float(res.pvalue)
    diffs = np.cumsum(discrete[1]) / n1 - np.cumsum(discrete[2]) / n2
    d = max(float(np.clip(-diffs.min(), 0, 1)), float(diffs.max()))
    big, small = max(float(n1), float(n2)), min(float(n1), float(n2))
    en = big * small / (big + small)
    return d, float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))


def chisquare(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    from scipy.stats import chisquare

    f_exp = ref_counts * (cur_counts.sum() / ref_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        stat, p = chisquare(cur_counts, f_exp)
    return float(stat), float(p)


def z_test(keys: list[Any], ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
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


def fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's replacement of empty shares (for psi and kl_div)."""
    out = shares.astype(np.float64).copy()
    smallest = out[out != 0].min()
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of two share vectors, as
    ``scipy.spatial.distance.jensenshannon`` computes it (tests compare them); written
    out because importing scipy.spatial costs a monitor run ~0.2 s."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((left + right) / 2, 0.0)))


def share_distance(method: str, ref: np.ndarray, cur: np.ndarray) -> float:
    if method == "jensenshannon":
        return jensenshannon(ref, cur)
    ref, cur = fill_zeroes(ref), fill_zeroes(cur)
    if method == "psi":
        return float(np.sum((ref - cur) * np.log(ref / cur)))
    from scipy.stats import entropy  # ~0.6 s to import: only where used

    return float(entropy(ref, cur))  # kl_div


def bin_edges(lo: float, hi: float, n: int, bins: int | str) -> np.ndarray:
    """numpy.histogram_bin_edges over data spanning [lo, hi] with n values."""
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    if bins == "sturges":
        width = (hi - lo) / (np.log2(n) + 1.0)
        count = int(np.ceil((hi - lo) / width)) if width else 1
    else:
        count = int(bins)
    return np.linspace(lo, hi, count + 1, endpoint=True)
