"""Writing the prediction log: every prediction, committed before its response is sent.

One writer thread per server process owns the database connection. Requests hand
it their rows and wait; the thread commits whatever has arrived as ONE transaction
(group commit) and then releases every waiter. So a 2xx response means the row is
committed, and many concurrent requests share one commit.

Rows are keyed by the per-row request id (``UNIQUE``), so a retried insert is a
no-op; a PostgreSQL connection that was lost is opened again and the write retried
once. A request that gave up waiting (its timeout answered 503) has its rows skipped;
the writer itself never stops on an error. Feedback (ground truth) is stored by
request id; ids the log does not hold are kept aside in ``feedback_orphans`` and
counted, never dropped. Idempotency-Key claims are rows of ``idempotency``
(:meth:`PredictionLog.claim`). Failed requests (:meth:`PredictionLog.record_failure`)
are queued without a waiter and committed by the same thread in a transaction of
their own, after the predictions of their group: a failure row that cannot be written
is counted (``failure_rows_dropped``) and never fails a prediction's commit.

Faults: a commit that takes longer than ``stall_seconds`` (a hung database, a lock
held elsewhere) makes :meth:`PredictionLog.healthy` false at once; a PostgreSQL
connection stuck for twice that long is shut down by a watchdog and opened again.
The backends (:mod:`mlctl.predlog.sqlite`, :mod:`mlctl.predlog.postgres`) hold the
SQL and name their own faults (a full disk, a read-only file system, a replaced file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlctl.predlog.schema import display_url, is_postgres, sqlite_path

_PROBE = object()  # a queue item: check the database (see PredictionLog.healthy)
logger = logging.getLogger("mlctl.serve")


class LogUnavailable(Exception):
    """The prediction log cannot be opened or written (the server answers 503)."""


@dataclass
class FeedbackResult:
    accepted: int  # joined to a logged prediction (new or repeated)
    unknown: list[str]  # ids the log does not hold: kept in feedback_orphans


@dataclass(frozen=True)
class _Failures:
    """A queue item: ``failures`` rows nobody waits for (see record_failure)."""

    rows: list[tuple]


# ------------------------------------------------------------------ waiters


@dataclass(frozen=True)
class _LoopWaiter:
    """An asyncio Future waiting for a commit, and the loop it belongs to."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


def _still_waiting(waiter: Future | _LoopWaiter) -> bool:
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


# ------------------------------------------------------------------- writer


