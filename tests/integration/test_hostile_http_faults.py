"""Hostile faults against a real ``mlctl serve``: transport, backends, model lifecycle.

Every case checks what a client must see: the documented status (no 5xx except the
documented 503s), no traceback in a body, /ready telling the truth, and for backend
faults that every acknowledged (2xx) row is in the prediction log. Backends are real:
PostgreSQL and Redis (reached through a TCP proxy the test can cut or hang), SQLite on
a small tmpfs the test fills (root only). The model lifecycle cases come last: they
move the project's aliases.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import select
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from serve_helpers import (
    FAST,
    PG_ADMIN,
    REDIS,
    ROW,
    Reply,
    Server,
    mlctl,
    move_champion,
    pg_url,
    require,
)

pytestmark = pytest.mark.integration

TIMEOUT = 2  # deploy.serve.request_timeout_seconds of the transport server
DOCUMENTED_503 = {"LOG_UNAVAILABLE", "UNAVAILABLE", "TIMEOUT", "OVERLOADED"}


# ------------------------------------------------------------------ helpers
def clean(reply: Reply, *statuses: int) -> Reply:
    """The reply has one of ``statuses``, no traceback, and a 5xx only if documented."""
    assert b"Traceback" not in reply.body and b'File "' not in reply.body, reply.body
    if reply.status >= 500:
        assert reply.status == 503 and reply.json["error_code"] in DOCUMENTED_503, reply.body
    assert not statuses or reply.status in statuses, (reply.status, reply.body[:300])
    return reply


def unique_row(**change: Any) -> dict[str, Any]:
    """ROW with a MonthlyCharges no other request sends (never a cache hit)."""
    return {**ROW, "MonthlyCharges": round(20 + uuid.uuid4().int % 10**6 / 10**4, 4), **change}


def predict(srv: Server, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    res = clean(srv.post("/predict", {"records": rows or [unique_row()]}), 200)
    return res.json


def wait_for(check: Any, timeout: float, step: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something true, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"not true after {timeout} s; last: {last!r}")


def metric(srv: Server, name: str) -> float:
    for line in srv.get("/metrics").body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Acks:
    """Request ids a backend fault case got 2xx for: each must be in the log."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.statuses: list[int] = []

    def post(self, srv: Server, rows: list[dict[str, Any]], timeout: float = 30) -> Reply:
        res = clean(srv.post("/predict", {"records": rows}, timeout=timeout))
        self.statuses.append(res.status)
        if res.status == 200:
            self.ids.update(p["request_id"] for p in res.json["predictions"])
        return res

    def lost(self, logged: set[str]) -> set[str]:
        return self.ids - logged


class Proxy:
    """A TCP forwarder a test can hang (bytes held, connections kept open: a hung
    database), resume, or cut (connections closed, new ones refused: a database that
    is down). ``Proxy(url, port=old.port)`` after a cut is the service coming back."""

    def __init__(self, url: str, port: int = 0) -> None:
        host, port_ = url.split("://", 1)[1].split("/", 1)[0].split("@")[-1].rsplit(":", 1)
        self.target = (host, int(port_))
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.hung = threading.Event()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        host_port = url.split("://", 1)[1].split("/", 1)[0].split("@")[-1]
        return url.replace(host_port, f"127.0.0.1:{self.port}", 1)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while not self.closed.is_set():
                if self.hung.is_set():
                    time.sleep(0.05)
                    continue
                if not select.select([a], [], [], 0.1)[0]:
                    continue
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def exchange(port: int, data: bytes, wait: float = 10) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes (or ``wait``); what came back and
    how long the connection stayed open."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)
        return _read_all(sock, started, wait)


def _read_all(sock: socket.socket, started: float, wait: float) -> tuple[bytes, float]:
    sock.settimeout(0.5)
    out = b""
    while time.monotonic() - started < wait:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out, time.monotonic() - started


