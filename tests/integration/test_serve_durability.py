"""kill -9 of ``mlctl serve`` under load: every request answered 2xx has its log row.

Client threads post /predict and record every per-row request id that came back
with a 200; the server's whole process group is then killed with SIGKILL at a
random moment mid-load. Each acknowledged id must be in the prediction log, and a
SQLite log must pass ``PRAGMA integrity_check``. The second SQLite trial reopens
the file the first one left behind (a hot WAL), with two worker processes writing.
``benchmarks/durability.py`` runs the same trial many more times.
"""

from __future__ import annotations

import http.client
import os
import random
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from serve_helpers import FAST, PG_ADMIN, ROW, Server, call, pg_url, require, wait_all_ready

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------ the trial
@dataclass
class Trial:
    """What the clients saw before and after the kill."""

    acknowledged: set[str] = field(default_factory=set)  # per-row ids answered 200
    statuses: Counter = field(default_factory=Counter)  # HTTP status → responses
    refused: list[str] = field(default_factory=list)  # non-2xx bodies other than "loading"
    transport_errors: int = 0  # connection refused / reset (after the kill)


class Load:
    """Client threads posting 1-3 rows per request until stopped."""

    def __init__(self, url: str, threads: int) -> None:
        self.url = url
        self.trial = Trial()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(threads)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> Trial:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.trial

    def answered(self) -> int:
        with self._lock:
            return len(self.trial.acknowledged)

    def _client(self, k: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            rows = [
                {**ROW, "customerID": f"c{k}-{i}-{j}", "tenure": (k * 7 + i + j) % 72}
                for j in range(1 + i % 3)
            ]
            try:
                res = call(self.url + "/predict", "POST", {"records": rows}, timeout=20)
            except (OSError, http.client.HTTPException):  # refused, reset, cut short
                with self._lock:
                    self.trial.transport_errors += 1
                time.sleep(0.01)
                continue
            with self._lock:
                self.trial.statuses[res.status] += 1
                if res.status == 200:
                    self.trial.acknowledged.update(p["request_id"] for p in res.json["predictions"])
                elif not (res.status == 503 and b"loading the model" in res.body):
                    self.trial.refused.append(f"{res.status} {res.body[:300]!r}")


class Locker:
    """Another writer of the same log taking its write lock for 50-200 ms now and then,
    as a second server writing there would. While it holds the lock the server's
    commits wait, so answers are pending across the kill: a server that answered
    before its commit would lose rows here, where an uncontended commit (about a
    millisecond) almost never overlaps the kill."""

    def __init__(
        self,
        acquire: Callable[[], object],
        release: Callable[[], object],
        close: Callable[[], object],
    ) -> None:
        self.acquire, self.release, self.close = acquire, release, close
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.holds = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.acquire()
            self.holds += 1
            self._stop.wait(random.uniform(0.05, 0.2))
            self.release()
            self._stop.wait(0.05)


def sqlite_locker(path: Path) -> Locker:
    con = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    return Locker(lambda: con.execute("BEGIN IMMEDIATE"), lambda: con.execute("COMMIT"), con.close)


def pg_locker(schema: str) -> Locker:
    import psycopg

    con = psycopg.connect(PG_ADMIN)
    lock = f'LOCK TABLE "{schema}".predictions IN SHARE ROW EXCLUSIVE MODE'
    return Locker(lambda: con.execute(lock), con.commit, con.close)


def kill_trial(
    project: Path,
    log_args: list[str],
    workers: int = 1,
    threads: int = 6,
    locker: Callable[[], Locker] | None = None,
    kill_after: float | None = None,
) -> Trial:
    """One trial: serve, load (with ``locker()`` contending for the log's write lock),
    SIGKILL the process group ``kill_after`` seconds into the load (default: a random
    0.4-1.5 s)."""
    srv = Server(project, "recipes/churn.yaml", *log_args, "--workers", str(workers))
    contender = None
    try:
        wait_all_ready(srv, workers)
        load = Load(srv.url, threads)
        load.start()
        deadline = time.monotonic() + 30
        while load.answered() < 20 and time.monotonic() < deadline:
            time.sleep(0.02)  # the kill lands under load, not during a warm-up
        if locker is not None:
            contender = locker()
            contender.start()
        time.sleep(random.uniform(0.4, 1.5) if kill_after is None else kill_after)
        os.killpg(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(30)
        time.sleep(0.2)  # let clients see refused connections
        return load.stop()
    finally:
        if contender is not None:
            contender.stop()
        srv.stop(signal.SIGKILL)
        srv.output()  # closes the pipes


def sqlite_ids(path: Path) -> tuple[set[str], str]:
    """The logged request ids and ``PRAGMA integrity_check`` of a SQLite log."""
    con = sqlite3.connect(path)
    try:
        ids = {r[0] for r in con.execute("SELECT request_id FROM predictions")}
        check = "; ".join(r[0] for r in con.execute("PRAGMA integrity_check"))
    finally:
        con.close()
    return ids, check


def pg_ids(schema: str) -> set[str]:
    import psycopg

    with psycopg.connect(PG_ADMIN) as con:
        return {r[0] for r in con.execute(f'SELECT request_id FROM "{schema}".predictions')}


def assert_durable(trial: Trial, logged: set[str], what: str) -> None:
    print(
        f"{what}: acknowledged {len(trial.acknowledged)}, lost {len(trial.acknowledged - logged)}"
    )
    assert not trial.refused, trial.refused[:5]
    assert trial.acknowledged, f"no request was answered before the kill: {trial}"
    lost = trial.acknowledged - logged
    assert not lost, f"{len(lost)} of {len(trial.acknowledged)} acknowledged rows lost"


# ------------------------------------------------------------------- services


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    import psycopg

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("durability"), 700, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


def test_kill_9_under_load_loses_no_acknowledged_row_sqlite(project, tmp_path) -> None:
    db = tmp_path / "log" / "predictions.db"
    log = [f"deploy.serve.log.url=sqlite:///{db}"]
    for workers in (1, 2):  # the second trial reopens the file the first was killed on
        trial = kill_trial(project, log, workers, locker=lambda: sqlite_locker(db))
        logged, check = sqlite_ids(db)
        assert check == "ok"
        assert_durable(trial, logged, f"sqlite, {workers} worker(s)")


def test_kill_9_under_load_loses_no_acknowledged_row_postgresql(pg_schema, project) -> None:
    log = [f"deploy.serve.log.url='{pg_url(pg_schema)}'"]
    trial = kill_trial(project, log, locker=lambda: pg_locker(pg_schema))
    assert_durable(trial, pg_ids(pg_schema), "postgresql, 1 worker")
