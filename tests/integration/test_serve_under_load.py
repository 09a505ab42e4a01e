"""A freshly started ``mlctl serve`` flooded at once (the "first seconds of load"):
every answer is a 200 or a documented 503, and no request counts as a server error
that the server's log does not show.

The bug this guards: clients that give up (their own timeout, a load tool that
stops) close connections whose bodies the server has not read yet; Litestar raises a
500 ``InternalServerException`` for them, which our HTTP-error handler answered
without logging, so ``mlctl_requests_total`` / ``mlctl_errors_total`` counted 500s
(alerts, SLO error rates) with nothing in the log. They are 499s now (nobody receives
them), and any 5xx of Litestar's own is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from pathlib import Path

import pytest
from serve_helpers import FAST, ROW, Server

pytestmark = pytest.mark.integration

BODY = json.dumps({"records": [{**ROW, "tenure": i % 70} for i in range(20)]}).encode()


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_churn_project) -> Path:
    root, (res,) = trained_churn_project(
        tmp_path_factory.mktemp("load"), 700, [*FAST, "--promote", "--yes", "--quiet"]
    )
    assert res.returncode == 0, res.stderr
    return root


def post(port: int, body: bytes = BODY) -> bytes:
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def abandoned(port: int) -> bytes:
    """A request whose client gives up half-way through its body."""
    whole = post(port)
    return whole[: len(whole) - len(BODY) // 2]


def wait_listening(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the server never listened")


async def exchange(reader, writer, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    return status, await reader.readexactly(length)


async def abandon(port: int) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(abandoned(port))
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.close()


async def flood(port: int, clients: int, more_seconds: float, answers: list, gave_up: list):
    """Keep-alive clients post at once and on until ``more_seconds`` after the first
    200; every fourth request of every other client is abandoned half-way."""
    first_ok: list[float] = []

    async def client(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        while not first_ok or time.monotonic() < first_ok[0] + more_seconds:
            i += 1
            if n % 2 and i % 4 == 0:
                await abandon(port)
                gave_up.append(1)
                continue
            status, body = await exchange(reader, writer, post(port))
            answers.append((status, body))
            if status == 200 and not first_ok:
                first_ok.append(time.monotonic())
            elif status == 503:
                await asyncio.sleep(0.01)
        writer.close()

    await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(clients))), 120)


def predict_statuses(metrics: str) -> dict[str, float]:
    """``mlctl_requests_total`` of /predict by status code."""
    out = {}
    for line in metrics.splitlines():
        if line.startswith("mlctl_requests_total{") and 'route="/predict"' in line:
            code = re.search(r'code="(\d+)"', line).group(1)
            out[code] = float(line.rsplit(" ", 1)[1])
    return out


def test_a_fresh_server_flooded_at_once_answers_200_or_503_and_counts_no_500(project) -> None:
    srv = Server(project, "recipes/churn.yaml")
    try:
        wait_listening(srv.port)
        answers: list[tuple[int, bytes]] = []
        gave_up: list[int] = []
        asyncio.run(flood(srv.port, 16, 2.0, answers, gave_up))
        statuses = {status for status, _ in answers}
        assert statuses <= {200, 503} and 200 in statuses, statuses
        codes = {json.loads(body)["error_code"] for status, body in answers if status == 503}
        assert codes <= {"UNAVAILABLE", "OVERLOADED"}, codes
        time.sleep(0.5)  # the abandoned requests' handlers have run
        counted = predict_statuses(srv.get("/metrics").body.decode())
        assert not {c for c in counted if c.startswith("5") and c != "503"}, counted
        assert counted.get("499") == len(gave_up), (counted, len(gave_up))
        assert counted.get("200") == sum(1 for s, _ in answers if s == 200), counted
    finally:
        assert srv.stop() == 0
    out = srv.output()
    assert "Traceback" not in out and "unhandled error" not in out, out[-3000:]


def test_an_abandoned_body_is_a_499_and_the_next_client_is_served(project) -> None:
    srv = Server(project, "recipes/churn.yaml")
    try:
        srv.wait_ready()

        async def run() -> tuple[int, bytes]:
            for _ in range(5):
                await abandon(srv.port)
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            try:
                return await exchange(reader, writer, post(srv.port))
            finally:
                writer.close()

        status, body = asyncio.run(run())
        assert status == 200, body
        time.sleep(0.5)
        counted = predict_statuses(srv.get("/metrics").body.decode())
        assert counted == {"200": 1.0, "499": 5.0}, counted
    finally:
        assert srv.stop() == 0
    assert "Traceback" not in srv.output()
