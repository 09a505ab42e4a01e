"""``mlctl serve`` on its real backends: the prediction log on PostgreSQL, two worker
processes sharing one SQLite log, the memory and Redis prediction caches, and a
SIGTERM while requests are in flight.

PostgreSQL (127.0.0.1:5432, database ``test``) and Redis (127.0.0.1:6379) are used
for real (``MLCTL_TEST_POSTGRES`` / ``MLCTL_TEST_REDIS`` point elsewhere). Without
them these tests skip, except under CI, where they fail. The PostgreSQL server of
this module logs into a schema of its own (``options=-csearch_path=...`` in its URL),
dropped afterwards, and every test there looks only at the rows of the requests it
made; the Redis test claims an empty database number and deletes its keys afterwards.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import (
    FAST,
    PG_ADMIN,
    REDIS,
    ROW,
    Server,
    call,
    mlctl,
    pg_url,
    require,
    wait_all_ready,
)

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------- services


def pg_query(sql: str, *params: Any) -> list[tuple]:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        cur = con.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    import psycopg

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_test_{uuid.uuid4().hex[:12]}"
    pg_query(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        pg_query(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def redis_db() -> Iterator[Any]:
    """A client on a Redis database number no one else is using (claimed with a
    marker key); every key written there is deleted afterwards."""
    import redis

    require(f"Redis at {REDIS}", lambda: redis.Redis.from_url(REDIS, socket_timeout=3).ping())
    marker, token = "mlctl-test:claimed", uuid.uuid4().hex
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS}/{db}")
        if client.set(marker, token, nx=True, ex=600):
            if client.dbsize() == 1:
                break
            client.delete(marker)  # someone's data lives there: not ours to touch
    else:
        pytest.fail("no free Redis database number (1-15) to test in")
    try:
        yield client
    finally:
        for key in client.scan_iter("mlctl:*"):
            client.delete(key)
        client.delete(marker)


# ------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def project(tmp_path_factory, churn_project) -> Path:
    root = churn_project(tmp_path_factory.mktemp("backends"), 800)
    res = mlctl(root, "run", "recipes/churn.yaml", *FAST, "--promote", "--yes", "--quiet")
    assert res.returncode == 0, res.stderr
    return root


def sample(text: str, name: str) -> float:
    """The value of one sample (``name{labels}``) in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def metric(srv: Server, name: str) -> float:
    return sample(srv.get("/metrics").body.decode(), name)


def unique_row(**change: Any) -> dict[str, Any]:
    """ROW with a MonthlyCharges no other test sends (so no cache entry exists yet)."""
    return {**ROW, "MonthlyCharges": round(20 + uuid.uuid4().int % 10**6 / 10**4, 4), **change}


def predict(srv: Server, rows: list[dict[str, Any]]) -> dict[str, Any]:
    res = srv.post("/predict", {"records": rows})
    assert res.status == 200, res.body
    return res.json


def answers(body: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(p["prediction"], p["probabilities"]) for p in body["predictions"]]


# --------------------------------------------------------- (a) PostgreSQL log
@pytest.fixture(scope="module")
def pg_server(pg_schema, project) -> Iterator[Server]:
    """One worker logging to PostgreSQL, with the in-process (memory) cache."""
    srv = Server(
        project,
        "recipes/churn.yaml",
        f"deploy.serve.log.url='{pg_url(pg_schema)}'",
        "deploy.serve.cache.backend=memory",
        "deploy.serve.request_timeout_seconds=3",
    )
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()