def statuses(raw: bytes) -> list[int]:
    """The status of every response in what came back (a body has no line end)."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


def request_bytes(path: str = "/predict", body: bytes | None = None, **headers: str) -> bytes:
    body = json.dumps({"records": [unique_row()]}).encode() if body is None else body
    head = {"Host": "x", "Content-Type": "application/json", "Content-Length": str(len(body))}
    head.update({k.replace("_", "-"): v for k, v in headers.items()})
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items() if v)
    return f"POST {path} HTTP/1.1\r\n{lines}\r\n".encode() + body


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("hostile-faults"), 600, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


@pytest.fixture(scope="module")
def srv(project) -> Iterator[Server]:
    """A server for the transport cases (SQLite log, 2 s request timeout)."""
    server = Server(
        project,
        "recipes/churn.yaml",
        f"deploy.serve.request_timeout_seconds={TIMEOUT}",
        "deploy.serve.poll_seconds=0",
    )
    server.wait_ready()
    yield server
    assert server.stop() == 0, server.output()


@pytest.fixture(autouse=True)
def _ready_after(request) -> Iterator[None]:
    """After every transport case the server still answers and is ready."""
    yield
    if "srv" in request.fixturenames:
        server = request.getfixturevalue("srv")
        clean(server.get("/ready"), 200)
        predict(server)


# ------------------------------------------------------ transport: headers
@pytest.mark.parametrize(
    "headers, path",
    [
        ({"X-Big": "a" * 70_000}, "/health"),
        ({f"X-H{i}": "a" for i in range(5000)}, "/health"),
        ({}, "/health?q=" + "a" * 70_000),
    ],
    ids=["one-70KB-header", "5000-headers", "70KB-url"],
)
def test_oversized_headers_get_431(srv, headers, path) -> None:
    res = requests.get(srv.url + path, headers=headers, timeout=10)
    assert res.status_code == 431, res.text[:200]
    body = res.json()
    assert body["error_code"] == "HEADERS_TOO_LARGE" and "Traceback" not in res.text
    assert "header" in body["message"]
    assert metric(srv, "mlctl_connections_refused_total") >= 1


# ------------------------------------------------------ transport: slowloris
def _trickle(port: int, head: bytes, drip: bytes, seconds: float) -> tuple[bytes, float]:
    """Send ``head``, then one byte of ``drip`` every 0.3 s; when the server answers
    or closes, what it sent and after how long."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        for i in range(int(seconds / 0.3)):
            if select.select([sock], [], [], 0.3)[0]:
                break
            with contextlib.suppress(OSError):
                sock.sendall(drip[i % len(drip) : i % len(drip) + 1])
        return _read_all(sock, started, seconds)


@pytest.mark.parametrize("part", ["headers", "body", "nothing"])
def test_slow_requests_are_cut_off(srv, part) -> None:
    """Headers or body trickled a byte at a time, or a connection that sends nothing,
    is answered 408 (closed) within the request timeout, never held open."""
    if part == "headers":
        out, took = _trickle(srv.port, b"POST /predict HTTP/1.1\r\nHost: x\r\n", b"X-A: b\r\n", 20)
    elif part == "body":
        head = request_bytes(body=b"", Content_Length="5000")
        out, took = _trickle(srv.port, head, b'{"records": [', 20)
    else:
        out, took = exchange(srv.port, b"", wait=20)
    assert took < TIMEOUT + 3, took
    if part == "nothing":
        assert out == b""
    else:
        assert statuses(out) == [408], out[:300]
        assert b"REQUEST_TIMEOUT" in out and b"Traceback" not in out


# ------------------------------------------------------- transport: bodies
def _too_big() -> bytes:
    return b'{"records": [' + b"1," * 2_000_000 + b"1]}"  # 4 MB against a 1 MiB limit


