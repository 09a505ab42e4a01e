"""The intervals of mlctl compare: exact against brute force and published values, and
right about as often as they say on simulated data with a known effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlctl.compare.metrics import regression
from mlctl.compare.stats import (
    auc_estimate,
    auc_paired,
    auc_unpaired,
    bootstrap_paired,
    bootstrap_unpaired,
    delong_components,
    needed_scale,
    proportions_paired,
    proportions_unpaired,
    wilson,
)

pytestmark = pytest.mark.unit


def brute_force(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """AUC and DeLong's variance from the Mann-Whitney kernel over all pairs."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


@pytest.mark.parametrize("ties", [False, True])
def test_delong_matches_brute_force(ties: bool) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 250)
    s = rng.normal(size=250) + y
    if ties:
        s = np.round(s)
    auc, var = brute_force(y, s)
    est = auc_estimate(y, s)
    assert est.value == pytest.approx(auc, abs=1e-12)
    assert est.se**2 == pytest.approx(var, rel=1e-10)
    from sklearn.metrics import roc_auc_score

    assert est.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_paired_delong_covariance_matches_brute_force() -> None:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 200)
    a = rng.normal(size=200) + y
    b = a + rng.normal(scale=0.7, size=200) + 0.3 * y
    _, va_pos, va_neg = delong_components(y, a)
    pos, neg = (y == 1), (y == 0)
    psi_a = (a[pos][:, None] > a[neg][None, :]) + 0.5 * (a[pos][:, None] == a[neg][None, :])
    psi_b = (b[pos][:, None] > b[neg][None, :]) + 0.5 * (b[pos][:, None] == b[neg][None, :])
    cov = np.cov(psi_a.mean(1), psi_b.mean(1))[0, 1] / pos.sum()
    cov += np.cov(psi_a.mean(0), psi_b.mean(0))[0, 1] / neg.sum()
    var_d = brute_force(y, a)[1] + brute_force(y, b)[1] - 2 * cov
    c = auc_paired(y, a, b)
    assert c.difference.value == pytest.approx(psi_b.mean() - psi_a.mean(), abs=1e-12)
    assert c.difference.se**2 == pytest.approx(var_d, rel=1e-10)
    assert np.allclose(va_pos[0], psi_a.mean(1)) and np.allclose(va_neg[0], psi_a.mean(0))


def test_hanley_mcneil_published_example() -> None:
    """Hanley & McNeil (1982), Radiology 143:29-36, table 1: 109 CT images rated 1-5;
    the area is 0.893 (their standard error 0.032, from an approximation)."""
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58), np.ones(51)]
    est = auc_estimate(y, np.r_[normal, abnormal])
    assert round(est.value, 3) == 0.893
    assert est.se == pytest.approx(0.032, abs=0.004)


def test_newcombe_published_example() -> None:
    """Newcombe (1998), Stat Med 17:873-890, table II, method 10: 56/70 - 48/80 = 0.2000,
    interval 0.0524 to 0.3339; 9/10 - 3/10 = 0.6000, interval 0.1705 to 0.8090."""
    c = proportions_unpaired(48, 80, 56, 70)
    assert c.difference.value == pytest.approx(0.2, abs=1e-12)
    assert (round(c.difference.low, 4), round(c.difference.high, 4)) == (0.0524, 0.3339)
    c = proportions_unpaired(3, 10, 9, 10)
    assert (round(c.difference.low, 4), round(c.difference.high, 4)) == (0.1705, 0.8090)


def test_wilson_published_example() -> None:
    """Newcombe (1998b), Stat Med 17:857-872: 81/263 -> 0.2553 to 0.3662 (Wilson)."""
    w = wilson(81, 263)
    assert (round(w.low, 4), round(w.high, 4)) == (0.2553, 0.3662)


def test_paired_proportions_reduce_to_zero_width_when_identical() -> None:
    c = proportions_paired(80, 0, 0, 20)
    assert c.difference.value == 0.0 and c.p_value == 1.0
    assert c.difference.low <= 0.0 <= c.difference.high


def test_needed_scale() -> None:
    # d = 2 se: (1.96 + 0.84)^2 / 4 = 1.96 times the current sample
    assert needed_scale(0.02, 0.01) == pytest.approx(((1.959964 + 0.841621) / 2) ** 2, rel=1e-5)
    assert needed_scale(0.0, 0.01) is None


def test_sample_needed_for_two_proportions_matches_the_textbook_formula() -> None:
    """80 % against 85 % accuracy: n per group = (z_a sqrt(2 pq) + z_b sqrt(p1q1 + p2q2))^2
    / d^2 = 905 (Fleiss); the interval's standard error scaled as 1/sqrt(n) gives 904."""
    c = proportions_unpaired(800, 1000, 850, 1000)
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    textbook = (za * math.sqrt(2 * 0.825 * 0.175) + zb * math.sqrt(0.16 + 0.1275)) ** 2 / 0.05**2
    got = needed_scale(c.difference.value, c.difference.se) * 1000
    assert got == pytest.approx(textbook, rel=0.02)


