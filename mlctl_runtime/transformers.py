"""The sklearn transformers of the feature pipeline: derived features and coercion.

:class:`DerivedFeatures` evaluates the safe expressions of
:mod:`mlctl_runtime.expressions`, learning their statistics (``median(c)``,
``quantile(c, 0.9)``...) at ``fit`` time on the training split only.
:class:`ColumnCoercer` is the pipeline's first step: it turns inputs into the
types the recipe declares (``" "`` → missing, ``0``/``"0"`` → the category
``"0"``), identically at training and at serving time. Both are real sklearn
estimators (they pass ``parametrize_with_checks``) and are saved with skops.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from mlctl_runtime.coerce import COERCE_TYPES, _check_types, _require_columns, coerce_frame
from mlctl_runtime.errors import DataError, ExpressionError
from mlctl_runtime.expressions import (
    Expression,
    _fail,
    _nearest,
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
    """The checked expressions, parsed once per distinct list of ``(name, expr)`` (a
    parsed :class:`Expression` holds no data, so every transformer may share it):
    ``transform`` runs on every scored batch, and parsing the churn recipe's five
    expressions each time cost a tenth of a one-row ``transform``."""
    specs = _specs(expressions)
    try:
        return list(_parse_specs(tuple(specs)))
    except TypeError:  # an unhashable expression value: parse it to get its error
        return list(_parse_specs.__wrapped__(tuple(specs)))


@functools.lru_cache(maxsize=256)
def _parse_specs(specs: tuple[tuple[str, Any], ...]) -> tuple[Expression, ...]:
    parsed, seen = [], set()
    for name, expr in specs:
        if name in seen:
            raise ExpressionError(f"derived feature {name!r} is declared more than once")
        seen.add(name)
        parsed.append(parse_expression(expr, name=name))
    return tuple(parsed)


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


def _by_name(estimator: BaseEstimator, X: Any) -> Any:
    """A DataFrame's columns seen in ``fit``, in ``fit`` order; other input as it is."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None or not isinstance(X, pd.DataFrame):
        return X
    wanted = [str(n) for n in names]
    have = [str(c) for c in X.columns]
    if have == wanted:
        return X
    missing = [n for n in wanted if n not in have]
    if missing:
        details = "; ".join(f"{n!r}{_nearest(n, X.columns)}" for n in missing[:10])
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise DataError(f"the input lacks columns the model needs: {details}{more}")
    twice = sorted({n for n in wanted if have.count(n) > 1})
    if twice:
        raise DataError(f"the input holds columns more than once: {', '.join(map(repr, twice))}")
    return X.iloc[:, [have.index(n) for n in wanted]].set_axis(wanted, axis=1)


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
        """A coerced copy of X as a DataFrame.

        A DataFrame is read by column name: any column order works and columns not
        seen in ``fit`` are dropped (as MLflow's scoring does), so the pipeline takes
        raw tables as they come (``mlflow.models.evaluate``, ``pd.read_csv``).

        Raises:
            DataError: a DataFrame lacks a column seen in ``fit``, or holds one twice.
        """
        check_is_fitted(self)
        frame = _input_frame(self, _by_name(self, X), reset=False)
        return coerce_frame(frame, self.types_)[0]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input feature names (coercion never adds or drops columns)."""
        check_is_fitted(self)
        return np.asarray(_check_feature_names_in(self, input_features), dtype=object)

    def __sklearn_tags__(self) -> Any:
        return _transformer_tags(super().__sklearn_tags__())
