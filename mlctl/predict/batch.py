"""``mlctl predict`` as a library call: a registered model scores CSV/Parquet files.

The input (a file or a glob) is read chunk by chunk, so memory is bounded by the
chunk size. Each chunk is checked against the model's signature
(:mod:`mlctl.predict.validate`): rows holding a bad value are not scored but written
to a rejects file (or, with ``strict``, stop the job). The good rows are scored by
the registered pipeline and appended to the output, which appears under its final
name only when the job completes (:mod:`mlctl.predict.files`).

Progress is reported through an ``on_event(kind, data)`` callback; nothing here
prints. The result is a :class:`BatchSummary` (its ``to_dict`` is the ``--json``
document, see docs/cli.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlctl.errors import DataError
from mlctl.predict.files import (
    AtomicTableWriter,
    InputFile,
    open_inputs,
    output_format,
    read_chunks,
)
from mlctl.predict.validate import InputColumn, check_chunk, check_columns, input_columns
from mlctl.recipe.loader import LoadedRecipe

JSON_SCHEMA_VERSION = 1
DEFAULT_CHUNK_SIZE = 50_000
REJECTS_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("file", pa.string()),
        ("id", pa.string()),
        ("column", pa.string()),
        ("value", pa.string()),
        ("reason", pa.string()),
    ]
)

EventFn = Callable[[str, dict[str, Any]], None]


@dataclass
class BatchOptions:
    """Choices made on the command line (paths relative to the current folder)."""

    input: str
    output: str
    model: str | None = None  # NAME, NAME@ALIAS or NAME/VERSION; default <model_name>@champion
    workspace: str | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    strict: bool = False
    rejects: str | None = None  # default <output stem>.rejects.csv next to the output
    overwrite: bool = False


@dataclass
class BatchSummary:
    """What a batch scoring job did."""

    recipe: str
    model_name: str
    model_version: int
    model_aliases: list[str]
    tracking_uri: str
    input_files: list[str]
    output: str
    output_format: str
    rows_read: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    rejects: str | None = None  # None when no row was rejected
    seconds: float = 0.0
    columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": JSON_SCHEMA_VERSION,
            "recipe": self.recipe,
            "model": {
                "name": self.model_name,
                "version": self.model_version,
                "aliases": self.model_aliases,
            },
            "tracking_uri": self.tracking_uri,
            "input_files": self.input_files,
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "output": self.output,
            "output_format": self.output_format,
            "output_columns": self.columns,
            "rejects": self.rejects,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class _Paths:
    inputs: list[InputFile]
    output: Path
    output_format: str
    rejects: Path
    rejects_format: str


def predict_batch(
    loaded: LoadedRecipe, options: BatchOptions, on_event: EventFn | None = None
) -> BatchSummary:
    """Score ``options.input`` with a registered model; see the module docstring.

    Raises:
        DataError: bad paths, an existing output without ``overwrite``, unreadable
            input, missing columns, or (``strict``) the first bad value.
        RegistryError: the model reference does not exist (lists what does).
        TrackingError: the tracking store cannot be used.
    """
    from mlctl.tracking.registry import parse_reference

    emit = on_event or (lambda kind, data: None)
    started = time.perf_counter()
    reference = options.model or f"{loaded.recipe.model_name}@champion"
    parse_reference(reference)  # every cheap check before the model is loaded
    paths = _paths(loaded, options)
    emit("stage", {"message": f"loading model {reference}"})
    model, tracking_uri = _load_model(loaded, options.workspace, reference)
    emit("model", {"name": model.name, "version": model.version, "aliases": model.aliases})
    fallback = getattr(model.pipeline, "feature_names_in_", ())
    columns = input_columns(model.input_schema, [str(c) for c in fallback])
    for source in paths.inputs:
        check_columns(source.columns, columns, f"--input {source.path}")
    job = _Job(loaded, options, paths, model, columns)
    summary = BatchSummary(
        recipe=str(loaded.path),
        model_name=model.name,
        model_version=model.version,
        model_aliases=list(model.aliases),
        tracking_uri=tracking_uri,
        input_files=[str(f.path) for f in paths.inputs],
        output=str(paths.output),
        output_format=paths.output_format,
        columns=list(job.schema.names),
    )
    job.run(summary, emit)
    summary.seconds = time.perf_counter() - started
    return summary


def _absolute(value: str) -> Path:
    """A command-line path: relative to the current folder, not to the recipe."""
    return Path(os.path.abspath(os.path.expanduser(value)))


def _paths(loaded: LoadedRecipe, options: BatchOptions) -> _Paths:
    output = _absolute(options.output)
    fmt = output_format(output)
    rejects = (
        _absolute(options.rejects)
        if options.rejects
        else output.with_name(f"{output.stem}.rejects.csv")
    )
    rejects_fmt = output_format(rejects, "--rejects")
    if rejects == output:
        raise DataError(f"--rejects: {rejects} is also the --output file; choose another name")
    for option, path in (("--output", output), ("--rejects", rejects)):
        _check_target(option, path, options.overwrite)
    d = loaded.recipe.data
    inputs = open_inputs(_absolute(options.input), d.format, d.csv_separator, d.id_column)
    for option, path in (("--output", output), ("--rejects", rejects)):
        if any(f.path.resolve() == path.resolve() for f in inputs):
            raise DataError(
                f"{option}: {path} is also an input file",
                hint="write the results outside the folder or glob you read",
            )
    return _Paths(inputs, output, fmt, rejects, rejects_fmt)


def _check_target(option: str, path: Path, overwrite: bool) -> None:
    if not path.parent.is_dir():
        raise DataError(f"{option}: folder {path.parent} does not exist", hint="create it first")
    if path.is_dir():
        raise DataError(f"{option}: {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise DataError(
            f"{option}: {path} already exists",
            hint="pass --overwrite to replace it, or choose another name",
        )


def _load_model(loaded: LoadedRecipe, workspace: str | None, reference: str):
    """The registered model, from the workspace resolved as ``mlctl run`` does."""
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import for_recipe, open_existing

    ws = for_recipe(loaded, workspace)
    open_existing(ws)
    return Registry(ws).load_reference(reference), ws.tracking_uri


class _Scorer:
    """``predict`` (and ``predict_proba`` for classifiers) sharing one preprocessing pass.

    A Pipeline's ``predict`` and ``predict_proba`` each run every transformer; running
    them once and asking the final step for both halves the work and gives the same
    answers.
    """

    def __init__(self, pipeline: Any) -> None:
        from sklearn.base import is_classifier
        from sklearn.pipeline import Pipeline

        self.pipeline = pipeline
        split = isinstance(pipeline, Pipeline) and len(pipeline.steps) > 1
        self.head = pipeline[:-1] if split else None
        self.tail = pipeline.steps[-1][1] if split else pipeline
        self.classes = list(pipeline.classes_) if is_classifier(pipeline) else []
        self.has_proba = bool(self.classes) and hasattr(self.tail, "predict_proba")

    def __call__(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        if len(X) == 0:
            empty = np.asarray(self.classes)[:0] if self.classes else np.empty(0)
            return empty, np.empty((0, len(self.classes))) if self.has_proba else None
        features = self.head.transform(X) if self.head is not None else X
        pred = np.asarray(self.tail.predict(features))
        proba = np.asarray(self.tail.predict_proba(features)) if self.has_proba else None
        return pred, proba


def _label(value: Any) -> str:
    """A class as text for a column name: ``Yes``, ``1`` (not ``1.0``), ``True``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Job:
    """One scoring job: the writers, the counters and the loop over chunks."""

    def __init__(self, loaded, options, paths: _Paths, model, columns: list[InputColumn]):
        self.options, self.paths, self.model, self.columns = options, paths, model, columns
        self.scorer = _Scorer(model.pipeline)
        self.id_column = loaded.recipe.data.id_column
        if not any(self.id_column in f.columns for f in paths.inputs):
            self.id_column = None
        self.separator = loaded.recipe.data.csv_separator
        self.schema = self._schema()
        self.output = AtomicTableWriter(paths.output, paths.output_format, self.schema)
        self.rejects = AtomicTableWriter(paths.rejects, paths.rejects_format, REJECTS_SCHEMA)

    def _schema(self) -> pa.Schema:
        fields = []
        if self.id_column:
            first = self.paths.inputs[0]
            fields.append((self.id_column, first.id_type or pa.string()))
        if self.scorer.classes:
            fields.append(("prediction", pa.array(np.asarray(self.scorer.classes)).type))
        else:
            fields.append(("prediction", pa.float64()))
        if self.scorer.has_proba:
            fields += [(f"proba_{_label(c)}", pa.float64()) for c in self.scorer.classes]
        fields += [("model_name", pa.string()), ("model_version", pa.int64())]
        names = [name for name, _ in fields]
        if len(set(names)) != len(names):
            raise DataError(
                f"data.id_column '{self.id_column}' has the name of an output column "
                f"({', '.join(names[1:])}); rename the column in the input"
            )
        return pa.schema(fields)

    def run(self, summary: BatchSummary, emit: EventFn) -> None:
        """Score every chunk of every file, then publish the output (and rejects)."""
        known = [f.rows for f in self.paths.inputs]
        total = None if None in known else sum(known)
        emit("start", {"files": len(self.paths.inputs), "total_rows": total})
        wanted = [c.name for c in self.columns]
        try:
            for source in self.paths.inputs:
                file_first = summary.rows_read + 1
                names = [c for c in source.columns if c in wanted or c == self.id_column]
                size = self.options.chunk_size
                for chunk in read_chunks(source, names, size, self.separator, self.id_column):
                    self._chunk(chunk.reset_index(drop=True), source, file_first, summary)
                    emit("progress", _progress(summary, total))
            self._publish(summary)
        except BaseException:  # Ctrl-C too: never leave a half-written file behind
            self.output.discard()
            self.rejects.discard()
            raise

    def _chunk(self, chunk: pd.DataFrame, source: InputFile, file_first: int, summary) -> None:
        first = summary.rows_read + 1
        checked = check_chunk(chunk, self.columns, first)
        # One file of a glob may lack the id column the others have: its ids stay empty.
        ids = chunk[self.id_column] if self.id_column in chunk.columns else None
        bad = checked.rejects
        if len(bad):
            if self.options.strict:
                raise _strict_error(bad.iloc[0], source, file_first, self.paths.rejects)
            self.rejects.write(_reject_table(bad, source, ids, first))
            summary.rows_rejected += int((~checked.good).sum())
        good = checked.good
        inputs = checked.inputs if good.all() else checked.inputs[good]
        pred, proba = self.scorer(inputs)
        self.output.write(self._table(None if ids is None else ids[good], pred, proba))
        summary.rows_read += len(chunk)
        summary.rows_scored += len(inputs)

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
        arrays.append(pa.repeat(pa.scalar(self.model.name, pa.string()), n))
        arrays.append(pa.repeat(pa.scalar(int(self.model.version), pa.int64()), n))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _publish(self, summary: BatchSummary) -> None:
        self.output.commit()
        if summary.rows_rejected:
            summary.rejects = str(self.rejects.commit())
        elif self.paths.rejects.is_file():
            # Only reachable with --overwrite: a stale rejects file would describe another run.
            self.paths.rejects.unlink()


