"""One chunk of input in, its output rows and rejects out: the work both engines share.

:class:`ChunkScorer` holds everything a chunk needs (the model's pipeline, its input
columns, the output schema) and nothing about where the chunk came from, so the local
engine calls it in this process and the Dask engine sends it once to each worker and
calls it there on every partition. Row numbers in its rejects count from 1 within
the chunk; the caller, who reads the chunks in input order, shifts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlctl.errors import DataError
from mlctl.predict.validate import InputColumn, check_chunk


@dataclass
class ScoredChunk:
    """What one chunk gave.

    Attributes:
        output: The scored rows in input order, in the output schema; None when
            ``strict`` stopped the chunk before scoring.
        rejects: One row per bad value: ``row`` (1-based within the chunk), ``id``
            (text or None), ``column``, ``value``, ``reason``; ordered by row.
        rows_read: Rows in the chunk.
        rows_scored: Rows in ``output``.
        rows_rejected: Rows with at least one bad value.
    """

    output: pa.Table | None
    rejects: pd.DataFrame
    rows_read: int
    rows_scored: int
    rows_rejected: int


class Scorer:
    """``predict`` (and ``predict_proba`` for classifiers) sharing one preprocessing pass.

    A Pipeline's ``predict`` and ``predict_proba`` each run every transformer; running
    them once and asking the final step for both halves the work and gives the same
    answers.

    Small batches (a server's micro-batches) cost mostly per-call overhead: on the
    churn pipeline ~10 ms whether 1 row or 200, half of it in the ColumnTransformer
    (pandas column selection, validation, joblib). When the last preprocessing step
    is a ColumnTransformer of imputers, scalers and one-hot encoders, it is compiled
    into plain numpy (:class:`FastColumns`) and used for batches of up to
    :data:`FAST_MAX_ROWS` rows, but only after it gave exactly sklearn's output on a
    verification batch holding every known category, unseen and missing values; any
    input outside what was verified (another dtype, infinities, non-text categories)
    takes sklearn's path, which also gives sklearn's errors.

    Args:
        pipeline: A fitted estimator, usually a Pipeline.
        compiled: Allow the compiled path (False: always sklearn's).
    """

    def __init__(self, pipeline: Any, compiled: bool = True) -> None:
        from sklearn.base import is_classifier
        from sklearn.pipeline import Pipeline

        self.pipeline = pipeline
        split = isinstance(pipeline, Pipeline) and len(pipeline.steps) > 1
        self.head = pipeline[:-1] if split else None
        self.tail = pipeline.steps[-1][1] if split else pipeline
        self.classes = list(pipeline.classes_) if is_classifier(pipeline) else []
        self.has_proba = bool(self.classes) and hasattr(self.tail, "predict_proba")
        self.compiled = compiled
        self._fast: FastColumns | None = None
        self._fast_checked = False

    def __call__(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        if len(X) == 0:
            empty = np.asarray(self.classes)[:0] if self.classes else np.empty(0)
            return empty, np.empty((0, len(self.classes))) if self.has_proba else None
        features = self._transform(X)
        pred = np.asarray(self.tail.predict(features))
        proba = np.asarray(self.tail.predict_proba(features)) if self.has_proba else None
        return pred, proba

    @property
    def fast(self) -> FastColumns | None:
        """The verified compiled ColumnTransformer, or None (compiled on first use)."""
        if not self._fast_checked:
            self._fast_checked = True
            if self.compiled and self.head is not None:
                self._fast = FastColumns.compile(self.head.steps[-1][1])
        return self._fast

    def _transform(self, X: pd.DataFrame) -> Any:
        if self.head is None:
            return X
        if len(X) > FAST_MAX_ROWS or self.fast is None:
            return self.head.transform(X)
        from sklearn import get_config

        if get_config()["transform_output"] != "default":
            return self.head.transform(X)
        steps = self.head.steps
        for _, step in steps[:-1]:  # what Pipeline.transform does, minus its overhead
            if step is not None and step != "passthrough":
                X = step.transform(X)
        return self._compiled_or_sklearn(steps[-1][1], X)

    def _compiled_or_sklearn(self, columns: Any, X: pd.DataFrame) -> Any:
        try:
            return self._fast(X)
        except Exception:  # not verified for this input: sklearn decides (and raises)
            return columns.transform(X)


# ------------------------------------------------------------- compiled columns
FAST_MAX_ROWS = 1024  # above this, sklearn's vectorised path costs about the same


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
            expected = np.asarray(ct.transform(batch))
            got = fast(batch)
        except Exception:
            return None
        same = (
            got.dtype == expected.dtype
            and got.shape == expected.shape
            and np.array_equal(got, expected, equal_nan=True)
        )
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
        blocks = []
        for columns, numeric, ops in self.parts:
            block: Any = _numbers(frame, columns) if numeric else _texts(frame, columns)
            for op in ops:
                block = op(block)
            blocks.append(block)
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]


def _numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    arrays = []
    for c in columns:
        values = frame[c].to_numpy()
        if values.dtype.kind not in "fiu":
            raise _Unverified
        arrays.append(values)
    block = np.column_stack(arrays).astype(np.float64)  # a new array: changed in place
    if np.isinf(block).any():
        raise _Unverified  # sklearn refuses infinities with its own message
    return block


def _texts(frame: pd.DataFrame, columns: list[str]) -> list[list[Any]]:
    out = []
    for c in columns:
        series = frame[c]
        if series.dtype != object:
            raise _Unverified
        values = series.tolist()
        for v in values:
            if type(v) is not str and not (type(v) is float and v != v):
                raise _Unverified  # only text and NaN were verified
        out.append(values)
    return out


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _output_set(estimator: Any) -> bool:
    config = getattr(estimator, "_sklearn_output_config", None) or {}
    return config.get("transform") not in (None, "default")


def label(value: Any) -> str:
    """A class as text for a column name: ``Yes``, ``1`` (not ``1.0``), ``True``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def output_schema(scorer: Scorer, id_column: str | None, id_type: Any) -> pa.Schema:
    """The output's columns: the id (if any), prediction, probabilities, model name/version.

    Raises:
        DataError: the id column has the name of an output column.
    """
    fields = []
    if id_column:
        fields.append((id_column, id_type or pa.string()))
    if scorer.classes:
        fields.append(("prediction", pa.array(np.asarray(scorer.classes)).type))
    else:
        fields.append(("prediction", pa.float64()))
    if scorer.has_proba:
        fields += [(f"proba_{label(c)}", pa.float64()) for c in scorer.classes]
    fields += [("model_name", pa.string()), ("model_version", pa.int64())]
    names = [name for name, _ in fields]
    if len(set(names)) != len(names):
        raise DataError(
            f"data.id_column '{id_column}' has the name of an output column "
            f"({', '.join(names[1:])}); rename the column in the input"
        )
    return pa.schema(fields)


class ChunkScorer:
    """Check one chunk against the model's signature and score its good rows.

    Picklable (the pipeline with it), so a Dask worker holds one copy for every
    partition it scores.
    """

    def __init__(
        self,
        pipeline: Any,
        columns: list[InputColumn],
        id_column: str | None,
        id_type: Any,
        model_name: str,
        model_version: int,
        strict: bool = False,
    ) -> None:
        self.scorer = Scorer(pipeline)
        self.columns = columns
        self.id_column = id_column
        self.model_name = model_name
        self.model_version = int(model_version)
        self.strict = strict
        self.schema = output_schema(self.scorer, id_column, id_type)

    def __call__(self, chunk: pd.DataFrame) -> ScoredChunk:
        chunk = chunk.reset_index(drop=True)
        checked = check_chunk(chunk, self.columns, 1)
        # One file of a glob may lack the id column the others have: its ids stay empty.
        ids = chunk[self.id_column] if self.id_column in chunk.columns else None
        bad = checked.rejects
        rejected = int((~checked.good).sum())
        if len(bad):
            bad = bad.assign(id=_ids_at(ids, bad["row"].to_numpy() - 1))
            if self.strict:  # the caller stops at the first bad value: no need to score
                return ScoredChunk(None, bad, len(chunk), 0, rejected)
        good = checked.good
        inputs = checked.inputs if good.all() else checked.inputs[good]
        pred, proba = self.scorer(inputs)
        table = self._table(None if ids is None else ids[good], pred, proba)
        return ScoredChunk(table, bad, len(chunk), len(inputs), rejected)

    def _table(self, ids: pd.Series | None, pred: np.ndarray, proba: np.ndarray | None):
        n = len(pred)
        arrays = []
        try:
            if self.id_column and ids is None:
                arrays.append(pa.nulls(n, self.schema.field(0).type))
            elif ids is not None:
                arrays.append(pa.array(ids, type=self.schema.field(0).type, from_pandas=True))
            arrays.append(pa.array(pred, type=self.schema.field("prediction").type))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(
                f"cannot write the output column types consistently: {exc}",
                hint="all input files must give the id column the same type",
            ) from None
        if proba is not None:
            arrays += [pa.array(proba[:, i], type=pa.float64()) for i in range(proba.shape[1])]
        arrays.append(pa.repeat(pa.scalar(self.model_name, pa.string()), n))
        arrays.append(pa.repeat(pa.scalar(self.model_version, pa.int64()), n))
        return pa.Table.from_arrays(arrays, schema=self.schema)


def score_partition(scorer: ChunkScorer, frame: pd.DataFrame) -> ScoredChunk:
    """A Dask task: ``scorer(frame)`` (the scorer is the worker's shared copy)."""
    return scorer(frame)


def _ids_at(ids: pd.Series | None, positions: np.ndarray) -> list[str | None]:
    """The ids of some rows as text (None where missing or when there is no id column)."""
    if ids is None:
        return [None] * len(positions)
    picked = ids.to_numpy(dtype=object, na_value=None)[positions]
    return [None if v is None else str(v) for v in picked]
