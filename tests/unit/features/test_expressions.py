"""The derived-feature expression language and the DerivedFeatures transformer."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlctl.errors import ExpressionError
from mlctl.features.expressions import (
    MAX_LENGTH,
    Expression,
    compute_stat,
    parse_expression,
    stat_label,
)
from mlctl.features.transformers import ColumnCoercer, DerivedFeatures

pytestmark = pytest.mark.unit

TRUSTED = [
    "mlctl_runtime.transformers.ColumnCoercer",
    "mlctl_runtime.transformers.DerivedFeatures",
]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 4.0, 0.0, np.nan],
            "b": [2, 0, -1, 3],
            "g": ["F", "M", "F", None],
            "Total Charges": [10.0, 20.0, 30.0, 40.0],
        }
    )


def evaluate(text: str, df: pd.DataFrame) -> list[float]:
    expr = parse_expression(text)
    stats = {stat_label(key): compute_stat(key, df) for key in expr.stats}
    return expr.evaluate(df, stats).tolist()


def same(actual: list[float], expected: list[float]) -> bool:
    return np.allclose(actual, expected, equal_nan=True)


# ------------------------------------------------------------------ evaluation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a + b", [3.0, 4.0, -1.0, np.nan]),
        ("a - b * 2", [-3.0, 4.0, 2.0, np.nan]),
        ("a / b", [0.5, np.inf, -0.0, np.nan]),
        ("b // 2", [1.0, 0.0, -1.0, 1.0]),
        ("b % 2", [0.0, 0.0, 1.0, 1.0]),
        ("b ** 2", [4.0, 0.0, 1.0, 9.0]),
        ("-b", [-2.0, -0.0, 1.0, -3.0]),
        ("+b", [2.0, 0.0, -1.0, 3.0]),
        ("a > 1", [0.0, 1.0, 0.0, 0.0]),
        ("a >= 1", [1.0, 1.0, 0.0, 0.0]),
        ("a != 1", [0.0, 1.0, 1.0, 1.0]),
        ("0 <= b < 3", [1.0, 1.0, 0.0, 0.0]),
        ("a > 0 and b > 0", [1.0, 0.0, 0.0, 0.0]),
        ("a > 0 or b > 0", [1.0, 1.0, 0.0, 1.0]),
        ("not a", [0.0, 0.0, 1.0, 1.0]),
        ('g == "F"', [1.0, 0.0, 1.0, 0.0]),
        ('g != "F"', [0.0, 1.0, 0.0, 1.0]),
        ('col("Total Charges") / 10', [1.0, 2.0, 3.0, 4.0]),
        ("log1p(b)", [np.log1p(2), 0.0, -np.inf, np.log1p(3)]),
        ("log(a)", [0.0, np.log(4), -np.inf, np.nan]),
        ("sqrt(b)", [np.sqrt(2), 0.0, np.nan, np.sqrt(3)]),
        ("exp(b)", list(np.exp([2.0, 0.0, -1.0, 3.0]))),
        ("abs(b)", [2.0, 0.0, 1.0, 3.0]),
        ("clip(b, 0, 2)", [2.0, 0.0, 0.0, 2.0]),
        ("clip(b, -0.5, 0.5)", [0.5, 0.0, -0.5, 0.5]),
        ("round(a / 3, 2)", [0.33, 1.33, 0.0, np.nan]),
        ("round(b / 4)", [0.0, 0.0, -0.0, 1.0]),  # numpy rounds halves to even
        ("isnull(a)", [0.0, 0.0, 0.0, 1.0]),
        ("isnull(g)", [0.0, 0.0, 0.0, 1.0]),
        ("fillna(a, -1)", [1.0, 4.0, 0.0, -1.0]),
        ("where(b > 0, a, 100)", [1.0, 100.0, 100.0, np.nan]),
        ("median(a)", [1.0, 1.0, 1.0, 1.0]),
        ("a - mean(a)", [-2.0 / 3, 7.0 / 3, -5.0 / 3, np.nan]),
        ("min(b) + max(b)", [2.0, 2.0, 2.0, 2.0]),
        ("std(b)", [np.std([2, 0, -1, 3], ddof=1)] * 4),
        ("b > quantile(b, 0.75)", [0.0, 0.0, 0.0, 1.0]),
        ("fillna(a, median(a))", [1.0, 4.0, 0.0, 1.0]),
        ("1 / 0", [np.inf] * 4),
        ("True + 1", [2.0] * 4),
    ],
)
def test_evaluates_to_exact_values(frame: pd.DataFrame, text: str, expected: list[float]) -> None:
    assert same(evaluate(text, frame), expected)


def test_result_is_float_series_aligned_with_the_frame(frame: pd.DataFrame) -> None:
    frame.index = [10, 11, 12, 13]
    result = parse_expression("a > 1", name="big").evaluate(frame, {})
    assert result.dtype == np.float64
    assert list(result.index) == [10, 11, 12, 13]
    assert result.name == "big"


def test_columns_and_stats_are_reported() -> None:
    expr = parse_expression('income > median(income) and col("Monthly $") < quantile(x, 0.9)')
    assert expr.columns == frozenset({"income", "Monthly $", "x"})
    assert expr.stats == (("median", "income", None), ("quantile", "x", 0.9))
    assert isinstance(expr, Expression)


def test_stat_labels_are_plain_strings() -> None:
    assert stat_label(("median", "income", None)) == "median(income)"
    assert stat_label(("quantile", "x", 0.9)) == "quantile(x, 0.9)"
    assert stat_label(("mean", "Total Charges", None)) == "mean(col('Total Charges'))"


def test_numeric_text_columns_are_read_as_numbers() -> None:
    df = pd.DataFrame({"t": ["1.5", " 2 ", " ", None]})
    assert same(evaluate("t * 2", df), [3.0, 4.0, np.nan, np.nan])


def test_arithmetic_on_a_text_column_is_an_expression_error(frame: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError, match=r"column 'g' is not numeric"):
        evaluate("g + 1", frame)


def test_missing_statistic_is_an_expression_error(frame: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError, match=r"median\(a\) has not been learned"):
        parse_expression("a > median(a)").evaluate(frame, {})


def test_statistics_accept_tuple_keys_too(frame: pd.DataFrame) -> None:
    result = parse_expression("median(a)").evaluate(frame, {("median", "a", None): 7.0})
    assert result.tolist() == [7.0] * 4


def test_compute_stat_is_nan_aware_and_returns_plain_float() -> None:
    df = pd.DataFrame({"x": ["1", " ", "3", None, "5"]})
    value = compute_stat(("median", "x", None), df)
    assert type(value) is float and value == 3.0
    assert np.isnan(compute_stat(("mean", "x", None), df.iloc[[1, 3]]))


def test_compute_stat_unknown_column_names_it() -> None:
    with pytest.raises(ExpressionError, match=r"column 'incme' not found; did you mean 'income'"):
        compute_stat(("median", "incme", None), pd.DataFrame({"income": [1.0]}))


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("x.__class__", ["attribute access is not allowed at column 2", "allowed: ", "log1p"]),
        ("x[0]", ["subscripts (indexing) are not allowed at column 2"]),
        ("lambda: 1", ["lambda is not allowed at column 1"]),
        ("[i for i in x]", ["comprehensions are not allowed"]),
        ("(i for i in x)", ["comprehensions are not allowed"]),
        ("lg(x)", ["unknown function lg() at column 1", "did you mean log()", "allowed functions"]),
        ("log(x, base=2)", ["keyword arguments are not allowed in log()"]),
        ("log(*x)", ["starred arguments are not allowed"]),
        ("__import__('os')", ["unknown function __import__()"]),
        ("open('/etc/passwd')", ["unknown function open()"]),
        ("x.y()", ["calling anything but a named function is not allowed"]),
        ("2 ** 1000", ["exponent 1000 is too large (limit 100)"]),
        ("x ** -101", ["exponent -101 is too large"]),
        ("x if y else z", ["conditional expressions", "use where(cond, a, b)"]),
        ("f'{x}'", ["f-strings are not allowed"]),
        ("(y := 1)", ["assignment expressions (:=) are not allowed"]),
        ("[1, 2]", ["list literals are not allowed"]),
        ("{'a': 1}", ["dict literals are not allowed"]),
        ("x & y", ["operator & is not allowed"]),
        ("~x", ["operator ~ is not allowed"]),
        ("x in y", ["operator 'in' is not allowed"]),
        ("x is None", ["operator 'is' is not allowed"]),
        ("None", ["the constant None is not allowed"]),
        ("1j", ["the constant 1j is not allowed"]),
        ("'abc'", ["text 'abc' is only allowed in col"]),
        ("'a' < x", ["text can only be compared with == or !="]),
        ("log()", ["log() takes 1 argument (log(x)), got 0"]),
        ("clip(x, 1)", ["clip() takes 3 arguments (clip(x, lo, hi)), got 2"]),
        ("clip(x, 3, 1)", ["clip() lower bound 3 is above upper bound 1"]),
        ("clip(x, y, 1)", ["clip() lower bound must be a number"]),
        ("round(x, 1.5)", ["round() ndigits must be a whole number"]),
        ("median(x + 1)", ["first argument of median() must be a column name"]),
        ("quantile(x, 1.5)", ["quantile() q must be a number between 0 and 1"]),
        ("quantile(x, y)", ["quantile() q must be a number between 0 and 1"]),
        ("col(x)", ['col() takes the column name as text, e.g. col("Total Charges")']),
        ("1 +", ["invalid syntax"]),
        ("x = 1", ["invalid syntax"]),
        ("   ", ["is empty"]),
        ("a\x00", ["cannot contain null bytes"]),
        (
            "x" * (MAX_LENGTH + 1),
            [f"is too long ({MAX_LENGTH + 1} characters, limit {MAX_LENGTH})"],
        ),
        ("+".join(["x"] * 150), ["is too complex"]),
        ("-" * 100 + "x", ["is nested too deeply"]),
        ("(" * 300 + "x" + ")" * 300, ["too many nested parentheses"]),
    ],
)
def test_refusals_name_the_construct(text: str, fragments: list[str]) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, name="bad")
    # The list of what is allowed comes as the error's hint, on a line of its own.
    message = f"{info.value} | hint: {info.value.hint or ''}"
    assert message.startswith("expression ")
    assert "(derived feature 'bad')" in message
    for fragment in fragments:
        assert fragment in message


def test_non_text_expression_is_refused() -> None:
    with pytest.raises(ExpressionError, match="must be text, got int"):
        parse_expression(3)  # type: ignore[arg-type]


def test_huge_exponent_built_from_columns_is_just_inf() -> None:
    df = pd.DataFrame({"x": [10.0]})
    assert evaluate("x ** (x * 100)", df) == [np.inf]


# ------------------------------------------------------------------ transformer


def test_stats_are_learned_on_fit_data_only() -> None:
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    step = DerivedFeatures([{"name": "above", "expr": "x > median(x)"}, ("gap", "x - median(x)")])
    step.fit(train)
    assert step.stats_ == {"median(x)": 2.0}
    assert type(step.stats_["median(x)"]) is float
    out = step.transform(pd.DataFrame({"x": [10.0, 1.5]}))
    assert out["above"].tolist() == [1.0, 0.0]
    assert out["gap"].tolist() == [8.0, -0.5]


def test_transform_keeps_inputs_and_appends_float_columns_in_order(frame: pd.DataFrame) -> None:
    step = DerivedFeatures([("r", "a / (b + 1)"), ("female", 'g == "F"')]).fit(frame)
    out = step.transform(frame)
    assert list(out.columns) == ["a", "b", "g", "Total Charges", "r", "female"]
    assert out["r"].dtype == np.float64 and out["female"].dtype == np.float64
    assert list(step.get_feature_names_out()) == list(out.columns)
    pd.testing.assert_frame_equal(out[frame.columns], frame)
    assert "r" not in frame.columns  # the caller's frame is untouched


def test_later_expressions_may_use_earlier_ones() -> None:
    df = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    step = DerivedFeatures([("y", "x * 2"), ("z", "y > median(y)")]).fit(df)
    assert step.stats_ == {"median(y)": 2.0}
    assert step.transform(df)["z"].tolist() == [0.0, 0.0, 1.0]


def test_using_a_later_expression_is_refused() -> None:
    step = DerivedFeatures([("z", "y + 1"), ("y", "x * 2")])
    with pytest.raises(ExpressionError, match=r"'y' is declared later"):
        step.fit(pd.DataFrame({"x": [1.0]}))


def test_unknown_column_names_it_and_the_nearest() -> None:
    step = DerivedFeatures([("r", "TotalCharge / tenure")])
    df = pd.DataFrame({"TotalCharges": [1.0], "tenure": [1]})
    with pytest.raises(ExpressionError) as info:
        step.fit(df)
    message = str(info.value)
    assert "derived feature 'r'" in message
    assert "column 'TotalCharge' not found; did you mean 'TotalCharges'?" in message


def test_unknown_column_without_near_match_lists_columns() -> None:
    step = DerivedFeatures([("r", "zzz + 1")])
    with pytest.raises(ExpressionError, match=r"column 'zzz' not found; columns are 'a', 'b'"):
        step.fit(pd.DataFrame({"a": [1.0], "b": [2.0]}))


def test_name_clashing_with_an_input_column_is_refused() -> None:
    step = DerivedFeatures([("a", "a + 1")])
    with pytest.raises(ExpressionError, match="would overwrite an existing column"):
        step.fit(pd.DataFrame({"a": [1.0]}))


@pytest.mark.parametrize(
    ("expressions", "fragment"),
    [
        ([("r", "a"), ("r", "a")], "declared more than once"),
        ([("", "a")], "name must be non-empty text"),
        ([{"name": "r"}], "expected {name, expr}"),
        ("a + 1", "must be a list"),
    ],
)
def test_bad_expression_lists_are_refused(expressions: object, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=fragment.replace("(", r"\(")):
        DerivedFeatures(expressions).fit(pd.DataFrame({"a": [1.0]}))


def test_stat_of_text_column_is_refused_at_fit(frame: pd.DataFrame) -> None:
    with pytest.raises(ExpressionError, match=r"derived feature 'm'.*'g' is not numeric"):
        DerivedFeatures([("m", "median(g)")]).fit(frame)


def test_not_fitted_error_before_fit(frame: pd.DataFrame) -> None:
    step = DerivedFeatures([("r", "a + 1")])
    with pytest.raises(NotFittedError):
        step.transform(frame)
    with pytest.raises(NotFittedError):
        step.get_feature_names_out()


def test_arrays_are_named_x0_x1() -> None:
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    step = DerivedFeatures([("s", "x0 + x1")]).fit(X)
    out = step.transform(X)
    assert list(out.columns) == ["x0", "x1", "s"]
    assert out["s"].tolist() == [3.0, 7.0]
    assert not hasattr(step, "feature_names_in_")  # as everywhere in scikit-learn
    assert step.n_features_in_ == 2


def test_feeds_a_column_transformer_by_name(frame: pd.DataFrame) -> None:
    pipe = Pipeline(
        [
            ("derive", DerivedFeatures([("ratio", "a / (b + 1)")])),
            ("cols", ColumnTransformer([("num", SimpleImputer(), ["ratio", "b"])])),
        ]
    )
    out = pipe.fit_transform(frame)
    assert out.shape == (4, 2)
    assert list(pipe.get_feature_names_out()) == ["num__ratio", "num__b"]


def test_pickle_and_skops_round_trip(frame: pd.DataFrame) -> None:
    pipe = Pipeline(
        [
            ("coerce", ColumnCoercer({"b": "float", "g": "category"})),
            ("derive", DerivedFeatures([("hi", "a > quantile(a, 0.9)"), ("r", "a / b")])),
        ]
    ).fit(frame)
    expected = pipe.transform(frame)
    blob = sio.dumps(pipe)
    assert sorted(sio.get_untrusted_types(data=blob)) == TRUSTED
    restored = sio.loads(blob, trusted=TRUSTED)
    pd.testing.assert_frame_equal(restored.transform(frame), expected)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(pipe)).transform(frame), expected)
    assert all(type(k) is str and type(v) is float for k, v in restored[-1].stats_.items())


# ------------------------------------------------------------------ sklearn API


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    if any("x1" in expr for _, expr in estimator.expressions):
        # The expressions read column x1, which a one-feature input cannot have;
        # failing loudly on a missing column is the intended behaviour.
        return {"check_fit2d_1feature": "expressions need column x1"}
    return {}


@parametrize_with_checks(
    [
        DerivedFeatures(),
        DerivedFeatures(
            [("r", "x0 / (x1 + 1)"), ("hi", "x0 > median(x0)"), ("l", "log1p(abs(r))")]
        ),
        DerivedFeatures([("twice", "x0 * 2 + quantile(x0, 0.25)")]),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check) -> None:
    check(estimator)


@pytest.mark.parametrize(
    "check",
    [
        estimator_checks.check_dataframe_column_names_consistency,
        estimator_checks.check_transformer_get_feature_names_out_pandas,
        estimator_checks.check_set_output_transform_pandas,
        estimator_checks.check_global_output_transform_pandas,
    ],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dataframe_checks_with_default_params(check) -> None:
    # Not run by parametrize_with_checks; they build frames named col0, col1, ...
    # so only the default (no expressions) instance applies.
    check("DerivedFeatures", DerivedFeatures())


# ------------------------------------------------------------------ properties

_TOKENS = [
    "x", "y", "a b", "col('a b')", "1", "2.5", "1e400", "'os'", "(", ")", ",", ".", "[", "]",
    "+", "-", "*", "/", "//", "%", "**", "<", "==", "!=", "and", "or", "not", "if", "else",
    "lambda", ":", ":=", "for", "in", "is", "__import__", "__class__", "log", "median",
    "quantile", "where", "clip", "round", "f'{x}'", "=", "@", "~", "None", "\n", "\\", "\x00",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=60), st.lists(st.sampled_from(_TOKENS), max_size=12).map(" ".join))
)
def test_any_text_parses_or_raises_expression_error(text: str) -> None:
    try:
        expr = parse_expression(text)
    except ExpressionError as exc:
        assert str(exc).startswith("expression ")
    else:
        assert isinstance(expr, Expression)


_LEAVES = st.one_of(
    st.sampled_from(["a", "b", "col('a b')", "median(a)", "quantile(b, 0.25)", "(g == 'F')"]),
    st.integers(-5, 200).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", ">=", "==", "!=", "and", "or"])
    funcs = st.sampled_from(["log", "log1p", "exp", "sqrt", "abs", "isnull", "round", "-", "not "])
    return st.one_of(
        st.tuples(children, ops, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(funcs, children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, children, children).map(lambda t: f"where({t[0]}, {t[1]}, {t[2]})"),
        st.tuples(children, children).map(lambda t: f"fillna({t[0]}, {t[1]})"),
        children.map(lambda c: f"clip({c}, -1, 1)"),
    )


@settings(max_examples=200, deadline=None)
@given(st.recursive(_LEAVES, _extend, max_leaves=10))
def test_valid_expressions_evaluate_without_raising(text: str) -> None:
    df = pd.DataFrame(
        {
            "a": [1.0, 0.0, -2.5, np.nan, 1e300],
            "b": [3, 0, -1, 2, 7],
            "a b": [0.5, np.inf, -np.inf, 0.0, np.nan],
            "g": ["F", "M", None, "F", " "],
        }
    )
    try:
        expr = parse_expression(text)
    except ExpressionError:
        return  # e.g. a literal exponent above the limit, or too many nodes
    result = DerivedFeatures([("f", text)]).fit(df).transform(df)["f"]
    assert result.dtype == np.float64 and len(result) == len(df)
    assert expr.columns <= set(df.columns)