def _progress(summary: BatchSummary, total: int | None) -> dict[str, Any]:
    return {
        "rows_read": summary.rows_read,
        "rows_scored": summary.rows_scored,
        "rows_rejected": summary.rows_rejected,
        "total_rows": total,
    }


def _reject_table(bad: pd.DataFrame, source: InputFile, ids, first: int) -> pa.Table:
    if ids is None:
        id_values = pa.nulls(len(bad), pa.string())
    else:
        picked = ids.to_numpy(dtype=object, na_value=None)[bad["row"].to_numpy() - first]
        id_values = pa.array([None if v is None else str(v) for v in picked], pa.string())
    return pa.Table.from_arrays(
        [
            pa.array(bad["row"].to_numpy(dtype=np.int64)),
            pa.repeat(pa.scalar(str(source.path), pa.string()), len(bad)),
            id_values,
            pa.array(bad["column"].astype(object), pa.string()),
            pa.array(bad["value"].astype(object), pa.string()),
            pa.array(bad["reason"].astype(object), pa.string()),
        ],
        schema=REJECTS_SCHEMA,
    )


def _strict_error(bad: pd.Series, source: InputFile, file_first: int, rejects: Path) -> DataError:
    row = int(bad["row"])
    where = f"row {row} of {source.path}"
    if file_first > 1:  # a later file of a glob: both numbers
        where = f"row {row} of the input (row {row - file_first + 1} of {source.path})"
    return DataError(
        f"{where}, column '{bad['column']}': value {bad['value']!r} is {bad['reason']}; "
        "nothing was written (--strict)",
        hint=f"fix or drop the row, or run without --strict to write bad rows to {rejects}",
    )
