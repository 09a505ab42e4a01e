"""The prediction log: every prediction, committed before its response is sent.

One writer thread per server process owns the database connection. Requests hand
it their rows and wait; the thread commits whatever has arrived as ONE transaction
(group commit) and then releases every waiter. So a 2xx response means the row is
committed, and many concurrent requests share one commit.

Backends: SQLite (WAL, ``synchronous=NORMAL``: a committed transaction survives a
crash or ``kill -9`` of the process, not a power cut). Several worker processes
share the file: their writers take turns through an OS file lock held for each
write transaction, because SQLite's own busy handler sleeps and polls (1, 2, 5,
10 ... 100 ms) and under load those sleeps were the service's p99; a lock waiter
is woken the moment the lock is free, and the kernel drops the lock of a killed
process and PostgreSQL (psycopg 3). Rows are keyed by
the per-row request id (``UNIQUE``), so a retried insert is a no-op; a PostgreSQL
connection that was lost (restart, fail-over, a proxy's idle timeout) is opened
again and the write retried once. A request that gave up waiting (its timeout
answered 503) has its rows skipped; the writer itself never stops on an error.
Feedback (ground truth) is stored by request id; ids the log does not hold are kept
aside in ``feedback_orphans`` and counted, never dropped.

Faults: a commit that takes longer than ``stall_seconds`` (a hung database, a lock
held elsewhere) makes :meth:`PredictionLog.healthy` false at once; a PostgreSQL
connection stuck for twice that long is shut down by a watchdog and opened again. A
full disk or a read-only file system is named with the log's path. A SQLite file
deleted (or replaced) while serving is noticed before the next commit, which goes to
a new file at the same path, never to the deleted one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id   TEXT PRIMARY KEY,
    batch_id     TEXT NOT NULL,
    ts           REAL NOT NULL,
    model_name   TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    variant      TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    prediction   TEXT,
    score        REAL,
    probabilities TEXT,
    latency_ms   REAL
);
-- (ts, request_id): the monitor pages through a window in this order.
CREATE INDEX IF NOT EXISTS predictions_ts_id ON predictions (ts, request_id);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    ts         REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback_orphans (
    request_id TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    ts         REAL NOT NULL,
    seen       INTEGER NOT NULL DEFAULT 1
);
-- Idempotency-Key claims: the digest of the rows first sent under a key (see claim()).
CREATE TABLE IF NOT EXISTS idempotency (
    batch_id TEXT PRIMARY KEY,
    digest   TEXT NOT NULL,
    ts       REAL NOT NULL
);
"""

POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id   TEXT PRIMARY KEY,
    batch_id     TEXT NOT NULL,
    ts           DOUBLE PRECISION NOT NULL,
    model_name   TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    variant      TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    prediction   TEXT,
    score        DOUBLE PRECISION,
    probabilities TEXT,
    latency_ms   DOUBLE PRECISION
);
-- (ts, request_id): the monitor pages through a window in this order.
CREATE INDEX IF NOT EXISTS predictions_ts_id ON predictions (ts, request_id);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    ts         DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback_orphans (
    request_id TEXT PRIMARY KEY,
    label      TEXT NOT NULL,
    ts         DOUBLE PRECISION NOT NULL,
    seen       INTEGER NOT NULL DEFAULT 1
);
-- Idempotency-Key claims: the digest of the rows first sent under a key (see claim()).
CREATE TABLE IF NOT EXISTS idempotency (
    batch_id TEXT PRIMARY KEY,
    digest   TEXT NOT NULL,
    ts       DOUBLE PRECISION NOT NULL
);
"""

COLUMNS = (
    "request_id",
    "batch_id",
    "ts",
    "model_name",
    "model_version",
    "variant",
    "inputs",
    "prediction",
    "score",
    "probabilities",
    "latency_ms",
)


_PROBE = object()  # a queue item: check the database (see PredictionLog.healthy)
MIN_FREE_BYTES = 256 * 1024  # SQLite: less free space than this reads as "disk full"
logger = logging.getLogger("mlctl.serve")


@dataclass(frozen=True)
class _LoopWaiter:
    """An asyncio Future waiting for a commit, and the loop it belongs to."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


def _claim(waiter: Future | _LoopWaiter) -> bool:
    """False when the request stopped waiting (its rows are then not written)."""
    if isinstance(waiter, _LoopWaiter):
        return not waiter.future.done()  # cancelled by the request's timeout
    # A Future marked running can no longer be cancelled.
    return waiter.set_running_or_notify_cancel()


