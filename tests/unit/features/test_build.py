"""The one Pipeline: coercion, derived features, column transforms, model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlctl.features.build import build_pipeline
from mlctl.recipe.schema import Features

pytestmark = pytest.mark.unit


def data(n: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 10, size=n),
            "c": rng.choice(["u", "v", "w"], size=n),
            "s": rng.integers(0, 2, size=n),
        }
    )
    y = pd.Series(np.where(X["a"] > 0, "yes", "no"))
    return X, y


@pytest.mark.parametrize("encode", ["onehot", "ordinal"])
def test_pipeline_fits_and_survives_unknown_categories(encode: str) -> None:
    X, y = data()
    features = Features(
        numeric=["a", "b"],
        categorical=["c", "s"],
        derived=[
            {"name": "ratio", "expr": "a / (b + 1)"},
            {"name": "big", "expr": "b > median(b)"},
        ],
        categorical_transform={"encode": encode},
    )
    types = {"c": "category", "s": "category", "a": "float", "b": "float"}
    pipe = build_pipeline(features, types, LogisticRegression()).fit(X, y)
    odd = X.head(4).copy()
    odd["c"] = ["zzz", None, "u", "new"]
    odd["s"] = ["1", 0, 7, None]  # text, int and unseen values for an int-coded category
    odd["b"] = [np.nan, 3, "4", " "]
    proba = pipe.predict_proba(odd)
    assert proba.shape == (4, 2) and np.isfinite(proba).all()
    assert set(pipe.named_steps) == {"coerce", "derive", "columns", "model"}
    # The median learned at fit time is kept inside the pipeline.
    assert pipe.named_steps["derive"].stats_ == {"median(b)": float(X["b"].median())}


def test_int_and_text_inputs_score_the_same() -> None:
    X, y = data()
    features = Features(numeric=["a", "b"], categorical=["s"])
    types = {"s": "category", "a": "float", "b": "float"}
    pipe = build_pipeline(features, types, LogisticRegression()).fit(X, y)
    as_text = X.astype(str)
    np.testing.assert_allclose(pipe.predict_proba(X), pipe.predict_proba(as_text))