# ------------------------------------------------- coverage on a known effect


def _binormal(rng, n: int, prevalence: float, mu_a: float, mu_b: float, rho: float):
    """Scores of two models on the same rows: negatives N(0, 1), positives N(mu, 1),
    correlated ``rho``. True AUC = Phi(mu / sqrt 2)."""
    y = (rng.random(n) < prevalence).astype(int)
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    return y, z[:, 0] + mu_a * y, z[:, 1] + mu_b * y


def _auc(mu: float) -> float:
    return float(stats.norm.cdf(mu / math.sqrt(2)))


REPS = 400  # binomial sd of a 95 % coverage over 400 runs: 1.1 points


def _covers(est, truth: float) -> bool:
    return est.low <= truth <= est.high


def test_delong_unpaired_coverage() -> None:
    rng = np.random.default_rng(20261205)
    mu_a, mu_b = 1.0, 1.4
    truth = _auc(mu_b) - _auc(mu_a)
    hits = {"a": 0, "b": 0, "d": 0}
    for _ in range(REPS):
        ya, sa, _ = _binormal(rng, 300, 0.3, mu_a, mu_a, 0.0)
        yb, _, sb = _binormal(rng, 150, 0.3, mu_b, mu_b, 0.0)
        c = auc_unpaired(ya, sa, yb, sb)
        hits["a"] += _covers(c.champion, _auc(mu_a))
        hits["b"] += _covers(c.challenger, _auc(mu_b))
        hits["d"] += _covers(c.difference, truth)
    for key, n in hits.items():
        assert 0.915 <= n / REPS <= 0.985, (key, n / REPS)


def test_delong_paired_coverage_and_power_gain() -> None:
    rng = np.random.default_rng(1205)
    mu_a, mu_b = 1.0, 1.25
    truth = _auc(mu_b) - _auc(mu_a)
    hits = 0
    widths = []
    for _ in range(REPS):
        y, sa, sb = _binormal(rng, 300, 0.3, mu_a, mu_b, 0.8)
        c = auc_paired(y, sa, sb)
        hits += _covers(c.difference, truth)
        widths.append(c.difference.high - c.difference.low)
        unpaired = auc_unpaired(y, sa, y, sb)  # ignoring the pairing: wider
        assert unpaired.difference.se > c.difference.se
    assert 0.915 <= hits / REPS <= 0.985, hits / REPS


def test_newcombe_unpaired_coverage() -> None:
    rng = np.random.default_rng(5)
    pa, pb, na, nb = 0.80, 0.86, 300, 120
    hits = 0
    for _ in range(1000):
        c = proportions_unpaired(rng.binomial(na, pa), na, rng.binomial(nb, pb), nb)
        hits += _covers(c.difference, pb - pa)
    assert 0.93 <= hits / 1000 <= 0.97, hits / 1000


def test_newcombe_paired_coverage() -> None:
    rng = np.random.default_rng(6)
    cells = [0.70, 0.10, 0.15, 0.05]  # both right, champion only, challenger only, neither
    truth = (cells[0] + cells[2]) - (cells[0] + cells[1])
    hits = 0
    for _ in range(1000):
        c = proportions_paired(*rng.multinomial(250, cells))
        hits += _covers(c.difference, truth)
    assert 0.93 <= hits / 1000 <= 0.975, hits / 1000


def test_bootstrap_coverage_of_a_paired_rmse_difference() -> None:
    """Champion errors N(0, 1), challenger N(0, 0.8^2) on the same rows: true RMSE
    difference -0.2."""
    rng = np.random.default_rng(9)
    hits, reps = 0, 150
    for i in range(reps):
        y = rng.normal(size=200)
        e = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 0.64]], size=200)
        pa, pb = y + e[:, 0], y + e[:, 1]
        (c,) = bootstrap_paired(
            lambda idx, y=y, p=pa: np.array([regression("rmse", y[idx], p[idx])]),
            lambda idx, y=y, p=pb: np.array([regression("rmse", y[idx], p[idx])]),
            200,
            n_resamples=400,
            seed=i,
        )
        hits += _covers(c.difference, -0.2)
    assert 0.88 <= hits / reps <= 0.99, hits / reps


def test_bootstrap_unpaired_gives_both_versions_and_the_difference() -> None:
    rng = np.random.default_rng(10)
    ya, yb = rng.normal(size=150), rng.normal(size=90)
    pa, pb = ya + rng.normal(size=150), yb + rng.normal(scale=0.5, size=90)
    (c,) = bootstrap_unpaired(
        lambda i: np.array([regression("mae", ya[i], pa[i])]),
        150,
        lambda i: np.array([regression("mae", yb[i], pb[i])]),
        90,
        n_resamples=300,
    )
    assert c.champion.low < c.champion.value < c.champion.high
    assert c.difference.value == pytest.approx(c.challenger.value - c.champion.value)
    assert c.difference.high < 0  # the challenger's errors are half as large
