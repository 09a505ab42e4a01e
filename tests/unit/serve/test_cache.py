"""The Redis cache never makes a request wait on a hung Redis more than once per back-off."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from mlctl.serve.cache import RedisCache

pytestmark = pytest.mark.unit


class Blackhole:
    """A TCP server that accepts connections and never answers (a hung Redis)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_a_hung_redis_costs_one_timeout_per_backoff_not_one_per_request() -> None:
    hole = Blackhole()

    async def scenario() -> tuple[float, float, list]:
        cache = RedisCache(f"redis://127.0.0.1:{hole.port}/0", ttl=60)
        started = time.monotonic()
        first = await cache.get_many(["a", "b"])
        waited = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):  # within the back-off: answered at once, as misses
            assert await cache.get_many(["a"]) == [None]
            await cache.set_many([("a", ("Yes", None, 0.9))])
        skipped = time.monotonic() - started
        assert cache.errors == 1 and cache.skipped == 40
        cache._skip_until = 0  # the back-off is over: Redis is tried again, and fails again
        await cache.get_many(["a"])
        assert cache.errors == 2 and cache._backoff == 2 * RedisCache.BACKOFF_FIRST
        await cache.close()
        return waited, skipped, first

    try:
        waited, skipped, first = asyncio.run(scenario())
    finally:
        hole.close()
    assert first == [None, None]
    assert 0.4 < waited < 3, waited  # one socket timeout (0.5 s)
    assert skipped < 0.2, skipped
