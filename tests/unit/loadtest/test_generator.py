"""The load generator against a tiny asyncio HTTP server in the test's own loop:
counts, statuses, failures, the open loop's due times, and its bounds."""

from __future__ import annotations

import asyncio
import time

import pytest

from mlctl.loadtest import generator
from mlctl.loadtest.http import Target, encode_post

pytestmark = pytest.mark.unit


async def _serve(handler):
    """A keep-alive HTTP/1.1 server answering each request with ``await handler(n)``."""
    count = {"n": 0}

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                count["n"] += 1
                status = await handler(count["n"])
                if status is None:
                    continue  # never answer this one
                body = b'{"ok":true}'
                writer.write(
                    b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, Target("http", "127.0.0.1", port, ""), count


def _plan(target: Target, **kw) -> generator.Plan:
    request = encode_post(target, "/predict", b'{"records":[{"a":1}]}', {})
    return generator.Plan([request], 1, **kw)


def _run(handler, **plan):
    async def main():
        server, target, count = await _serve(handler)
        async with server:
            m = await generator.measure(_plan(target, **plan), target, asyncio.Event())
        return m, count["n"]

    return asyncio.run(main())


def test_closed_loop_counts_every_answer_by_status() -> None:
    async def handler(n):
        return 503 if n % 10 == 0 else 200

    m, served = _run(handler, duration=0.4, clients=3)
    assert m.answered == served == m.sent > 30
    assert m.statuses[503] == served // 10 or abs(m.statuses[503] - served // 10) <= 3
    assert not m.failures and not m.interrupted
    p = generator.percentiles(m)
    assert 0 < p["p50_ms"] <= p["p95_ms"] <= p["p99_ms"] <= p["max_ms"] < 400


def test_open_loop_sends_at_the_rate_whatever_the_server_does() -> None:
    async def handler(n):
        return 200

    m, served = _run(handler, duration=1.0, rate=200.0, connections=4)
    assert 190 <= m.sent <= 201 and m.answered == served == m.sent
    assert m.elapsed == pytest.approx(1.0, abs=0.15)


def test_open_loop_charges_a_stall_to_every_request_it_held_up() -> None:
    """One connection, 100 requests/s, the 10th request stalls 300 ms: the ~30 requests
    due meanwhile wait in the generator, and their latency counts from their due time
    (a closed loop would record one slow request; coordinated omission)."""

    async def handler(n):
        if n == 10:
            await asyncio.sleep(0.3)
        return 200

    m, _ = _run(handler, duration=1.0, rate=100.0, connections=1)
    h = m.histogram
    slow = sum(1 for p in range(1, 100) if h.get_value_at_percentile(p) > 100_000)
    assert slow >= 15, f"{slow} percentiles above 100 ms"
    assert h.get_max_value() >= 290_000


def test_a_request_without_answer_times_out_and_the_run_still_ends() -> None:
    async def handler(n):
        if n == 2:
            return None
        return 200

    started = time.monotonic()
    m, _ = _run(handler, duration=0.3, clients=1, timeout=0.5)
    assert m.failures["timeout"] == 1 and m.answered >= 1
    assert time.monotonic() - started < 0.3 + 0.5 + 1.5


def test_a_refused_connection_is_counted_not_raised() -> None:
    async def main():
        server, target, _ = await _serve(lambda n: None)
        server.close()
        await server.wait_closed()
        return await generator.measure(
            _plan(target, duration=0.2, clients=2), target, asyncio.Event()
        )

    m = asyncio.run(main())
    assert m.answered == 0 and m.failures["connection refused"] >= 2
    assert generator.percentiles(m)["p95_ms"] is None


def test_stop_ends_the_run_early_with_what_was_measured() -> None:
    async def handler(n):
        return 200

    async def main():
        server, target, _ = await _serve(handler)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        async with server:
            return await generator.measure(_plan(target, duration=30, clients=2), target, stop)

    started = time.monotonic()
    m = asyncio.run(main())
    assert m.interrupted and m.answered > 0
    assert time.monotonic() - started < 3
