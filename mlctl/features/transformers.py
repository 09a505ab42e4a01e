"""The sklearn transformers of the feature pipeline: derived features and coercion.

:class:`DerivedFeatures` evaluates the safe expressions of
:mod:`mlctl.features.expressions`, learning their statistics (``median(c)``,
``quantile(c, 0.9)``...) at ``fit`` time on the training split only.
:class:`ColumnCoercer` is the pipeline's first step: it turns inputs into the
types the recipe declares (``" "`` → missing, ``0``/``"0"`` → the category
``"0"``), identically at training and at serving time. Both are real sklearn
estimators (they pass ``parametrize_with_checks``) and are saved with skops.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_datetime64_any_dtype,
)
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from mlctl.errors import DataError, ExpressionError
from mlctl.features.expressions import (
    Expression,
    _fail,
    _missing_mask,
    _nearest,
    _stripped_text,
    _to_float,
    compute_stat,
    parse_expression,
    stat_label,
)

__all__ = ["COERCE_TYPES", "ColumnCoercer", "DerivedFeatures", "coerce_frame"]

# ---------------------------------------------------------------------- transformers


def _generic_names(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


def _input_frame(estimator: BaseEstimator, X: Any, *, reset: bool) -> pd.DataFrame:
    """X as a DataFrame named as in ``fit``, after sklearn's validation.

    DataFrames are not converted (that would turn mixed columns into one object
    array). Columns are named as seen in ``fit``: the DataFrame's own string
    names, else ``x0, x1, ...`` as sklearn names array columns. So an array given
    to a transformer fitted on a DataFrame is read by position, and the output
    columns always match ``get_feature_names_out()``.
    """
    if isinstance(X, pd.DataFrame):
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        frame = X
    else:
        array = validate_data(estimator, X, dtype=None, ensure_all_finite=False, reset=reset)
        frame = pd.DataFrame(array)
    if reset:
        names = list(getattr(estimator, "feature_names_in_", _generic_names(frame.shape[1])))
    else:
        names = list(_check_feature_names_in(estimator, None))
    if list(frame.columns) == names:
        return frame
    return frame.set_axis(names, axis=1)


def _transformer_tags(tags: Any) -> Any:
    tags.input_tags.allow_nan = True  # missing values are data, handled downstream
    tags.input_tags.string = True  # text columns pass through untouched
    # The output is a DataFrame of mixed column types, which has no single dtype.
    tags.transformer_tags.preserves_dtype = []
    return tags


def _specs(expressions: Any) -> list[tuple[str, str]]:
    """(name, expr) pairs from ``{"name": ..., "expr": ...}`` dicts or pairs."""
    if expressions is None:
        return []
    if isinstance(expressions, str | bytes | Mapping):
        raise ExpressionError(
            "derived features must be a list of {name, expr} items, "
            f"got {type(expressions).__name__}"
        )
    pairs = []
    for i, item in enumerate(expressions, start=1):
        if isinstance(item, Mapping) and "name" in item and "expr" in item:
            name, expr = item["name"], item["expr"]
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
            name, expr = item
        else:
            raise ExpressionError(f"derived feature #{i}: expected {{name, expr}}, got {item!r}")
        if not isinstance(name, str) or not name.strip():
            raise ExpressionError(
                f"derived feature #{i}: name must be non-empty text, got {name!r}"
            )
        pairs.append((name, expr))
    return pairs


def _parse_all(expressions: Any) -> list[Expression]:
    parsed, seen = [], set()
    for name, expr in _specs(expressions):
        if name in seen:
            raise ExpressionError(f"derived feature {name!r} is declared more than once")
        seen.add(name)
        parsed.append(parse_expression(expr, name=name))
    return parsed


def _check_columns(expr: Expression, available: pd.Index, later: Sequence[str]) -> None:
    """Fail on the first column the expression needs that is not (yet) there."""
    if expr.name in available:
        _fail(
            expr.text,
            expr.name,
            f"derived feature {expr.name!r} would overwrite an existing column; choose another name",
        )
    for column in sorted(expr.columns):
        if column in available:
            continue
        if column in later:
            why = (
                f"; derived feature {column!r} is declared later, and only earlier ones can be used"
            )
        else:
            why = _nearest(column, available)
        _fail(expr.text, expr.name, f"column {column!r} not found{why}")


def _learn_stats(expr: Expression, frame: pd.DataFrame, stats: dict[str, float]) -> None:
    for key in expr.stats:
        label = stat_label(key)
        if label not in stats:
            try:
                stats[label] = compute_stat(key, frame)
            except ExpressionError as exc:
                _fail(expr.text, expr.name, exc.message)


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Adds one float column per derived-feature expression.

    Statistics such as ``median(income)`` are learned in ``fit`` (the training
    split) and reused by ``transform``. The output is a DataFrame: the input
    columns, then the derived ones in declaration order, so a following
    ``ColumnTransformer`` can select them by name. Array input is named
    ``x0, x1, ...``.

    Args:
        expressions: ``{"name": ..., "expr": ...}`` dicts or ``(name, expr)`` pairs.

    Attributes:
        stats_: Learned statistics, ``{stat_label: float}``.
        n_features_in_: Number of input columns seen in ``fit``.
        feature_names_in_: Input column names (only when fitted on a DataFrame
            with string column names, as everywhere in scikit-learn).
    """

    def __init__(self, expressions: Sequence[Any] = ()) -> None:
        self.expressions = expressions

    def fit(self, X: Any, y: Any = None) -> DerivedFeatures:
        """Parse the expressions, check their columns and learn their statistics on X.

        Raises:
            ExpressionError: bad expression, unknown column, name clash, text column.
        """
        frame = _input_frame(self, X, reset=True)
        parsed = _parse_all(self.expressions)
        names = [e.name for e in parsed]
        stats: dict[str, float] = {}
        work = frame
        for i, expr in enumerate(parsed):
            _check_columns(expr, work.columns, names[i + 1 :])
            _learn_stats(expr, work, stats)
            # Evaluate now: later expressions may use this one, and errors surface at fit.
            work = work.assign(**{expr.name: expr.evaluate(work, stats).to_numpy()})
        self.stats_ = stats
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        """The input columns plus one float64 column per expression."""
        check_is_fitted(self)
        frame = _input_frame(self, X, reset=False)
        parsed = _parse_all(self.expressions)
        names = [e.name for e in parsed]
        out = frame.copy(deep=False)  # copy-on-write: the caller's frame is never changed
        for i, expr in enumerate(parsed):
            _check_columns(expr, out.columns, names[i + 1 :])
            out[expr.name] = expr.evaluate(out, self.stats_).to_numpy()
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Input feature names followed by the derived feature names."""
        check_is_fitted(self)
        names = list(_check_feature_names_in(self, input_features))
        return np.asarray(names + [name for name, _ in _specs(self.expressions)], dtype=object)

    def __sklearn_tags__(self) -> Any:
        return _transformer_tags(super().__sklearn_tags__())


# -------------------------------------------------------------------------- coercion

COERCE_TYPES = ("float", "int", "str", "category", "bool", "datetime")
_MAX_SAMPLES = 5
_BOOL_TEXT = {"true": 1.0, "yes": 1.0, "1": 1.0, "false": 0.0, "no": 0.0, "0": 0.0}


def _failed(series: pd.Series, values: pd.Series) -> np.ndarray:
    """Present in the input, missing after coercion."""
    return ~_missing_mask(series) & values.isna().to_numpy(dtype=bool)


def _coerce_float(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    values = _to_float(series)
    return values, _failed(series, values)


def _coerce_int(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    values, failed = _coerce_float(series)
    fractional = (values.notna() & (values % 1 != 0)).to_numpy(dtype=bool)
    # float64 (not int64) so that missing values can stay NaN.
    return values.mask(fractional), failed | fractional


def _bool_value(value: Any) -> float:
    if isinstance(value, str):
        return _BOOL_TEXT.get(value.strip().lower(), np.nan)
    if isinstance(value, bool | np.bool_ | int | float | np.number) and value in (0, 1):
        return float(value)
    return np.nan


def _coerce_bool(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    raw = series.to_numpy(dtype=object, na_value=None)
    values = pd.Series([_bool_value(v) for v in raw], index=series.index, dtype=np.float64)
    return values, _failed(series, values)


def _text_value(value: Any) -> Any:
    # 3.0 read from a float column is the category "3", the same as the text "3".
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _coerce_text(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    ok = np.zeros(len(series), dtype=bool)
    fast = _text_fast(series)
    if fast is not None:
        return pd.Series(fast, index=series.index, dtype=object), ok
    missing = _missing_mask(series)
    raw = series.to_numpy(dtype=object, na_value=None)
    values = [np.nan if gone else _text_value(v) for v, gone in zip(raw, missing, strict=True)]
    return pd.Series(values, index=series.index, dtype=object), ok


def _text_fast(series: pd.Series) -> np.ndarray | None:
    """Vectorised :func:`_text_value` (the hot path of every fit, score and request).

    Categorical columns hold few distinct values, so each distinct value is converted
    once and the result is spread back by code. Columns mixing booleans with numbers
    (``True == 1`` would share a code) take the exact slow path instead (None).
    """
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind not in ("string", "integer", "floating", "mixed-integer-float", "empty"):
        return None
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [
        np.nan if isinstance(u, str) and not u.strip() else _text_value(u)
        for u in np.asarray(uniques, dtype=object)
    ]
    table = np.array([*texts, np.nan], dtype=object)  # code -1 (missing) → the last slot
    return table[codes]


def _coerce_datetime(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if is_datetime64_any_dtype(series.dtype):
        return series, np.zeros(len(series), dtype=bool)
    text = _stripped_text(series)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
        try:
            values = pd.to_datetime(text, errors="coerce")
        except (ValueError, TypeError):  # e.g. mixed time zones
            values = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
    return values, _failed(series, values)


_COERCERS = {
    "float": _coerce_float,
    "int": _coerce_int,
    "str": _coerce_text,
    "category": _coerce_text,
    "bool": _coerce_bool,
    "datetime": _coerce_datetime,
}


def _check_types(types: Any) -> dict[Any, str]:
    if types is None:
        return {}
    if not isinstance(types, Mapping):
        raise DataError(f"coercion types must map column to type, got {type(types).__name__}")
    checked = {}
    for column, kind in types.items():
        if kind not in _COERCERS:
            close = difflib.get_close_matches(str(kind), COERCE_TYPES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataError(
                f"column {column!r}: unknown type {kind!r}; expected one of "
                f"{', '.join(COERCE_TYPES)}{hint}"
            )
        checked[column] = kind
    return checked


def _require_columns(types: Mapping[Any, str], columns: pd.Index) -> None:
    missing = [c for c in types if c not in columns]
    if missing:
        details = "; ".join(f"{c!r}{_nearest(str(c), columns)}" for c in missing)
        raise DataError(f"columns to coerce are missing from the data: {details}")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def coerce_frame(
    df: pd.DataFrame, types: Mapping[Any, str] | None
) -> tuple[pd.DataFrame, dict[Any, list[tuple[Any, Any]]]]:
    """Coerce columns leniently and report values that could not be read.

    Blank text (``" "``) counts as missing everywhere. ``float``/``int`` parse
    numbers (``int`` stays float64 so missing values stay NaN; fractions fail),
    ``bool`` reads true/false/yes/no/1/0 in any case as 1.0/0.0, ``str`` and
    ``category`` give text (``3.0`` becomes ``"3"``), ``datetime`` parses dates.
    Values that fail become NaN.

    Args:
        df: The frame; it is not modified.
        types: Column name to one of :data:`COERCE_TYPES`; other columns are untouched.

    Returns:
        The coerced copy, and per column with failures up to five
        ``(index label, original value)`` samples.

    Raises:
        DataError: a listed column is missing, or a type is unknown.
    """
    checked = _check_types(types)
    _require_columns(checked, df.columns)
    out = df.copy(deep=False)
    failures: dict[Any, list[tuple[Any, Any]]] = {}
    for column, kind in checked.items():
        series = df[column]
        values, failed = _COERCERS[kind](series)
        # Assign the Series itself: an object ndarray would be re-inferred as pandas' str dtype.
        out[column] = values
        if failed.any():
            rows = np.flatnonzero(failed)[:_MAX_SAMPLES]
            failures[column] = [(_plain(df.index[r]), _plain(series.iloc[r])) for r in rows]
    return out, failures


class ColumnCoercer(TransformerMixin, BaseEstimator):
    """Coerces the listed columns (see :func:`coerce_frame`); others pass through.

    The first step of a pipeline, so training and serving read values the same
    way (a client sending ``"0"`` or ``0`` gets the same answer).

    Args:
        types: Column name to one of ``float``, ``int``, ``str``, ``category``,
            ``bool``, ``datetime``.

    Attributes:
        types_: The checked types.
        n_features_in_: Number of input columns seen in ``fit``.
        feature_names_in_: Input column names (DataFrame input only).
    """

    def __init__(self, types: Mapping[str, str] | None = None) -> None:
        self.types = types

    def fit(self, X: Any, y: Any = None) -> ColumnCoercer:
        """Check the types and that every listed column exists.

        Raises:
            DataError: unknown type or missing column.
        """
        frame = _input_frame(self, X, reset=True)
        types = _check_types(self.types)
        _require_columns(types, frame.columns)
        self.types_ = dict(types)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        """A coerced copy of X as a DataFrame."""
        check_is_fitted(self)
        frame = _input_frame(self, X, reset=False)
        return coerce_frame(frame, self.types_)[0]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input feature names (coercion never adds or drops columns)."""
        check_is_fitted(self)
        return np.asarray(_check_feature_names_in(self, input_features), dtype=object)

    def __sklearn_tags__(self) -> Any:
        return _transformer_tags(super().__sklearn_tags__())
