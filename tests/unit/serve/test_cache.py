"""The Redis cache never makes a request wait on a hung Redis more than once per back-off."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest

from mlctl.serve.cache import MemoryCache, RedisCache, check_entry

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


class _Model:
    """What check_entry reads of a served model: its classes and probability labels."""

    def __init__(self, classes: list) -> None:
        self.classes = classes
        self._labels = [str(c) for c in classes]


BINARY = _Model(["No", "Yes"])
GOOD = ("Yes", {"No": 0.25, "Yes": 0.75}, 0.75)


@pytest.mark.parametrize(
    "entry",
    [
        ("Maybe", {"No": 0.25, "Yes": 0.75}, 0.75),  # not a class
        ("Yes", {"No": -0.5, "Yes": 1.5}, 1.5),  # outside [0, 1]
        ("Yes", {"No": 0.5, "Yes": 0.9}, 0.9),  # does not sum to 1
        ("Yes", {"A": 0.1, "B": 0.9}, 0.9),  # another model's classes
        ("Yes", {"No": 0.25, "Yes": 0.75}),  # wrong length
        (["Yes"], {"No": 0.25, "Yes": 0.75}, 0.75),  # a list for a label
        ("Yes", "probabilities", 0.75),  # wrong type
        ("Yes", {"No": 0.25, "Yes": 0.75}, float("nan")),
        ("Yes", {"No": 0.25, "Yes": 0.75}, True),
        (1, {"No": 0.25, "Yes": 0.75}, 0.75),  # a number where the labels are text
    ],
)
def test_an_entry_the_model_could_not_give_is_refused(entry) -> None:
    assert check_entry(GOOD, BINARY)
    assert not check_entry(entry, BINARY)


def test_regression_entries_are_finite_numbers_without_probabilities() -> None:
    model = _Model([])
    assert check_entry((12.5, None, 12.5), model)
    assert not check_entry(("12.5", None, 12.5), model)
    assert not check_entry((float("inf"), None, None), model)
    assert not check_entry((12.5, {"a": 1.0}, 12.5), model)


def test_integer_classes_accept_only_integers() -> None:
    model = _Model([np.int64(0), np.int64(1)])
    assert check_entry((1, {"0": 0.4, "1": 0.6}, 0.6), model)
    assert not check_entry(("1", {"0": 0.4, "1": 0.6}, 0.6), model)
    assert not check_entry((True, {"0": 0.4, "1": 0.6}, 0.6), model)


def test_the_memory_cache_turns_a_bad_entry_into_a_counted_miss() -> None:
    counted: list[int] = []
    cache = MemoryCache(10, on_reject=counted.append)

    async def scenario() -> list:
        await cache.set_many([("good", GOOD), ("bad", ("Maybe", None, 0.5))])
        return await cache.get_many(["good", "bad", "absent"], BINARY)

    assert asyncio.run(scenario()) == [GOOD, None, None]
    assert counted == [1] and cache.rejected == 1
