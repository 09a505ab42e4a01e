"""One chunk of input in, its output rows and rejects out: the work both engines share.

:class:`ChunkScorer` holds everything a chunk needs (the model's pipeline, its input
columns, the output schema) and nothing about where the chunk came from, so the local
engine calls it in this process and the Dask engine sends it once to each worker and
calls it there on every partition. Row numbers in its rejects count from 1 within
the chunk; the caller, who reads the chunks in input order, shifts them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlctl.errors import DataError
from mlctl.predict.compiled import FAST_MAX_ROWS, FastColumns, FastHead, frame_of
from mlctl.predict.validate import InputColumn, check_chunk
from mlctl.text import class_text


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
    into plain numpy (:class:`FastColumns`): per value for batches of up to
    :data:`FAST_MAX_ROWS` rows, per column (hash lookups of the categories) above,
    where sklearn's object-array imputers and encoders are slow. Both are used only
    after they gave exactly sklearn's output on a
    verification batch holding every known category, unseen and missing values; any
    input outside what was verified (another dtype, infinities, non-text categories)
    takes sklearn's path, which also gives sklearn's errors. :meth:`columns` goes
    further for the server: the whole head (coercion, derived features, columns) on
    plain per-column lists, with no DataFrame (:class:`FastHead`).

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
        self._heads: dict[frozenset[str], FastHead | None] = {}

    def __call__(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        if len(X) == 0:
            empty = np.asarray(self.classes)[:0] if self.classes else np.empty(0)
            return empty, np.empty((0, len(self.classes))) if self.has_proba else None
        return self._predict(self._transform(X))

    def columns(
        self, names: Sequence[str], values: Mapping[str, Sequence[Any]], numeric: Collection[str]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Score column lists (numbers as floats or None): the server's micro-batches.

        Up to :data:`FAST_MAX_ROWS` rows go through the verified :class:`FastHead`
        when the pipeline has one for these number columns, else (and for any value
        it does not handle exactly) through scikit-learn as a DataFrame.
        """
        n = len(values[names[0]]) if names else 0
        head = self.fast_head(numeric) if 0 < n <= FAST_MAX_ROWS else None
        if head is not None and _default_output():
            try:
                features = head(values, n)
            except Exception:  # not verified for this input: sklearn decides (and raises)
                features = None
            if features is not None:
                return self._predict(features)
        return self(frame_of(names, values, numeric))

    def fast_head(self, numeric: Collection[str]) -> FastHead | None:
        """The verified compiled head for these number columns, or None (compiled once)."""
        key = frozenset(numeric)
        if key not in self._heads:
            ok = self.compiled and self.head is not None
            self._heads[key] = FastHead.compile(self.head, key) if ok else None
        return self._heads[key]

    def _predict(self, features: Any) -> tuple[np.ndarray, np.ndarray | None]:
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
        if self.fast is None or not _default_output():
            return self.head.transform(X)
        steps = self.head.steps
        for _, step in steps[:-1]:  # what Pipeline.transform does, minus its overhead
            if step is not None and step != "passthrough":
                X = step.transform(X)
        return self._compiled_or_sklearn(steps[-1][1], X)

    def _compiled_or_sklearn(self, columns: Any, X: pd.DataFrame) -> Any:
        fast = self._fast
        try:
            return fast(X) if len(X) <= FAST_MAX_ROWS else fast.columns(X)
        except Exception:  # not verified for this input: sklearn decides (and raises)
            return columns.transform(X)


def _default_output() -> bool:
    """sklearn's ``transform_output`` is the default (a set_output config changes types)."""
    from sklearn import get_config

    return get_config()["transform_output"] == "default"


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
        fields += [(f"proba_{class_text(c)}", pa.float64()) for c in scorer.classes]
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
