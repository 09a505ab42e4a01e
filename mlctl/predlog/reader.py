"""Reading the prediction log: one read-only connection, plain queries, and keyset
pages in one transaction (one snapshot).

:func:`open_reader` opens a :class:`LogReader` for a URL (``sqlite:///PATH`` or
``postgresql://...``); the backends are :class:`~mlctl.predlog.sqlite.SqliteReader`
and :class:`~mlctl.predlog.postgres.PostgresReader`. Queries are written with ``?``
placeholders; the PostgreSQL reader turns them into ``%s``. What the rows mean (a
time window, decoded inputs) is :mod:`mlctl.monitor.log_source`' business.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from mlctl.errors import PredictionLogError
from mlctl.predlog.schema import READ_TABLES, display_url, is_postgres


class Span(Protocol):
    """A half-open time range ``[start, end)`` in epoch seconds (a monitor Window)."""

    start: float
    end: float


def kind_of(url: str) -> str:
    """``"postgresql"`` or ``"sqlite"``.

    Raises:
        PredictionLogError: any other URL.
    """
    if is_postgres(url):
        return "postgresql"
    if url.startswith("sqlite:///"):
        return "sqlite"
    raise PredictionLogError(
        f"prediction log URL {display_url(url)!r} is not supported: expected "
        "sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
        hint="use the deploy.serve.log.url the server logs to",
    )


@contextlib.contextmanager
def open_reader(url: str, connect_timeout: float = 5.0) -> Iterator[LogReader]:
    """A read-only connection to the log at ``url``, closed on exit.

    Raises:
        PredictionLogError: missing file, unreachable server, unsupported URL.
    """
    if kind_of(url) == "postgresql":
        from mlctl.predlog.postgres import PostgresReader

        db: LogReader = PostgresReader(url, connect_timeout)
    else:
        from mlctl.predlog.sqlite import SqliteReader

        db = SqliteReader(url, connect_timeout)
    try:
        yield db
    finally:
        db.close()


class LogReader:
    """One read-only connection: plain queries, and keyset pages in one transaction."""

    placeholder = "?"

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.conn: Any = None

    @property
    def display_url(self) -> str:
        return display_url(self.url)

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

    def check_tables(self) -> None:
        """Every table and column a reader needs is there.

        Raises:
            PredictionLogError: naming the missing table or column.
        """
        for table, cols in READ_TABLES:
            self.fetch(f"SELECT {cols} FROM {table} WHERE 1 = 0", ())

    def pages(
        self,
        select: str,
        join: str,
        where: list[str],
        params: list[Any],
        window: Span,
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


def first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def log_error(where: Any, cause: str) -> PredictionLogError:
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
