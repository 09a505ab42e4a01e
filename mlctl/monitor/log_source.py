"""What production saw: the prediction log of ``mlctl serve``, read by the monitor.

:class:`LogSource` reads the log read-only (:func:`mlctl.predlog.open_reader`) and
streams it: rows come in chunks of ``chunk_rows``, each chunk one keyset-paginated
query ordered by ``(ts, request_id)`` (never ``OFFSET``), all inside one read
transaction, so a month of logs never sits in memory, no row comes twice and none is
missed, even when many rows share one ``ts`` (every row of a request does).
Aggregates (counts per hour, orphans) are computed by the database.

Chunks hold the logged inputs decoded into columns (:mod:`mlctl.monitor.decode`) plus
the log's own columns (:data:`~mlctl.predlog.META_COLUMNS`), renamed when an input
has the same name (``frame.attrs["meta"]``). Predictions and labels are text in the
log, probabilities a JSON object per row (class label -> probability);
:mod:`mlctl.monitor.performance` maps them back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlctl.monitor.decode import InputDecoder, meta_columns
from mlctl.monitor.window import Window, check_chunk_rows
from mlctl.predlog.reader import LogReader, kind_of, open_reader
from mlctl.predlog.schema import (
    INPUTS_AT,
    LABEL_COLUMNS,
    LABEL_SELECT,
    LIVE_VARIANTS,
    META_COLUMNS,
    PREDICTION_SELECT,
    SHADOW_KEY,
    display_url,
    sqlite_path,
)

Variant = str | Sequence[str] | None


class LogSource:
    """Read-only access to a prediction log (``sqlite:///PATH`` or ``postgresql://...``).

    Nothing is opened until a method runs; each method opens its own connection and
    closes it when done (a chunk iterator when exhausted or closed). SQLite files are
    opened with ``mode=ro``: a missing file is an error, never created.

    Every reading method takes the same filters: ``model_name``, ``model_version`` and
    ``variant`` (one name such as ``"champion"``, several, or None for every variant).
    """

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.kind = kind_of(url)  # PredictionLogError for any other URL

    # ---------------------------------------------------------------- naming
    @property
    def path(self) -> Path | None:
        """The SQLite file (as ``mlctl serve`` resolves it), or None for PostgreSQL."""
        return sqlite_path(self.url) if self.kind == "sqlite" else None

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return display_url(self.url)

    # ------------------------------------------------------------------ reads
    def check(self) -> None:
        """Open the log and check its tables, failing early with a clear error.

        Raises:
            PredictionLogError: missing file, unreachable server, or no mlctl log there.
        """
        with self._open() as db:
            db.check_tables()

    def iter_chunks(
        self,
        window: Window,
        model_name: str | None = None,
        model_version: int | None = None,
        variant: Variant = "champion",
        chunk_rows: int = 50_000,
        columns: Sequence[str] | None = None,
        inputs: bool = True,
    ) -> Iterator[pd.DataFrame]:
        """The predictions logged in ``window``, ``chunk_rows`` at a time, by ``(ts, request_id)``.

        Each chunk has the decoded input columns (``columns``: see
        :func:`decode_inputs`; ``inputs=False`` leaves them out) followed by
        :data:`META_COLUMNS`. An empty window yields nothing.

        Raises:
            PredictionLogError: the log cannot be read.
        """
        check_chunk_rows(chunk_rows)
        where, params = self._filters(model_name, model_version, variant)
        select = PREDICTION_SELECT if inputs else PREDICTION_SELECT.replace("p.inputs", "NULL")
        decoder = InputDecoder(columns) if inputs else None
        with self._open() as db:
            for rows in db.pages(select, "", where, params, window, chunk_rows):
                yield _frame(rows, META_COLUMNS, decoder)

    def iter_labelled(
        self,
        window: Window,
        model_name: str | None = None,
        model_version: int | None = None,
        variant: Variant = "champion",
        chunk_rows: int = 50_000,
        feedback_before: float | None = None,
        columns: Sequence[str] | None = None,
        inputs: bool = False,
    ) -> Iterator[pd.DataFrame]:
        """Predictions of ``window`` that have feedback, with ``label`` (text, as logged)
        and ``label_ts`` (when it was last given), in chunks.

        Feedback is joined by request id (one label per id: the last one given; ids
        the log never held are in ``feedback_orphans``, not here). Shadow rows join
        the feedback of the request they shadowed. ``feedback_before`` keeps only
        labels given before that time, so a report can be re-run as of a date.
        """
        check_chunk_rows(chunk_rows)
        where, params = self._filters(model_name, model_version, variant)
        shadow = variant is None or "shadow" in _variants(variant)
        key = SHADOW_KEY if shadow else "p.request_id"
        join = f"JOIN feedback f ON f.request_id = {key}"
        if feedback_before is not None:
            where.append("f.ts < ?")
            params.append(float(feedback_before))
        names = META_COLUMNS + LABEL_COLUMNS
        select = LABEL_SELECT if inputs else LABEL_SELECT.replace("p.inputs", "NULL")
        decoder = InputDecoder(columns) if inputs else None
        with self._open() as db:
            for rows in db.pages(select, join, where, params, window, chunk_rows):
                yield _frame(rows, names, decoder)

    def labelled(self, window: Window, **filters: Any) -> pd.DataFrame:
        """:meth:`iter_labelled` in one frame (labelled rows are usually few).

        The frame is empty, with the same columns, when nothing is labelled.
        """
        chunks = list(self.iter_labelled(window, **filters))
        if not chunks:
            return _frame([], META_COLUMNS + LABEL_COLUMNS, None)
        return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)

    def count(
        self,
        window: Window,
        model_name: str | None = None,
        model_version: int | None = None,
        variant: Variant = "champion",
    ) -> int:
        """How many predictions ``window`` holds."""
        where, params = self._filters(model_name, model_version, variant)
        sql, args = _windowed("SELECT count(*) FROM predictions p", where, params, window)
        with self._open() as db:
            return int(db.fetch(sql, args)[0][0])

    def hourly_counts(
        self,
        window: Window,
        model_name: str | None = None,
        model_version: int | None = None,
        variant: Variant = LIVE_VARIANTS,
        bucket_seconds: int = 3600,
        origin: int = 0,
    ) -> pd.DataFrame:
        """Predictions per hour (``bucket_seconds``), counted by the database.

        Returns a frame of ``hour`` (the bucket's start, epoch seconds, ``origin`` plus
        a multiple of ``bucket_seconds``; pass ``origin=window.start`` for hours that
        start with the window) and ``count``, in time order, with only the buckets
        that have rows: :func:`mlctl.monitor.volume.volume_check` fills the gaps with
        zeros. By default the live traffic (champion and challenger); shadow rows
        repeat it.
        """
        if not isinstance(bucket_seconds, int) or bucket_seconds < 1:
            raise ValueError(
                "The 'bucket_seconds' parameter of hourly_counts must be a positive int. "
                f"Got {bucket_seconds!r} instead."
            )
        if isinstance(origin, bool) or not isinstance(origin, int) or origin > window.start:
            raise ValueError(
                "The 'origin' parameter of hourly_counts must be an int at or before the "
                f"window's start ({window.start}). Got {origin!r} instead."
            )
        where, params = self._filters(model_name, model_version, variant)
        b, o = bucket_seconds, origin
        bucket = (
            f"CAST(floor((p.ts - {o}) / {b}) AS BIGINT) * {b} + {o}"
            if self.kind == "postgresql"
            else f"CAST((p.ts - {o}) / {b} AS INTEGER) * {b} + {o}"  # ts >= origin: floor
        )
        sql, args = _windowed(
            f"SELECT {bucket} AS hour, count(*) FROM predictions p", where, params, window
        )
        sql += " GROUP BY hour ORDER BY hour"
        with self._open() as db:
            rows = db.fetch(sql, args)
        return pd.DataFrame(
            {
                "hour": np.array([r[0] for r in rows], dtype=np.int64),
                "count": np.array([r[1] for r in rows], dtype=np.int64),
            }
        )

    def first_ts(
        self, model_name: str | None = None, variant: Variant = LIVE_VARIANTS
    ) -> float | None:
        """When the first prediction was logged (the start of the history), or None."""
        where, params = self._filters(model_name, None, variant)
        sql = "SELECT min(p.ts) FROM predictions p"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._open() as db:
            value = db.fetch(sql, tuple(params))[0][0]
        return None if value is None else float(value)

    def orphan_feedback_count(self, window: Window) -> int:
        """Feedback ids the log does not hold, last sent within ``window``."""
        sql = "SELECT count(*) FROM feedback_orphans WHERE ts >= ? AND ts < ?"
        with self._open() as db:
            return int(db.fetch(sql, (window.start, window.end))[0][0])

    # --------------------------------------------------------------- helpers
    def _filters(
        self, model_name: str | None, model_version: int | None, variant: Variant
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if model_name is not None:
            where.append("p.model_name = ?")
            params.append(model_name)
        if model_version is not None:
            where.append("p.model_version = ?")
            params.append(int(model_version))
        if variant is not None:
            names = _variants(variant)
            where.append(f"p.variant IN ({', '.join('?' * len(names))})")
            params.extend(names)
        return where, params

    def _open(self) -> contextlib.AbstractContextManager[LogReader]:
        return open_reader(self.url, self.connect_timeout)


def _variants(variant: str | Sequence[str]) -> list[str]:
    names = [variant] if isinstance(variant, str) else list(variant)
    if not names:
        raise ValueError("The 'variant' parameter must name at least one variant. Got [].")
    return names


def _windowed(head: str, where: list[str], params: list[Any], window: Window) -> tuple[str, tuple]:
    conds = ["p.ts >= ?", "p.ts < ?", *where]
    return f"{head} WHERE {' AND '.join(conds)}", (window.start, window.end, *params)


def _frame(rows: list[tuple], names: Sequence[str], decoder: InputDecoder | None) -> pd.DataFrame:
    """A chunk: decoded inputs (if wanted), then the log columns named by ``meta_columns``."""
    meta = _meta_frame(rows, names, skip=INPUTS_AT)
    if decoder is None:
        frame = pd.DataFrame(meta)
        frame.attrs["meta"] = {n: n for n in names}
        return frame
    decoded, bad = decoder([r[INPUTS_AT] for r in rows])
    rename = meta_columns(decoded.columns, names)
    decoded = pd.concat(
        [decoded, pd.DataFrame({rename[n]: v for n, v in meta.items()}, index=decoded.index)],
        axis=1,
    )
    decoded.attrs["meta"] = rename
    decoded.attrs["undecodable_inputs"] = bad
    return decoded


def _meta_frame(rows: list[tuple], names: Sequence[str], skip: int | None = None) -> dict:
    """Columns of fetched rows (all but index ``skip``) with numpy dtypes where fixed."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * (len(names) + (skip is not None))
    out: dict[str, Any] = {}
    j = 0
    for i, col in enumerate(cols):
        if i == skip:
            continue
        name = names[j]
        j += 1
        if name in ("ts", "score", "label_ts"):
            out[name] = np.array(col, dtype=float)
        elif name == "model_version":
            out[name] = np.array(col, dtype=np.int64)
        else:
            out[name] = np.array(col, dtype=object)
    return out