class PredictionLog:
    """Group-committing writer; ``write`` returns a Future set once rows are committed."""

    def __init__(self, url: str, max_rows: int = 2000) -> None:
        self.url = url
        self.kind = "postgresql" if is_postgres(url) else "sqlite"
        self.max_rows = max_rows
        if self.kind == "postgresql":
            from mlctl.predlog.postgres import PostgresWriter

            self._db: Any = PostgresWriter(url)
        else:
            from mlctl.predlog.sqlite import SqliteWriter

            self._db = SqliteWriter(self.path)
        self._queue: queue.Queue[Any] = queue.Queue()  # (rows, waiter), _PROBE or None
        self._thread: threading.Thread | None = None
        self.committed_rows = 0
        self.failed_rows = 0
        self.failure_rows = 0  # rows of ``failures`` written
        self.failure_rows_dropped = 0  # ... and those that could not be
        self.commits = 0
        self.last_error: str | None = None
        self.failing = False  # the last write (or probe) failed: see healthy()
        self._probe_queued = False
        self._lock = threading.Lock()  # feedback and reads share the writer's connection
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
            self._db.connect()
            self._db.create()
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
        self._db.close()

    @property
    def display_url(self) -> str:
        """The URL without a password (:func:`mlctl.redact.redact_text`)."""
        return display_url(self.url)

    @property
    def path(self) -> Path:
        """SQLite: the database file."""
        return sqlite_path(self.url)

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

    def record_failure(self, row: tuple) -> None:
        """Queue a ``failures`` row (:func:`~mlctl.predlog.schema.failure_row`) and
        return at once: nobody waits for it, and it never raises (a closed log drops it,
        counted in ``failure_rows_dropped``)."""
        if not self.writable():
            self.failure_rows_dropped += 1
            return
        self._queue.put(_Failures([row]))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item is _PROBE:
                self._probe()
                continue
            batch: list[Any] = []
            failures: list[tuple] = []
            size = 0
            stop = False
            while True:
                if isinstance(item, _Failures):
                    failures += item.rows
                elif item is _PROBE:  # the commit below probes as well
                    self._probe_queued = False
                else:
                    batch.append(item)
                    size += len(item[0])
                if size >= self.max_rows:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
            self._busy_since = time.monotonic()
            try:
                if batch:
                    self._commit(batch)
            except Exception as exc:  # the writer must outlive any one batch
                self._fail(batch, exc)
            finally:
                self._busy_since = None
            if failures:
                self._commit_failures(failures)
            if stop:
                return

    def _commit_failures(self, rows: list[tuple]) -> None:
        """Write ``failures`` rows in a transaction of their own; never raises."""
        self._busy_since = time.monotonic()
        try:
            with self._lock:
                self._reconnecting(self._db.insert_failures, rows)
            self.failure_rows += len(rows)
        except Exception as exc:
            self.failure_rows_dropped += len(rows)
            logger.warning(
                "mlctl serve: %d failed request(s) could not be recorded in the prediction log: %s",
                len(rows),
                self.describe(exc),
            )
        finally:
            self._busy_since = None

    def _commit(self, batch: list[tuple[list[tuple], Any]]) -> None:
        # A request that stopped waiting (its timeout answered 503) cancelled its
        # Future: its rows are not written, and setting a result on it would raise.
        # A Future marked running can no longer be cancelled.
        live = [(rows, fut) for rows, fut in batch if _still_waiting(fut)]
        if not live:
            return
        rows = [row for rows, _ in live for row in rows]
        try:
            with self._lock:
                self._reconnecting(self._db.insert, rows)
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

    def _reconnecting(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)``; if the connection was lost (the database restarted, a proxy
        or firewall closed it), once more on a new connection. Predictions are keyed
        by request id and feedback by request id too, so a retried write is not doubled
        (at worst an orphan's ``seen`` counts the retry)."""
        try:
            return fn(*args)
        except Exception:
            if not self._db.lost():
                raise
        self._db.reopen()
        return fn(*args)

    # ----------------------------------------------------------------- health
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
                self._db.interrupt()
                logger.warning(
                    "mlctl serve: the prediction log %s did not answer for %.0f s; "
                    "its connection was closed and is opened again",
                    self.display_url,
                    stalled,
                )

    def describe(self, exc: BaseException) -> str:
        """What went wrong, in words: a full disk or a read-only file system is named
        with the log's path, never hidden behind a follow-up error."""
        text = str(exc).strip() or type(exc).__name__
        return self._db.explain(exc, text) or f"{type(exc).__name__}: {text}"

    def _probe(self) -> None:
        self._probe_queued = False
        self._busy_since = time.monotonic()
        try:
            with self._lock:
                self._reconnecting(self._db.ping)
        except Exception as exc:
            self.last_error = self.describe(exc)
            return
        finally:
            self._busy_since = None
        self.failing = False

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
        ids = [rid for rid, _ in items]
        known = self._db.known(ids) if ids else set()
        good = [(rid, label, now) for rid, label in items if rid in known]
        orphans = [(rid, label, now) for rid, label in items if rid not in known]
        self._db.upsert_feedback(good, orphans)
        return good, orphans

    def orphan_count(self) -> int:
        with self._lock:
            return self._reconnecting(self._db.count_orphans)

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
                return self._reconnecting(self._db.claim, batch_id, digest)
        except Exception as exc:
            raise LogUnavailable(f"the Idempotency-Key could not be checked: {exc}") from None

    def stored(self, request_ids: Sequence[str]) -> list[tuple]:
        """The logged rows of these per-row ids, in :data:`COLUMNS` order (a replay).

        Raises:
            LogUnavailable: the database cannot be read.
        """
        try:
            with self._lock:
                return self._reconnecting(self._db.select, list(request_ids))
        except Exception as exc:
            raise LogUnavailable(f"the prediction log could not be read: {exc}") from None
