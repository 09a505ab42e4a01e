"""Lenient coercion of columns to the recipe's types (``data.coerce``).

The rules of :class:`~mlctl_runtime.transformers.ColumnCoercer`, the pipeline's first
step, as plain functions: ``mlctl monitor`` reads columns with them exactly as the model
does, without importing scikit-learn.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype

from mlctl_runtime.errors import DataError
from mlctl_runtime.expressions import _missing_mask, _nearest, _stripped_text, _to_float

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


SMALL_TEXT = 256  # rows: below this, pandas' text dtype is read value by value


def _text_fast(series: pd.Series) -> np.ndarray | None:
    """Vectorised :func:`_text_value` (the hot path of every fit, score and request).

    Categorical columns hold few distinct values, so each distinct value is converted
    once and the result is spread back by code. Columns mixing booleans with numbers
    (``True == 1`` would share a code) take the exact slow path instead (None).
    """
    if isinstance(series.dtype, pd.StringDtype) and len(series) <= SMALL_TEXT:
        return _small_strings(series)
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


def _small_strings(series: pd.Series) -> np.ndarray:
    """A few rows of pandas' text dtype (Arrow-backed by default in pandas 3: what
    ``read_csv`` and a DataFrame of JSON rows give): every value is text or missing, so
    only "blank is missing" is left to apply. Value by value, this costs a fraction of
    inferring the type and factorising through Arrow (~0.3 ms a column per call)."""
    values = series.to_numpy(dtype=object, na_value=np.nan)
    out = np.empty(len(values), dtype=object)
    out[:] = [v if type(v) is str and v.strip() else np.nan for v in values]
    return out


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
