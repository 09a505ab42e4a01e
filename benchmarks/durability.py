"""kill -9 of ``mlctl serve`` under load, many times: is any answered prediction lost?

The nightly version of ``tests/integration/test_serve_durability.py`` (which runs
three trials) and the same trial code. One model is trained and promoted once
(``models=fast``) into a temporary copy of the churn project. Then each trial:

1. starts ``mlctl serve`` (1 or 2 worker processes, alternating) logging to SQLite
   or PostgreSQL (alternating, when both are asked for);
2. runs ``--threads`` client threads posting 1-3 rows per request, recording every
   per-row request id answered 200;
3. lets another connection take the log's write lock for 50-200 ms now and then
   (``--no-contention`` turns that off), so commits are pending at any moment;
4. kills the server's whole process group with SIGKILL 0.4-1.5 s into the load;
5. checks that every acknowledged id is in the log and, for SQLite, that
   ``PRAGMA integrity_check`` says ``ok``.

The SQLite file is kept from trial to trial, so every trial after the first starts
on a file the previous one was killed on. The PostgreSQL tables live in a schema of
their own (dropped at the end). The run stops after ``--trials`` trials or
``--max-minutes``, whichever comes first, and ends with
``trials N, acknowledged M, lost L``; the exit code is 1 if a row was lost or a
check failed, 0 otherwise.

Usage::

    .venv/bin/python benchmarks/durability.py                       # 30 trials, both logs
    .venv/bin/python benchmarks/durability.py --trials 200 --max-minutes 60
    .venv/bin/python benchmarks/durability.py --backend sqlite --workers 2 --threads 12
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from serve_helpers import mlctl  # noqa: E402
from test_serve_durability import (  # noqa: E402
    PG_ADMIN,
    kill_trial,
    pg_ids,
    pg_locker,
    pg_url,
    sqlite_ids,
    sqlite_locker,
)

TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


def make_project(root: Path) -> Path:
    """The churn project (conf/, recipes/churn.yaml, the Telco data) under ``root``."""
    shutil.copytree(REPO / "conf", root / "conf")
    (root / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "churn.yaml", root / "recipes" / "churn.yaml")
    (root / "data" / "telco").mkdir(parents=True)
    shutil.copy(TELCO, root / "data" / "telco" / TELCO.name)
    res = mlctl(root, "run", "recipes/churn.yaml", "models=fast", "--promote", "--yes", "-q")
    if res.returncode != 0:
        raise SystemExit(f"mlctl run failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return root


def create_schema() -> str:
    import psycopg

    schema = f"mlctl_durability_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as con:
            con.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        raise SystemExit(f"PostgreSQL at {PG_ADMIN} is not usable: {exc}") from None
    return schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=30, help="kill -9 trials (default 30)")
    p.add_argument(
        "--max-minutes", type=float, default=30.0, help="stop starting trials after this"
    )
    p.add_argument(
        "--backend",
        default="sqlite,postgresql",
        help="comma-separated logs to alternate: sqlite, postgresql (default both)",
    )
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts to alternate")
    p.add_argument("--threads", type=int, default=6, help="client threads")
    p.add_argument(
        "--no-contention", action="store_true", help="no second writer taking the write lock"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (project, SQLite log)")
    args = p.parse_args(argv)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        p.error("--backend takes sqlite and/or postgresql")
    workers = [int(w) for w in args.workers.split(",")]
    if args.trials < 1 or not workers or min(workers) < 1:
        p.error("--trials and --workers must be at least 1")

    tmp = Path(tempfile.mkdtemp(prefix="mlctl-durability-"))
    schema = create_schema() if "postgresql" in backends else None
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"date:    {datetime.now(UTC).isoformat(timespec='seconds')}")
    trials = acknowledged = lost = failures = 0
    try:
        started = time.monotonic()
        project = make_project(tmp / "project")
        print(f"trained and promoted churn (models=fast) in {time.monotonic() - started:.0f} s")
        db = tmp / "log" / "predictions.db"
        started = time.monotonic()
        combos = itertools.cycle(itertools.product(backends, workers))
        for n, (backend, count) in zip(range(1, args.trials + 1), combos, strict=False):
            if time.monotonic() - started > args.max_minutes * 60:
                print(f"stopping: --max-minutes {args.max_minutes} reached")
                break
            if backend == "sqlite":
                log = [f"deploy.serve.log.url=sqlite:///{db}"]
                locker = None if args.no_contention else (lambda: sqlite_locker(db))
            else:
                assert schema is not None
                log = [f"deploy.serve.log.url='{pg_url(schema)}'"]
                locker = None if args.no_contention else (lambda: pg_locker(schema))
            t = time.monotonic()
            try:
                trial = kill_trial(project, log, count, args.threads, locker=locker)
            except AssertionError as exc:  # the server did not start
                trials += 1
                failures += 1
                print(f"trial {n:3d}  {backend:10s} {count} worker(s)  FAILED: {exc}")
                continue
            if backend == "sqlite":
                logged, check = sqlite_ids(db)
            else:
                logged, check = pg_ids(schema), "ok"
            missing = len(trial.acknowledged - logged)
            bad = check != "ok" or bool(trial.refused) or not trial.acknowledged
            trials += 1
            acknowledged += len(trial.acknowledged)
            lost += missing
            failures += bad
            print(
                f"trial {n:3d}  {backend:10s} {count} worker(s)  "
                f"acknowledged {len(trial.acknowledged):5d}  lost {missing}  "
                f"integrity {check}  refused {len(trial.refused)}  "
                f"{time.monotonic() - t:4.1f} s"
            )
            for line in trial.refused[:3]:
                print(f"    refused: {line}")
    finally:
        if schema is not None:
            drop_schema(schema)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"trials {trials}, acknowledged {acknowledged}, lost {lost}")
    if failures:
        print(f"{failures} trial(s) failed a check (integrity, a non-2xx answer, or no load)")
    return 1 if lost or failures else 0


if __name__ == "__main__":
    sys.exit(main())
