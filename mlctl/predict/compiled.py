"""Compiled inference for small batches: an mlctl pipeline's preprocessing in numpy.

A server scores micro-batches of a few rows. Through scikit-learn and pandas that
costs ~6 ms a call on the churn pipeline whatever the row count (DataFrame
construction and validation, per-column pandas conversions in the coercer, one
``__setitem__`` per derived feature, the ColumnTransformer's column selection),
while the arithmetic takes microseconds. So two compiled paths replace it:

* :class:`FastColumns`: a fitted ColumnTransformer of imputers, scalers and one-hot
  encoders, on float arrays and lists of text; and, for big batches (a file scored by
  ``mlctl monitor --current`` or ``mlctl predict``), on whole columns factorised
  once each (:meth:`FastColumns.columns`), where scikit-learn's object-array imputer
  and encoder cost ~2 s per million rows;
* :class:`FastHead`: the whole head of a pipeline built by
  :func:`mlctl.features.build.build_pipeline` (ColumnCoercer → DerivedFeatures →
  ColumnTransformer) on the plain per-column lists a request check gives, with no
  DataFrame at all.

Each is used only after it gave exactly (bit for bit, same dtype) scikit-learn's
output on a verification batch holding every known category, unseen, blank and
missing values, numeric text and extreme numbers. At run time any value outside
what the compiled path handles exactly (a boolean, an infinity, a type it has not
seen) raises :class:`_Unverified` and the batch takes scikit-learn's path, which
also gives scikit-learn's errors. The coercion rules are applied value by value with
the very functions the coercer uses (:func:`_text_value`, ``pd.to_numeric``), so
they agree by construction, not only on the verification batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlctl.features.coerce import _text_value
from mlctl.features.expressions import Expression, _Context
from mlctl.features.transformers import ColumnCoercer, DerivedFeatures, _parse_all

_NAN = float("nan")
_HEAD_KINDS = (None, "float", "int", "str", "category")  # coercions compiled here
_UNUSABLE = None  # a column the compiled path does not hold (read → _Unverified)
FAST_MAX_ROWS = 1024  # above this, the per-value paths cost more than vectorised ones


class _Unverified(Exception):
    """Input the compiled path was not verified on: sklearn's path takes it."""


class _Impute:
    """SimpleImputer.transform (missing = NaN, no indicator) on a dense block."""

    def __init__(self, imputer: Any, numeric: bool) -> None:
        stats = np.asarray(imputer.statistics_)
        if not _is_nan(imputer.missing_values) or imputer.add_indicator:
            raise _Unverified
        if numeric:
            self.fill = stats.astype(np.float64)
            if np.isnan(self.fill).any():
                raise _Unverified
        else:
            self.fill = list(stats)
            if any(not isinstance(v, str) for v in self.fill):
                raise _Unverified
        self.numeric = numeric

    def __call__(self, X: Any) -> Any:
        if self.numeric:
            missing = np.isnan(X)
            if missing.any():
                X[missing] = np.broadcast_to(self.fill, X.shape)[missing]
            return X
        # object columns hold text or NaN here (checked when they were read)
        return [
            [fill if v != v else v for v in column]
            for column, fill in zip(X, self.fill, strict=True)
        ]


class _Scale:
    """StandardScaler / RobustScaler / MinMaxScaler.transform, the same float operations."""

    def __init__(self, scaler: Any) -> None:
        from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

        self.ops: list[tuple[str, np.ndarray]] = []
        if type(scaler) is StandardScaler:
            if scaler.with_mean:
                self.ops.append(("sub", scaler.mean_))
            if scaler.with_std:
                self.ops.append(("div", scaler.scale_))
        elif type(scaler) is RobustScaler:
            if scaler.with_centering:
                self.ops.append(("sub", scaler.center_))
            if scaler.with_scaling:
                self.ops.append(("div", scaler.scale_))
        elif type(scaler) is MinMaxScaler and not scaler.clip:
            self.ops += [("mul", scaler.scale_), ("add", scaler.min_)]
        else:
            raise _Unverified

    def __call__(self, X: np.ndarray) -> np.ndarray:
        for op, value in self.ops:
            if op == "sub":
                X -= value
            elif op == "div":
                X /= value
            elif op == "mul":
                X *= value
            else:
                X += value
        return X