def test_postgres_log_holds_every_answered_row_and_feedback(pg_server, pg_schema) -> None:
    body = predict(pg_server, [unique_row(), unique_row(tenure=60, Contract="Two year")])
    ids = [p["request_id"] for p in body["predictions"]]
    # 200 means committed: visible to another connection at once.
    logged = pg_query(
        f"SELECT request_id, model_name, model_version, variant, prediction, probabilities "
        f'FROM "{pg_schema}".predictions WHERE batch_id = %s ORDER BY request_id',
        body["request_id"],
    )
    assert [r[0] for r in logged] == sorted(ids)
    for (rid, name, version, variant, prediction, proba), p in zip(
        logged, sorted(body["predictions"], key=lambda p: p["request_id"]), strict=True
    ):
        assert (rid, name, version, variant) == (p["request_id"], "churn", 1, "champion")
        assert prediction == p["prediction"] and json.loads(proba) == p["probabilities"]

    unknown_before = metric(pg_server, "mlctl_feedback_unknown_total")
    one = pg_server.post("/feedback", {"request_id": ids[0], "label": "Yes"})
    assert one.status == 200 and one.json == {"accepted": 1, "unknown": []}
    items = [
        {"request_id": ids[1], "label": "No"},
        {"request_id": "no-such-id", "label": "Yes"},
    ]
    mixed = pg_server.post("/feedback", {"feedback": items})
    assert mixed.status == 200 and mixed.json == {"accepted": 1, "unknown": ["no-such-id"]}
    # Retries are idempotent: one row per id, the last label wins; orphans count repeats.
    again = pg_server.post("/feedback", {"feedback": [{**items[0], "label": "Yes"}, items[1]]})
    assert again.json == {"accepted": 1, "unknown": ["no-such-id"]}
    labels = pg_query(
        f'SELECT request_id, label FROM "{pg_schema}".feedback WHERE request_id = ANY(%s)', ids
    )
    assert sorted(labels) == sorted([(ids[0], "Yes"), (ids[1], "Yes")])
    orphans = pg_query(f'SELECT request_id, label, seen FROM "{pg_schema}".feedback_orphans')
    assert orphans == [("no-such-id", "Yes", 2)]
    assert metric(pg_server, "mlctl_feedback_unknown_total") == unknown_before + 2


def test_postgres_log_reconnects_after_losing_its_connection(pg_server, pg_schema) -> None:
    predict(pg_server, [unique_row()])
    # What a database restart, a fail-over or a proxy's idle timeout does to the server.
    killed = pg_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        pg_schema,
    )
    assert killed and all(ok for (ok,) in killed)
    body = predict(pg_server, [unique_row()])
    logged = pg_query(
        f'SELECT count(*) FROM "{pg_schema}".predictions WHERE batch_id = %s', body["request_id"]
    )
    assert logged == [(1,)]
    pg_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        pg_schema,
    )
    feedback = pg_server.post(
        "/feedback", {"request_id": body["predictions"][0]["request_id"], "label": "No"}
    )
    assert feedback.status == 200 and feedback.json["accepted"] == 1, feedback.body
    assert pg_server.get("/ready").json["ready"] is True


def test_ready_is_503_while_the_postgres_log_is_down_and_200_once_it_is_back(
    pg_schema, project
) -> None:
    """An outage of the log database: requests get 503 LOG_UNAVAILABLE (no 2xx without a
    commit) and /ready turns 503 with the cause; with no traffic at all, /ready alone
    notices when the database is reachable again."""
    proxy = Proxy(PG_ADMIN)  # the server reaches PostgreSQL only through it
    host_port = PG_ADMIN.split("://", 1)[1].split("/", 1)[0].split("@")[-1]
    url = pg_url(pg_schema).replace(host_port, f"127.0.0.1:{proxy.port}", 1)
    srv = Server(
        project,
        "recipes/churn.yaml",
        f"deploy.serve.log.url='{url}'",
        "deploy.serve.request_timeout_seconds=8",
    )
    try:
        srv.wait_ready()
        predict(srv, [unique_row()])
        proxy.cut()
        down = srv.post("/predict", {"records": [unique_row()]})
        assert down.status == 503 and down.json["error_code"] == "LOG_UNAVAILABLE", down.body
        ready = srv.get("/ready")
        assert ready.status == 503 and ready.json["log_writable"] is False, ready.body
        assert ready.json["last_log_error"], ready.body
        assert srv.get("/health").status == 200  # liveness never depends on the database
        proxy = Proxy(PG_ADMIN, port=proxy.port)  # the database is back
        deadline = time.monotonic() + 30
        while srv.get("/ready").status != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert srv.get("/ready").json["log_writable"] is True
        body = predict(srv, [unique_row()])
        logged = pg_query(
            f'SELECT count(*) FROM "{pg_schema}".predictions WHERE batch_id = %s',
            body["request_id"],
        )
        assert logged == [(1,)]
    finally:
        proxy.cut()
        code = srv.stop()
    assert code == 0, srv.output()


