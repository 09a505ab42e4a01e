"""Drift tests against scipy on known data, Evidently's default choices, options, edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlctl.errors import DriftOptionsError, EmptyDataError
from mlctl.monitor.drift import (
    DriftOptions,
    column_drift,
    dataset_drift,
    prediction_drift,
)
from mlctl.monitor.profile import build_profile, categorical_profile, numeric_profile

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
RNG = np.random.default_rng(42)


def num(values) -> object:
    return numeric_profile(pd.Series(values, dtype=np.float64))


def cat(values) -> object:
    return categorical_profile(pd.Series(values, dtype=object))


# ------------------------------------------------------------------ each test vs scipy


def test_ks_is_scipys_two_sample_test() -> None:
    ref, cur = RNG.normal(size=800), RNG.normal(0.2, 1, size=600)
    res = column_drift(num(ref), cur, method="ks")
    exact = stats.ks_2samp(ref, cur)
    assert (res.statistic, res.p_value) == (
        pytest.approx(exact.statistic),
        pytest.approx(exact.pvalue),
    )
    assert res.drifted == (exact.pvalue <= 0.05) and not res.approximate


def test_chisquare_scales_reference_counts_to_the_current_size() -> None:
    ref = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    cur = ["a"] * 20 + ["b"] * 20 + ["c"] * 10
    res = column_drift(cat(ref), cur, method="chisquare")
    exact = stats.chisquare([20, 20, 10], [25, 15, 10])
    assert res.statistic == pytest.approx(exact.statistic) == pytest.approx(25 / 25 + 25 / 15)
    assert res.p_value == pytest.approx(exact.pvalue) and not res.drifted


def test_z_test_of_two_proportions() -> None:
    ref = ["no"] * 70 + ["yes"] * 30
    cur = ["no"] * 40 + ["yes"] * 60
    res = column_drift(cat(ref), cur, method="z")
    p1, p2, pooled = 0.3, 0.6, 0.45  # share of "not the first sorted value" ("yes")
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    assert res.statistic == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * (1 - stats.norm.cdf(abs(z))))
    assert res.drifted
    same = column_drift(cat(["x"] * 10), ["x"] * 5, method="z")
    assert (same.statistic, same.p_value, same.drifted) == (0.0, 1.0, False)


def test_wasserstein_is_normed_by_the_reference_std() -> None:
    ref, cur = RNG.exponential(size=3000).round(2), RNG.exponential(1.2, size=5000)
    res = column_drift(num(ref), cur, method="wasserstein")
    exact = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert res.statistic == pytest.approx(exact, rel=1e-12) and res.drifted == (exact >= 0.1)


@pytest.mark.parametrize("seed", range(5))
def test_exact_wasserstein_equals_scipys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 1 + 50 * seed, size=2000)  # seed 0: a single reference value
    cur = rng.integers(-3, 60, size=int(rng.integers(1, 3000)))
    res = column_drift(num(ref), cur, method="wasserstein")
    exact = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    assert res.statistic == pytest.approx(exact, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_jensenshannon_equals_scipys(seed: int) -> None:
    from mlctl.monitor.stattests import jensenshannon as _jensenshannon

    rng = np.random.default_rng(seed)
    p, q = rng.random(12), rng.random(12)
    p[rng.integers(0, 12, size=seed)] = 0.0  # empty shares on either side
    q[rng.integers(0, 12, size=seed)] = 0.0
    assert _jensenshannon(p, q) == pytest.approx(jensenshannon(p, q), rel=1e-12, abs=1e-12)
    assert _jensenshannon(p, p) == pytest.approx(0.0, abs=1e-7)


def test_jensenshannon_psi_and_kl_of_category_shares() -> None:
    ref = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    cur = ["a"] * 30 + ["b"] * 30 + ["c"] * 30 + ["d"] * 10
    r, c = np.array([0.6, 0.3, 0.1, 0.0]), np.array([0.3, 0.3, 0.3, 0.1])
    js = column_drift(cat(ref), cur, method="jensenshannon")
    assert js.statistic == pytest.approx(jensenshannon(r, c))  # natural log
    r_filled = np.array([0.6, 0.3, 0.1, 0.0001])  # Evidently's fill for empty shares
    psi = column_drift(cat(ref), cur, method="psi")
    assert psi.statistic == pytest.approx(np.sum((r_filled - c) * np.log(r_filled / c)))
    assert psi.band == "major" and psi.drifted
    kl = column_drift(cat(ref), cur, method="kl_div")
    assert kl.statistic == pytest.approx(stats.entropy(r_filled, c))
    assert js.new_categories == ["d"] and js.n_new_categories == 1


@pytest.mark.parametrize("bins", [30, 7, "sturges"])
def test_numeric_shares_use_equal_bins_over_reference_and_current(bins) -> None:
    ref, cur = RNG.normal(size=900), RNG.normal(0.3, 1.1, size=400)
    res = column_drift(num(ref), cur, method="jensenshannon", bins=bins)
    edges = np.histogram_bin_edges(np.r_[ref, cur], bins=bins)
    r = np.histogram(ref, edges)[0] / len(ref)
    c = np.histogram(cur, edges)[0] / len(cur)
    assert res.statistic == pytest.approx(jensenshannon(r, c), rel=1e-12)
    np.testing.assert_allclose(res.histogram.edges, edges)


# --------------------------------------------------------- Evidently's default table


@pytest.mark.parametrize(
    ("n_ref", "kind", "ref_unique", "cur_extra", "expected"),
    [
        (1000, "numeric", 6, 0, "ks"),
        (1000, "numeric", 5, 0, "chisquare"),
        (1000, "numeric", 3, 0, "chisquare"),
        (1000, "numeric", 2, 0, "z"),
        (1000, "numeric", 5, 1, "ks"),  # n_unique counts reference ∪ current
        (1000, "categorical", 2, 0, "z"),
        (1000, "categorical", 2, 1, "chisquare"),
        (1000, "categorical", 3, 0, "chisquare"),
        (1001, "numeric", 6, 0, "wasserstein"),
        (1001, "numeric", 5, 0, "jensenshannon"),
        (1001, "numeric", 2, 0, "jensenshannon"),
        (1001, "categorical", 2, 0, "jensenshannon"),
        (1001, "categorical", 40, 0, "jensenshannon"),
    ],
)
def test_auto_follows_evidentlys_defaults(n_ref, kind, ref_unique, cur_extra, expected) -> None:
    ref = np.arange(n_ref) % ref_unique
    cur = np.r_[np.arange(200) % ref_unique, np.arange(cur_extra) + ref_unique]
    if kind == "numeric":
        res = column_drift(num(ref), cur)
    else:
        res = column_drift(cat([f"v{v}" for v in ref]), [f"v{v}" for v in cur])
    assert res.test == expected


# -------------------------------------------------------------------------- options


def test_methods_and_thresholds_can_be_overridden_per_kind_and_per_column() -> None:
    df = pd.DataFrame({"x": RNG.normal(size=2000), "y": RNG.normal(size=2000)})
    df["c"] = np.where(df["x"] > 0, "p", "n")
    profile = build_profile(df, ["x", "y"], ["c"])
    cur = df.assign(y=df["y"] + 0.05)
    default = dataset_drift(profile, cur)
    assert [c.test for c in default.columns] == ["wasserstein", "wasserstein", "jensenshannon"]
    assert default.column("y").threshold == 0.1 and not default.column("y").drifted
    options = DriftOptions(
        method_numeric="psi",
        threshold_numeric=0.2,
        method_categorical="chisquare",
        per_column={"y": ("wasserstein", 0.01)},
    )
    tuned = dataset_drift(profile, cur, options)
    assert [(c.test, c.threshold) for c in tuned.columns] == [
        ("psi", 0.2),
        ("wasserstein", 0.01),
        ("chisquare", 0.05),
    ]
    assert tuned.column("y").drifted and tuned.share_drifted == pytest.approx(1 / 3)
    keep_method = DriftOptions(per_column={"x": ("auto", 0.5)}).choice("x", "numeric")
    assert keep_method == ("auto", 0.5)


def test_bad_options_are_refused_with_the_fix() -> None:
    with pytest.raises(DriftOptionsError, match="did you mean 'wasserstein'"):
        DriftOptions(method_numeric="wasserstien")
    with pytest.raises(DriftOptionsError, match="tests numbers only"):
        DriftOptions(method_categorical="ks")
    with pytest.raises(DriftOptionsError, match="drift_share"):
        DriftOptions(drift_share=1.5)
    with pytest.raises(DriftOptionsError, match="bins"):
        DriftOptions(bins=0)
    profile = build_profile(
        pd.DataFrame({"tenure": [1.0, 2.0], "c": ["a", "b"]}), ["tenure"], ["c"]
    )
    with pytest.raises(DriftOptionsError, match="did you mean 'tenure'"):
        dataset_drift(
            profile,
            pd.DataFrame({"tenure": [1.0]}),
            DriftOptions(per_column={"tenur": ("ks", None)}),
        )
    with pytest.raises(DriftOptionsError, match="per_column.c"):
        dataset_drift(
            profile, pd.DataFrame({"c": ["a"]}), DriftOptions(per_column={"c": ("ks", None)})
        )


# ----------------------------------------------------------------------- edge cases


def test_dataset_drift_reports_what_it_could_not_test() -> None:
    df = pd.DataFrame({"a": RNG.normal(size=300), "b": RNG.normal(size=300), "c": ["x"] * 300})
    profile = build_profile(df, ["a", "b"], ["c"])
    with pytest.raises(EmptyDataError, match="no rows"):
        dataset_drift(profile, df.head(0))
    cur = pd.DataFrame({"a": [np.nan] * 50, "c": ["y"] * 50, "extra": 1})
    res = dataset_drift(profile, cur)
    assert [c.status for c in res.columns] == ["no_current_values", "missing_column", "tested"]
    assert res.ignored_columns == ["extra"]
    assert res.column("c").drifted and res.column("c").new_categories == ["y"]
    assert res.share_drifted == 1.0 and res.dataset_drift  # over the one tested column
    doc = res.to_dict()
    assert doc["n_tested"] == 1 and doc["n_untested"] == 2


def test_constant_columns_and_garbage() -> None:
    const = num([5.0] * 2000)
    same = column_drift(const, [5.0] * 100)
    assert (same.test, same.statistic, same.drifted) == ("jensenshannon", 0.0, False)
    moved = column_drift(const, [5.0, 6.0] * 50, method="wasserstein")
    assert moved.statistic == pytest.approx(0.5 / 0.001)  # std 0 is normed by 0.001
    res = column_drift(
        num(np.arange(20.0)), pd.Series(["1", "abc", " ", None, "2.5"], dtype=object)
    )
    assert (res.n_cur, res.cur_invalid, res.cur_missing) == (2, 1, 2)
    assert res.cur_missing_share == pytest.approx(0.6)
    empty_ref = column_drift(num([np.nan, np.nan]), [1.0, 2.0])
    assert empty_ref.status == "no_reference_values"


def test_chisquare_on_a_sketched_column_is_a_column_error() -> None:
    res = column_drift(num(RNG.normal(size=5000)), RNG.normal(size=100), method="chisquare")
    assert res.status == "error" and "exact reference values" in res.detail


def test_prediction_drift_tests_scores_and_classes() -> None:
    scores = RNG.beta(2, 5, size=1500)
    profile = build_profile(
        pd.DataFrame({"x": [1.0]}), ["x"], [], scores=scores, predictions=scores > 0.5
    )
    res = prediction_drift(profile, scores=RNG.beta(5, 2, size=400), predictions=[True] * 400)
    assert [(c.column, c.test, c.drifted) for c in res.columns] == [
        ("score", "wasserstein", True),
        ("prediction", "jensenshannon", True),
    ]
    with pytest.raises(EmptyDataError):
        prediction_drift(profile)


def test_results_are_deterministic() -> None:
    df = pd.DataFrame({"a": RNG.normal(size=3000), "c": RNG.choice(list("xyz"), 3000)})
    profile = build_profile(df, ["a"], ["c"])
    cur = df.sample(500, random_state=1)
    assert dataset_drift(profile, cur).to_dict() == dataset_drift(profile, cur).to_dict()


# ----------------------------------------------- the quantile sketch's approximation


def test_sketched_wasserstein_is_close_to_the_exact_one_on_telco() -> None:
    telco = pd.read_csv(TELCO)
    rng = np.random.default_rng(7)
    for name in ("MonthlyCharges", "TotalCharges"):  # > 1,000 distinct values: sketched
        ref = pd.to_numeric(telco[name], errors="coerce").dropna().to_numpy()
        profile = numeric_profile(telco[name])
        assert profile.quantiles is not None
        worst = 0.0
        for shift in (0.0, 0.02, 0.1, 0.5):
            cur = rng.choice(ref, 3000) * (1 + shift) + rng.normal(0, 5, 3000)
            res = column_drift(profile, cur, method="wasserstein")
            exact = stats.wasserstein_distance(ref, cur) / np.std(ref)
            assert res.approximate
            worst = max(worst, abs(res.statistic - exact))
        assert worst < 1e-3, (name, worst)


# ------------------------------------------------------- too few rows (issue 13)


def _telco_profile(rows: int):
    telco = pd.read_csv(TELCO)
    telco["TotalCharges"] = pd.to_numeric(telco["TotalCharges"], errors="coerce")
    numeric = ["SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges"]
    categorical = [c for c in telco.columns if c not in [*numeric, "customerID", "Churn"]]
    ref = telco.iloc[:rows]
    return build_profile(ref, numeric, categorical), telco.iloc[rows:]


def test_three_rows_never_drift_against_a_large_reference() -> None:
    """Issue 13: 3 rows against a 5,000-row reference (distance tests) made 18 of 19
    columns drift; they are now 'not_enough_data', and so is the dataset."""
    profile, rest = _telco_profile(5000)
    res = dataset_drift(profile, rest.head(3))
    assert res.drifted == [] and not res.dataset_drift
    assert {c.status for c in res.columns} == {"not_enough_data"}
    assert res.to_dict()["status"] == "not_enough_data"
    tenure = res.column("tenure")
    assert tenure.test == "wasserstein" and "300" in tenure.detail and "min_rows" in tenure.detail


def test_min_rows_per_family_and_zero_turns_it_off() -> None:
    profile, rest = _telco_profile(700)  # p-value tests
    res = dataset_drift(profile, rest.head(29))
    assert {c.status for c in res.columns} == {"not_enough_data"}
    assert dataset_drift(profile, rest.head(30)).to_dict()["n_tested"] == 19
    off = DriftOptions(min_rows={"p_value": 0, "distance": 0})
    assert dataset_drift(profile, rest.head(3), off).to_dict()["n_tested"] == 19
    big, rest = _telco_profile(5000)
    assert dataset_drift(big, rest.head(299)).to_dict()["n_tested"] == 0
    assert dataset_drift(big, rest.head(320)).to_dict()["n_tested"] == 19
