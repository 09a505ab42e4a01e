"""Lenient column coercion: coerce_frame and the ColumnCoercer transformer."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlctl.errors import DataError
from mlctl.features.transformers import ColumnCoercer, coerce_frame

pytestmark = pytest.mark.unit


@pytest.fixture
def telco() -> pd.DataFrame:
    # TotalCharges in the Telco churn CSV holds " " for customers with tenure 0.
    return pd.DataFrame(
        {
            "customerID": ["a", "b", "c", "d"],
            "TotalCharges": ["29.85", " ", "1889.5", "n/a?"],
            "SeniorCitizen": [0, 1, 0, 1],
            "Partner": ["Yes", "no", " TRUE ", "maybe"],
        },
        index=[10, 11, 12, 13],
    )


def test_blank_text_becomes_nan_and_bad_values_are_sampled(telco: pd.DataFrame) -> None:
    out, failures = coerce_frame(telco, {"TotalCharges": "float"})
    assert out["TotalCharges"].dtype == np.float64
    assert np.allclose(out["TotalCharges"], [29.85, np.nan, 1889.5, np.nan], equal_nan=True)
    # " " is missing, not a failure; "n/a?" is reported with its index label.
    assert failures == {"TotalCharges": [(13, "n/a?")]}


def test_other_columns_and_the_input_are_untouched(telco: pd.DataFrame) -> None:
    before = telco.copy()
    out, _ = coerce_frame(telco, {"TotalCharges": "float"})
    pd.testing.assert_frame_equal(telco, before)
    pd.testing.assert_series_equal(out["customerID"], telco["customerID"])
    assert list(out.index) == [10, 11, 12, 13]


def test_bool_reads_yes_no_true_false_one_zero(telco: pd.DataFrame) -> None:
    out, failures = coerce_frame(telco, {"Partner": "bool", "SeniorCitizen": "bool"})
    assert np.allclose(out["Partner"], [1.0, 0.0, 1.0, np.nan], equal_nan=True)
    assert out["SeniorCitizen"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert failures == {"Partner": [(13, "maybe")]}


def test_int_stays_float_and_refuses_fractions() -> None:
    df = pd.DataFrame({"n": ["1", " 2", None, "2.5", 7]})
    out, failures = coerce_frame(df, {"n": "int"})
    assert out["n"].dtype == np.float64
    assert np.allclose(out["n"], [1.0, 2.0, np.nan, np.nan, 7.0], equal_nan=True)
    assert failures == {"n": [(3, "2.5")]}


def test_str_and_category_give_object_text() -> None:
    df = pd.DataFrame({"zip": [94107.0, np.nan, 3.5], "code": [1, 2, 3], "c": ["x", " ", None]})
    out, failures = coerce_frame(df, {"zip": "category", "code": "str", "c": "category"})
    assert failures == {}
    assert out["zip"].dtype == object and out["code"].dtype == object
    assert out["zip"].tolist()[0::2] == ["94107", "3.5"] and pd.isna(out["zip"][1])
    assert out["code"].tolist() == ["1", "2", "3"]
    assert out["c"][0] == "x" and pd.isna(out["c"][1]) and pd.isna(out["c"][2])


def test_datetime() -> None:
    df = pd.DataFrame({"d": ["2024-01-31", " ", "not a date", None]})
    out, failures = coerce_frame(df, {"d": "datetime"})
    assert out["d"][0] == pd.Timestamp("2024-01-31")
    assert out["d"][1:].isna().all()
    assert failures == {"d": [(2, "not a date")]}


def test_samples_are_capped_and_plain_python() -> None:
    df = pd.DataFrame({"x": np.arange(20) + 0.5})
    _, failures = coerce_frame(df, {"x": "int"})
    assert len(failures["x"]) == 5
    row, value = failures["x"][0]
    assert type(row) is int and type(value) is float


def test_missing_column_is_a_data_error_naming_it(telco: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'TotalCharge'; did you mean 'TotalCharges'"):
        coerce_frame(telco, {"TotalCharge": "float"})
    with pytest.raises(DataError, match=r"'TotalCharge'"):
        ColumnCoercer({"TotalCharge": "float"}).fit(telco)


def test_unknown_type_is_a_data_error(telco: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"unknown type 'flaot'.*did you mean 'float'"):
        coerce_frame(telco, {"TotalCharges": "flaot"})


def test_transformer_coerces_at_transform_time(telco: pd.DataFrame) -> None:
    step = ColumnCoercer({"TotalCharges": "float", "SeniorCitizen": "category"})
    with pytest.raises(NotFittedError):
        step.transform(telco)
    out = step.fit(telco).transform(telco)
    assert out["TotalCharges"].dtype == np.float64
    assert out["SeniorCitizen"].tolist() == ["0", "1", "0", "1"]
    assert list(step.get_feature_names_out()) == list(telco.columns)
    # A missing column is named (extra columns are dropped, see below).
    with pytest.raises(DataError, match="lacks columns the model needs: 'TotalCharges'"):
        step.transform(telco.drop(columns=["TotalCharges"]).assign(other=1))


def test_serving_reads_zero_and_text_zero_alike() -> None:
    step = ColumnCoercer({"x": "float", "c": "category"}).fit(
        pd.DataFrame({"x": [1.0], "c": ["a"]})
    )
    a = step.transform(pd.DataFrame({"x": [0], "c": [0]}))
    b = step.transform(pd.DataFrame({"x": ["0"], "c": ["0"]}))
    pd.testing.assert_frame_equal(a, b)


@parametrize_with_checks([ColumnCoercer(), ColumnCoercer({"x0": "float"})])
def test_sklearn_compatible(estimator, check) -> None:
    check(estimator)


@pytest.mark.parametrize(
    "check",
    [
        estimator_checks.check_transformer_get_feature_names_out_pandas,
        estimator_checks.check_set_output_transform_pandas,
        estimator_checks.check_global_output_transform_pandas,
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dataframe_checks_with_default_params(check) -> None:
    check("ColumnCoercer", ColumnCoercer())


# scikit-learn's check_dataframe_column_names_consistency expects an error for another
# column order; the coercer reads columns by name instead (docs/tracking.md), so a raw
# table in any order, with extra columns, scores as in fit order.
def test_any_column_order_and_extra_columns() -> None:
    frame = pd.DataFrame({"x": [1, 2, 3], "c": [0, 1, 1], "t": [" ", "2.5", "3"]})
    step = ColumnCoercer({"x": "float", "c": "category", "t": "float"}).fit(frame)
    expected = step.transform(frame)
    shuffled = frame[["t", "x", "c"]].assign(extra="ignored")
    pd.testing.assert_frame_equal(step.transform(shuffled), expected)
    assert list(step.get_feature_names_out()) == ["x", "c", "t"]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["x", "c"], "lacks columns the model needs: 't'"),
        (["x", "c", "tt"], "'t'; did you mean 'tt'?"),
        (["x", "c", "t", "x"], "holds columns more than once: 'x'"),
    ],
)
def test_missing_or_repeated_columns_are_named(columns, message) -> None:
    frame = pd.DataFrame({"x": [1.0], "c": ["a"], "t": ["1"]})
    step = ColumnCoercer({"t": "float"}).fit(frame)
    bad = pd.DataFrame([[1.0] * len(columns)], columns=columns)
    with pytest.raises(DataError, match=re.escape(message)):
        step.transform(bad)
