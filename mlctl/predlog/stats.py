"""Counts of one variant's traffic since a time: what a rollout's guards judge.

Requests, not rows: a request of several rows is one ``batch_id`` in ``predictions``
(its rows share the request's ``latency_ms``) and one row in ``failures``. Every worker
process and pod writes the same log, so these counts are the whole service's.

A log written before the ``failures`` table existed (and not opened since by a server
that creates it) reads as "no failures recorded": ``failures_recorded`` is False.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlctl.errors import PredictionLogError
from mlctl.predlog.reader import LogReader


@dataclass(frozen=True)
class VariantStats:
    """One variant of one model version, in ``[since, until)``."""

    variant: str
    version: int
    answered: int  # requests answered with predictions (logged)
    failed: int  # requests that ended in a 5xx or a 422 UNSCORABLE_INPUT
    slow: int  # answered requests slower than the ``slow_ms`` asked for
    p95_ms: float | None  # of the answered requests; None without any
    first_ts: float | None  # the first answered request
    last_ts: float | None  # the last answered request
    failures_recorded: bool = True  # False: the log has no ``failures`` table

    @property
    def requests(self) -> int:
        return self.answered + self.failed

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "requests": self.requests}


_WHERE = "model_name = ? AND model_version = ? AND variant = ? AND ts >= ? AND ts < ?"
# One row per request: its rows share batch_id and latency.
_PER_REQUEST = (
    "SELECT batch_id, MAX(latency_ms) AS latency_ms, MIN(ts) AS ts FROM predictions "
    f"WHERE {_WHERE} GROUP BY batch_id"
)


def variant_stats(
    reader: LogReader,
    model_name: str,
    version: int,
    variant: str,
    since: float,
    until: float,
    slow_ms: float | None = None,
) -> VariantStats:
    """Requests ``variant`` (``champion`` or ``challenger``) of ``model_name`` version
    ``version`` answered and failed in ``[since, until)`` (epoch seconds), how many were
    slower than ``slow_ms``, and their 95th-percentile latency (nearest rank).

    Raises:
        PredictionLogError: the log cannot be read (a missing ``failures`` table is not
            an error).
    """
    params = (model_name, int(version), variant, since, until)
    head = reader.fetch(
        f"SELECT COUNT(*), SUM(CASE WHEN latency_ms > ? THEN 1 ELSE 0 END), MIN(ts), "
        f"MAX(ts) FROM ({_PER_REQUEST}) q",
        (slow_ms if slow_ms is not None else float("inf"), *params),
    )
    answered, slow, first, last = head[0] if head else (0, 0, None, None)
    answered = int(answered or 0)
    p95 = None
    if answered:
        rank = max(1, -(-95 * answered // 100))  # nearest rank: ceil(0.95 n)
        found = reader.fetch(
            f"SELECT latency_ms FROM ({_PER_REQUEST}) q ORDER BY latency_ms LIMIT 1 OFFSET ?",
            (*params, rank - 1),
        )
        p95 = float(found[0][0]) if found and found[0][0] is not None else None
    failed, recorded = _failures(reader, params)
    return VariantStats(
        variant,
        int(version),
        answered,
        failed,
        int(slow or 0) if slow_ms is not None else 0,
        p95,
        None if first is None else float(first),
        None if last is None else float(last),
        recorded,
    )


def _failures(reader: LogReader, params: tuple) -> tuple[int, bool]:
    try:
        found = reader.fetch(f"SELECT COUNT(*) FROM failures WHERE {_WHERE}", params)
    except PredictionLogError as exc:
        if "failures" in str(exc) and "no table" in str(exc):
            return 0, False
        raise
    return int(found[0][0] or 0), True


def last_answered(reader: LogReader, model_name: str, version: int, variant: str) -> float | None:
    """When ``variant`` of this version last answered a request (epoch seconds)."""
    found = reader.fetch(
        "SELECT MAX(ts) FROM predictions WHERE model_name = ? AND model_version = ? "
        "AND variant = ?",
        (model_name, int(version), variant),
    )
    return None if not found or found[0][0] is None else float(found[0][0])
