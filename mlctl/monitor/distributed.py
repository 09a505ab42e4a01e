"""The check of a ``--current`` Parquet file on a Dask cluster (``monitor.engine: dask``).

The file is cut into partitions of whole row groups (:func:`mlctl.predict.files.
plan_partitions`), read on the workers, and each partition is summed up there into an
:class:`~mlctl.monitor.accumulate.Accumulator` (scored by the monitored version when a
check needs its answers); the small summaries come back in file order and are merged.
Summaries merge exactly (:mod:`mlctl.monitor.summary`), so the document equals the one
of the local engine. The cluster is the recipe's ``compute`` section (its ``address``,
or a LocalCluster on 127.0.0.1 that mlctl starts and stops); Dask itself is imported
in :mod:`mlctl.compute` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlctl.monitor.accumulate import Accumulator, scores_of


class CannotScore(Exception):
    """The monitored version cannot score a --current file (the model's message)."""


@dataclass
class Job:
    """What every partition needs (copied once to each worker)."""

    profile: Any
    version: int
    columns: list[str]  # the profiled columns the file has
    pipeline: Any = None  # the monitored version's pipeline, when its answers are needed
    task: str = "classification"
    positive: Any = None


def summarize_partition(job: Job, frame: Any) -> Accumulator:
    """One partition summed up (on a worker)."""
    from mlctl.monitor.notes import finite
    from mlctl.text import first_line

    acc = Accumulator(job.profile, job.version)
    X = frame[[c for c in job.columns if c in frame.columns]]
    if job.pipeline is None:
        acc.add_unscored_chunk(X)
        return acc
    from mlctl.predict.score import Scorer

    scorer = Scorer(job.pipeline)
    X = finite(X, acc.numeric)
    try:
        pred, proba = scorer(X)
    except Exception as exc:  # the model's own error, whatever its type
        raise CannotScore(first_line(exc)) from None
    scores = scores_of(job.task, pred, proba, scorer.classes, job.positive)
    acc.add_scored_chunk(X, pred, scores)
    return acc


def summarize_file(
    compute: Any,
    path: str,
    job: Job,
    partition_rows: int,
    emit: Callable[[str, dict[str, Any]], None],
) -> Accumulator:
    """The whole file summed up on the cluster ``compute`` describes.

    Raises:
        ComputeError: the cluster cannot be reached, started or used.
        DataError: a partition cannot be read.
        CannotScore: the model cannot score a partition.
    """
    import contextlib
    from pathlib import Path

    from mlctl.compute.session import open_session
    from mlctl.predict.files import InputFile, plan_partitions, read_partition

    source = InputFile(Path(path), "parquet", list(job.columns), None)
    parts = plan_partitions(source, job.columns, partition_rows, ",", None)
    spec = compute.model_copy(update={"backend": "dask"})
    out = Accumulator(job.profile, job.version)
    with open_session(spec, emit) as session:
        emit("stage", {"message": f"dask: {len(parts)} partitions of {Path(path).name}"})
        results = session.map_in_order(read_partition, parts, summarize_partition, job)
        with contextlib.closing(results):
            for acc in results:
                out.merge(acc)
                emit("rows", {"rows": out.rows})
    return out
