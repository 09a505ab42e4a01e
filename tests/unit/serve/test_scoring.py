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
from mlctl.predict.compiled import FastColumns, _Unverified, frame_of
from mlctl.predict.score import Scorer
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


def test_big_batches_take_the_per_column_path_exactly_like_sklearn() -> None:
    pipe, _ = recipe_pipeline()
    X, _ = data(n=5000, seed=2)  # above FAST_MAX_ROWS
    X = X.astype({"c": object})
    X.loc[::7, "c"] = np.nan  # missing → imputed
    X.loc[::11, "c"] = "never seen"
    X.loc[::13, "s"] = 9  # an unseen category as a number: the coercer makes it text
    fast, slow = Scorer(pipe), Scorer(pipe, compiled=False)
    ct, ct_input = pipe.named_steps["columns"], pipe[:-1][:-1].transform(X)
    assert np.array_equal(fast.fast.columns(ct_input), ct.transform(ct_input))
    got, want = fast(X), slow(X)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@pytest.mark.parametrize(
    "value", [None, pd.NA, True, 3, np.str_("u")], ids=["None", "NA", "bool", "int", "str_"]
)
def test_per_column_path_refuses_values_it_was_not_verified_on(value) -> None:
    pipe, X = recipe_pipeline()
    ct_input = pipe[:-1][:-1].transform(X).astype({"c": object})
    ct_input.loc[3, "c"] = value
    fast = Scorer(pipe).fast
    with pytest.raises(_Unverified):
        fast.columns(ct_input)


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


# ------------------------------------------------------------ the whole head
def as_lists(X: pd.DataFrame, numeric: set[str]) -> dict[str, list]:
    """Columns as a request check gives them: floats/None for numbers, scalars else."""
    out = {}
    for name in X.columns:
        values = X[name].astype(object).tolist()
        if name in numeric:
            values = [None if v is None or v != v else float(v) for v in values]
        out[name] = values
    return out


ODD_TEXT = ["zzz", None, "u", " ", "", 3, 2.5, "x y", "v", 0, 1.0, " u "]
ODD_NUMBER_TEXT = ["4", " 7 ", " ", None, "abc", "1e3", "-0", "nan", 12, 2.5, "1_000", "3"]


def head_batches(X: pd.DataFrame, numeric: set[str]) -> list[dict[str, list]]:
    n = len(ODD_TEXT)
    odd = as_lists(X.head(n), numeric)
    odd["c"] = ODD_TEXT
    if "b" not in numeric:
        odd["b"] = ODD_NUMBER_TEXT
    odd["a"] = [None, 1e300, -0.0, 0.5, None, 3.0, -1e-9, 2.0, 1.0, 0.0, 7.5, None]
    return [as_lists(X.head(1), numeric), as_lists(X.head(37), numeric), odd]


@pytest.mark.parametrize("numeric", [{"a", "b", "s"}, {"a"}], ids=["numbers", "text"])
def test_compiled_head_scores_exactly_like_sklearn(numeric: set[str]) -> None:
    pipe, X = recipe_pipeline()
    fast, slow = Scorer(pipe), Scorer(pipe, compiled=False)
    head = fast.fast_head(numeric)
    assert head is not None
    names = list(X.columns)
    for values in head_batches(X, numeric):
        frame = frame_of(names, values, numeric)
        n = len(values["a"])
        assert np.array_equal(head(values, n), pipe[:-1].transform(frame), equal_nan=True)
        got, want = fast.columns(names, values, numeric), slow(frame)
        assert np.array_equal(got[0], want[0])
        assert np.array_equal(got[1], want[1])  # bit for bit


def test_head_values_it_does_not_handle_take_sklearns_path() -> None:
    pipe, X = recipe_pipeline()
    numeric = {"a", "b"}
    fast, slow = Scorer(pipe), Scorer(pipe, compiled=False)
    names = list(X.columns)
    values = as_lists(X.head(3), numeric)
    values["s"] = [True, 0, "1"]  # pandas reads booleans its own way
    with pytest.raises(_Unverified):
        fast.fast_head(numeric)(values, 3)
    got = fast.columns(names, values, numeric)
    want = slow(frame_of(names, values, numeric))
    assert np.array_equal(got[1], want[1])
    values = as_lists(X.head(3), numeric)
    values["a"] = [np.inf, 1.0, 2.0]
    for scorer in (fast, slow):  # sklearn's own error, not a silent answer
        with pytest.raises(ValueError, match="[Ii]nfinity"):
            scorer.columns(names, values, numeric)


def test_int_coercion_in_the_compiled_head() -> None:
    X, y = data()
    features = Features(numeric=["a", "b"], categorical=["c"])
    types = {"a": "float", "b": "int", "c": "category"}
    pipe = build_pipeline(features, types, LogisticRegression()).fit(X.drop(columns="s"), y)
    numeric = {"a", "b"}
    head = Scorer(pipe).fast_head(numeric)
    assert head is not None
    values = {"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 2.5, np.inf, None], "c": ["u", "v", "w", None]}
    frame = frame_of(["a", "b", "c"], values, numeric)
    assert np.array_equal(head(values, 4), pipe[:-1].transform(frame), equal_nan=True)


def test_other_heads_are_not_compiled_and_still_score() -> None:
    X, y = data()
    features = Features(numeric=["a"], categorical=["c"])
    for types in ({"a": "float", "c": "category", "b": "bool"}, {"a": "float", "b": "datetime"}):
        pipe = build_pipeline(features, types, LogisticRegression()).fit(X, y)
        scorer = Scorer(pipe)
        assert scorer.fast_head({"a", "s"}) is None, types
        values = as_lists(X.head(4), {"a", "s"})
        got = scorer.columns(list(X.columns), values, {"a", "s"})
        assert np.array_equal(
            got[1], pipe.predict_proba(frame_of(list(X.columns), values, {"a", "s"}))
        )
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b"])])
    pipe = Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(X, y)
    assert Scorer(pipe).fast_head({"a", "b"}) is None
    assert Scorer(pipe, compiled=False).fast_head({"a", "b"}) is None
