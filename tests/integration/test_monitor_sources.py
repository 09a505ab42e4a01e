"""The monitor's log reader against logs written by the server's own writer.

Every log here is written through :class:`mlctl.predlog.PredictionLog` and
``rows_for``, so the reader is tested against the real schema, on a real SQLite file
and on the real PostgreSQL at 127.0.0.1:5432 (a schema of its own per test, dropped
afterwards; missing PostgreSQL skips locally and fails when CI is set).
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from serve_helpers import PG_ADMIN, pg_url, require

from mlctl.errors import PredictionLogError
from mlctl.monitor.log_source import LogSource
from mlctl.monitor.window import Window
from mlctl.predlog import PredictionLog, rows_for

pytestmark = pytest.mark.integration

T0 = 1_714_521_600.0  # 2024-05-01T00:00:00Z
H = 3600


# ------------------------------------------------------------------- logs


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as con:
        con.execute(sql)


@pytest.fixture
def pg_log() -> Iterator[str]:
    """A log URL whose tables live in a fresh PostgreSQL schema, dropped afterwards."""
    import psycopg

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_monitor_{uuid.uuid4().hex[:12]}"
    pg_admin(f'CREATE SCHEMA "{schema}"')
    try:
        yield pg_url(schema)
    finally:
        pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    return request.getfixturevalue("pg_log")


class Log:
    """Writes rows through the server's writer, as ``mlctl serve`` does."""

    def __init__(self, url: str) -> None:
        self.log = PredictionLog(url)
        self.log.open()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.log.close()

    def request(
        self,
        ts: float,
        n: int = 1,
        variant: str = "champion",
        version: int = 1,
        request_id: str | None = None,
        model: str = "churn",
        inputs: Callable[[int], dict] | None = None,
    ) -> list[str]:
        """One scored request of ``n`` rows logged at ``ts``; the row ids."""
        rid = request_id or uuid.uuid4().hex
        suffix = "-shadow" if variant == "shadow" else ""
        ids = [f"{rid}-{i}{suffix}" for i in range(n)]
        self.write(self.rows(ids, rid, ts, variant, version, model, inputs))
        return ids

    @staticmethod
    def rows(ids, batch_id, ts, variant="champion", version=1, model="churn", inputs=None):
        make = inputs or (lambda i: {"tenure": i, "Contract": "One year", "MonthlyCharges": 9.5})
        probs = [{"No": 0.25, "Yes": 0.75} for _ in ids]
        return rows_for(
            ids,
            batch_id,
            ts,
            model,
            version,
            variant,
            [make(i) for i in range(len(ids))],
            ["Yes"] * len(ids),
            [0.75] * len(ids),
            probs,
            3.0,
        )

    def write(self, rows: list[tuple]) -> None:
        self.log.write(rows).result(timeout=60)


def ids_of(chunks: list[pd.DataFrame]) -> list[str]:
    return [rid for c in chunks for rid in c["request_id"]]


# ------------------------------------------------------------------- chunks


