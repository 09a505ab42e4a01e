"""What production saw: the prediction log of ``mlctl serve``, or a batch file.

A :class:`Window` is half-open, ``[start, end)`` in epoch seconds (UTC), so
consecutive windows never share a row and a window with a fixed end always selects
the same rows once no more rows can arrive for it (a row's ``ts`` is taken before its
commit, so allow the server's request timeout after ``end``: :meth:`Window.is_closed`).

:class:`LogSource` reads the log read-only and streams it: rows come in chunks of
``chunk_rows``, each chunk one keyset-paginated query ordered by ``(ts, request_id)``
(never ``OFFSET``), all inside one read transaction, so a month of logs never sits in
memory, no row comes twice and none is missed, even when many rows share one ``ts``
(every row of a request does). Aggregates (counts per hour, orphans) are computed
by the database. :class:`FileSource` reads ``--current`` batch files (CSV or
Parquet) in chunks too.

Chunks hold the logged inputs decoded into columns plus the log's own columns
(:data:`META_COLUMNS`). Should an input be named like one of them (a feature called
``score``), the input keeps its name and the log column is renamed (``_log_score``);
:func:`meta_columns` gives the mapping, and so does ``frame.attrs["meta"]``.
Predictions and labels are text in the log, probabilities a JSON object per row
(class label -> probability); :mod:`mlctl.monitor.performance` maps them back.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from mlctl.errors import DataError, PredictionLogError, UsageError

# ------------------------------------------------------------------------ windows

UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
UNIT_NAMES = "m (minutes), h (hours), d (days) or w (weeks)"
MAX_WINDOW_SECONDS = 520 * UNITS["w"]  # ten years: past that, a typo
_SPEC = re.compile(r"(\d+)([a-zA-Z]+)")


@dataclass(frozen=True)
class Window:
    """The half-open time range ``[start, end)``, in epoch seconds (UTC)."""

    start: float
    end: float

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(
                    f"The '{name}' parameter of Window must be a finite number of epoch "
                    f"seconds. Got {value!r} instead."
                )
        if self.end <= self.start:
            raise ValueError(
                f"The 'end' parameter of Window must be after start ({self.start}). "
                f"Got {self.end} instead."
            )
        object.__setattr__(self, "start", float(self.start))
        object.__setattr__(self, "end", float(self.end))

    @classmethod
    def ending(cls, end: float | datetime, seconds: float) -> Window:
        """The ``seconds`` before ``end``."""
        stop = _epoch(end)
        return cls(stop - seconds, stop)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def contains(self, ts: float) -> bool:
        return self.start <= ts < self.end

    def is_closed(self, now: float | None = None, grace: float = 60.0) -> bool:
        """Whether ``end`` is at least ``grace`` seconds past: no more rows can arrive.

        Use the server's request timeout (or more) as ``grace``.
        """
        return self.end + grace <= (time.time() if now is None else now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "start_utc": _iso(self.start),
            "end_utc": _iso(self.end),
            "seconds": self.seconds,
        }


def parse_window(spec: str, now: float | datetime | None = None) -> Window:
    """The window of length ``spec`` ("90m", "24h", "7d", "2w") ending at ``now``.

    Args:
        spec: A whole number followed by one unit: m, h, d or w.
        now: The end of the window: epoch seconds or a datetime (naive means UTC);
            default: the current time. The same ``now`` gives the same window.

    Raises:
        UsageError: ``spec`` is not such a duration, is zero or longer than 520w.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    match = _SPEC.fullmatch(text)
    if match is None or match[2] not in UNITS:
        raise UsageError(
            f"window {spec!r} is not a duration: expected a whole number followed by "
            f"{UNIT_NAMES}, e.g. 24h or 7d"
        )
    count = int(match[1])
    seconds = count * UNITS[match[2]]
    if count == 0:
        raise UsageError(f"window {spec!r} is empty: give at least 1{match[2]}")
    if seconds > MAX_WINDOW_SECONDS:
        raise UsageError(f"window {spec!r} is longer than ten years (520w): is it a typo?")
    return Window.ending(time.time() if now is None else now, seconds)