def test_a_commit_slower_than_the_request_timeout_does_not_stop_the_log(
    pg_server, pg_schema
) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN) as blocker:  # holds the table: inserts wait
        blocker.execute(f'LOCK TABLE "{pg_schema}".predictions IN ACCESS EXCLUSIVE MODE')
        slow = pg_server.post("/predict", {"records": [unique_row()]})
        time.sleep(0.5)
        # While the commit hangs on the lock (longer than the request timeout), /ready
        # says the log is not writable.
        stuck = pg_server.get("/ready")
        assert stuck.status == 503 and "has not answered" in stuck.json["last_log_error"]
    assert slow.status == 503 and slow.json["error_code"] == "LOG_UNAVAILABLE", slow.body
    assert slow.headers["retry-after"]
    # The writer finishes that commit once the lock is released, and goes on.
    deadline = time.monotonic() + 10
    while not pg_server.get("/ready").json["log_writable"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pg_server.get("/ready").json["log_writable"] is True
    body = predict(pg_server, [unique_row()])
    logged = pg_query(
        f'SELECT count(*) FROM "{pg_schema}".predictions WHERE batch_id = %s', body["request_id"]
    )
    assert logged == [(1,)]


# -------------------------------------------------------- (c) memory cache
def test_memory_cache_answers_a_repeated_row_identically_and_still_logs_it(
    pg_server, pg_schema
) -> None:
    row = unique_row(tenure=13)
    hits = metric(pg_server, "mlctl_cache_hits_total")
    first = predict(pg_server, [row])
    assert metric(pg_server, "mlctl_cache_hits_total") == hits  # a miss
    second = predict(pg_server, [{**row, "customerID": "someone-else"}])  # id: not a feature
    assert answers(second) == answers(first)
    assert metric(pg_server, "mlctl_cache_hits_total") == hits + 1
    # An answer from the cache is a prediction like any other: it has its log row.
    batches = [first["request_id"], second["request_id"]]
    logged = pg_query(
        f'SELECT batch_id, inputs FROM "{pg_schema}".predictions WHERE batch_id = ANY(%s)',
        batches,
    )
    assert sorted(b for b, _ in logged) == sorted(batches)
    assert {json.loads(i)["customerID"] for _, i in logged} == {ROW["customerID"], "someone-else"}


# ----------------------------------------------- (b) two workers, one SQLite
def test_two_workers_share_one_sqlite_log_under_concurrent_load(project, tmp_path) -> None:
    db = tmp_path / "shared.db"
    srv = Server(
        project, "recipes/churn.yaml", f"deploy.serve.log.url=sqlite:///{db}", "--workers", "2"
    )
    try:
        wait_all_ready(srv, 2)
        statuses, acknowledged, labelled, refused = _load(srv, requests=400, threads=8)
        time.sleep(0.3)  # the middleware counts a request just after its response
        text = srv.get("/metrics").body.decode()
        prom_dir = _worker_environ(srv.proc.pid).get("PROMETHEUS_MULTIPROC_DIR")
        per_worker = _per_worker_predictions(Path(prom_dir)) if prom_dir else None
    finally:
        code = srv.stop()
    output = srv.output()
    assert code == 0, output
    assert not refused, refused[:5]
    assert statuses[200] >= 380, statuses  # at most a few "loading the model" 503s
    assert "locked" not in output.lower() and "Traceback" not in output, output
    with sqlite3.connect(db) as con:
        logged = {r[0] for r in con.execute("SELECT request_id FROM predictions")}
        labels = dict(con.execute("SELECT request_id, label FROM feedback").fetchall())
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert acknowledged <= logged, f"{len(acknowledged - logged)} acknowledged rows not logged"
    assert len(labels) == labelled > 0  # every accepted label was stored
    # /metrics aggregates both workers (prometheus-client's multiprocess mode): the
    # 200s it counts are the 200s the clients saw, and each worker answered some.
    predicted = sample(text, 'mlctl_requests_total{code="200",route="/predict"}')
    assert predicted == statuses[200]
    assert sample(text, "mlctl_log_rows_failed_total") == 0
    if sys.platform == "linux":  # each worker process's own metric file
        assert per_worker is not None, "PROMETHEUS_MULTIPROC_DIR is not set for 2 workers"
        assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()), per_worker
        assert sum(per_worker.values()) == predicted


