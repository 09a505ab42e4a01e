"""Streamed drift: summaries of many chunks give the results of the whole column at
once (exactly while values are few, within the documented bound once rounded), and
their memory does not grow with rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlctl.monitor.drift import DriftOptions, column_drift, dataset_drift
from mlctl.monitor.profile import build_profile, numeric_profile
from mlctl.monitor.stattests import CurrentValues, Reference, ks_counts, w1_sketch
from mlctl.monitor.summary import FrameSummary, NumericSummary, round_bits

pytestmark = pytest.mark.unit

ROWS = 200_000


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    money = np.round(rng.gamma(2.0, 30.0, rows) * (1 + shift), 2)  # ~20k distinct values
    money[rng.random(rows) < 0.01] = np.nan
    return pd.DataFrame(
        {
            "tenure": rng.integers(0, 73, rows).astype(float),  # exact reference
            "money": money,  # sketched reference (> 1,000 distinct values)
            "flag": rng.choice([0.0, 1.0], rows),
            "plan": rng.choice(["a", "b", "c", " ", None], rows, p=[0.5, 0.3, 0.1, 0.05, 0.05]),
            "city": pd.Series(rng.choice(["x", "y", "z"], rows), dtype="str"),
        }
    )


@pytest.fixture(scope="module")
def data() -> tuple:
    ref = _frame(50_000, 1)
    profile = build_profile(ref, ["tenure", "money", "flag"], ["plan", "city"])
    return profile, _frame(ROWS, 2, shift=0.03)


def _streamed(profile, cur: pd.DataFrame, chunk: int, **kw) -> FrameSummary:
    out = FrameSummary.for_profile(profile, **kw)
    for start in range(0, len(cur), chunk):
        out.add(cur.iloc[start : start + chunk])
    return out


@pytest.mark.parametrize("method", ["auto", "ks", "wasserstein", "psi", "jensenshannon"])
def test_many_chunks_give_the_documents_of_one(data, method) -> None:
    profile, cur = data
    options = DriftOptions(method_numeric=method)
    whole = dataset_drift(profile, cur, options).to_dict()
    streamed = dataset_drift(profile, _streamed(profile, cur, 7_919), options).to_dict()
    assert streamed == whole
    assert all(c["cur_rel_error"] is None for c in whole["columns"])


def test_merged_summaries_equal_one_stream(data) -> None:
    """What Dask partitions do: summaries of parts, merged."""
    profile, cur = data
    parts = [_streamed(profile, cur.iloc[i : i + 50_000], 6_000) for i in range(0, ROWS, 50_000)]
    merged = FrameSummary.for_profile(profile)
    for part in parts:
        merged.merge(part)
    assert dataset_drift(profile, merged).to_dict() == dataset_drift(profile, cur).to_dict()


def test_the_counts_forms_equal_scipy_on_the_raw_values() -> None:
    rng = np.random.default_rng(3)
    big = np.round(rng.normal(size=30_000), 3)
    ints = np.round(rng.normal(size=30_000) * 100)  # < 1,000 distinct: an exact reference
    for ref_values, cur_values in ((big[:400], big[400:700]), (ints[:12_000], ints[12_000:])):
        ref = Reference(numeric_profile(pd.Series(ref_values)))
        cur = CurrentValues.of(np.sort(cur_values))
        keys = np.union1d(ref.values, cur.unique)
        discrete = (
            keys,
            np.bincount(np.searchsorted(keys, ref.values), ref.counts, len(keys)),
            np.bincount(np.searchsorted(keys, cur.unique), cur.counts, len(keys)),
        )
        res = stats.ks_2samp(ref_values, cur_values)
        assert ks_counts(ref, cur, discrete) == (float(res.statistic), float(res.pvalue))
    sketch = Reference(numeric_profile(pd.Series(big)))
    assert not sketch.exact
    s = np.sort(cur_values)
    assert w1_sketch(sketch, CurrentValues.of(s)) == pytest.approx(_w1_per_value(sketch, s), 1e-12)


def _w1_per_value(ref: Reference, c: np.ndarray) -> float:
    """The former form: a cell per value."""
    m = len(c)
    breaks = np.union1d(ref.u, np.arange(m + 1) / m)
    a, b = breaks[:-1], breaks[1:]
    step = c[np.minimum(((a + b) / 2 * m).astype(np.int64), m - 1)]
    da, db = np.interp(a, ref.u, ref.q) - step, np.interp(b, ref.u, ref.q) - step
    same = da * db >= 0
    denom = np.where(same, 1.0, np.abs(da) + np.abs(db))
    area = np.where(same, (np.abs(da) + np.abs(db)) / 2, (da * da + db * db) / (2 * denom))
    return float(np.sum(area * (b - a)))


def test_rounding_bits_nest_and_bound_the_move() -> None:
    x = np.random.default_rng(4).normal(0, 1e3, 100_000)
    for bits in (16, 12, 8):
        r = round_bits(x, bits)
        assert np.all(np.abs(r - x) <= np.abs(x) * 2.0**-bits)
        assert np.array_equal(round_bits(round_bits(x, 16), bits), r)
    assert round_bits(np.array([0.0, -3.0]), 4)[0] == 0 and round_bits(np.array([-3.0]), 4) < 0


def test_past_the_cap_values_are_rounded_within_the_documented_bound() -> None:
    rng = np.random.default_rng(5)
    ref = rng.lognormal(3, 1, 20_000)
    cur = pd.Series(rng.lognormal(3.05, 1, ROWS))  # every value distinct
    profile = numeric_profile(pd.Series(ref))
    summary = NumericSummary(max_distinct=2_000)
    for start in range(0, ROWS, 9_000):
        summary.add(cur.iloc[start : start + 9_000])
    values, counts = summary.distinct()
    assert len(values) <= 2_000 and summary.nbytes() <= 2_000 * 16
    assert summary.rel_error == 2.0**-summary.bits
    one = NumericSummary(max_distinct=2_000)
    one.add(cur)
    assert np.array_equal(one.distinct()[0], values)  # the chunking does not matter
    assert np.array_equal(one.distinct()[1], counts)
    bucket = counts.max() / counts.sum()  # the largest share of values in one bucket
    s = np.sort(cur.to_numpy())
    for method in ("wasserstein", "ks", "psi"):
        exact = column_drift(profile, cur, method=method)
        rounded = column_drift(profile, summary, method=method)
        assert rounded.approximate and rounded.cur_rel_error == summary.rel_error
        if method == "wasserstein":  # each value moved by <= rel_error * |x|
            bound = summary.rel_error * np.mean(np.abs(s)) / profile.std
        elif method == "ks":  # the current CDF moves by <= the largest bucket's share
            bound = bucket
        else:
            continue  # psi: shares move by <= 2 buckets per bin (docs), not a PSI bound
        assert abs(rounded.statistic - exact.statistic) <= bound + 1e-12, method
    assert column_drift(profile, summary, method="psi").histogram is not None


def test_memory_does_not_grow_with_rows() -> None:
    summary = NumericSummary(max_distinct=5_000)
    rng = np.random.default_rng(6)
    sizes = []
    for _ in range(40):
        summary.add(pd.Series(rng.normal(size=25_000)))
        sizes.append(summary.nbytes())
    assert max(sizes) <= 4 * 5_000 * 16 + 25_000 * 16  # pending chunks + the merged values
    assert summary.count == 1_000_000