class _OneHot:
    """OneHotEncoder.transform (dense; unknown categories ignored) of text columns."""

    def __init__(self, encoder: Any) -> None:
        unknown = encoder.handle_unknown in ("ignore", "infrequent_if_exist")
        if (
            not unknown
            or encoder.sparse_output
            or getattr(encoder, "drop_idx_", None) is not None
            or getattr(encoder, "_infrequent_enabled", False)
        ):
            raise _Unverified
        self.dtype = encoder.dtype
        self.index: list[dict[str, int]] = []
        offset = 0
        for cats in encoder.categories_:
            if any(not isinstance(c, str) for c in cats):
                raise _Unverified
            self.index.append({c: offset + k for k, c in enumerate(cats)})
            offset += len(cats)
        self.width = offset

    def __call__(self, X: list[list[Any]]) -> np.ndarray:
        n = len(X[0]) if X else 0
        out = np.zeros((n, self.width), dtype=self.dtype)
        rows, cols = [], []
        for column, index in zip(X, self.index, strict=True):
            for i, v in enumerate(column):
                k = index.get(v) if type(v) is str else None
                if k is not None:
                    rows.append(i)
                    cols.append(k)
        out[rows, cols] = 1
        return out

    def columns(self, X: list[np.ndarray], fills: list[Any], out: np.ndarray) -> None:
        """The same output for whole object columns, written into ``out`` (n × width,
        zeros).

        Each column is factorised once (a hash of its distinct values, few for a
        category) and its codes mapped to output columns; ``fills`` are the imputed
        values of missing cells (None: not imputed). Only text and NaN were verified.
        """
        rows = np.arange(out.shape[0])
        for column, fill, index in zip(X, fills, self.index, strict=True):
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            distinct = np.asarray(uniques, dtype=object).tolist()
            if any(type(u) is not str for u in distinct):
                raise _Unverified  # numbers, booleans, str subclasses: not verified
            missing = codes < 0
            if missing.any() and any(type(v) is not float for v in column[missing]):
                raise _Unverified  # None, pd.NA or NaT: only NaN was verified
            fill_at = -1 if fill is None else index.get(fill, -1)
            table = np.array([index.get(u, -1) for u in distinct] + [fill_at], dtype=np.intp)
            at = table[codes]  # code -1 (missing) reads the last slot
            known = at >= 0
            out[rows[known], at[known]] = 1