def _epoch(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def _iso(ts: float) -> str | None:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


# ------------------------------------------------------------------- decoding rows

META_COLUMNS = (
    "request_id",
    "ts",
    "model_name",
    "model_version",
    "variant",
    "prediction",
    "score",
    "probabilities",
)
LABEL_COLUMNS = ("label", "label_ts")
LIVE_VARIANTS = ("champion", "challenger")  # traffic answered; "shadow" rows repeat it

_ANY_LIST = msgspec.json.Decoder(list[Any])
_ANY = msgspec.json.Decoder()
_TEXT = pd.Series(["x"]).dtype  # pandas' own dtype for text: str (pandas 3) or object
_STR_TYPES = (
    {pa.string(): _TEXT, pa.large_string(): _TEXT} if isinstance(_TEXT, pd.StringDtype) else {}
)


def meta_columns(input_columns: Sequence[str], names: Sequence[str] = META_COLUMNS) -> dict:
    """Log column -> its name in a chunk: itself, or ``_log_<name>`` if an input has it."""
    taken = set(input_columns)
    out = {}
    for name in names:
        new = name
        while new in taken:
            new = f"_log_{new}" if new == name else f"_{new}"
        out[name] = new
        taken.add(new)
    return out


class InputDecoder:
    """Turns batches of logged inputs (compact JSON objects) into frames.

    The column types are settled on the first batch, from up to
    :attr:`SAMPLE` of its rows decoded with msgspec: text, int, float or bool. Then
    every batch is parsed by Arrow's JSON reader with those types (several times
    faster than building the frame from Python dicts, and the same dtypes in every
    chunk). A batch Arrow cannot take with them (a value of another type, a row that
    is not one JSON object, a number beyond int64, nested values) goes the general
    way: one msgspec decode of the whole batch into dicts, then per row, then
    :func:`json.loads` (which reads the ``NaN`` Python's json writes).

    Args:
        columns: The model's input columns: keys not among them are ignored, missing
            keys are missing values (NaN/None). Default: every key seen, in order of
            first appearance (then the chunks of one log may differ in columns).
    """

    SAMPLE = 1000

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns = None if columns is None else list(columns)
        self.schema: pa.Schema | None = None
        self.arrow = True  # False once the sample shows Arrow cannot type the inputs

    def __call__(self, texts: Sequence[str]) -> tuple[pd.DataFrame, int]:
        """The frame of one batch, and how many rows were not JSON objects (those
        rows are all missing)."""
        if not len(texts):
            return pd.DataFrame(columns=self.columns or []), 0
        if self.arrow and self.schema is None:
            self.schema = self._sample_schema(texts)
            self.arrow = self.schema is not None
        if self.arrow:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return self._arrow(texts), 0
        return self._dicts(texts)

    def _sample_schema(self, texts: Sequence[str]) -> pa.Schema | None:
        rows, _ = _decode_rows(texts[: self.SAMPLE])
        kinds: dict[str, set[type]] = {}
        for row in rows:
            for key, value in row.items():
                kinds.setdefault(key, set()).add(type(value))
        fields = []
        for key in self.columns if self.columns is not None else kinds:
            seen = kinds.get(key, set()) - {type(None)}
            if not seen:
                continue  # no value in the sample: typed by Arrow, or all missing
            if seen <= {str}:
                fields.append(pa.field(key, pa.string()))
            elif seen <= {bool}:
                fields.append(pa.field(key, pa.bool_()))
            elif seen <= {int}:
                fields.append(pa.field(key, pa.int64()))
            elif seen <= {int, float}:
                fields.append(pa.field(key, pa.float64()))
            else:
                return None  # mixed or nested values: the general way
        return pa.schema(fields)

    def _arrow(self, texts: Sequence[str]) -> pd.DataFrame:
        assert self.schema is not None
        # "infer": a key the sample had no value for is still read (typed by Arrow)
        options = pa_json.ParseOptions(
            explicit_schema=self.schema, unexpected_field_behavior="infer"
        )
        table = pa_json.read_json(io.BytesIO("\n".join(texts).encode()), parse_options=options)
        if table.num_rows != len(texts):
            raise pa.ArrowInvalid("row count differs")  # never split or merge rows
        frame = table.to_pandas(types_mapper=_STR_TYPES.get)
        for name in table.column_names:  # missing values as pandas has them: NaN
            kind = table.schema.field(name).type
            if pa.types.is_null(kind):
                frame[name] = np.full(len(frame), np.nan)
            elif pa.types.is_boolean(kind) and table[name].null_count:
                frame[name] = frame[name].astype(object).where(frame[name].notna(), np.nan)
        if self.columns is None:
            return frame
        for name in self.columns:
            if name not in frame.columns:
                frame[name] = np.full(len(frame), np.nan)
        return frame[self.columns]

    def _dicts(self, texts: Sequence[str]) -> tuple[pd.DataFrame, int]:
        rows, bad = _decode_rows(texts)
        columns = self.columns
        if columns is None:
            columns = list(dict.fromkeys(itertools.chain.from_iterable(rows)))
        return pd.DataFrame.from_records(rows, columns=columns), bad


def decode_inputs(
    texts: Sequence[str], columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, int]:
    """One batch through a new :class:`InputDecoder`: the frame and the bad-row count."""
    return InputDecoder(columns)(texts)


def _decode_rows(texts: Sequence[str]) -> tuple[list[dict], int]:
    """Dicts from JSON objects: one msgspec decode of the batch, else row by row."""
    try:
        rows = _ANY_LIST.decode(("[" + ",".join(texts) + "]").encode())
    except (msgspec.DecodeError, TypeError):
        rows = [_decode_one(t) for t in texts]
    if all(type(r) is dict for r in rows):
        return rows, 0
    bad = sum(type(r) is not dict for r in rows)
    return [r if type(r) is dict else {} for r in rows], bad


def _decode_one(text: Any) -> Any:
    try:
        return _ANY.decode(text.encode() if isinstance(text, str) else text)
    except (msgspec.DecodeError, TypeError, AttributeError):
        pass
    try:  # Python's json writes NaN and Infinity, which strict JSON lacks
        return json.loads(text)
    except (ValueError, TypeError):
        return None


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


# ------------------------------------------------------------------- log source

_PREDICTION_SELECT = (
    "p.request_id, p.ts, p.model_name, p.model_version, p.variant, p.inputs, "
    "p.prediction, p.score, p.probabilities"
)
_INPUTS_AT = 5  # index of p.inputs in the select lists
_LABEL_SELECT = _PREDICTION_SELECT + ", f.label, f.ts"
# Shadow rows are logged as "<id>-shadow" for the champion's "<id>", which feedback names.
_SHADOW_KEY = (
    "CASE WHEN p.variant = 'shadow' AND p.request_id LIKE '%-shadow' "
    "THEN substr(p.request_id, 1, length(p.request_id) - 7) ELSE p.request_id END"
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
        if url.startswith(("postgresql://", "postgres://")):
            self.kind = "postgresql"
        elif url.startswith("sqlite:///"):
            self.kind = "sqlite"
        else:
            raise PredictionLogError(
                f"prediction log URL {_redact(url)!r} is not supported: expected "
                "sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
                hint="use the deploy.serve.log.url the server logs to",
            )

    # ---------------------------------------------------------------- naming
    @property
    def path(self) -> Path | None:
        """The SQLite file (as ``mlctl serve`` resolves it), or None for PostgreSQL."""
        return Path(self.url.removeprefix("sqlite:///")) if self.kind == "sqlite" else None

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return _redact(self.url)

    # ------------------------------------------------------------------ reads
    def check(self) -> None:
        """Open the log and check its tables, failing early with a clear error.

        Raises:
            PredictionLogError: missing file, unreachable server, or no mlctl log there.
        """
        with self._open() as db:
            for table, cols in (
                ("predictions", _PREDICTION_SELECT.replace("p.", "")),
                ("feedback", "request_id, label, ts"),
                ("feedback_orphans", "request_id, label, ts, seen"),
            ):
                db.fetch(f"SELECT {cols} FROM {table} WHERE 1 = 0", ())

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
        _check_chunk_rows(chunk_rows)
        where, params = self._filters(model_name, model_version, variant)
        select = _PREDICTION_SELECT if inputs else _PREDICTION_SELECT.replace("p.inputs", "NULL")
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
        _check_chunk_rows(chunk_rows)
        where, params = self._filters(model_name, model_version, variant)
        shadow = variant is None or "shadow" in _variants(variant)
        key = _SHADOW_KEY if shadow else "p.request_id"
        join = f"JOIN feedback f ON f.request_id = {key}"
        if feedback_before is not None:
            where.append("f.ts < ?")
            params.append(float(feedback_before))
        names = META_COLUMNS + LABEL_COLUMNS
        select = _LABEL_SELECT if inputs else _LABEL_SELECT.replace("p.inputs", "NULL")
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

    @contextlib.contextmanager
    def _open(self) -> Iterator[_Db]:
        db = _Postgres(self) if self.kind == "postgresql" else _Sqlite(self)
        try:
            yield db
        finally:
            db.close()


def _variants(variant: str | Sequence[str]) -> list[str]:
    names = [variant] if isinstance(variant, str) else list(variant)
    if not names:
        raise ValueError("The 'variant' parameter must name at least one variant. Got [].")
    return names


def _check_chunk_rows(chunk_rows: int) -> None:
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(
            f"The 'chunk_rows' parameter must be a positive int. Got {chunk_rows!r} instead."
        )


def _windowed(head: str, where: list[str], params: list[Any], window: Window) -> tuple[str, tuple]:
    conds = ["p.ts >= ?", "p.ts < ?", *where]
    return f"{head} WHERE {' AND '.join(conds)}", (window.start, window.end, *params)


def _frame(rows: list[tuple], names: Sequence[str], decoder: InputDecoder | None) -> pd.DataFrame:
    """A chunk: decoded inputs (if wanted), then the log columns named by ``meta_columns``."""
    meta = _meta_frame(rows, names, skip=_INPUTS_AT)
    if decoder is None:
        frame = pd.DataFrame(meta)
        frame.attrs["meta"] = {n: n for n in names}
        return frame
    decoded, bad = decoder([r[_INPUTS_AT] for r in rows])
    rename = meta_columns(decoded.columns, names)
    decoded = pd.concat(
        [decoded, pd.DataFrame({rename[n]: v for n, v in meta.items()}, index=decoded.index)],
        axis=1,
    )
    decoded.attrs["meta"] = rename
    decoded.attrs["undecodable_inputs"] = bad
    return decoded


def _redact(url: str) -> str:
    from mlctl.redact import redact_text

    return redact_text(url)


# ------------------------------------------------------------------- backends


class _Db:
    """One read-only connection: plain queries, and keyset pages in one transaction."""

    placeholder = "?"

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.conn: Any = None

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        raise NotImplementedError

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def begin(self) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError

    def pages(
        self,
        select: str,
        join: str,
        where: list[str],
        params: list[Any],
        window: Window,
        chunk_rows: int,
    ) -> Iterator[list[tuple]]:
        """Rows of ``window`` in ``(ts, request_id)`` order, ``chunk_rows`` per page.

        Keyset pagination: each page starts strictly after the last row of the one
        before (``ts > t OR (ts = t AND request_id > r)``), so rows that share a
        timestamp are neither repeated nor skipped, and no page scans what earlier
        pages read. All pages are read in one transaction (one snapshot).
        """
        tail = " ORDER BY p.ts, p.request_id LIMIT ?"
        self.begin()
        try:
            last: tuple[float, str] | None = None
            while True:
                conds = ["p.ts >= ?", "p.ts < ?", *where]
                args: list[Any] = [window.start if last is None else last[0], window.end]
                args += params
                if last is not None:
                    conds.append("(p.ts > ? OR p.request_id > ?)")
                    args += [last[0], last[1]]
                sql = f"SELECT {select} FROM predictions p {join} WHERE {' AND '.join(conds)}"
                rows = self.fetch(sql + tail, (*args, chunk_rows))
                if rows:
                    yield rows
                if len(rows) < chunk_rows:
                    return
                last = (rows[-1][1], rows[-1][0])
        finally:
            self.end()


class _Sqlite(_Db):
    def __init__(self, source: LogSource) -> None:
        super().__init__(source)
        path = source.path
        assert path is not None
        self.path = path
        if not path.exists():
            raise PredictionLogError(
                f"no prediction log at {path}: has mlctl serve run with this recipe?",
                hint="check deploy.serve.log.url, or pass the log the server writes",
            )
        if not path.is_file():
            raise PredictionLogError(f"prediction log {path} is not a file")
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            self.conn = sqlite3.connect(
                uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise PredictionLogError(f"cannot open prediction log {path}: {exc}") from None

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _log_error(self.path, str(exc)) from None

    def begin(self) -> None:
        self.fetch("BEGIN", ())

    def end(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")


class _Postgres(_Db):
    placeholder = "%s"

    def __init__(self, source: LogSource) -> None:
        super().__init__(source)
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        self._errors = psycopg.Error
        self._in_pages = False
        try:
            info = conninfo_to_dict(source.url)
        except psycopg.Error as exc:
            raise PredictionLogError(
                f"prediction log URL {source.display_url!r} does not parse: {_first_line(str(exc))}"
            ) from None
        self.password = info.get("password")
        host, port = info.get("host") or "localhost", info.get("port") or "5432"
        self.where = f"{host}:{port} (database {info.get('dbname') or info.get('user') or '?'})"
        try:
            self.conn = psycopg.connect(
                source.url, connect_timeout=max(1, round(source.connect_timeout))
            )
            self.conn.read_only = True
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        except psycopg.Error as exc:
            raise PredictionLogError(
                f"cannot connect to the PostgreSQL prediction log at {self.where}: "
                f"{self._cause(exc)}",
                hint="check that PostgreSQL runs there and deploy.serve.log.url",
            ) from None

    def _cause(self, exc: Exception) -> str:
        text = _first_line(str(exc)) or type(exc).__name__
        if self.password:
            text = text.replace(self.password, "***").replace(quote(self.password), "***")
        return text

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        sql = sql.replace("?", "%s").replace("'%-shadow'", "'%%-shadow'")
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, tuple(params))
                rows = cur.fetchall()
            if not self._in_pages:  # a lone query ends its transaction at once
                self.conn.rollback()
            return rows
        except self._errors as exc:
            with contextlib.suppress(Exception):
                self.conn.rollback()
            raise _log_error(self.where, self._cause(exc)) from None

    def begin(self) -> None:
        self._in_pages = True  # psycopg opens the transaction with the first query

    def end(self) -> None:
        self._in_pages = False
        with contextlib.suppress(Exception):
            self.conn.rollback()


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def _log_error(where: Any, cause: str) -> PredictionLogError:
    """A read error, in words for the usual causes."""
    table = re.search(r'(?:no such table: |relation ")(\w+)', cause)
    if table:
        return PredictionLogError(
            f"prediction log {where} has no table '{table[1]}': is it a log written "
            "by mlctl serve?",
            hint="check deploy.serve.log.url (PostgreSQL: the search_path schema too)",
        )
    if re.search(r'no such column|column "?\w+"? does not exist', cause):
        return PredictionLogError(
            f"prediction log {where} lacks a column mlctl serve writes ({cause}): "
            "is it a log written by mlctl serve?"
        )
    if "not a database" in cause:
        return PredictionLogError(f"{where} is not a SQLite database ({cause})")
    return PredictionLogError(f"cannot read prediction log {where}: {cause}")


# ------------------------------------------------------------------- file source


def shown_name(name: Any, most: int = 60) -> str:
    """A column name safe to print: as it is when short and printable, else its
    ``repr`` (control characters escaped), cut to ``most`` characters."""
    text = str(name)
    if text.isprintable() and text.strip() == text and text and len(text) <= most:
        return text
    return repr(text[:most]) + ("…" if len(text) > most else "")


def shown_names(names: Sequence[Any], most: int = 12) -> str:
    """The first ``most`` names (:func:`shown_name`) and how many more."""
    shown = ", ".join(shown_name(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def separator_hint(names: Sequence[str]) -> str | None:
    """A hint when a CSV header looks separated by something other than commas."""
    if len(names) == 1:
        for sep, word in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            parts = names[0].split(sep)
            if len(parts) > 1 and all(part.isprintable() for part in parts):
                return f"the header is one column separated by {word}: a CSV must use commas"
    return None


FILE_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


class FileSource:
    """A batch of production inputs from a CSV or Parquet file, read in chunks.

    Args:
        path: The file.
        label_column: A column of true labels, if the file has one (checked to exist).
        timestamp_column: A column of event times, if any: epoch seconds, or dates
            and times (ISO 8601; without a zone they are UTC). In the chunks it holds
            epoch seconds (float), and a window selects rows by it.
        columns: Read only these columns (plus the label and timestamp columns).
        sep: CSV field separator.
        dtype: CSV column types (as for ``pandas.read_csv``), so that every chunk
            types a column alike.
        option: How the user named the file, for messages ("--current").
    """

    def __init__(
        self,
        path: str | Path,
        label_column: str | None = None,
        timestamp_column: str | None = None,
        columns: Sequence[str] | None = None,
        sep: str = ",",
        dtype: dict[str, Any] | None = None,
        option: str = "--current",
    ) -> None:
        self.path = Path(path)
        self.label_column = label_column
        self.timestamp_column = timestamp_column
        self.columns = None if columns is None else list(columns)
        self.sep = sep
        self.dtype = dtype
        self.option = option

    @property
    def format(self) -> str:
        fmt = FILE_FORMATS.get(self.path.suffix.lower())
        if fmt is None:
            raise DataError(
                f"{self.option}: cannot tell the format of '{self.path.name}' from its extension",
                hint="use a .csv or .parquet file",
            )
        return fmt

    def header(self) -> list[str]:
        """The file's column names.

        Raises:
            DataError: the file is missing, empty, unreadable, or lacks a named column.
        """
        if not self.path.is_file():
            what = "is a folder" if self.path.is_dir() else "does not exist"
            raise DataError(f"{self.option}: {self.path} {what}")
        fmt = self.format
        if self.path.stat().st_size == 0:
            raise DataError(f"{self.option}: {self.path} is empty (0 bytes)")
        from mlctl.data.limits import check_size

        check_size(self.path, fmt, key=self.option)
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                names = list(pq.ParquetFile(self.path).schema_arrow.names)
            else:  # header=None: the names as written (pandas renames a repeated one)
                first = pd.read_csv(self.path, sep=self.sep, header=None, nrows=1, dtype=str)
                names = ["" if pd.isna(c) else str(c) for c in first.iloc[0]] if len(first) else []
        except Exception as exc:  # pandas and pyarrow raise many types for bad files
            raise DataError(
                f"{self.option}: cannot read {self.path} as {fmt}: {_first_line(str(exc))}"
            ) from None
        self._check_names(names)
        wanted = self._wanted(names)
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DataError(
                f"{self.option}: {self.path} has no column {', '.join(map(repr, missing))} "
                f"(it has: {shown_names(names, 30)})",
                hint=separator_hint(names),
            )
        return names

    def _check_names(self, names: list[str]) -> None:
        """A column named twice is refused: which one holds the inputs is a guess."""
        seen: dict[str, int] = {}
        for name in names:
            seen[name] = seen.get(name, 0) + 1
        twice = [n for n, k in seen.items() if k > 1]
        if twice:
            raise DataError(
                f"{self.option}: {self.path} has the column{'s' if len(twice) > 1 else ''} "
                f"{shown_names(twice)} more than once: which one holds the values is a guess",
                hint="rename or drop the repeated columns",
            )

    def _wanted(self, names: Sequence[str]) -> list[str]:
        base = list(names) if self.columns is None else list(self.columns)
        extra = [c for c in (self.label_column, self.timestamp_column) if c]
        return base + [c for c in extra if c not in base]

    def iter_chunks(
        self, window: Window | None = None, chunk_rows: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """The file's rows, ``chunk_rows`` at a time (those of ``window``, if given).

        Raises:
            DataError: unreadable file, missing column, a timestamp that does not
                parse (naming its row and value).
            UsageError: a window without a timestamp column.
        """
        _check_chunk_rows(chunk_rows)
        if window is not None and not self.timestamp_column:
            raise UsageError(
                f"{self.option}: selecting a time window needs a timestamp column",
                hint="name the column of event times, or read the whole file",
            )
        wanted = self._wanted(self.header())
        offset = 0
        try:
            for raw in self._raw_chunks(wanted, chunk_rows):
                chunk = raw.reset_index(drop=True)
                if self.timestamp_column:
                    ts = self._epoch_seconds(chunk[self.timestamp_column], offset)
                    chunk[self.timestamp_column] = ts
                    if window is not None:
                        keep = (ts >= window.start) & (ts < window.end)
                        chunk = chunk[keep].reset_index(drop=True)
                offset += len(raw)
                if len(chunk):
                    yield chunk
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"{self.option}: cannot read {self.path} as {self.format}: "
                f"{_first_line(str(exc)) or type(exc).__name__}"
            ) from None

    def read(self, window: Window | None = None) -> pd.DataFrame:
        """The whole file (or ``window``) in one frame."""
        chunks = list(self.iter_chunks(window))
        if not chunks:
            return pd.DataFrame(columns=self._wanted(self.header()))
        return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)

    def _raw_chunks(self, wanted: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(self.path) as reader:
                for batch in reader.iter_batches(batch_size=chunk_rows, columns=wanted):
                    yield batch.to_pandas()
            return
        with pd.read_csv(
            self.path, sep=self.sep, usecols=wanted, dtype=self.dtype, chunksize=chunk_rows
        ) as reader:
            for chunk in reader:
                yield chunk[wanted]

    def _epoch_seconds(self, values: pd.Series, offset: int) -> np.ndarray:
        name = self.timestamp_column
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            if pd.api.types.is_datetime64_any_dtype(values):
                parsed = values
                if getattr(values.dt, "tz", None) is None:
                    parsed = values.dt.tz_localize("UTC")
            else:
                parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            out = np.full(len(values), np.nan)
            ok = parsed.notna().to_numpy()
            out[ok] = (parsed[ok] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        bad = np.flatnonzero(~np.isfinite(out))
        if bad.size:
            i = int(bad[0])
            row = offset + i + (2 if self.format == "csv" else 1)
            where = f"line {row}" if self.format == "csv" else f"row {row}"
            raise DataError(
                f"{self.option}: {self.path} {where}: timestamp column '{name}' holds "
                f"{values.iloc[i]!r}, not a time ({bad.size} such rows in this chunk)",
                hint="use epoch seconds or ISO 8601 times (2024-05-01T12:00:00Z)",
            )
        return out
