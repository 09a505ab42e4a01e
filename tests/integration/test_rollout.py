"""``mlctl rollout`` for real: champion v1 served by a real ``mlctl serve`` (alias
polled every 0.3 s), traffic from client threads, and ``mlctl rollout --watch`` in
another process. A good challenger walks its steps, waits for approval and is promoted;
a slow one is rolled back by itself, and the time from its first request over the
latency guard to the last request it answered is measured from the prediction log."""

from __future__ import annotations

import functools
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from serve_helpers import FAST, ROW, Server, env_without_tracking, mlctl, version_tags

pytestmark = pytest.mark.integration

SERVE = ["deploy.serve.poll_seconds=0.3"]
ROLLOUT = ["deploy.rollout.min_requests=15", "deploy.rollout.min_minutes=0"]
# A challenger slow on purpose: 400 trees take ~40 ms a row where the champion takes ~2.
SLOW_MODELS = """\
selection_metric: roc_auc
cv_folds: 2
candidates:
  forest:
    estimator: random_forest
    params: {n_estimators: 400, n_jobs: 1}
"""
GUARD_MS = 10.0  # the slow challenger's latency guard
SEED_ROLLBACK_SECONDS = 300  # the seed: "rollback < 5 minutes"


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("rollout"), 700, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    (root / "conf" / "models" / "slow.yaml").write_text(SLOW_MODELS)  # for v3, later
    return root


@functools.cache
def telco_rows() -> list[dict]:
    """Real, varied Telco rows (the traffic's scores must vary for ROC AUC to mean
    anything), as the server takes them."""
    import pandas as pd
    from conftest import TELCO

    frame = pd.read_csv(TELCO, nrows=1500).drop(columns=["Churn"])
    frame["TotalCharges"] = pd.to_numeric(frame["TotalCharges"], errors="coerce")
    return frame.dropna().to_dict(orient="records")


@contextmanager
def traffic(srv: Server, clients: int = 3) -> Iterator[list[tuple[int, int]]]:
    """Paced clients (~100 requests/s each) while the block runs: (status, version)."""
    seen: list[tuple[int, int]] = []
    stop = threading.Event()
    rows = telco_rows()

    def client(i: int) -> None:
        n = 0
        while not stop.wait(0.01):
            n += 1
            row = rows[(i * 997 + n) % len(rows)]
            res = srv.post("/predict", {"records": [{**row, "customerID": f"c{i}-{n}"}]})
            seen.append((res.status, res.json["model"]["version"] if res.status == 200 else -1))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        yield seen
    finally:
        stop.set()
        for t in threads:
            t.join(30)