def _via_urllib(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=_too_big(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _via_requests(url: str, **kw: Any) -> tuple[int, bytes]:
    res = requests.post(url, headers={"Content-Type": "application/json", **kw}, timeout=30)
    return res.status_code, res.content


@pytest.mark.parametrize("client", ["requests", "urllib", "connection-close", "chunked"])
def test_an_over_limit_body_gets_413_not_a_reset(srv, client) -> None:
    """Clients that send the whole body before reading (requests, urllib) see the 413:
    the server reads and discards the rest before it closes."""
    url = srv.url + "/predict"
    if client == "requests":
        res = requests.post(url, data=_too_big(), headers={"Content-Type": "application/json"})
        status, body = res.status_code, res.content
    elif client == "urllib":
        status, body = _via_urllib(url)
    elif client == "connection-close":
        res = requests.post(
            url,
            data=_too_big(),
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        status, body = res.status_code, res.content
    else:
        chunks = (b"1," * 50_000 for _ in range(40))  # no Content-Length: 4 MB streamed
        res = requests.post(url, data=chunks, headers={"Content-Type": "application/json"})
        status, body = res.status_code, res.content
    assert status == 413, body[:200]
    assert json.loads(body)["error_code"] == "TOO_LARGE"


@pytest.mark.parametrize(
    "length, expected",
    [("99999999999999999999999", {400, 413}), ("-1", {400}), ("12abc", {400})],
    ids=["absurd", "negative", "not-a-number"],
)
def test_absurd_content_length(srv, length, expected) -> None:
    out, took = exchange(srv.port, request_bytes(body=b"{}", Content_Length=length))
    assert statuses(out) and statuses(out)[0] in expected, out[:300]
    assert b"Traceback" not in out and took < TIMEOUT + 3


def test_invalid_chunked_encoding_is_400(srv) -> None:
    head = request_bytes(body=b"", Content_Length="", Transfer_Encoding="chunked")
    out, _ = exchange(srv.port, head + b"zz\r\nnot hex\r\n0\r\n\r\n")
    assert statuses(out) == [400], out[:300]
    assert b"Traceback" not in out


FRAMING = {
    "content-length-and-chunked": b"POST /predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two-content-lengths": b"POST /predict HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
    "header-without-colon": b"GET /health HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n",
    "nul-in-header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "not-http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
}


@pytest.mark.parametrize("framing", list(FRAMING))
def test_ambiguous_or_broken_framing_is_400(srv, framing) -> None:
    """Requests a proxy and the server could read differently (smuggling) or cannot
    read at all (TLS sent to the plain port) are refused, and the connection closed."""
    out, took = exchange(srv.port, FRAMING[framing])
    assert statuses(out) == [400], out[:300]
    assert b"Traceback" not in out and took < TIMEOUT + 3


def test_pipelined_requests_are_answered_in_order(srv) -> None:
    first = request_bytes(body=json.dumps({"records": [unique_row(tenure=1)]}).encode())
    second = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    third = request_bytes(body=b"{not json", Connection="close")
    out, _ = exchange(srv.port, first + second + third)
    assert statuses(out) == [200, 200, 400], out[:600]


def test_http_1_0_request_is_answered_and_closed(srv) -> None:
    body = json.dumps({"records": [unique_row()]}).encode()
    raw = request_bytes(body=body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    out, took = exchange(srv.port, raw)
    assert statuses(out) == [200], out[:300]
    assert took < 5  # closed after the answer, not held for keep-alive


@pytest.mark.parametrize("size", ["too-large", "fits"])
def test_expect_100_continue(srv, size) -> None:
    """A body over the limit is refused before the client sends it; one that fits is
    invited (100 Continue) and answered."""
    body = json.dumps({"records": [unique_row()]}).encode()
    length = "5000000" if size == "too-large" else str(len(body))
    head = request_bytes(body=b"", Content_Length=length, Expect="100-continue")
    with socket.create_connection(("127.0.0.1", srv.port)) as sock:
        sock.sendall(head)
        sock.settimeout(5)
        first = sock.recv(65536)
        if size == "too-large":
            assert statuses(first) == [413], first[:300]
            return
        assert statuses(first) == [100], first
        sock.sendall(body)
        rest, _ = _read_all(sock, time.monotonic(), 5)
    assert statuses(first + rest) == [100, 200], rest[:300]


# ------------------------------------------------------ backends: Redis cache
@pytest.fixture(scope="module")
def redis_db() -> Iterator[Any]:
    """A Redis database number no one else uses (claimed with a marker key)."""
    import redis

    require(f"Redis at {REDIS}", lambda: redis.Redis.from_url(REDIS, socket_timeout=3).ping())
    marker, token = "mlctl-test:claimed", uuid.uuid4().hex
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS}/{db}")
        if client.set(marker, token, nx=True, ex=900):
            if client.dbsize() == 1:
                break
            client.delete(marker)
    else:
        pytest.fail("no free Redis database number (1-15) to test in")
    try:
        yield client
    finally:
        for key in client.scan_iter("mlctl:*"):
            client.delete(key)
        client.delete(marker)


@pytest.fixture(scope="module")
def redis_proxy() -> Iterator[Proxy]:
    proxy = Proxy(REDIS)
    yield proxy
    proxy.cut()


@pytest.fixture(scope="module")
def redis_srv(project, redis_db, redis_proxy) -> Iterator[Server]:
    db = redis_db.connection_pool.connection_kwargs["db"]
    server = Server(
        project,
        "recipes/churn.yaml",
        "deploy.serve.cache.backend=redis",
        f"deploy.serve.cache.url=redis://127.0.0.1:{redis_proxy.port}/{db}",
        "deploy.serve.poll_seconds=0",
    )
    server.wait_ready()
    yield server
    assert server.stop() == 0, server.output()


POISON = {
    "label-not-a-class": json.dumps(["Maybe", {"No": 0.5, "Yes": 0.5}, 0.5]),
    "probability-above-1": json.dumps(["Yes", {"No": -0.5, "Yes": 1.5}, 1.5]),
    "probabilities-not-summing-to-1": json.dumps(["Yes", {"No": 0.5, "Yes": 0.9}, 0.9]),
    "other-classes": json.dumps(["Yes", {"A": 0.1, "B": 0.9}, 0.9]),
    "wrong-length": json.dumps(["Yes", {"No": 0.1, "Yes": 0.9}]),
    "wrong-types": json.dumps([["Yes"], "probabilities", "0.9"]),
    "nan-score": '["Yes", {"No": 0.1, "Yes": 0.9}, NaN]',
    "garbage-bytes": b"\x80\x81\xfe garbage",
}


@pytest.mark.parametrize("poison", list(POISON))
def test_a_poisoned_cache_entry_is_a_counted_miss_and_overwritten(
    redis_srv, redis_db, poison
) -> None:
    from mlctl.serve.cache import row_key

    model = redis_srv.get("/model").json
    columns = [f["name"] for f in model["features"]]
    row = unique_row()
    key = row_key(model["sha256"], row, columns)
    redis_db.set(key, POISON[poison], ex=600)
    rejected = metric(redis_srv, "mlctl_cache_rejected_total")
    body = predict(redis_srv, [row])
    answer = body["predictions"][0]
    assert answer["prediction"] in model["classes"], answer
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-6, answer
    assert metric(redis_srv, "mlctl_cache_rejected_total") == rejected + 1
    stored = json.loads(redis_db.get(key))  # the fresh answer replaced the poison
    assert stored[0] == answer["prediction"] and stored[1] == answer["probabilities"]


@pytest.mark.parametrize("fault", ["down", "hung"])
def test_redis_failing_mid_traffic_costs_no_request(redis_srv, redis_proxy, fault) -> None:
    """Redis is an optimisation: down or hung, requests are scored (200), quickly, and
    /ready stays 200."""
    predict(redis_srv)
    if fault == "hung":
        redis_proxy.hung.set()
    else:
        redis_proxy.cut()
    try:
        started = time.monotonic()
        for _ in range(5):
            predict(redis_srv)
        assert time.monotonic() - started < 5
        clean(redis_srv.get("/ready"), 200)
    finally:
        redis_proxy.hung.clear()


# ------------------------------------------------- backends: PostgreSQL log
def pg_query(sql: str, *params: Any) -> list[tuple]:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        cur = con.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    import psycopg

    require(
        f"PostgreSQL at {PG_ADMIN}", lambda: psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    )
    schema = f"mlctl_faults_{uuid.uuid4().hex[:12]}"
    pg_query(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        pg_query(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def pg_logged(schema: str) -> set[str]:
    return {r[0] for r in pg_query(f'SELECT request_id FROM "{schema}".predictions')}


@pytest.fixture
def pg_srv(project, pg_schema) -> Iterator[tuple[Server, Proxy]]:
    """A server whose PostgreSQL log is reached through a proxy (3 s request timeout)."""
    proxy = Proxy(PG_ADMIN)
    server = Server(
        project,
        "recipes/churn.yaml",
        f"deploy.serve.log.url='{proxy.url(pg_url(pg_schema))}'",
        "deploy.serve.request_timeout_seconds=3",
        "deploy.serve.poll_seconds=0",
    )
    server.wait_ready()
    holder = [server, proxy]
    yield holder  # type: ignore[misc]
    holder[1].cut()
    assert server.stop() == 0, server.output()


def test_a_hung_postgres_turns_ready_503_and_it_recovers(pg_srv, pg_schema) -> None:
    """PostgreSQL hung (a proxy that stops forwarding): requests get 503 after the
    request timeout, /ready turns 503 naming the cause, and both recover after."""
    srv, proxy = pg_srv
    acks = Acks()
    acks.post(srv, [unique_row()])
    proxy.hung.set()
    try:
        res = acks.post(srv, [unique_row()])
        assert res.status == 503 and res.json["error_code"] == "LOG_UNAVAILABLE", res.body
        ready = wait_for(lambda: (r := srv.get("/ready")).status == 503 and r, 10)
        assert ready.json["log_writable"] is False, ready.body
        assert "has not answered" in ready.json["last_log_error"], ready.body
        clean(srv.get("/health"), 200)
    finally:
        proxy.hung.clear()
    wait_for(lambda: srv.get("/ready").status == 200, 40)
    acks.post(srv, [unique_row()])
    assert acks.statuses[-1] == 200
    assert not acks.lost(pg_logged(pg_schema))


def test_a_lock_held_on_the_log_table_turns_ready_503_until_released(pg_srv, pg_schema) -> None:
    import psycopg

    srv, _ = pg_srv
    acks = Acks()
    acks.post(srv, [unique_row()])
    with psycopg.connect(PG_ADMIN) as blocker:
        blocker.execute(f'LOCK TABLE "{pg_schema}".predictions IN ACCESS EXCLUSIVE MODE')
        res = acks.post(srv, [unique_row()])
        assert res.status == 503 and res.json["error_code"] == "LOG_UNAVAILABLE", res.body
        ready = wait_for(lambda: (r := srv.get("/ready")).status == 503 and r, 10)
        assert ready.json["log_writable"] is False and ready.json["last_log_error"]
    wait_for(lambda: srv.get("/ready").status == 200, 40)
    acks.post(srv, [unique_row()])
    assert acks.statuses[-1] == 200
    assert not acks.lost(pg_logged(pg_schema))


def test_a_postgres_restart_under_load_loses_no_acknowledged_row(pg_srv, pg_schema) -> None:
    srv, proxy = pg_srv
    acks = Acks()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, http.client.HTTPException):
                acks.post(srv, [unique_row() for _ in range(2)], timeout=20)
            time.sleep(0.02)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        proxy.cut()  # the database goes away ...
        time.sleep(1.5)
        pg_srv[1] = Proxy(PG_ADMIN, port=proxy.port)  # ... and comes back
        wait_for(lambda: srv.get("/ready").status == 200, 40)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert set(acks.statuses) <= {200, 503} and 200 in acks.statuses, set(acks.statuses)
    assert not acks.lost(pg_logged(pg_schema))


# ---------------------------------------------------- backends: SQLite on disk
@pytest.fixture
def tiny_disk(tmp_path) -> Iterator[Path]:
    """A 2 MB tmpfs (needs root: mount)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def sqlite_logged(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {r[0] for r in con.execute("SELECT request_id FROM predictions")}


def test_a_full_disk_is_named_and_the_log_recovers(project, tiny_disk) -> None:
    db = tiny_disk / "predictions.db"
    srv = Server(project, "recipes/churn.yaml", f"deploy.serve.log.url=sqlite:///{db}")
    acks = Acks()
    filler = tiny_disk / "filler"
    try:
        srv.wait_ready()
        acks.post(srv, [unique_row()])
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        for _ in range(300):
            res = acks.post(srv, [unique_row() for _ in range(20)])
            if res.status == 503:
                break
        assert res.status == 503 and res.json["error_code"] == "LOG_UNAVAILABLE", res.body
        assert "full" in res.json["message"] and str(db) in res.json["message"], res.body
        assert "cannot rollback" not in res.json["message"]
        ready = srv.get("/ready")
        assert ready.status == 503 and "full" in ready.json["last_log_error"], ready.body
        filler.unlink()
        wait_for(lambda: srv.get("/ready").status == 200, 20)
        assert acks.post(srv, [unique_row()]).status == 200
    finally:
        assert srv.stop() == 0, srv.output()
    assert not acks.lost(sqlite_logged(db))


def test_a_read_only_log_folder_stops_the_start_naming_it(project, tiny_disk) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    db = tiny_disk / "predictions.db"
    res = mlctl(
        project, "serve", "recipes/churn.yaml", f"deploy.serve.log.url=sqlite:///{db}", timeout=120
    )
    assert res.returncode == 2, res.stderr
    assert str(db) in res.stderr and "Traceback" not in res.stderr


def test_a_log_file_deleted_while_serving_is_recreated(project, tmp_path) -> None:
    db = tmp_path / "log" / "predictions.db"
    srv = Server(project, "recipes/churn.yaml", f"deploy.serve.log.url=sqlite:///{db}")
    acks = Acks()
    try:
        srv.wait_ready()
        predict(srv)
        shutil.rmtree(db.parent)  # the file, its WAL and the writers' lock file
        for _ in range(5):
            assert acks.post(srv, [unique_row()]).status == 200
        clean(srv.get("/ready"), 200)
    finally:
        assert srv.stop() == 0, srv.output()
    assert db.exists()
    assert not acks.lost(sqlite_logged(db))


# ----------------------------------------------------------------- the CLI
def test_a_port_in_use_exits_2_naming_it(project) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        res = mlctl(project, "serve", "recipes/churn.yaml", "--port", str(port), timeout=120)
    assert res.returncode == 2, res.stderr
    assert f"127.0.0.1:{port}" in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------- model lifecycle
def _register(project: Path, seed: int) -> Path:
    """Train and register (not promote) a version; its model file."""
    res = mlctl(project, "run", "recipes/churn.yaml", *FAST, f"split.seed={seed}", "-q")
    assert res.returncode == 0, res.stderr
    files = (project / ".mlctl" / "artifacts").rglob("model.skops")
    return max(files, key=lambda p: p.stat().st_mtime)


@pytest.fixture(scope="module")
def lifecycle(project) -> Iterator[tuple[Server, Path, Path]]:
    """Versions 2 and 3 registered (not promoted); a server polling the alias."""
    v2, v3 = _register(project, 7), _register(project, 8)
    server = Server(project, "recipes/churn.yaml", "deploy.serve.poll_seconds=0.3")
    server.wait_ready()
    yield server, v2, v3
    server.stop()


def _promote(project: Path, version: int) -> None:
    # Not `mlctl models promote`: it refuses a version whose files changed (exit 8).
    move_champion(project, version)


def _refused(srv: Server, version: int) -> dict[str, Any] | None:
    for refusal in srv.get("/ready").json.get("refused_versions", []):
        if refusal["version"] == version:
            return refusal
    return None


def test_a_refused_version_is_loaded_when_the_alias_moves_back_to_it(project, lifecycle) -> None:
    srv, v2, _ = lifecycle
    good = v2.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    v2.write_bytes(bytes(damaged))
    _promote(project, 2)
    refusal = wait_for(lambda: _refused(srv, 2), 30)
    assert "SHA-256" in refusal["error"] and refusal["transient"] is False, refusal
    assert predict(srv)["model"]["version"] == 1  # the old version keeps serving
    v2.write_bytes(good)  # the files are fixed; the alias moves away and back
    _promote(project, 1)
    time.sleep(1.5)
    _promote(project, 2)
    wait_for(lambda: srv.get("/model").json["version"] == 2, 30)
    assert _refused(srv, 2) is None
    assert predict(srv)["model"]["version"] == 2
    assert metric(srv, "mlctl_model_load_retries_total") >= 1


def test_a_transient_load_failure_is_retried_with_back_off(project, lifecycle) -> None:
    srv, _, v3 = lifecycle
    folder = v3.parent.parent
    away = folder.with_name(folder.name + "-away")
    folder.rename(away)  # the download fails: no such artifact
    try:
        _promote(project, 3)
        refusal = wait_for(lambda: _refused(srv, 3), 30)
        assert refusal["transient"] is True, refusal
        assert srv.get("/model").json["version"] == 2
    finally:
        away.rename(folder)
    wait_for(lambda: srv.get("/model").json["version"] == 3, 30)  # no alias move needed
    assert _refused(srv, 3) is None
    ready = clean(srv.get("/ready"), 200).json
    assert "last_load_error" not in ready
    code = srv.stop()
    assert code == 0
    log = srv.output()
    assert "churn/3 was not loaded" in log and "retrying in" in log, log[-2000:]
    assert "churn/3 (champion) loaded after an earlier failure" in log


def test_worker_processes_apply_the_same_connection_limits(project) -> None:
    """With --workers 2 (one SO_REUSEPORT socket per worker) each worker refuses
    oversized headers and cuts slow requests off too."""
    server = Server(
        project,
        "recipes/churn.yaml",
        "--workers",
        "2",
        f"deploy.serve.request_timeout_seconds={TIMEOUT}",
        "deploy.serve.poll_seconds=0",
    )
    try:
        server.wait_ready()
        for _ in range(4):  # connections land on either worker
            res = requests.get(server.url + "/health", headers={"X-Big": "a" * 70_000})
            assert res.status_code == 431, res.text[:200]
            out, took = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n", wait=20)
            assert statuses(out) == [408] and took < TIMEOUT + 3, (out[:200], took)
        predict(server)
    finally:
        assert server.stop() == 0, server.output()


def test_sigterm_during_a_trickled_upload_stops_in_bounded_time(project, tmp_path) -> None:
    """A client trickling its body cannot hold a stopping server: SIGTERM exits 0
    within the receive timeout plus the drain, and a request in flight beside it is
    answered and logged."""
    import signal

    db = tmp_path / "drain.db"
    server = Server(
        project,
        "recipes/churn.yaml",
        f"deploy.serve.log.url=sqlite:///{db}",
        f"deploy.serve.request_timeout_seconds={TIMEOUT}",
        "deploy.serve.drain_seconds=3",
        "deploy.serve.poll_seconds=0",
    )
    acks = Acks()
    try:
        server.wait_ready()
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.sendall(request_bytes(body=b"", Content_Length="5000") + b'{"rec')
        acks.post(server, [unique_row()])
        os.killpg(server.proc.pid, signal.SIGTERM)
        started = time.monotonic()
        code = server.proc.wait(TIMEOUT + 3 + 10)
        took = time.monotonic() - started
        slow.close()
    finally:
        server.stop()
    assert code == 0 and took < TIMEOUT + 3 + 5, (code, took, server.output()[-2000:])
    assert "Traceback" not in server.output()
    assert acks.statuses == [200] and not acks.lost(sqlite_logged(db))
