"""The prediction log in PostgreSQL (psycopg 3): the writer's connection and the reader's.

Writer: a connection that was lost (restart, fail-over, a proxy's idle timeout) is
opened again and the write retried once (:meth:`PredictionLog._reconnecting`); one
stuck in a write is shut down by the writer's watchdog (:meth:`interrupt`). The
CREATEs of several workers starting at once are serialised by an advisory lock.

Reader: a read-only REPEATABLE READ connection, so that the keyset pages of one read
see one snapshot; messages never show the password.

psycopg is imported when a PostgreSQL log is opened, never for SQLite.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from mlctl.errors import PredictionLogError
from mlctl.predlog.reader import LogReader, first_line, log_error
from mlctl.predlog.schema import COLUMNS, FAILURE_COLUMNS, POSTGRES_SCHEMA, SHADOW_SUFFIX

_CREATE_LOCK = 7106105  # pg_advisory_xact_lock key of the CREATEs


class PostgresWriter:
    """The writer thread's connection to a PostgreSQL log (see :class:`PredictionLog`)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    # ------------------------------------------------------------- connection
    def connect(self) -> None:
        import psycopg

        self.conn = psycopg.connect(self.url, autocommit=False, connect_timeout=5)

    def create(self) -> None:
        with self.conn.cursor() as cur:
            # Several workers may start at once: serialise the CREATEs.
            cur.execute(f"SELECT pg_advisory_xact_lock({_CREATE_LOCK})")
            cur.execute(POSTGRES_SCHEMA)
        self.conn.commit()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def lost(self) -> bool:
        return self.conn is None or self.conn.closed

    def reopen(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.connect()

    def interrupt(self) -> None:
        """Shut down the connection's socket (from another thread): the write stuck on
        it fails at once and the next one opens a new connection."""
        fd = self.conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor in one transaction: committed, or rolled back on an error."""
        try:
            with self.conn.cursor() as cur:
                yield cur
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            raise

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        self.conn.commit()
        return rows

    # ---------------------------------------------------------------- faults
    def explain(self, exc: BaseException, text: str) -> str | None:
        return None  # the driver's message says it

    def ping(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute("SELECT 1")
        self.conn.rollback()

    # ----------------------------------------------------------------- writes
    def insert(self, rows: list[tuple]) -> None:
        cols = ", ".join(COLUMNS)
        marks = ", ".join(["%s"] * len(COLUMNS))
        sql = f"INSERT INTO predictions ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        with self._transaction() as cur:
            cur.executemany(sql, rows)

    def insert_failures(self, rows: list[tuple]) -> None:
        cols = ", ".join(FAILURE_COLUMNS)
        marks = ", ".join(["%s"] * len(FAILURE_COLUMNS))
        sql = f"INSERT INTO failures ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        with self._transaction() as cur:
            cur.executemany(sql, rows)

    def known(self, ids: list[str]) -> set[str]:
        sql = "SELECT request_id FROM predictions WHERE request_id = ANY(%s)"
        return {r[0] for r in self._read(sql, (ids,))}

    def upsert_feedback(self, good: list[tuple], orphans: list[tuple]) -> None:
        with self._transaction() as cur:
            if good:
                cur.executemany(
                    "INSERT INTO feedback (request_id, label, ts) VALUES (%s, %s, %s) "
                    "ON CONFLICT (request_id) DO UPDATE SET label = EXCLUDED.label, "
                    "ts = EXCLUDED.ts",
                    good,
                )
            if orphans:
                cur.executemany(
                    "INSERT INTO feedback_orphans (request_id, label, ts) "
                    "VALUES (%s, %s, %s) ON CONFLICT (request_id) DO UPDATE SET "
                    "label = EXCLUDED.label, ts = EXCLUDED.ts, "
                    "seen = feedback_orphans.seen + 1",
                    orphans,
                )

    def count_orphans(self) -> int:
        return int(self._read("SELECT count(*) FROM feedback_orphans", ())[0][0])

    def claim(self, batch_id: str, digest: str) -> str:
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO idempotency (batch_id, digest, ts) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (batch_id, digest, time.time()),
            )
            cur.execute("SELECT digest FROM idempotency WHERE batch_id = %s", (batch_id,))
            found = cur.fetchone()[0]
        return found

    def select(self, ids: list[str]) -> list[tuple]:
        cols = ", ".join(COLUMNS)
        return self._read(f"SELECT {cols} FROM predictions WHERE request_id = ANY(%s)", (ids,))


# ------------------------------------------------------------------------ reader


class PostgresReader(LogReader):
    """A read-only connection to a PostgreSQL log."""

    placeholder = "%s"

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        super().__init__(url, connect_timeout)
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        self._errors = psycopg.Error
        self._in_pages = False
        try:
            info = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise PredictionLogError(
                f"prediction log URL {self.display_url!r} does not parse: {first_line(str(exc))}"
            ) from None
        self.password = info.get("password")
        host, port = info.get("host") or "localhost", info.get("port") or "5432"
        self.where = f"{host}:{port} (database {info.get('dbname') or info.get('user') or '?'})"
        try:
            self.conn = psycopg.connect(url, connect_timeout=max(1, round(connect_timeout)))
            self.conn.read_only = True
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        except psycopg.Error as exc:
            raise PredictionLogError(
                f"cannot connect to the PostgreSQL prediction log at {self.where}: "
                f"{self._cause(exc)}",
                hint="check that PostgreSQL runs there and deploy.serve.log.url",
            ) from None

    def _cause(self, exc: Exception) -> str:
        text = first_line(str(exc)) or type(exc).__name__
        if self.password:
            text = text.replace(self.password, "***").replace(quote(self.password), "***")
        return text

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        sql = sql.replace("?", "%s").replace(f"'%{SHADOW_SUFFIX}'", f"'%%{SHADOW_SUFFIX}'")
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
            raise log_error(self.where, self._cause(exc)) from None

    def begin(self) -> None:
        self._in_pages = True  # psycopg opens the transaction with the first query

    def end(self) -> None:
        self._in_pages = False
        with contextlib.suppress(Exception):
            self.conn.rollback()