def _ready_pid(port: int) -> int | None:
    """The worker that answered /ready on a new connection (None: it was not ready)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/ready")
        reply = conn.getresponse()
        body = json.loads(reply.read())
        return body["worker_pid"] if reply.status == 200 else None
    finally:
        conn.close()


def test_workers_share_connections_and_a_dead_worker_is_replaced(project) -> None:
    """Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new
    connections over both (a shared socket let one worker take them all); a worker
    killed with SIGKILL is started again and the service goes on."""
    if sys.platform != "linux":
        pytest.skip("SO_REUSEPORT balancing is Linux's")
    srv = Server(project, "recipes/churn.yaml", "--workers", "2")
    try:
        srv.wait_ready()  # the first 200: from then on, never a 503 (no worker loading)
        deadline, pids = time.monotonic() + 90, Counter()
        while len(pids) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(16) as pool:
                pids.update(pool.map(lambda _: _ready_pid(srv.port), range(32)))
        assert len(pids) == 2 and None not in pids, pids
        victim = next(iter(pids))
        os.kill(victim, signal.SIGKILL)
        deadline, seen = time.monotonic() + 90, set()
        while time.monotonic() < deadline and (len(seen) < 2 or victim in seen):
            with contextlib.suppress(OSError):
                seen = {_ready_pid(srv.port) for _ in range(16)}
            time.sleep(0.2)
        assert seen == {p for p in seen if p} and len(seen) == 2, (pids, seen)
        assert victim not in seen, (pids, seen)
        # The new worker listened only once its model was loaded: no 503 on any connection.
        with ThreadPoolExecutor(8) as pool:
            answers = set(pool.map(lambda _: _ready_pid(srv.port), range(32)))
        assert answers == seen, answers
    finally:
        code = srv.stop()
    assert code == 0, srv.output()


def _load(srv: Server, requests: int, threads: int) -> tuple[Counter, set[str], int, list[str]]:
    """``requests`` predictions from ``threads`` clients, with feedback for every
    fourth answer (so both workers write predictions and labels at once). Returns the
    statuses, the acknowledged row ids, the labels accepted, and unexpected answers."""
    statuses: Counter = Counter()
    acknowledged: set[str] = set()
    labelled = 0
    refused: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        nonlocal labelled
        rows = [unique_row(tenure=i % 72) for _ in range(1 + i % 3)]
        res = srv.post("/predict", {"records": rows})
        with lock:
            statuses[res.status] += 1
        if res.status != 200:
            if not (res.status == 503 and b"loading the model" in res.body):
                with lock:
                    refused.append(f"{res.status} {res.body[:300]!r}")
            return
        ids = [p["request_id"] for p in res.json["predictions"]]
        with lock:
            acknowledged.update(ids)
        if i % 4 == 0:
            fb = srv.post(
                "/feedback", {"feedback": [{"request_id": r, "label": "No"} for r in ids]}
            )
            with lock:
                if fb.status == 200 and fb.json["accepted"] == len(ids):
                    labelled += len(ids)
                else:
                    refused.append(f"feedback {fb.status} {fb.body[:300]!r}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(requests)))
    return statuses, acknowledged, labelled, refused


def _worker_environ(pid: int) -> dict[str, str]:
    """The environment a child of ``pid`` (a worker process) started with (Linux)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            raw = (stat.parent / "environ").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        env = {k.decode(): v.decode(errors="replace") for k, v in pairs}
        if "PROMETHEUS_MULTIPROC_DIR" in env:
            return env
    return {}