class FastColumns:
    """A fitted ColumnTransformer of imputers, scalers and one-hot encoders in numpy.

    Built by :meth:`compile`, which returns None for anything else, or when the result
    differs from the ColumnTransformer's own on the verification batch.
    """

    def __init__(self, ct: Any) -> None:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder

        if getattr(ct, "sparse_output_", False) or _output_set(ct):
            raise _Unverified
        self.names = list(getattr(ct, "feature_names_in_", []))
        self.parts: list[tuple[list[str], bool, list[Any]]] = []
        for name, transformer, columns in ct.transformers_:
            if transformer == "drop" or (name == "remainder" and not len(columns)):
                continue
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise _Unverified
            if not columns:
                continue
            steps = (
                [s for _, s in transformer.steps]
                if isinstance(transformer, Pipeline)
                else [transformer]
            )
            if any(_output_set(s) for s in [transformer, *steps]):
                raise _Unverified
            numeric = not isinstance(steps[-1], OneHotEncoder)
            ops: list[Any] = []
            for step in steps:
                if isinstance(step, SimpleImputer) and type(step) is SimpleImputer:
                    ops.append(_Impute(step, numeric))
                elif isinstance(step, OneHotEncoder) and step is steps[-1]:
                    ops.append(_OneHot(step))
                elif numeric:
                    ops.append(_Scale(step))
                else:
                    raise _Unverified
            self.parts.append((columns, numeric, ops))
        if not self.parts or not self.names:
            raise _Unverified

    @classmethod
    def compile(cls, ct: Any) -> FastColumns | None:
        """The compiled ``ct`` if it is supported and gives exactly its output."""
        from sklearn.compose import ColumnTransformer

        if type(ct) is not ColumnTransformer:
            return None
        try:
            fast = cls(ct)
            batch = fast.verification_batch(ct)
            expected = ct.transform(batch)
            same = _identical(fast(batch), expected) and _identical(fast.columns(batch), expected)
        except Exception:
            return None
        return fast if same else None

    def verification_batch(self, ct: Any) -> pd.DataFrame:
        """Every known category, an unseen one and NaN in each text column; typical,
        extreme and missing values in each number column."""
        text: dict[str, list[Any]] = {}
        for columns, numeric, ops in self.parts:
            if numeric:
                continue
            encoder = ops[-1]
            for column, index in zip(columns, encoder.index, strict=True):
                text[column] = [*index, "__mlctl_unseen__", np.nan]
        n = max([len(v) for v in text.values()] + [8])
        numbers = [0.0, 1.0, -1.5, 1e6, -1e-6, np.nan, 3.25, 42.0]
        data = {}
        for name in self.names:
            if name in text:
                values = text[name]
                # A Series keeps the object dtype (an array would be inferred as str).
                data[name] = pd.Series([values[i % len(values)] for i in range(n)], dtype=object)
            else:
                data[name] = pd.Series([numbers[i % len(numbers)] for i in range(n)])
        return pd.DataFrame(data, columns=self.names)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        if list(frame.columns) != self.names:
            raise _Unverified
        return self.arrays({c: _values(frame[c]) for c in self.names})

    def columns(self, frame: pd.DataFrame) -> np.ndarray:
        """The output for a batch of any size, column by column (no per-value Python).

        Number columns as in :meth:`arrays`; text columns through
        :meth:`_OneHot.columns`. The blocks are written into one preallocated matrix
        (of the dtype :func:`numpy.hstack` would give), not stacked afterwards.
        """
        if list(frame.columns) != self.names:
            raise _Unverified
        widths = [len(cols) if numeric else ops[-1].width for cols, numeric, ops in self.parts]
        dtypes = [np.float64 if numeric else ops[-1].dtype for _, numeric, ops in self.parts]
        out = np.zeros((len(frame), sum(widths)), dtype=np.result_type(*dtypes))
        start = 0
        for (columns, numeric, ops), width in zip(self.parts, widths, strict=True):
            target = out[:, start : start + width]
            if numeric:
                block: Any = _numbers({c: _values(frame[c]) for c in columns}, columns)
                for op in ops:
                    block = op(block)
                target[:] = block
            else:
                imputers, encoder = ops[:-1], ops[-1]
                fills = [imputers[0].fill[j] if imputers else None for j in range(len(columns))]
                text = [frame[c] for c in columns]
                if any(series.dtype != object for series in text):
                    raise _Unverified  # e.g. pandas' str dtype: not what was verified
                encoder.columns([series.to_numpy() for series in text], fills, target)
            start += width
        return out

    def arrays(self, data: Mapping[str, Any]) -> np.ndarray:
        """The output for columns given as float arrays (numbers) and lists (text)."""
        blocks = []
        for columns, numeric, ops in self.parts:
            block: Any = _numbers(data, columns) if numeric else _texts(data, columns)
            for op in ops:
                block = op(block)
            blocks.append(block)
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]


def _values(series: pd.Series) -> Any:
    """A column as :meth:`FastColumns.arrays` reads it: numbers as an array, text as a list."""
    if series.dtype.kind in "fiu":
        return series.to_numpy()
    if series.dtype == object:
        return series.tolist()
    raise _Unverified  # e.g. pandas' str dtype: not what was verified


