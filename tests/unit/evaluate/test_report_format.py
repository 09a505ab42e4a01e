"""The model report's number policy (mlctl.evaluate.report_format), one row per rule."""

from __future__ import annotations

import numpy as np
import pytest

from mlctl.evaluate import report_format as nf

pytestmark = pytest.mark.unit

NAN = float("nan")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.912345, "0.9123"),  # a score in [0, 1]: 4 decimals
        (1.0, "1.0000"),
        (0.0, "0.0000"),
        (-0.3, "-0.3000"),
        (1.82, "1.820"),  # above 1: 4 significant digits (was 1.8200)
        (12.345, "12.35"),
        (123.456, "123.5"),
        (9.99996, "10.00"),  # rounding up keeps 4 significant digits
        (999.96, "1,000"),
        (52345.678, "52,346"),  # an RMSE in dollars
        (1234.5, "1,235"),  # half away from zero
        (-2.558e-05, "0.0000"),  # below display precision (was -2.558e-05)
        (-0.00004, "0.0000"),  # never -0.0000
        (0.00005, "0.0001"),
        (np.float32(0.5), "0.5000"),
        (7043, "7,043"),  # a count
        (np.int64(1409), "1,409"),
        (NAN, "n/a"),
        (None, "n/a"),
        (float("inf"), "inf"),
        (True, "yes"),
    ],
)
def test_score(value, text):
    assert nf.score(value) == text


@pytest.mark.parametrize(
    ("mean", "std", "text"),
    [
        (0.850123, 0.011234, "0.8501 ± 0.0112"),
        (52345.678, 1234.5, "52,346 ± 1,235"),  # the std with the mean's decimals (was 4)
        (1.82, 0.01234, "1.820 ± 0.012"),
        (0.5, 0.0, "0.5000 ± 0.0000"),
        (0.84, NAN, "0.8400 ± n/a"),
        (NAN, NAN, "n/a"),
    ],
)
def test_mean_std(mean, std, text):
    assert nf.mean_std(mean, std) == text


def test_the_other_kinds():
    assert nf.count(7043) == "7,043" and nf.count(None) == "n/a"
    assert nf.ratio(3.4412) == "3.44" and nf.ratio(0.05) == "0.05"
    assert nf.seconds(1234.5678) == "1,234.57" and nf.seconds(0.0123) == "0.01"
    # hyperparameters as set: a small regularisation strength is not 0
    assert nf.param(1e-05) == "1e-05"
    assert nf.param(0.047377279007281566) == "0.04738"
    assert nf.param(1.0) == "1" and nf.param(200) == "200" and nf.param(None) == "None"
    assert nf.param("x" * 60) == "x" * 39 + "…"
    assert nf.params({"model__C": 7.114476, "model__solver": "lbfgs"}) == [
        "C=7.114",
        "solver=lbfgs",
    ]
    assert nf.fmt({"C": 1.0}) == "C=1"
    assert nf.fmt([0.5, 2]) == "0.5000, 2"
    assert nf.fmt("text") == "text"
