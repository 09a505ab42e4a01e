"""``mlctl predict`` as a library call: a registered model scores CSV/Parquet files.

The input (a file or a glob) is read chunk by chunk, so memory is bounded by the
chunk size. Each chunk is checked against the model's signature
(:mod:`mlctl.predict.validate`): rows holding a bad value are not scored but written
to a rejects file (or, with ``strict``, stop the job). The good rows are scored by
the registered pipeline and appended to the output, which appears under its final
name only when the job completes (:mod:`mlctl.predict.files`).

Two engines do the same work per chunk (:class:`mlctl.predict.score.ChunkScorer`):
``local`` reads and scores the chunks one after the other in this process; ``dask``
cuts the input into partitions of about a chunk each, and the workers of a Dask
cluster (the recipe's ``compute.address`` or ``--address``, else a LocalCluster
started and closed here) read and score them, each worker holding one copy of the
model. Results come back in input order with a bounded number of partitions in
flight, and are written here exactly as the local engine writes them.

Progress is reported through an ``on_event(kind, data)`` callback; nothing here
prints. The result is a :class:`BatchSummary` (its ``to_dict`` is the ``--json``
document, see docs/cli.md).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlctl.compute.session import Session, open_session
from mlctl.errors import DataError, UsageError
from mlctl.predict.files import (
    AtomicTableWriter,
    InputFile,
    Partition,
    open_inputs,
    output_format,
    plan_partitions,
    read_chunks,
    read_partition,
)
from mlctl.predict.score import ChunkScorer, ScoredChunk, score_partition
from mlctl.predict.validate import InputColumn, check_columns, input_columns
from mlctl.recipe.loaded import LoadedRecipe
from mlctl.recipe.schema import Compute

JSON_SCHEMA_VERSION = 1
DEFAULT_CHUNK_SIZE = 50_000
ENGINES = ("local", "dask")
#: What a Dask worker needs to read and score a partition (imported while the model loads).
WORKER_MODULES = ("mlctl.predict.score", "mlctl.predict.files", "mlctl.features.build")
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
    engine: str = "local"  # "local" or "dask"
    address: str | None = None  # dask: scheduler address; default the recipe's compute.address
    verbose: bool = False  # dask: keep Dask's own logs on stderr


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
    engine: str = "local"
    cluster: dict[str, Any] | None = None  # dask: address, workers, threads, partitions

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
            "engine": self.engine,
            "cluster": self.cluster,
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
        ModelRejected: the model's files do not match the SHA-256 recorded at
            registration (nothing deserialized, nothing written).
        TrackingError: the tracking store cannot be used.
        ComputeError: (``engine="dask"``) the cluster cannot be reached, started or used.
    """
    from mlctl.tracking.registry import parse_reference

    emit = on_event or (lambda kind, data: None)
    started = time.perf_counter()
    reference = options.model or f"{loaded.recipe.model_name}@champion"
    parse_reference(reference)  # every cheap check before the model is loaded
    paths = _paths(loaded, options)
    # The cluster before the model: an unreachable address fails in seconds.
    spec = _compute(loaded, options)
    with open_session(spec, emit, verbose=options.verbose, preload=WORKER_MODULES) as session:
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
            columns=list(job.scorer.schema.names),
            engine=session.backend,
            cluster=session.info(),
        )
        job.run(summary, emit, session)
    summary.seconds = time.perf_counter() - started
    return summary


def _compute(loaded: LoadedRecipe, options: BatchOptions) -> Compute:
    """The recipe's compute section, with the engine and address of the command line."""
    if options.engine not in ENGINES:
        raise UsageError(f"engine '{options.engine}' is not one of {', '.join(ENGINES)}")
    spec = loaded.recipe.compute
    if options.engine == "local":
        return spec.model_copy(update={"backend": "local"})
    update: dict[str, Any] = {"backend": "dask"}
    if options.address:  # another cluster: the recipe's LocalCluster sizes do not apply
        update.update(address=options.address, n_workers=None, threads_per_worker=None)
    return spec.model_copy(update=update)


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
    from mlctl.tracking.artifacts import load_verified_model
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import for_recipe, open_existing

    ws = for_recipe(loaded, workspace)
    open_existing(ws)
    return load_verified_model(Registry(ws), reference), ws.tracking_uri