def watch(root: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlctl", "rollout", "recipes/churn.yaml", *ROLLOUT, *extra]
        + ["--watch", "--every", "1", "--json"],
        cwd=root,
        env=env_without_tracking(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def documents(proc: subprocess.Popen, until: str, timeout: float = 120) -> list[dict]:
    """The watch's JSON lines up to the first whose status is ``until``."""
    docs: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        docs.append(json.loads(line))
        if docs[-1]["status"] == until:
            return docs
    proc.kill()
    raise AssertionError(f"no {until!r} in {docs} (stderr: {proc.stderr.read()})")


def aliases(root: Path) -> dict[str, int]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root}/.mlctl/mlflow.db")
    return {a: int(v) for a, v in client.get_registered_model("churn").aliases.items()}


def log(root: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(root / ".mlctl" / "predictions.db") as con:
        return con.execute(sql, params).fetchall()


def test_the_whole_loop_on_the_churn_model(project, tmp_path) -> None:
    """Issue 16's loop on one running server: v1 serves and its load test passes the
    SLO; v2 walks its rollout steps under traffic, waits for approval and is promoted;
    mlctl compare finds the known effect of simulated labels on the rollout's traffic;
    a slow v3 is rolled back by itself, and the rollback time is measured."""
    root = project
    srv = Server(root, "recipes/churn.yaml", *SERVE)
    srv.wait_ready()
    try:
        v1 = aliases(root)["champion"]
        _loadtest_passes_the_slo(root, srv, v1)
        v2 = _a_good_challenger_walks_its_steps_and_is_promoted_after_approval(root, srv)
        _compare_finds_a_known_effect(root, tmp_path, v1, v2)
        v3 = _a_slow_challenger_is_rolled_back_within_the_seed_s_five_minutes(root, srv)
    finally:
        assert srv.stop() == 0
    output = srv.output()
    # The server said each change of the split and each swap.
    for line in (
        f"rollout of churn version {v2} (running): the challenger gets 5 %",
        "the challenger gets 25 %",
        "the challenger gets 50 %",
        f"champion churn: version {v1} -> {v2}",
        f"challenger churn: version {v2} -> none",
        f"challenger churn: version {v3} -> none",
    ):
        assert line in output, output
    assert "Traceback" not in output


def _loadtest_passes_the_slo(root: Path, srv: Server, version: int) -> None:
    res = mlctl(
        root, "loadtest", "recipes/churn.yaml", "--url", srv.url,
        "--duration", "3", "--clients", "2", "--json",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert all(c["passed"] for c in doc["slo"]["checks"]), doc["slo"]
    tags = version_tags(root, version)
    assert tags["mlctl.loadtest.last_status"].startswith("pass"), tags
    assert tags["mlctl.loadtest.last_run_id"] == doc["mlflow_run_id"]


def _compare_finds_a_known_effect(root: Path, tmp_path: Path, v1: int, v2: int) -> None:
    """Labels for the rows both versions answered during the rollout, simulated so that
    exactly 70 % of v1's and 90 % of v2's predicted labels are right: the true accuracy
    difference is +0.20, and its interval must hold it."""
    import random

    import pandas as pd

    rng = random.Random(16)
    labels = []
    for version, share in ((v1, 0.7), (v2, 0.9)):
        rows = log(
            root,
            "SELECT request_id, prediction FROM predictions WHERE model_version = ? AND variant = ?",
            version,
            "champion" if version == v1 else "challenger",
        )
        rng.shuffle(rows)
        right = round(share * len(rows))
        flip = {"Yes": "No", "No": "Yes"}
        labels += [(rid, p if i < right else flip[p]) for i, (rid, p) in enumerate(rows)]
    frame = pd.DataFrame(labels, columns=["request_id", "Churn"])
    frame.to_csv(tmp_path / "labels.csv", index=False)
    sent = mlctl(
        root, "feedback", "recipes/churn.yaml", "--labels", str(tmp_path / "labels.csv"),
        "--id-column", "request_id", "--label-column", "Churn", "--json",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["matched"] == len(labels)
    res = mlctl(
        root, "compare", "recipes/churn.yaml", "monitor.performance.metrics=[roc_auc,pr_auc,accuracy]",
        "monitor.performance.min_labels=30", "--champion", str(v1), "--challenger", str(v2),
        "--window", "1h", "--json", "--no-mlflow",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    metrics = doc["metrics"]
    if isinstance(metrics, dict):
        metrics = [{"name": k, **v} for k, v in metrics.items()]
    accuracy = next(m for m in metrics if m["name"] == "accuracy")
    difference = accuracy["difference"]
    assert difference["value"] == pytest.approx(0.20, abs=0.01), accuracy
    assert difference["low"] < 0.20 < difference["high"], accuracy
    assert doc["verdict"] == "better", doc


def _a_good_challenger_walks_its_steps_and_is_promoted_after_approval(
    root: Path, srv: Server
) -> int:
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "split.seed=5", "-q")
    assert res.returncode == 0, res.stderr
    champion, challenger = aliases(root)["champion"], aliases(root)["challenger"]
    steps = ["deploy.rollout.guards.p95_ms=5000"]  # this challenger is judged on errors
    with traffic(srv) as seen:
        proc = watch(root, *steps)
        walked = documents(proc, "awaiting_approval")
        assert [d["action"] for d in walked if d["changed"]] == [
            "start",
            "advance",
            "advance",
            "await_approval",
        ]
        assert [d["percent"] for d in walked if d["changed"]] == [5, 25, 50, 50]
        # The split follows the rollout: at 50 % both versions answer.
        time.sleep(1)
        recent = {v for _, v in seen[-100:]}
        assert recent == {champion, challenger}
        approve = mlctl(
            root, "rollout", "recipes/churn.yaml", *ROLLOUT, *steps, "--approve", "--json"
        )
        assert approve.returncode == 0, approve.stderr
        promoted = json.loads(approve.stdout)
        assert promoted["action"] == "promote" and promoted["status"] == "promoted"
        finished = documents(proc, "done")
        assert finished[-1]["action"] == "finish"
        assert proc.wait(30) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and srv.get("/model").json["version"] != challenger:
            time.sleep(0.2)
        time.sleep(0.5)
    assert all(status == 200 for status, _ in seen)
    assert {v for _, v in seen[-20:]} == {challenger}
    assert aliases(root) == {"champion": challenger}
    tags = version_tags(root, challenger)
    assert tags["mlctl.rollout.status"] == "done" and tags["mlctl.rollout.percent"] == "100"
    assert tags["mlctl.promoted_reason"].startswith("rollout: promoted to 100 % (")
    assert tags["mlctl.rollout.last_status"].startswith("done at 100 %")
    assert tags["mlctl.rollout.last_run_id"]
    return challenger


def _a_slow_challenger_is_rolled_back_within_the_seed_s_five_minutes(
    root: Path, srv: Server
) -> int:
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "models=slow", "tuning=none", "-q")
    assert res.returncode == 0, res.stderr
    champion, slow = aliases(root)["champion"], aliases(root)["challenger"]
    guard = [f"deploy.rollout.guards.p95_ms={GUARD_MS}"]
    with traffic(srv):
        proc = watch(root, *guard)
        docs = documents(proc, "rolled_back")
        assert proc.wait(30) == 3  # rolled back: attention
        time.sleep(2)  # the last poll of the server, and a margin
    # A request the model cannot score is answered 422 and recorded in failures.
    bad = {**ROW, "MonthlyCharges": -1.7976931348623155e308, "TotalCharges": 1.7e308}
    res = srv.post("/predict", {"records": [bad]})
    assert res.status == 422 and res.json["error_code"] == "UNSCORABLE_INPUT", res.body
    breach = docs[-1]
    assert breach["action"] == "rollback"
    assert breach["reason"].startswith("rolled back at 5 %: p95 ")
    assert f"limit {GUARD_MS:g} ms" in breach["reason"]
    assert aliases(root) == {"champion": champion}  # the challenger alias is gone
    tags = version_tags(root, slow)
    assert tags["mlctl.rollout.status"] == "rolled_back"
    assert tags["mlctl.rollout.percent"] == "0"
    assert (
        "p95" in tags["mlctl.rolled_back"] and f"limit {GUARD_MS:g} ms" in tags["mlctl.rolled_back"]
    )
    # Rollback time, from the log: the challenger's first request over the guard to
    # the last request it answered.
    where = "model_version = ? AND variant = 'challenger'"
    first_slow = log(
        root, f"SELECT MIN(ts) FROM predictions WHERE {where} AND latency_ms > ?", slow, GUARD_MS
    )[0][0]
    last = log(
        root, f"SELECT MAX(ts), COUNT(DISTINCT batch_id) FROM predictions WHERE {where}", slow
    )[0]
    seconds = last[0] - first_slow
    print(f"\nrollback time: {seconds:.2f} s ({last[1]} challenger requests answered)")
    assert 0 <= seconds < SEED_ROLLBACK_SECONDS
    failed = log(root, "SELECT variant, model_version, status, code, rows FROM failures")
    assert failed == [("champion", champion, 422, "UNSCORABLE_INPUT", 1)]  # and no other
    assert seconds < 30  # what it takes here: the rollout's 1 s + the server's 0.3 s poll
    return slow


# ------------------------------------------------------- the log's failures table

T0 = 1_714_521_600.0
# predictions as written before the failures table (issue 16) existed.
OLD_SCHEMA = """
CREATE TABLE predictions (request_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL,
  ts REAL NOT NULL, model_name TEXT NOT NULL, model_version INTEGER NOT NULL,
  variant TEXT NOT NULL, inputs TEXT NOT NULL, prediction TEXT, score REAL,
  probabilities TEXT, latency_ms REAL);
CREATE TABLE feedback (request_id TEXT PRIMARY KEY, label TEXT NOT NULL, ts REAL NOT NULL);
CREATE TABLE feedback_orphans (request_id TEXT PRIMARY KEY, label TEXT NOT NULL,
  ts REAL NOT NULL, seen INTEGER NOT NULL DEFAULT 1);
CREATE TABLE idempotency (batch_id TEXT PRIMARY KEY, digest TEXT NOT NULL, ts REAL NOT NULL);
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'predictions.db'}"
        return
    import uuid

    import psycopg
    from serve_helpers import PG_ADMIN, pg_url, require

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_rollout_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield pg_url(schema)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def request_rows(batch: str, ts: float, variant: str, version: int, latency: float, n: int = 1):
    from mlctl.predlog import rows_for

    ids = [f"{batch}-{i}" for i in range(n)]
    return rows_for(
        ids,
        batch,
        ts,
        "churn",
        version,
        variant,
        [{"a": 1}] * n,
        ["Yes"] * n,
        [0.7] * n,
        None,
        latency,
    )


def test_failures_are_counted_per_variant_beside_latencies(log_url) -> None:
    from mlctl.predlog import PredictionLog, open_reader
    from mlctl.predlog.schema import failure_row
    from mlctl.predlog.stats import variant_stats

    log = PredictionLog(log_url)
    log.open()
    try:
        for i in range(20):  # challenger v2: 20 requests of 3 rows, 2 ms .. 40 ms
            log.write(request_rows(f"c{i}", T0 + i, "challenger", 2, 2.0 * (i + 1), 3)).result(60)
        log.write(request_rows("old", T0 - 5, "challenger", 2, 999.0)).result(60)  # before
        log.write(request_rows("k", T0 + 1, "champion", 1, 1.0)).result(60)
        for i in range(3):
            log.record_failure(
                failure_row(f"f{i}", T0 + i, "churn", 2, "challenger", 500, "INTERNAL", 1, 5.0)
            )
        log.record_failure(
            failure_row("g", T0, "churn", 1, "champion", 422, "UNSCORABLE_INPUT", 2, 1.0)
        )
        deadline = time.monotonic() + 10
        while log.failure_rows < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        log.close()
    with open_reader(log_url) as reader:
        ch = variant_stats(reader, "churn", 2, "challenger", T0, T0 + 60, slow_ms=30.0)
        champ = variant_stats(reader, "churn", 1, "champion", T0, T0 + 60)
    assert (ch.answered, ch.failed, ch.requests) == (20, 3, 23)  # requests, not rows
    assert ch.slow == 5  # 32 .. 40 ms
    assert ch.p95_ms == 38.0  # nearest rank: the 19th of 20
    assert (ch.first_ts, ch.last_ts) == (T0, T0 + 19)
    assert (champ.answered, champ.failed, champ.slow) == (1, 1, 0)


def test_a_failure_that_cannot_be_written_never_fails_a_prediction(tmp_path) -> None:
    from mlctl.predlog import PredictionLog
    from mlctl.predlog.schema import failure_row

    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    log.open()

    def broken(rows):
        raise OSError("disk trouble")

    log._db.insert_failures = broken
    try:
        log.record_failure(failure_row("f", T0, "churn", 2, "challenger", 503, "TIMEOUT", 1, 9.0))
        assert log.write(request_rows("a", T0, "champion", 1, 1.0)).result(60) == 1
        deadline = time.monotonic() + 10
        while log.failure_rows_dropped < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.failure_rows_dropped == 1 and log.healthy()
    finally:
        log.close()
    log.record_failure(failure_row("g", T0, "churn", 2, "challenger", 503, "TIMEOUT", 1, 9.0))
    assert log.failure_rows_dropped == 2  # closed: dropped and counted, never raised


def test_an_old_log_reads_without_failures_and_gets_the_table_when_a_server_opens_it(
    tmp_path,
) -> None:
    from mlctl.monitor.log_source import LogSource
    from mlctl.monitor.window import Window
    from mlctl.predlog import PredictionLog, open_reader
    from mlctl.predlog.stats import variant_stats

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:
        con.executescript(OLD_SCHEMA)
        con.executemany(
            "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            request_rows("r", T0, "challenger", 2, 4.0, 2),
        )
    url = f"sqlite:///{path}"
    with open_reader(url) as reader:
        old = variant_stats(reader, "churn", 2, "challenger", T0, T0 + 60, slow_ms=3.0)
    assert (old.answered, old.failed, old.slow, old.failures_recorded) == (1, 0, 1, False)
    monitor_rows = list(LogSource(url).iter_chunks(Window(T0, T0 + 60), variant="challenger"))
    assert sum(len(c) for c in monitor_rows) == 2  # the monitor reads the old log
    log = PredictionLog(url)  # what mlctl serve does at start
    log.open()
    log.close()
    with open_reader(url) as reader:
        new = variant_stats(reader, "churn", 2, "challenger", T0, T0 + 60)
    assert new.failures_recorded and new.failed == 0
    monitor_rows = list(LogSource(url).iter_chunks(Window(T0, T0 + 60), variant="challenger"))
    assert sum(len(c) for c in monitor_rows) == 2  # ... and the new one


def test_a_breach_after_the_promotion_moves_the_champion_back_and_alerts(project, tmp_path) -> None:
    """Without a server: the promotion (steps [100], approval auto) and then slow rows of
    the new champion written to a log of the test's own."""
    from mlctl.predlog import PredictionLog

    root = project
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "split.seed=11", "-q")
    assert res.returncode == 0, res.stderr
    before, new = aliases(root)["champion"], aliases(root)["challenger"]
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url)
    log.open()  # an empty log, as a server leaves it
    (root / "alert.py").write_text(
        "import os, shutil\n"
        "shutil.copy(os.environ['MLCTL_MONITOR_RESULT'], 'alert.json')\n"
        "open('alert.status', 'w').write(os.environ['MLCTL_MONITOR_STATUS'])\n"
    )
    overrides = [
        "deploy.rollout.steps=[100]",
        "deploy.rollout.approval=auto",
        "deploy.rollout.min_requests=5",
        "deploy.rollout.min_minutes=0",
        "deploy.rollout.guards.p95_ms=10",
        f"deploy.serve.log.url={url}",
        f"monitor.alerts.command='{sys.executable} alert.py'",
    ]
    try:
        first = mlctl(root, "rollout", "recipes/churn.yaml", *overrides, "--json")
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["action"] == "promote"
        assert aliases(root) == {"champion": new}
        now = time.time()
        for i in range(5):
            log.write(request_rows(f"s{i}", now + 0.01 * i, "champion", new, 50.0)).result(60)
        second = mlctl(root, "rollout", "recipes/churn.yaml", *overrides, "--json")
    finally:
        log.close()
    assert second.returncode == 3, second.stderr
    doc = json.loads(second.stdout)
    assert doc["action"] == "rollback" and doc["status"] == "rolled_back"
    assert doc["reason"].startswith("rolled back after the promotion: p95 50.0 ms")
    assert aliases(root) == {"champion": before}
    tags = version_tags(root, new)
    assert "rolled back after the promotion" in tags["mlctl.rolled_back"]
    assert tags["mlctl.rollout.status"] == "rolled_back"
    assert version_tags(root, before)["mlctl.restored_reason"].startswith(
        f"{tags['mlctl.rolled_back'][:10]}"
    )
    alert = json.loads((root / "alert.json").read_text())
    assert alert["reasons"] == [doc["reason"]] and alert["kind"] == "rollout"
    assert (root / "alert.status").read_text() == "attention"
    assert [a["ok"] for a in doc["alerts"]] == [True]
    third = mlctl(root, "rollout", "recipes/churn.yaml", *overrides, "--json")
    assert third.returncode == 0 and json.loads(third.stdout)["action"] == "none"


WEAK = [  # a champion that reads two columns: below the readiness bar on production
    "features.numeric=[tenure]",
    "features.categorical=[gender]",
    "features.derived=[]",
    "evaluation.segments=[]",  # the recipe's segments name a column dropped here
    "~monitor.drift.columns",
]
DAY = 86400


def test_auto_demotion_moves_a_champion_below_the_bar_back(project, tmp_path) -> None:
    """The weak champion's production labels fail the readiness bar in mlctl monitor;
    the previous champion scores better on the same labelled rows: demoted, once."""
    import os

    import pandas as pd
    from conftest import TELCO

    from mlctl.predlog import PredictionLog, rows_for
    from mlctl.tracking.registry import Registry
    from mlctl.tracking.workspace import resolve_workspace

    root = project
    good = aliases(root)["champion"]
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, *WEAK, "--promote", "--yes", "-q")
    assert res.returncode == 0, res.stderr
    weak = aliases(root)["champion"]
    saved = {k: os.environ.pop(k) for k in list(os.environ) if "TRACKING_URI" in k}
    try:
        model = Registry(resolve_workspace(root / ".mlctl")).load_reference(f"churn/{weak}")
    finally:
        os.environ.update(saved)
    rows = pd.read_csv(TELCO).iloc[2000:2600].reset_index(drop=True)
    rows["TotalCharges"] = pd.to_numeric(rows["TotalCharges"], errors="coerce")
    X = rows[[c["name"] for c in model.input_schema]]
    proba, pred = model.pipeline.predict_proba(X), model.pipeline.predict(X)
    classes = [str(c) for c in model.pipeline.classes_]
    sent = rows.drop(columns=["Churn"])
    records = sent.astype(object).where(sent.notna(), None).to_dict("records")
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url)
    log.open()
    try:
        logged = [
            rows_for(
                [f"r{i}-0"],
                f"r{i}",
                T0 + 60 * i,
                "churn",
                weak,
                "champion",
                [records[i]],
                [pred[i]],
                [float(proba[i, classes.index("Yes")])],
                [dict(zip(classes, map(float, proba[i]), strict=True))],
                3.0,
            )[0]
            for i in range(len(rows))
        ]
        log.write(logged).result(60)
        log.feedback([(f"r{i}-0", rows["Churn"][i]) for i in range(len(rows))])
    finally:
        log.close()
    at = f"deploy.serve.log.url={url}"
    seen = mlctl(
        root,
        "monitor",
        "recipes/churn.yaml",
        at,
        "--window",
        "24h",
        "--end",
        str(int(T0 + DAY)),
        "--json",
        "--no-mlflow",
    )
    assert seen.returncode == 3, seen.stderr
    assert json.loads(seen.stdout)["performance"]["thresholds_failed"]
    demote = [at, "deploy.rollout.auto_demote=true"]
    first = mlctl(root, "rollout", "recipes/churn.yaml", *demote, "--json")
    assert first.returncode == 3, first.stderr
    doc = json.loads(first.stdout)
    block = doc["demotion"]
    assert doc["action"] == "demote" and block["outcome"] == "demoted"
    assert block["previous"] == good and block["rows"] == 600
    assert block["previous_score"] > block["champion_score"]
    assert aliases(root)["champion"] == good
    reason = version_tags(root, weak)["mlctl.rolled_back"]
    assert "auto-demotion: monitoring of " in reason and f"v{good} scores better: roc_auc" in reason
    again = mlctl(root, "rollout", "recipes/churn.yaml", *demote, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["demotion"] is None


def test_sigterm_between_evaluations_stops_the_watch_cleanly(project, tmp_path) -> None:
    import signal

    from mlctl.predlog import PredictionLog

    root = project
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "split.seed=13", "-q")
    assert res.returncode == 0, res.stderr
    challenger = aliases(root)["challenger"]
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url)
    log.open()
    log.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlctl", "rollout", "recipes/churn.yaml"]
        + [f"deploy.serve.log.url={url}", "--watch", "--every", "60", "--json"],
        cwd=root,
        env=env_without_tracking(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(proc.stdout.readline())
        assert first["action"] == "start" and first["status"] == "running"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        assert code == 0, proc.stderr.read()  # the last evaluation's code
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped watching" in proc.stderr.read()
    tags = version_tags(root, challenger)
    assert tags["mlctl.rollout.status"] == "running" and tags["mlctl.rollout.percent"] == "5"