def _per_worker_predictions(prom_dir: Path) -> dict[str, float]:
    """200s of /predict per worker process, from its own multiprocess metric file."""
    from prometheus_client.multiprocess import MultiProcessCollector

    out: dict[str, float] = {}
    for path in prom_dir.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)], accumulate=True):
            for s in family.samples:
                if s.name == "mlctl_requests_total" and s.labels == {
                    "route": "/predict",
                    "code": "200",
                }:
                    out[path.stem] = out.get(path.stem, 0.0) + s.value
    return out


# ------------------------------------------------------------- (d) Redis cache
class Proxy:
    """A TCP forwarder (to Redis, PostgreSQL) that a test can cut, as an outage would;
    a new Proxy on the same port brings the service back."""

    def __init__(self, url: str, port: int = 0) -> None:
        host, port_ = url.split("://", 1)[1].split("/", 1)[0].split("@")[-1].rsplit(":", 1)
        self.target = (host, int(port_))
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close alone may not
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def test_redis_cache_is_shared_by_processes_and_kept_apart_by_model_version(
    redis_db, project
) -> None:
    db = redis_db.connection_pool.connection_kwargs["db"]
    proxy = Proxy(REDIS)  # the second server reaches Redis through it
    settings = [
        "deploy.serve.cache.backend=redis",
        "deploy.serve.cache.ttl_seconds=600",
        "deploy.serve.poll_seconds=0.5",
    ]
    first = Server(project, "recipes/churn.yaml", *settings, f"deploy.serve.cache.url={REDIS}/{db}")
    second = Server(
        project,
        "recipes/churn.yaml",
        *settings,
        f"deploy.serve.cache.url=redis://127.0.0.1:{proxy.port}/{db}",
    )
    try:
        first.wait_ready()
        second.wait_ready()
        digest_v1 = first.get("/model").json["sha256"]
        row = unique_row(tenure=41)
        fresh = predict(first, [row])
        keys = [k.decode() for k in redis_db.scan_iter("mlctl:*")]
        assert len(keys) == 1 and keys[0].startswith(f"mlctl:{digest_v1[:24]}:"), keys
        assert 0 < redis_db.ttl(keys[0]) <= 600
        # The entry is what the second process answers from: rewrite it to a value
        # the model could never give, and that value comes back.
        marked = ["Yes", {"No": 0.0123, "Yes": 0.9877}, 0.9877]
        redis_db.set(keys[0], json.dumps(marked), keepttl=True)
        hits = metric(second, "mlctl_cache_hits_total")
        shared = predict(second, [row])
        assert answers(shared) == [("Yes", {"No": 0.0123, "Yes": 0.9877})] != answers(fresh)
        assert metric(second, "mlctl_cache_hits_total") == hits + 1
        # An entry that cannot be read is a miss, never an error.
        redis_db.set(keys[0], b"\x00not json", keepttl=True)
        assert answers(predict(second, [row])) == answers(fresh)
        redis_db.set(keys[0], json.dumps(marked), keepttl=True)

        # Version 2 (another split, so other coefficients) becomes champion.
        res = mlctl(project, "run", "recipes/churn.yaml", *FAST, "split.seed=7", "--quiet")
        assert res.returncode == 0, res.stderr
        assert mlctl(project, "models", "promote", "churn", "2", "--yes").returncode == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            srv.get("/model").json["version"] != 2 for srv in (first, second)
        ):
            time.sleep(0.2)
        model_v2 = first.get("/model").json
        assert model_v2["version"] == 2 and model_v2["sha256"] != digest_v1
        v2 = predict(first, [row])
        assert v2["model"]["version"] == 2
        assert answers(v2) != answers(shared)  # never version 1's (marked) entry
        prefixes = Counter(k.decode().rsplit(":", 1)[0] for k in redis_db.scan_iter("mlctl:*"))
        assert prefixes == {f"mlctl:{digest_v1[:24]}": 1, f"mlctl:{model_v2['sha256'][:24]}": 1}

        # Redis goes away while serving: rows are scored, never an error.
        proxy.cut()
        hits = metric(second, "mlctl_cache_hits_total")
        started = time.monotonic()
        for _ in range(3):
            assert predict(second, [row])["model"]["version"] == 2
        assert time.monotonic() - started < 5
        assert metric(second, "mlctl_cache_hits_total") == hits
    finally:
        proxy.cut()
        codes = first.stop(), second.stop()
    assert codes == (0, 0), first.output() + second.output()