def _settle(
    waiters: Sequence[Future | _LoopWaiter],
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """Complete every waiter; asyncio ones with one callback per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
    for waiter in waiters:
        if isinstance(waiter, _LoopWaiter):
            by_loop.setdefault(waiter.loop, []).append(waiter.future)
            continue
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
            if error is None:
                waiter.set_result(result)
            else:
                waiter.set_exception(error)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_resolve, futures, result, error)


def _resolve(futures: list[asyncio.Future], result: Any, error: BaseException | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


class LogUnavailable(Exception):
    """The prediction log cannot be opened or written (the server answers 503)."""


@dataclass
class FeedbackResult:
    accepted: int  # joined to a logged prediction (new or repeated)
    unknown: list[str]  # ids the log does not hold: kept in feedback_orphans


# Compact JSON; anything JSON has no type for is written as its text, NaN as null
# (strict JSON, so any reader, PostgreSQL's jsonb and msgspec included, can parse it).
_encoder = msgspec.json.Encoder(enc_hook=str)


def rows_for(
    request_ids: Sequence[str],
    batch_id: str,
    ts: float,
    model_name: str,
    model_version: int,
    variant: str,
    inputs: Sequence[dict[str, Any]],
    predictions: Sequence[Any],
    scores: Sequence[float | None],
    probabilities: Sequence[dict[str, float]] | None,
    latency_ms: float,
) -> list[tuple]:
    """Log rows (tuples in :data:`COLUMNS` order) for one scored request."""
    encode = _encoder.encode
    out = []
    for i, rid in enumerate(request_ids):
        out.append(
            (
                rid,
                batch_id,
                ts,
                model_name,
                model_version,
                variant,
                encode(inputs[i]).decode(),
                None if predictions[i] is None else str(predictions[i]),
                scores[i],
                None if probabilities is None else encode(probabilities[i]).decode(),
                latency_ms,
            )
        )
    return out


class PredictionLog:
    """Group-committing writer; ``write`` returns a Future set once rows are committed."""

    def __init__(self, url: str, max_rows: int = 2000) -> None:
        self.url = url
        self.kind = "postgresql" if url.startswith(("postgresql://", "postgres://")) else "sqlite"
        self.max_rows = max_rows
        self._queue: queue.Queue[Any] = queue.Queue()  # (rows, waiter), _PROBE or None
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self.committed_rows = 0
        self.failed_rows = 0
        self.commits = 0
        self.last_error: str | None = None
        self.failing = False  # the last write (or probe) failed: see healthy()
        self._probe_queued = False
        self._lock = threading.Lock()  # feedback and reads share the writer's connection
        self._turns: int | None = None  # SQLite: the file lock writers take turns on
        self._inode: tuple[int, int] | None = None  # SQLite: the file the connection writes
        self.stall_seconds = 10.0  # a commit slower than this: not healthy (see healthy())
        self._busy_since: float | None = None  # time.monotonic() of the running write
        self._watchdog: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle
    def open(self) -> None:
        """Connect, create the tables, start the writer thread.

        Raises:
            LogUnavailable: naming the database and the cause.
        """
        try:
            self._conn = self._connect()
            self._create()
        except Exception as exc:
            raise LogUnavailable(
                f"prediction log {self.display_url} cannot be opened: {exc}"
            ) from None
        self._thread = threading.Thread(target=self._run, name="mlctl-predlog", daemon=True)
        self._thread.start()
        if self.kind == "postgresql":
            self._watchdog = threading.Thread(
                target=self._watch, name="mlctl-predlog-watchdog", daemon=True
            )
            self._watchdog.start()

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
        if self._turns is not None:
            os.close(self._turns)
            self._turns = None

    @property
    def display_url(self) -> str:
        """The URL without a password (:func:`mlctl.redact.redact_text`)."""
        from mlctl.redact import redact_text

        return redact_text(self.url)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def writable(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------- writes
    def write(self, rows: list[tuple]) -> Future:
        """Queue rows; the Future completes (or fails) once they are committed."""
        fut: Future = Future()
        if not self.writable():
            fut.set_exception(LogUnavailable("the prediction log is closed"))
            return fut
        self._queue.put((rows, fut))
        return fut

    def healthy(self) -> bool:
        """The writer runs, its last write succeeded and the one it is doing now has not
        taken longer than ``stall_seconds`` (readiness).

        While failing (e.g. PostgreSQL is down), each call asks the writer for a probe
        (``SELECT 1``, reconnecting if the connection was lost; SQLite: also free space
        and a writable file system), so that a server with no traffic also notices when
        the database is back."""
        if not self.writable():
            return False
        stalled = self.stalled_for()
        if stalled is not None:
            self.last_error = (
                f"the prediction log {self.display_url} has not answered for "
                f"{stalled:.0f} s (the database is hung or a lock is held)"
            )
            return False
        if self.failing and not self._probe_queued:
            self._probe_queued = True
            self._queue.put(_PROBE)
        return not self.failing

    def stalled_for(self) -> float | None:
        """Seconds the running write has taken, if more than ``stall_seconds``."""
        since = self._busy_since
        if since is None:
            return None
        busy = time.monotonic() - since
        return busy if busy > self.stall_seconds else None

    def _watch(self) -> None:
        """PostgreSQL: shut down a connection stuck in one write for twice
        ``stall_seconds`` (a proxy that stopped forwarding never errors by itself); the
        write then fails and the next one opens a new connection."""
        fired: float | None = None  # the write (its start time) already cut short
        while self._thread is not None and self._thread.is_alive():
            time.sleep(0.5)
            since = self._busy_since
            if since is None or since == fired:
                continue
            stalled = time.monotonic() - since
            if stalled < 2 * self.stall_seconds:
                continue
            fired = since
            with contextlib.suppress(Exception):
                fd = self._conn.pgconn.socket
                with socket.socket(fileno=os.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
                logger.warning(
                    "mlctl serve: the prediction log %s did not answer for %.0f s; "
                    "its connection was closed and is opened again",
                    self.display_url,
                    stalled,
                )

    def write_async(self, rows: list[tuple]) -> asyncio.Future:
        """As :meth:`write`, for the event loop: an asyncio Future, resolved together with
        every other request of its commit by one callback into the loop (``wrap_future``
        would wake the loop once per request). Cancelling it before the commit skips its
        rows."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self.writable():
            future.set_exception(LogUnavailable("the prediction log is closed"))
            return future
        self._queue.put((rows, _LoopWaiter(loop, future)))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item is _PROBE:
                self._probe()
                continue
            batch = [item]
            size = len(item[0])
            stop = False
            while size < self.max_rows:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                if more is _PROBE:  # the commit below probes as well
                    self._probe_queued = False
                    continue
                batch.append(more)
                size += len(more[0])
            self._busy_since = time.monotonic()
            try:
                self._commit(batch)
            except Exception as exc:  # the writer must outlive any one batch
                self._fail(batch, exc)
            finally:
                self._busy_since = None
            if stop:
                return

    def _commit(self, batch: list[tuple[list[tuple], Any]]) -> None:
        # A request that stopped waiting (its timeout answered 503) cancelled its
        # Future: its rows are not written, and setting a result on it would raise.
        # A Future marked running can no longer be cancelled.
        live = [(rows, fut) for rows, fut in batch if _claim(fut)]
        if not live:
            return
        rows = [row for rows, _ in live for row in rows]
        try:
            with self._lock:
                self._reconnecting(self._insert, rows)
        except Exception as exc:
            self._fail(live, exc)
            return
        self.committed_rows += len(rows)
        self.commits += 1
        self.failing = False
        _settle([fut for _, fut in live], result=len(rows))

    def _fail(self, batch: list[tuple[list[tuple], Any]], exc: Exception) -> None:
        self.failed_rows += sum(len(rows) for rows, _ in batch)
        self.last_error = self.describe(exc)
        self.failing = True
        error = LogUnavailable(f"the prediction could not be logged: {self.last_error}")
        _settle([fut for _, fut in batch], error=error)

    def describe(self, exc: BaseException) -> str:
        """What went wrong, in words: a full disk or a read-only file system is named
        with the log's path, never hidden behind a follow-up error."""
        text = str(exc).strip() or type(exc).__name__
        if self.kind == "sqlite":
            lowered = text.lower()
            if getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in lowered:
                return f"the disk holding the prediction log {self.path} is full ({text})"
            if getattr(exc, "errno", None) == errno.EROFS or "readonly" in lowered:
                return f"the prediction log {self.path} cannot be written: read-only ({text})"
            space = self._space_problem()
            if space:
                return f"{space} ({text})"
        return f"{type(exc).__name__}: {text}"

    @property
    def path(self) -> Path:
        """SQLite: the database file."""
        return Path(self.url.removeprefix("sqlite:///"))

    def _space_problem(self) -> str | None:
        """SQLite: a read-only file system or a (nearly) full disk under the log."""
        try:
            st = os.statvfs(self.path.parent)
        except (OSError, AttributeError):
            return None
        if st.f_flag & getattr(os, "ST_RDONLY", 1):
            return f"the prediction log {self.path} is on a read-only file system"
        if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
            return f"the disk holding the prediction log {self.path} is full"
        return None

    def _probe(self) -> None:
        self._probe_queued = False
        self._busy_since = time.monotonic()
        try:
            with self._lock:
                self._reconnecting(self._ping)
        except Exception as exc:
            self.last_error = self.describe(exc)
            return
        finally:
            self._busy_since = None
        self.failing = False

    def _ping(self) -> None:
        if self.kind == "postgresql":
            with self._conn.cursor() as cur:
                cur.execute("SELECT 1")
            self._conn.rollback()
            return
        self._conn.execute("SELECT 1").fetchall()
        space = self._space_problem()  # SELECT 1 reads; a full disk still fails writes
        if space:
            raise OSError(space)

    # ---------------------------------------------------------------- backend
    def _connect(self) -> Any:
        if self.kind == "postgresql":
            import psycopg

            return psycopg.connect(self.url, autocommit=False, connect_timeout=5)
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        if fcntl is not None and self._turns is None:
            self._turns = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT, 0o644)
        self._inode = _inode(path)
        return conn

    def _same_file(self) -> None:
        """SQLite: if the log file was deleted or replaced while serving, open the file
        now at its path (creating the tables), so no commit goes to a deleted file."""
        if self._inode is None or _inode(self.path) == self._inode:
            return
        logger.warning(
            "mlctl serve: the prediction log %s was deleted or replaced; writing to a new "
            "file at that path",
            self.path,
        )
        with contextlib.suppress(Exception):
            self._conn.close()
        if self._turns is not None:
            os.close(self._turns)
            self._turns = None
        self._conn = self._connect()
        self._conn.executescript(SQLITE_SCHEMA)

    @contextlib.contextmanager
    def _write_turn(self) -> Any:
        """Hold the writers' file lock (SQLite) around one write transaction."""
        if self._turns is None:
            yield
            return
        fcntl.flock(self._turns, fcntl.LOCK_EX)  # blocks without the GIL; no polling
        try:
            yield
        finally:
            fcntl.flock(self._turns, fcntl.LOCK_UN)

    def _reconnecting(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``; if the connection was lost (the database restarted, a proxy
        or firewall closed it), once more on a new connection. Predictions are keyed
        by request id and feedback by request id too, so a retried write is not doubled
        (at worst an orphan's ``seen`` counts the retry)."""
        try:
            return fn(*args)
        except Exception:
            if not self._lost():
                raise
        with contextlib.suppress(Exception):
            self._conn.close()
        self._conn = self._connect()
        return fn(*args)

    def _lost(self) -> bool:
        return self.kind == "postgresql" and (self._conn is None or self._conn.closed)

    def _create(self) -> None:
        if self.kind == "postgresql":
            with self._conn.cursor() as cur:
                # Several workers may start at once: serialise the CREATEs.
                cur.execute("SELECT pg_advisory_xact_lock(7106105)")
                cur.execute(POSTGRES_SCHEMA)
            self._conn.commit()
        else:
            self._conn.executescript(SQLITE_SCHEMA)

    def _insert(self, rows: list[tuple]) -> None:
        cols = ", ".join(COLUMNS)
        if self.kind == "postgresql":
            marks = ", ".join(["%s"] * len(COLUMNS))
            sql = f"INSERT INTO predictions ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
            try:
                with self._conn.cursor() as cur:
                    cur.executemany(sql, rows)
                self._conn.commit()
            except Exception:
                self._conn.rollback()
                raise
            return
        marks = ", ".join(["?"] * len(COLUMNS))
        self._same_file()
        conn = self._conn
        with self._write_turn():
            conn.execute("BEGIN IMMEDIATE")
            try:
                sql = f"INSERT OR IGNORE INTO predictions ({cols}) VALUES ({marks})"
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
            except Exception:
                _rollback(conn)
                raise

    # --------------------------------------------------------------- feedback
    def feedback(self, items: Sequence[tuple[str, str]]) -> FeedbackResult:
        """Store ground truth by request id; idempotent (the last label wins).

        Raises:
            LogUnavailable: the database cannot be written.
        """
        now = time.time()
        try:
            with self._lock:
                good, orphans = self._reconnecting(self._store_feedback, items, now)
        except Exception as exc:
            raise LogUnavailable(f"feedback could not be stored: {exc}") from None
        return FeedbackResult(len(good), [rid for rid, _, _ in orphans])

    def _store_feedback(
        self, items: Sequence[tuple[str, str]], now: float
    ) -> tuple[list[tuple], list[tuple]]:
        known = self._known([rid for rid, _ in items])
        good = [(rid, label, now) for rid, label in items if rid in known]
        orphans = [(rid, label, now) for rid, label in items if rid not in known]
        self._upsert_feedback(good, orphans)
        return good, orphans

    def _known(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        if self.kind == "postgresql":
            with self._conn.cursor() as cur:
                cur.execute("SELECT request_id FROM predictions WHERE request_id = ANY(%s)", (ids,))
                found = {r[0] for r in cur.fetchall()}
            self._conn.commit()
            return found
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            cur = self._conn.execute(
                f"SELECT request_id FROM predictions WHERE request_id IN ({marks})", part
            )
            found.update(r[0] for r in cur.fetchall())
        return found

    def _upsert_feedback(self, good: list[tuple], orphans: list[tuple]) -> None:
        if self.kind == "postgresql":
            try:
                with self._conn.cursor() as cur:
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
                self._conn.commit()
            except Exception:
                self._conn.rollback()
                raise
            return
        conn = self._conn
        with self._write_turn():
            conn.execute("BEGIN IMMEDIATE")
            try:
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
                conn.execute("COMMIT")
            except Exception:
                _rollback(conn)
                raise

    def orphan_count(self) -> int:
        with self._lock:
            return self._reconnecting(self._count_orphans)

    def _count_orphans(self) -> int:
        if self.kind == "postgresql":
            with self._conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM feedback_orphans")
                n = cur.fetchone()[0]
            self._conn.commit()
            return int(n)
        return int(self._conn.execute("SELECT count(*) FROM feedback_orphans").fetchone()[0])

    # ------------------------------------------------------------ idempotency
    def claim(self, batch_id: str, digest: str) -> str:
        """Claim ``batch_id`` (an Idempotency-Key's request id) for the request whose
        rows have ``digest``; returns the digest of whoever claimed it first. The
        primary key makes one claim win even between worker processes.

        Raises:
            LogUnavailable: the database cannot be written.
        """
        try:
            with self._lock:
                return self._reconnecting(self._claim, batch_id, digest)
        except Exception as exc:
            raise LogUnavailable(f"the Idempotency-Key could not be checked: {exc}") from None

    def _claim(self, batch_id: str, digest: str) -> str:
        select = "SELECT digest FROM idempotency WHERE batch_id = "
        if self.kind == "postgresql":
            try:
                with self._conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO idempotency (batch_id, digest, ts) VALUES (%s, %s, %s) "
                        "ON CONFLICT DO NOTHING",
                        (batch_id, digest, time.time()),
                    )
                    cur.execute(select + "%s", (batch_id,))
                    found = cur.fetchone()[0]
                self._conn.commit()
            except Exception:
                self._conn.rollback()
                raise
            return found
        conn = self._conn
        with self._write_turn():
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT OR IGNORE INTO idempotency (batch_id, digest, ts) VALUES (?, ?, ?)",
                    (batch_id, digest, time.time()),
                )
                found = conn.execute(select + "?", (batch_id,)).fetchone()[0]
                conn.execute("COMMIT")
            except Exception:
                _rollback(conn)
                raise
        return found

    def stored(self, request_ids: Sequence[str]) -> list[tuple]:
        """The logged rows of these per-row ids, in :data:`COLUMNS` order (a replay).

        Raises:
            LogUnavailable: the database cannot be read.
        """
        try:
            with self._lock:
                return self._reconnecting(self._select, list(request_ids))
        except Exception as exc:
            raise LogUnavailable(f"the prediction log could not be read: {exc}") from None

    def _select(self, ids: list[str]) -> list[tuple]:
        cols = ", ".join(COLUMNS)
        if self.kind == "postgresql":
            with self._conn.cursor() as cur:
                cur.execute(f"SELECT {cols} FROM predictions WHERE request_id = ANY(%s)", (ids,))
                rows = cur.fetchall()
            self._conn.commit()
            return rows
        rows = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {cols} FROM predictions WHERE request_id IN ({marks})"
            rows += self._conn.execute(sql, part).fetchall()
        return rows


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
