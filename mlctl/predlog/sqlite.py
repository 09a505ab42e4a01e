"""The prediction log in a SQLite file: the writer's connection and the reader's.

Writer: WAL with ``synchronous=NORMAL`` (a committed transaction survives a crash or
``kill -9`` of the process, not a power cut). Several worker processes share the
file: their writers take turns through an OS file lock (``<log>-writers``) held for
each write transaction, because SQLite's own busy handler sleeps and polls (1, 2, 5,
10 ... 100 ms) and under load those sleeps were the service's p99; a lock waiter is
woken the moment the lock is free, and the kernel drops the lock of a killed process.
A file deleted (or replaced) while serving is noticed before the next commit, which
goes to a new file at the same path, never to the deleted one. A full disk or a
read-only file system is named with the file's path.

Reader: the file opened ``mode=ro``; a missing file is an error, never created.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlctl.errors import PredictionLogError
from mlctl.predlog.reader import LogReader, log_error
from mlctl.predlog.schema import COLUMNS, FAILURE_COLUMNS, SQLITE_SCHEMA, sqlite_path

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

MIN_FREE_BYTES = 256 * 1024  # less free space than this reads as "disk full"
logger = logging.getLogger("mlctl.serve")


class SqliteWriter:
    """The writer thread's connection to a SQLite log (see :class:`PredictionLog`)."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self._turns: int | None = None  # the file lock writers take turns on
        self._inode: tuple[int, int] | None = None  # the file the connection writes

    # ------------------------------------------------------------- connection
    def connect(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        if fcntl is not None and self._turns is None:
            self._turns = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT, 0o644)
        self._inode = _inode(path)
        self.conn = conn

    def create(self) -> None:
        self.conn.executescript(SQLITE_SCHEMA)

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None
        if self._turns is not None:
            os.close(self._turns)
            self._turns = None

    def lost(self) -> bool:
        """A file connection is never lost (a replaced file: :meth:`_same_file`)."""
        return False

    def reopen(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.connect()

    def _same_file(self) -> None:
        """If the log file was deleted or replaced while serving, open the file now at
        its path (creating the tables), so no commit goes to a deleted file."""
        if self._inode is None or _inode(self.path) == self._inode:
            return
        logger.warning(
            "mlctl serve: the prediction log %s was deleted or replaced; writing to a new "
            "file at that path",
            self.path,
        )
        with contextlib.suppress(Exception):
            self.conn.close()
        if self._turns is not None:
            os.close(self._turns)
            self._turns = None
        self.connect()
        self.conn.executescript(SQLITE_SCHEMA)

    @contextlib.contextmanager
    def _write_turn(self) -> Iterator[None]:
        """Hold the writers' file lock around one write transaction."""
        if self._turns is None:
            yield
            return
        fcntl.flock(self._turns, fcntl.LOCK_EX)  # blocks without the GIL; no polling
        try:
            yield
        finally:
            fcntl.flock(self._turns, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken in turn with the other processes' writers."""
        conn = self.conn
        with self._write_turn():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except Exception:
                _rollback(conn)
                raise

    # ---------------------------------------------------------------- faults
    def explain(self, exc: BaseException, text: str) -> str | None:
        """A full disk or a read-only file system, named with the log's path."""
        lowered = text.lower()
        if getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in lowered:
            return f"the disk holding the prediction log {self.path} is full ({text})"
        if getattr(exc, "errno", None) == errno.EROFS or "readonly" in lowered:
            return f"the prediction log {self.path} cannot be written: read-only ({text})"
        space = self.space_problem()
        if space:
            return f"{space} ({text})"
        return None

    def space_problem(self) -> str | None:
        """A read-only file system or a (nearly) full disk under the log."""
        try:
            st = os.statvfs(self.path.parent)
        except (OSError, AttributeError):
            return None
        if st.f_flag & getattr(os, "ST_RDONLY", 1):
            return f"the prediction log {self.path} is on a read-only file system"
        if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
            return f"the disk holding the prediction log {self.path} is full"
        return None

    def ping(self) -> None:
        self.conn.execute("SELECT 1").fetchall()
        space = self.space_problem()  # SELECT 1 reads; a full disk still fails writes
        if space:
            raise OSError(space)

    # ----------------------------------------------------------------- writes
    def insert(self, rows: list[tuple]) -> None:
        cols = ", ".join(COLUMNS)
        marks = ", ".join(["?"] * len(COLUMNS))
        self._same_file()
        with self._transaction() as conn:
            conn.executemany(f"INSERT OR IGNORE INTO predictions ({cols}) VALUES ({marks})", rows)

    def insert_failures(self, rows: list[tuple]) -> None:
        cols = ", ".join(FAILURE_COLUMNS)
        marks = ", ".join(["?"] * len(FAILURE_COLUMNS))
        self._same_file()
        with self._transaction() as conn:
            conn.executemany(f"INSERT OR IGNORE INTO failures ({cols}) VALUES ({marks})", rows)

    def known(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for part in _parts(ids):
            marks = ", ".join("?" * len(part))
            cur = self.conn.execute(
                f"SELECT request_id FROM predictions WHERE request_id IN ({marks})", part
            )
            found.update(r[0] for r in cur.fetchall())
        return found

    def upsert_feedback(self, good: list[tuple], orphans: list[tuple]) -> None:
        with self._transaction() as conn:
            if good:
                conn.executemany(
                    "INSERT INTO feedback (request_id, label, ts) VALUES (?, ?, ?) "
                    "ON CONFLICT (request_id) DO UPDATE SET label = excluded.label, "
                    "ts = excluded.ts",
                    good,
                )
            if orphans:
                conn.executemany(
                    "INSERT INTO feedback_orphans (request_id, label, ts) VALUES (?, ?, ?) "
                    "ON CONFLICT (request_id) DO UPDATE SET label = excluded.label, "
                    "ts = excluded.ts, seen = seen + 1",
                    orphans,
                )

    def count_orphans(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM feedback_orphans").fetchone()[0])

    def claim(self, batch_id: str, digest: str) -> str:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO idempotency (batch_id, digest, ts) VALUES (?, ?, ?)",
                (batch_id, digest, time.time()),
            )
            found = conn.execute(
                "SELECT digest FROM idempotency WHERE batch_id = ?", (batch_id,)
            ).fetchone()[0]
        return found

    def select(self, ids: list[str]) -> list[tuple]:
        cols = ", ".join(COLUMNS)
        rows = []
        for part in _parts(ids):
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {cols} FROM predictions WHERE request_id IN ({marks})"
            rows += self.conn.execute(sql, part).fetchall()
        return rows


def _parts(ids: list[str], size: int = 500) -> Iterator[list[str]]:
    """``ids`` in slices small enough for one ``IN (...)``."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is open. SQLite already rolled back after some errors (a full
    disk): a second ROLLBACK would raise and hide the first error."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# ------------------------------------------------------------------------ reader


class SqliteReader(LogReader):
    """A read-only connection to a SQLite log."""

    def __init__(self, url: str, connect_timeout: float = 5.0) -> None:
        super().__init__(url, connect_timeout)
        path = sqlite_path(url)
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
            raise log_error(self.path, str(exc)) from None

    def begin(self) -> None:
        self.fetch("BEGIN", ())

    def end(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")
