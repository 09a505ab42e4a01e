"""Reference profiles: what they keep, exactly, compactly and deterministically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlctl.errors import ProfileError
from mlctl.monitor.profile import (
    ProfileCaps,
    ReferenceProfile,
    build_profile,
    categorical_profile,
    numeric_profile,
    sorted_quantiles,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"
# The churn recipe's input columns (the recipe is where they are written down).
_FEATURES = yaml.safe_load((REPO / "recipes" / "churn.yaml").read_text())["features"]
NUMERIC, CATEGORICAL = _FEATURES["numeric"], _FEATURES["categorical"]


@pytest.fixture(scope="module")
def telco() -> pd.DataFrame:
    return pd.read_csv(TELCO)


def test_numeric_column_keeps_its_exact_distribution_up_to_the_cap() -> None:
    p = numeric_profile(pd.Series([3.0, 1.0, 1.0, np.nan, 2.0, np.inf]))
    assert (p.count, p.missing, p.invalid, p.n_unique) == (4, 2, 0, 3)
    assert (p.values, p.counts, p.quantiles) == ([1.0, 2.0, 3.0], [2, 1, 1], None)
    assert p.mean == pytest.approx(1.75) and p.std == pytest.approx(np.std([3, 1, 1, 2]))
    sketched = numeric_profile(pd.Series(np.arange(50.0)), caps=ProfileCaps(exact_values=10))
    assert sketched.values is None and sketched.n_unique == 50
    assert sketched.quantiles[0] == 0.0 and sketched.quantiles[-1] == 49.0
    assert len(sketched.quantiles) == 1001


def test_quantile_sketch_is_numpys_linear_quantile() -> None:
    s = np.sort(np.random.default_rng(0).lognormal(size=5000))
    np.testing.assert_allclose(
        sorted_quantiles(s, 1001), np.quantile(s, np.linspace(0, 1, 1001)), rtol=1e-12
    )


def test_values_are_read_as_the_model_reads_them() -> None:
    raw = pd.Series(["1.5", " ", "abc", None, "2", "inf"], dtype=object)
    p = numeric_profile(raw)
    assert (p.count, p.missing, p.invalid, p.values) == (2, 3, 1, [1.5, 2.0])
    ints = numeric_profile(pd.Series([1.0, 2.5, 3.0]), coerce="int")
    assert (ints.count, ints.invalid) == (2, 1)  # a fraction is not an int
    cats = categorical_profile(pd.Series([0, 0.0, "0", " ", None, "b", "b", "b"], dtype=object))
    assert cats.categories == {"b": 3, "0": 3} and cats.missing == 2


def test_categories_are_counted_the_same_whatever_the_column_type() -> None:
    text = ["b", "a", None, "b", " ", "1"]
    for series in (
        pd.Series(text, dtype=object),
        pd.Series(text, dtype="str"),
        pd.Series(text, dtype=pd.CategoricalDtype(["a", "b", " ", "1", "unused"])),
    ):
        p = categorical_profile(series)
        assert (p.categories, p.missing) == ({"b": 2, "1": 1, "a": 1}, 2), series.dtype
    mixed = categorical_profile(pd.Series([True, 1, 1.0, "1"], dtype=object))
    assert mixed.categories == {"1": 3, "True": 1}  # True is not merged into 1


def test_categories_beyond_the_cap_are_summed_into_other() -> None:
    s = pd.Series(["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"])
    p = categorical_profile(s, caps=ProfileCaps(categories=2))
    assert p.categories == {"a": 5, "b": 3} and p.other_count == 4 and p.n_unique == 4


def test_profile_is_deterministic_and_round_trips(telco) -> None:
    scores = np.random.default_rng(1).random(1409)
    args = dict(scores=scores, predictions=np.where(scores > 0.5, "Yes", "No"))
    a = build_profile(telco, NUMERIC, CATEGORICAL, **args, metrics={"roc_auc": 0.84})
    b = build_profile(telco, NUMERIC, CATEGORICAL, **args, metrics={"roc_auc": 0.84})
    assert a.to_json() == b.to_json()
    shuffled = telco.sample(frac=1.0, random_state=3)  # row order does not matter either
    assert (
        build_profile(shuffled, NUMERIC, CATEGORICAL, **args, metrics={"roc_auc": 0.84}).to_json()
        == a.to_json()
    )
    again = ReferenceProfile.from_json(a.to_json())
    assert again.to_json() == a.to_json()
    assert again.numeric == NUMERIC and again.scores_from == "test"
    doc = json.loads(a.to_json())
    assert doc["schema_version"] == 1 and doc["columns"]["Contract"]["kind"] == "categorical"


def test_telco_profile_is_compact(telco) -> None:
    scores = np.random.default_rng(1).random(1409)
    profile = build_profile(telco, NUMERIC, CATEGORICAL, scores=scores, predictions=scores > 0.5)
    size = len(profile.to_json())
    assert 10_000 < size < 150_000, size
    assert profile.columns["TotalCharges"].missing == 11  # the blank " " rows
    assert profile.columns["tenure"].values is not None  # 73 distinct values: exact


def test_newer_or_damaged_profiles_are_refused(telco) -> None:
    doc = build_profile(telco.head(50), ["tenure"], ["Contract"]).to_dict()
    with pytest.raises(ProfileError, match="schema_version 2; this mlctl reads up to 1"):
        ReferenceProfile.from_dict({**doc, "schema_version": 2})
    with pytest.raises(ProfileError, match="damaged"):
        ReferenceProfile.from_dict({k: v for k, v in doc.items() if k != "columns"})
    with pytest.raises(ProfileError, match="not valid JSON"):
        ReferenceProfile.from_json("{")


def test_build_errors_name_the_columns(telco) -> None:
    with pytest.raises(ProfileError, match="missing from the data: nope"):
        build_profile(telco, ["nope"], [])
    with pytest.raises(ProfileError, match="both numeric and categorical: tenure"):
        build_profile(telco, ["tenure"], ["tenure"])
    with pytest.raises(ProfileError, match="must be read as one of float, int, bool"):
        build_profile(telco, ["tenure"], [], coerce={"tenure": "category"})