class _Job:
    """One scoring job: the writers, the counters and the loop over chunks or partitions."""

    def __init__(self, loaded, options, paths: _Paths, model, columns: list[InputColumn]):
        self.options, self.paths, self.model = options, paths, model
        id_column = loaded.recipe.data.id_column
        if not any(id_column in f.columns for f in paths.inputs):
            id_column = None
        self.id_column = id_column
        self.separator = loaded.recipe.data.csv_separator
        id_type = paths.inputs[0].id_type if id_column else None
        self.scorer = ChunkScorer(
            model.pipeline, columns, id_column, id_type, model.name, model.version, options.strict
        )
        self.wanted = {c.name for c in columns} | ({id_column} if id_column else set())
        schema = self.scorer.schema
        self.output = AtomicTableWriter(paths.output, paths.output_format, schema)
        self.rejects = AtomicTableWriter(paths.rejects, paths.rejects_format, REJECTS_SCHEMA)

    def run(self, summary: BatchSummary, emit: EventFn, session: Session) -> None:
        """Score every chunk of every file, then publish the output (and rejects)."""
        known = [f.rows for f in self.paths.inputs]
        total = None if None in known else sum(known)
        try:
            with contextlib.closing(self._scored(session, summary, emit, total)) as scored:
                current, file_first = None, 1
                for source, chunk in scored:
                    if source is not current:
                        current, file_first = source, summary.rows_read + 1
                    self._collect(chunk, source, file_first, summary)
                    emit("progress", _progress(summary, total))
            self._publish(summary)
        except BaseException:  # Ctrl-C too: never leave a half-written file behind
            self.output.discard()
            self.rejects.discard()
            raise

    def _names(self, source: InputFile) -> list[str]:
        return [c for c in source.columns if c in self.wanted]

    def _scored(
        self, session: Session, summary: BatchSummary, emit: EventFn, total: int | None
    ) -> Iterator[tuple[InputFile, ScoredChunk]]:
        """Each chunk's result with its file, in input order, from either engine."""
        files = len(self.paths.inputs)
        size = self.options.chunk_size
        if session.backend == "local":
            emit("start", {"files": files, "total_rows": total})
            for source in self.paths.inputs:
                names = self._names(source)
                for chunk in read_chunks(source, names, size, self.separator, self.id_column):
                    yield source, self.scorer(chunk)
            return
        parts: list[Partition] = []
        owner: list[InputFile] = []
        for source in self.paths.inputs:
            planned = plan_partitions(
                source, self._names(source), size, self.separator, self.id_column
            )
            parts += planned
            owner += [source] * len(planned)
        summary.cluster = {**(summary.cluster or {}), "partitions": len(parts)}
        plural = "s of about {size:,} rows" if len(parts) > 1 else ""
        emit("stage", {"message": f"dask: {len(parts)} partition{plural.format(size=size)}"})
        emit("start", {"files": files, "total_rows": total, "partitions": len(parts)})
        results = session.map_in_order(read_partition, parts, score_partition, self.scorer)
        with contextlib.closing(results):
            yield from zip(owner, results, strict=False)

    def _collect(
        self, scored: ScoredChunk, source: InputFile, file_first: int, summary: BatchSummary
    ) -> None:
        """Write one chunk's result: rejects with their row numbers over the whole input."""
        first = summary.rows_read + 1
        bad = scored.rejects
        if len(bad):
            bad = bad.assign(row=bad["row"] + (first - 1))
            if self.options.strict:
                raise _strict_error(bad.iloc[0], source, file_first, self.paths.rejects)
            self.rejects.write(_reject_table(bad, source))
            summary.rows_rejected += scored.rows_rejected
        self.output.write(scored.output)
        summary.rows_read += scored.rows_read
        summary.rows_scored += scored.rows_scored

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


def _reject_table(bad: pd.DataFrame, source: InputFile) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array(bad["row"].to_numpy(dtype=np.int64)),
            pa.repeat(pa.scalar(str(source.path), pa.string()), len(bad)),
            pa.array(bad["id"].astype(object), pa.string()),
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
