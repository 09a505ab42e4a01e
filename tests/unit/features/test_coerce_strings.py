"""Text coercion of pandas' own text dtype (Arrow-backed in pandas 3, what read_csv and
a DataFrame of JSON rows give): a few rows are read value by value, with exactly the
result of the general path, and without factorising through Arrow on every call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlctl_runtime.coerce as coerce

pytestmark = pytest.mark.unit

VALUES = ["Yes", " ", "", None, " No ", "Fiber optic", "0", "x" * 50, "\t", "Yes"]


def _same(a: pd.Series, b: pd.Series) -> bool:
    left, right = a.tolist(), b.tolist()
    return len(left) == len(right) and all(
        (x != x and y != y) or (type(x) is type(y) and x == y)
        for x, y in zip(left, right, strict=True)
    )


@pytest.mark.parametrize("n", [1, 3, len(VALUES), 300])
def test_text_dtype_gives_what_object_values_give(n: int) -> None:
    values = [VALUES[i % len(VALUES)] for i in range(n)]
    text = pd.Series(values, dtype="str")
    assert isinstance(text.dtype, pd.StringDtype)
    got, failed = coerce._coerce_text(text)
    expected, _ = coerce._coerce_text(pd.Series(values, dtype=object))
    assert got.dtype == object and not failed.any()
    assert _same(got, expected), (got.tolist(), expected.tolist())


def test_a_few_rows_of_text_are_not_factorised(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("factorize called for a few rows of text")

    monkeypatch.setattr(coerce.pd, "factorize", refuse)
    frame = pd.DataFrame({"c": pd.Series(["a", " ", None], dtype="str"), "n": [1.0, 2.0, 3.0]})
    out, failures = coerce.coerce_frame(frame, {"c": "category", "n": "float"})
    assert out["c"].tolist()[0] == "a" and np.isnan(out["c"].tolist()[1])
    assert out["c"].dtype == object and not failures
