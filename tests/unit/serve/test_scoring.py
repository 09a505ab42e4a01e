"""The compiled ColumnTransformer: exactly sklearn's output, or sklearn's own path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from mlctl.features.build import build_pipeline
from mlctl.predict.score import FastColumns, Scorer, _Unverified
from mlctl.recipe.schema import Features

pytestmark = pytest.mark.unit


def data(n: int = 200, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 10, size=n).astype(float),
            "c": rng.choice(["u", "v", "w", "x y"], size=n),
            "s": rng.integers(0, 3, size=n),
        }
    )
    y = pd.Series(np.where(X["a"] + (X["c"] == "u") > 0.3, "yes", "no"))
    return X, y


def recipe_pipeline(scale: str = "standard") -> tuple[Pipeline, pd.DataFrame]:
    X, y = data()
    features = Features(
        numeric=["a", "b"],
        categorical=["c", "s"],
        derived=[{"name": "ratio", "expr": "a / (b + 1)"}, {"name": "big", "expr": "b > 4"}],
        numeric_transform={"scale": scale},
    )
    types = {"c": "category", "s": "category", "a": "float", "b": "float"}
    return build_pipeline(features, types, LogisticRegression()).fit(X, y), X


def odd_rows(X: pd.DataFrame) -> pd.DataFrame:
    odd = X.head(8).copy().astype(object)
    odd["c"] = ["zzz", None, "u", "new", np.nan, " ", "v", 3]
    odd["s"] = ["1", 0, 7, None, 2.0, "2", True, "x"]
    odd["b"] = [np.nan, 3, "4", " ", 1e300, -0.0, None, "nan"]
    return odd


@pytest.mark.parametrize("scale", ["standard", "minmax", "robust", "none"])
def test_compiled_scores_exactly_like_sklearn(scale: str) -> None:
    pipe, X = recipe_pipeline(scale)
    fast, slow = Scorer(pipe), Scorer(pipe, compiled=False)
    assert fast.fast is not None
    for frame in (X.head(1), X.head(7), X, odd_rows(X), X.astype(str)):
        got, want = fast(frame), slow(frame)
        assert np.array_equal(got[0], want[0])
        assert np.array_equal(got[1], want[1])  # bit for bit, not just close
        assert np.array_equal(fast._transform(frame), pipe[:-1].transform(frame))


def test_inputs_outside_what_was_verified_take_sklearns_path() -> None:
    pipe, X = recipe_pipeline()
    fast, slow = Scorer(pipe), Scorer(pipe, compiled=False)
    bad = X.head(3).copy()
    bad["a"] = [np.inf, 1.0, 2.0]
    for scorer in (fast, slow):  # the same error as sklearn's, not a silent answer
        with pytest.raises(ValueError, match="[Ii]nfinity"):
            scorer(bad)
    ct, ct_input = pipe.named_steps["columns"], pipe[:-2].transform(X.head(3))
    as_text = ct_input.astype({"b": object})  # another dtype than was verified
    with pytest.raises(_Unverified):
        fast.fast(as_text)
    assert np.array_equal(fast._compiled_or_sklearn(ct, as_text), ct.transform(as_text))


def test_unsupported_column_transformers_are_not_compiled() -> None:
    X, y = data()
    num = ["a", "b"]
    for encoder in (
        OrdinalEncoder(),
        OneHotEncoder(handle_unknown="error", sparse_output=False),
        OneHotEncoder(handle_unknown="ignore"),  # sparse
        OneHotEncoder(handle_unknown="ignore", sparse_output=False, drop="first"),
    ):
        ct = ColumnTransformer([("num", StandardScaler(), num), ("cat", encoder, ["c"])])
        ct.fit(X, y)
        assert FastColumns.compile(ct) is None, encoder
    ct = ColumnTransformer([("num", StandardScaler(), num)]).set_output(transform="pandas")
    assert FastColumns.compile(ct.fit(X)) is None
    ct = ColumnTransformer([("num", StandardScaler(), num)], remainder="passthrough").fit(X)
    assert FastColumns.compile(ct) is None


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler(), RobustScaler()])
def test_plain_column_transformer_pipelines(scaler) -> None:
    X, y = data(seed=3)
    X.loc[::7, "a"] = np.nan
    X["c"] = X["c"].astype(object)
    X.loc[::5, "c"] = np.nan
    pre = ColumnTransformer(
        [
            ("num", Pipeline([("i", SimpleImputer(strategy="mean")), ("s", scaler)]), ["a", "b"]),
            (
                "cat",
                Pipeline(
                    [
                        ("i", SimpleImputer(strategy="constant", fill_value="?")),
                        ("e", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                ["c"],
            ),
        ]
    )
    for steps in ([("pre", pre)], [("id", "passthrough"), ("pre", pre)]):
        pipe = Pipeline([*steps, ("model", LogisticRegression())]).fit(X, y)
        fast, slow = Scorer(pipe), Scorer(pipe, compiled=False)
        assert fast.fast is not None
        for frame in (X.head(1), X.head(50)):
            assert np.array_equal(fast(frame)[1], slow(frame)[1])