def _numbers(data: Mapping[str, Any], columns: list[str]) -> np.ndarray:
    arrays = []
    for c in columns:
        values = data[c]
        if not isinstance(values, np.ndarray) or values.dtype.kind not in "fiu":
            raise _Unverified
        arrays.append(values)
    block = np.column_stack(arrays).astype(np.float64)  # a new array: changed in place
    if np.isinf(block).any():
        raise _Unverified  # sklearn refuses infinities with its own message
    return block


def _texts(data: Mapping[str, Any], columns: list[str]) -> list[list[Any]]:
    out = []
    for c in columns:
        values = data[c]
        if not isinstance(values, list):
            raise _Unverified
        for v in values:
            if type(v) is not str and not (type(v) is float and v != v):
                raise _Unverified  # only text and NaN were verified
        out.append(values)
    return out


def _identical(got: np.ndarray, expected: Any) -> bool:
    """Bit for bit: the same dtype, shape and values (NaN where sklearn has NaN)."""
    expected = np.asarray(expected)
    return (
        got.dtype == expected.dtype
        and got.shape == expected.shape
        and bool(np.array_equal(got, expected, equal_nan=True))
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _output_set(estimator: Any) -> bool:
    config = getattr(estimator, "_sklearn_output_config", None) or {}
    return config.get("transform") not in (None, "default")


# ------------------------------------------------------------------- whole head
def frame_of(names: Sequence[str], values: Mapping[str, Sequence[Any]], numeric: Collection[str]):
    """The DataFrame scikit-learn's path gets for column lists (numbers as float64)."""
    data = {
        name: (
            np.asarray(values[name], dtype=np.float64)
            if name in numeric
            else np.asarray(values[name], dtype=object)
        )
        for name in names
    }
    # The arrays are new and never changed afterwards: no need for pandas to copy them.
    return pd.DataFrame(data, columns=list(names), copy=False)


def _text(value: Any) -> Any:
    """ColumnCoercer's ``str``/``category`` rule for one value (blank text is missing)."""
    if type(value) is str:
        return value if value.strip() else _NAN
    if value is None or (type(value) is float and value != value):
        return _NAN
    if type(value) is bool:
        raise _Unverified  # pandas reads a column of booleans differently
    return _text_value(value)


def _parse_numbers(raw: Sequence[Any]) -> np.ndarray:
    """ColumnCoercer's ``float`` rule for a column of text and numbers."""
    cleaned = []
    for value in raw:
        kind = type(value)
        if kind is str:
            value = value.strip() or None
        elif not (value is None or kind is int or kind is float):
            raise _Unverified
        cleaned.append(value)
    parsed = pd.to_numeric(np.array(cleaned, dtype=object), errors="coerce")
    return np.asarray(parsed, dtype=np.float64)


class _ArrayContext(_Context):
    """An expression's view of compiled columns: float arrays and lists of text."""

    __slots__ = ()

    def column(self, name: str) -> pd.Series:
        values = self.frame.get(name, _UNUSABLE)
        if values is _UNUSABLE:
            raise _Unverified
        return pd.Series(values, dtype=None if isinstance(values, np.ndarray) else object)

    def numeric(self, name: str) -> np.ndarray:
        values = self.frame.get(name, _UNUSABLE)
        if not isinstance(values, np.ndarray) or values.dtype.kind != "f":
            raise _Unverified  # text read as numbers: sklearn's path parses (or refuses) it
        return values


class FastHead:
    """ColumnCoercer → DerivedFeatures → ColumnTransformer on per-column lists.

    Input: ``values[name]`` for every input column of the pipeline; columns named in
    ``numeric`` hold floats or None (what a request check gives for number columns),
    the others any of text, int, float or None.

    Built by :meth:`compile`, which returns None for any other pipeline shape, a
    coercion other than float/int/str/category, or a result that differs from
    scikit-learn's on the verification batch.
    """

    def __init__(self, head: Any, numeric: Collection[str]) -> None:
        steps = [s for _, s in head.steps if s is not None and s != "passthrough"]
        if (
            len(steps) != 3
            or type(steps[0]) is not ColumnCoercer
            or type(steps[1]) is not DerivedFeatures
            or any(_output_set(s) for s in steps)
        ):
            raise _Unverified
        coercer, derive, ct = steps
        self.names = [str(c) for c in coercer.feature_names_in_]
        self.kinds = {name: coercer.types_.get(name) for name in self.names}
        if any(kind not in _HEAD_KINDS for kind in self.kinds.values()):
            raise _Unverified
        if list(getattr(derive, "feature_names_in_", [])) != self.names:
            raise _Unverified
        self.numeric = frozenset(numeric)
        self.expressions: list[Expression] = _parse_all(derive.expressions)
        self.stats = dict(derive.stats_)
        self.columns = FastColumns(ct)
        if self.columns.names != self.names + [e.name for e in self.expressions]:
            raise _Unverified

    @classmethod
    def compile(cls, head: Any, numeric: Collection[str]) -> FastHead | None:
        """The compiled ``head`` if it is supported and gives exactly its output."""
        try:
            fast = cls(head, numeric)
            values, n = fast.verification_batch()
            expected = head.transform(frame_of(fast.names, values, fast.numeric))
            same = _identical(fast(values, n), expected)
        except Exception:
            return None
        return fast if same else None

    def verification_batch(self) -> tuple[dict[str, list[Any]], int]:
        """Every known category, unseen, blank and missing values, numeric text and
        extreme numbers, in the input types a request check gives."""
        numbers: list[Any] = [0.0, 1.0, -1.5, 1e6, -1e-6, None, 3.25, 42.0, -0.0, 2.0, 1e300]
        text = ["__mlctl_unseen__", " ", "", None, " x ", 3, 2.5, 0, 1.0, "7"]
        numeric_text = ["29.85", " 7 ", " ", "", None, "abc", "1e3", "-0", "nan", "1_000", 12, 2.5]
        known = self._categories()
        columns: dict[str, list[Any]] = {}
        for name in self.names:
            kind, cats = self.kinds[name], known.get(name, [])
            if name in self.numeric:
                parsed = [_number_or_none(c) for c in cats]
                columns[name] = numbers + [v for v in parsed if v is not None]
            elif kind in ("float", "int"):
                columns[name] = numeric_text + numbers
            else:
                columns[name] = cats + text
        n = max(len(v) for v in columns.values())
        return {k: [v[i % len(v)] for i in range(n)] for k, v in columns.items()}, n

    def _categories(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for columns, numeric, ops in self.columns.parts:
            if not numeric:
                for column, index in zip(columns, ops[-1].index, strict=True):
                    out[column] = list(index)
        return out

    def __call__(self, values: Mapping[str, Sequence[Any]], n: int) -> np.ndarray:
        data: dict[str, Any] = {}
        for name in self.names:
            raw, kind = values[name], self.kinds[name]
            if name in self.numeric:
                try:
                    column: Any = np.asarray(raw, dtype=np.float64)
                except (TypeError, ValueError):
                    raise _Unverified from None
                if kind in ("str", "category"):
                    column = [_text(v) for v in column.tolist()]
            elif kind in ("float", "int"):
                column = _parse_numbers(raw)
            elif kind in ("str", "category"):
                column = [_text(v) for v in raw]
            else:
                column = _UNUSABLE  # pandas' own text dtype: FastColumns would refuse it
            if kind == "int" and isinstance(column, np.ndarray):
                with np.errstate(invalid="ignore"):  # inf % 1 is NaN: masked, as pandas does
                    column = np.where(column % 1 != 0, _NAN, column)
            data[name] = column
        for expr in self.expressions:
            data[expr.name] = expr.compute(_ArrayContext(data, self.stats, expr), n)
        return self.columns.arrays(data)


def _number_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