def test_keyset_chunks_no_row_twice_none_missed_with_equal_timestamps(log_url: str) -> None:
    written: list[str] = []
    with Log(log_url) as log:
        rows = []
        for b in range(120):  # 120 requests of 1-13 rows; many share one timestamp
            ts = T0 + (b // 4) * 0.5
            n = 1 + b % 13
            ids = [f"{b:03d}x{uuid.uuid4().hex[:6]}-{i}" for i in range(n)]
            rows += Log.rows(ids, f"b{b}", ts, inputs=lambda i, b=b: {"tenure": b, "k": i})
            written += ids
        log.write(rows)
    src = LogSource(log_url)
    chunks = list(src.iter_chunks(Window(T0, T0 + H), chunk_rows=50))
    got = ids_of(chunks)
    assert len(chunks) > 5 and all(len(c) <= 50 for c in chunks)
    assert len(got) == len(set(got)) == len(written) and set(got) == set(written)
    order = [(t, r) for c in chunks for t, r in zip(c["ts"], c["request_id"], strict=True)]
    assert order == sorted(order)
    # the inputs came back as columns, next to the log's own columns
    first = chunks[0]
    assert list(first.columns[:2]) == ["tenure", "k"]
    assert {"prediction", "score", "probabilities", "model_version", "ts"} <= set(first.columns)
    assert first["prediction"].iloc[0] == "Yes" and first["score"].iloc[0] == 0.75
    assert first["model_version"].dtype == "int64"
    assert src.count(Window(T0, T0 + H)) == len(written)


def test_chunk_size_of_one_and_a_page_that_ends_exactly(log_url: str) -> None:
    with Log(log_url) as log:
        ids = log.request(T0 + 10, n=6)
    src = LogSource(log_url)
    assert ids_of(list(src.iter_chunks(Window(T0, T0 + H), chunk_rows=1))) == sorted(ids)
    exact = list(src.iter_chunks(Window(T0, T0 + H), chunk_rows=3))
    assert [len(c) for c in exact] == [3, 3]


def test_window_bounds_are_half_open_and_closed_windows_repeat(log_url: str) -> None:
    start, end = T0 + H, T0 + 2 * H
    with Log(log_url) as log:
        before = log.request(start - 0.001)
        at_start = log.request(start)
        inside = log.request(end - 0.001)
        at_end = log.request(end)
    src = LogSource(log_url)
    got = ids_of(list(src.iter_chunks(Window(start, end))))
    assert set(got) == set(at_start + inside)
    # consecutive windows share no row and miss none
    parts = [Window(T0, start), Window(start, end), Window(end, T0 + 3 * H)]
    seen = [rid for w in parts for rid in ids_of(list(src.iter_chunks(w)))]
    assert sorted(seen) == sorted(before + at_start + inside + at_end)
    again = pd.concat(list(src.iter_chunks(Window(start, end))), ignore_index=True)
    first = pd.concat(list(src.iter_chunks(Window(start, end))), ignore_index=True)
    pd.testing.assert_frame_equal(first, again)


def test_empty_window_is_zero_rows_not_an_error(log_url: str) -> None:
    with Log(log_url) as log:
        log.request(T0)
    src = LogSource(log_url)
    src.check()  # the tables the server created are all there
    empty = Window(T0 + 10 * H, T0 + 11 * H)
    assert list(src.iter_chunks(empty)) == []
    assert src.count(empty) == 0
    assert src.hourly_counts(empty).empty
    labelled = src.labelled(empty)
    assert labelled.empty and {"label", "prediction", "probabilities"} <= set(labelled.columns)


def test_filters_by_model_version_and_variant(log_url: str) -> None:
    with Log(log_url) as log:
        champ1 = log.request(T0 + 1, n=3, version=1)
        champ2 = log.request(T0 + 2, n=2, version=2)
        chall = log.request(T0 + 3, n=2, variant="challenger", version=3)
        shadow = log.request(T0 + 4, n=2, variant="shadow", version=3)
        other = log.request(T0 + 5, n=1, model="housing")
    src, w = LogSource(log_url), Window(T0, T0 + H)

    def read(**kw: Any) -> set[str]:
        return set(ids_of(list(src.iter_chunks(w, **kw))))

    assert read() == set(champ1 + champ2 + other)  # champion by default
    assert read(model_name="churn") == set(champ1 + champ2)
    assert read(model_name="churn", model_version=2) == set(champ2)
    assert read(variant="shadow") == set(shadow)
    assert read(variant=("champion", "challenger"), model_name="churn") == set(
        champ1 + champ2 + chall
    )
    assert read(variant=None) == set(champ1 + champ2 + chall + shadow + other)
    assert src.count(w, variant=None) == 10
    assert src.first_ts() == T0 + 1 and src.first_ts(variant="shadow") == T0 + 4


def test_inputs_columns_chosen_missing_and_clashing(log_url: str) -> None:
    with Log(log_url) as log:
        log.request(T0, n=2, inputs=lambda i: {"score": 700 + i, "tenure": i, "extra": "x"})
        log.request(T0 + 1, n=1, inputs=lambda i: {"tenure": 5})
    src = LogSource(log_url)
    (chunk,) = src.iter_chunks(Window(T0, T0 + H), columns=["tenure", "score", "absent"])
    assert chunk.columns[:3].tolist() == ["tenure", "score", "absent"]
    assert "extra" not in chunk.columns and chunk["absent"].isna().all()
    assert chunk["score"].tolist()[:2] == [700, 701] and pd.isna(chunk["score"].iloc[2])
    assert chunk["_log_score"].tolist() == [0.75] * 3
    assert chunk.attrs["meta"]["score"] == "_log_score"
    (bare,) = src.iter_chunks(Window(T0, T0 + H), inputs=False)
    assert "tenure" not in bare.columns and bare["score"].tolist() == [0.75] * 3


def test_a_read_is_one_snapshot_while_the_server_keeps_writing(log_url: str) -> None:
    with Log(log_url) as log:
        for k in range(30):
            log.request(T0 + k, n=10)
        src = LogSource(log_url)
        chunks = src.iter_chunks(Window(T0, T0 + H), chunk_rows=40)
        got = ids_of([next(chunks)])
        log.request(T0 + 0.5, n=5)  # behind the cursor: would be skipped anyway
        log.request(T0 + 100, n=5)  # ahead of it: would appear without a snapshot
        got += ids_of(list(chunks))
        assert len(got) == len(set(got)) == 300
        assert src.count(Window(T0, T0 + H)) == 310  # a new read sees them


# ------------------------------------------------------------------- feedback


def test_labelled_join_duplicates_orphans_and_shadow(log_url: str) -> None:
    with Log(log_url) as log:
        a = log.request(T0 + 10, n=3, request_id="aaaa")
        b = log.request(T0 + 20, n=2, request_id="bbbb")
        shadow = log.request(T0 + 10, n=3, variant="shadow", request_id="aaaa")
        outside = log.request(T0 + 2 * H, n=1)
        before = time.time()
        log.log.feedback([(a[0], "No"), (a[1], "Yes"), (b[0], "1.0"), (outside[0], "No")])
        log.log.feedback([(a[0], "Yes")])  # a correction: the last label wins
        log.log.feedback([(a[0], "Yes")])  # a client retry: still one row
        later = time.time() + 0.001
        result = log.log.feedback([("nobody-0", "Yes"), ("nobody-1", "No"), ("nobody-0", "No")])
        assert result.unknown == ["nobody-0", "nobody-1", "nobody-0"]
    src, w = LogSource(log_url), Window(T0, T0 + H)
    frame = src.labelled(w)
    assert frame["request_id"].tolist() == [a[0], a[1], b[0]]
    assert frame["label"].tolist() == ["Yes", "Yes", "1.0"]
    assert {"prediction", "probabilities", "score", "label_ts", "ts"} <= set(frame.columns)
    assert json.loads(frame["probabilities"].iloc[0]) == {"No": 0.25, "Yes": 0.75}
    # the shadow rows of request aaaa take the labels given for aaaa's rows
    shadowed = src.labelled(w, variant="shadow")
    assert shadowed["request_id"].tolist() == [shadow[0], shadow[1]]
    assert shadowed["label"].tolist() == ["Yes", "Yes"]
    assert len(src.labelled(w, variant=None)) == 5
    # labels as of a past time: the correction came later than that
    assert src.labelled(w, feedback_before=before - 3600).empty
    assert len(src.labelled(w, feedback_before=later)) == 3
    # unknown ids are orphans, counted once each, by when they were sent
    now = Window(before - 60, time.time() + 60)
    assert src.orphan_feedback_count(now) == 2
    assert src.orphan_feedback_count(Window(T0, T0 + H)) == 0
    assert sum(len(c) for c in src.iter_labelled(w, chunk_rows=1)) == 3


# ------------------------------------------------------------------- aggregates


def test_hourly_counts_by_the_database(log_url: str) -> None:
    with Log(log_url) as log:
        for hour, n in ((0, 3), (1, 0), (2, 7), (5, 1)):
            for k in range(n):
                log.request(T0 + hour * H + k * 60, n=1)
        log.request(T0 + 2 * H + 5, n=2, variant="challenger")
        log.request(T0 + 2 * H + 5, n=4, variant="shadow")
    src = LogSource(log_url)
    counts = src.hourly_counts(Window(T0, T0 + 6 * H))
    assert counts.to_dict("list") == {
        "hour": [int(T0), int(T0 + 2 * H), int(T0 + 5 * H)],
        "count": [3, 9, 1],  # champion and challenger; shadow rows repeat traffic
    }
    assert counts["hour"].dtype == "int64" and counts["count"].dtype == "int64"
    daily = src.hourly_counts(Window(T0, T0 + 6 * H), variant=None, bucket_seconds=86400)
    assert daily.to_dict("list") == {"hour": [int(T0)], "count": [17]}


# ------------------------------------------------------------------- memory


def test_memory_bounded_200k_rows_in_chunks_of_10k(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    n, per_request = 200_000, 20
    rows = []
    for start in range(0, n, per_request):  # requests of 20 rows, each at its own time
        ids = [f"{i:06d}" for i in range(start, start + per_request)]
        rows += rows_for(
            ids,
            ids[0],
            T0 + start / 100,
            "churn",
            1,
            "champion",
            [{"tenure": i % 72} for i in range(start, start + per_request)],
            ["No"] * per_request,
            [0.1] * per_request,
            None,
            1.0,
        )
    with Log(url) as log:
        log.write(rows)
    del rows
    src = LogSource(url)
    tracemalloc.start()
    try:
        total = biggest = seen = 0
        last = ""
        for chunk in src.iter_chunks(Window(T0, T0 + n), chunk_rows=10_000):
            biggest = max(biggest, len(chunk))
            total += len(chunk)
            assert chunk["request_id"].iloc[0] > last
            last = chunk["request_id"].iloc[-1]
            seen += int(chunk["tenure"].sum())
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == n and biggest == 10_000
    assert seen == sum(i % 72 for i in range(n))
    # read as one chunk, the same rows peak at ~145 MiB of Python objects; in 10k chunks ~9
    assert peak < 25 * 2**20, f"peak {peak / 2**20:.0f} MiB while reading 10k-row chunks"


# ------------------------------------------------------------------- errors


def test_missing_sqlite_log_is_named_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "predictions.db"
    src = LogSource(f"sqlite:///{path}")
    with pytest.raises(PredictionLogError) as err:
        src.count(Window(T0, T0 + H))
    assert str(err.value) == (f"no prediction log at {path}: has mlctl serve run with this recipe?")
    assert not path.exists() and not path.parent.exists()
    with pytest.raises(PredictionLogError, match="no prediction log"):
        src.check()


def test_sqlite_is_opened_read_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with Log(url) as log:
        log.request(T0, n=3)
    db = tmp_path / "p.db"
    before = (db.stat().st_mtime_ns, db.stat().st_size)
    src = LogSource(url)
    src.check()
    assert src.count(Window(T0, T0 + 1)) == 3
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before
    os.chmod(db, 0o444)  # a log the monitor may only read
    try:
        assert src.count(Window(T0, T0 + 1)) == 3
    finally:
        os.chmod(db, 0o644)


def test_not_a_log(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database file at all, just some bytes" * 100)
    with pytest.raises(PredictionLogError, match="is not a SQLite database"):
        LogSource(f"sqlite:///{junk}").check()
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(PredictionLogError, match="has no table 'predictions'"):
        LogSource(f"sqlite:///{other}").count(Window(T0, T0 + 1))
    with pytest.raises(PredictionLogError, match="is not a file"):
        LogSource(f"sqlite:///{tmp_path}").check()
    with pytest.raises(PredictionLogError, match="not supported: expected sqlite:///PATH"):
        LogSource("mysql://u:secret@h/db")


def test_postgres_schema_without_tables(pg_log: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(PG_ADMIN)
    with pytest.raises(PredictionLogError, match="has no table 'predictions'") as err:
        LogSource(pg_log).check()
    assert f"{info.get('host')}:{info.get('port', '5432')}" in str(err.value)


def test_unreachable_postgres_names_host_port_and_cause_not_the_password() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    src = LogSource(f"postgresql://monitor:s3cr3t-pw@127.0.0.1:{port}/logs", connect_timeout=2)
    with pytest.raises(PredictionLogError) as err:
        src.count(Window(T0, T0 + 1))
    message = str(err.value)
    assert message.startswith(
        f"cannot connect to the PostgreSQL prediction log at 127.0.0.1:{port} (database logs): "
    )
    assert "refused" in message.lower()
    assert "s3cr3t" not in message and "s3cr3t" not in (err.value.hint or "")
    assert src.display_url == f"postgresql://monitor:***@127.0.0.1:{port}/logs"


def test_postgres_refusal_names_the_database_not_the_password(pg_log: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    # trust auth accepts any password: a missing database makes the server refuse instead
    info = conninfo_to_dict(PG_ADMIN)
    host, port = info.get("host", "127.0.0.1"), info.get("port", "5432")
    url = f"postgresql://someone:pw-XYZ@{host}:{port}/mlctl_no_such_db_x"
    with pytest.raises(PredictionLogError) as err:
        LogSource(url).check()
    assert "pw-XYZ" not in str(err.value)
    assert "mlctl_no_such_db_x" in str(err.value)
