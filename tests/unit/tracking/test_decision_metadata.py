"""The decision rule a logged classifier carries in its MLmodel metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlctl.tracking.runs import decision_metadata
from mlctl.train.trainer import with_threshold

pytestmark = pytest.mark.unit


def test_decision_metadata_reads_the_baked_threshold() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200)})
    y = np.where(X["a"] + rng.normal(size=200) > 0, "yes", "no")
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(X, y)
    assert decision_metadata(pipe) == {
        "mlctl_decision_threshold": 0.5,
        "mlctl_positive_class": "yes",
    }
    baked = with_threshold(pipe, 0.23, "no", X, y)
    assert decision_metadata(baked) == {
        "mlctl_decision_threshold": 0.23,
        "mlctl_positive_class": "no",
    }
    numbers = LinearRegression().fit(X, rng.normal(size=200))
    assert decision_metadata(numbers) == {}
    three = LogisticRegression().fit(X, rng.integers(0, 3, 200))
    assert decision_metadata(three) == {}
