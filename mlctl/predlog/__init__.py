"""The prediction log: what ``mlctl serve`` writes and ``mlctl monitor`` reads.

One package owns the log, so the writer and the reader cannot drift apart:

- :mod:`~mlctl.predlog.schema` -- the tables (SQLite and PostgreSQL), the column
  names and order, the shadow-row id rule, the default URL, rows from a scored request.
- :mod:`~mlctl.predlog.writer` -- :class:`PredictionLog`, the group-committing writer
  thread of a server process (predictions, feedback, Idempotency-Key claims).
- :mod:`~mlctl.predlog.reader` -- :func:`open_reader`, read-only connections that
  page through a time window in one snapshot.
- :mod:`~mlctl.predlog.sqlite`, :mod:`~mlctl.predlog.postgres` -- each database's
  SQL and faults, for the writer and the reader.

It imports neither :mod:`mlctl.serve` nor :mod:`mlctl.monitor`.
"""

from __future__ import annotations

from mlctl.predlog.reader import LogReader, kind_of, open_reader
from mlctl.predlog.schema import (
    COLUMNS,
    LABEL_COLUMNS,
    LIVE_VARIANTS,
    META_COLUMNS,
    POSTGRES_SCHEMA,
    SQLITE_SCHEMA,
    default_url,
    rows_for,
    shadow_id,
)
from mlctl.predlog.writer import FeedbackResult, LogUnavailable, PredictionLog

__all__ = [
    "COLUMNS",
    "LABEL_COLUMNS",
    "LIVE_VARIANTS",
    "META_COLUMNS",
    "POSTGRES_SCHEMA",
    "SQLITE_SCHEMA",
    "FeedbackResult",
    "LogReader",
    "LogUnavailable",
    "PredictionLog",
    "default_url",
    "kind_of",
    "open_reader",
    "rows_for",
    "shadow_id",
]