def test_redis_unreachable_at_start_stops_serve_with_exit_2(project) -> None:
    url = "redis://127.0.0.1:1/0"
    res = mlctl(
        project,
        "serve",
        "recipes/churn.yaml",
        "deploy.serve.cache.backend=redis",
        f"deploy.serve.cache.url={url}",
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert url in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------------ (e) SIGTERM drain
def test_sigterm_lets_in_flight_requests_finish_then_exits_0(project, tmp_path) -> None:
    db = tmp_path / "drain.db"
    srv = Server(project, "recipes/churn.yaml", f"deploy.serve.log.url=sqlite:///{db}")
    replies: list[tuple[float, Any]] = []  # (when, reply or error)

    def client(i: int) -> None:
        try:
            reply: Any = srv.post("/predict", {"records": [unique_row(tenure=i)]})
        except (OSError, http.client.HTTPException) as exc:
            reply = exc
        replies.append((time.monotonic(), reply))

    blocker = None
    try:
        srv.wait_ready()
        # Another writer holds the log's lock: the six requests are scored, then wait
        # for their commit, so the signal certainly finds them in flight.
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        clients = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in clients:
            t.start()
        time.sleep(1.5)
        os.killpg(srv.proc.pid, signal.SIGTERM)
        signalled = time.monotonic()
        ready_after_signal = []
        while time.monotonic() - signalled < 0.5:
            try:
                ready_after_signal.append(call(srv.url + "/ready", timeout=2).status)
            except OSError:
                break  # the listening socket is closed
            time.sleep(0.02)
        time.sleep(max(0.0, signalled + 0.5 - time.monotonic()))
        blocker.execute("COMMIT")
        for t in clients:
            t.join(30)
        code = srv.proc.wait(30)
    finally:
        if blocker is not None:
            blocker.close()
        srv.stop(signal.SIGKILL)
    assert code == 0, srv.output()
    assert [getattr(r, "status", r) for _, r in replies] == [200] * 6
    assert all(when > signalled for when, _ in replies)  # all six were in flight
    assert set(ready_after_signal) <= {503}, ready_after_signal  # never "ready" again
    acknowledged = {p["request_id"] for _, r in replies for p in r.json["predictions"]}
    with sqlite3.connect(db) as con:
        logged = {r[0] for r in con.execute("SELECT request_id FROM predictions")}
    assert len(acknowledged) == 6 and acknowledged <= logged
