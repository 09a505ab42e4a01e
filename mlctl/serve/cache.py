"""Prediction cache: rows already scored by THIS model version are answered from it.

The key is the SHA-256 digest of the model version's files (not just its number, so
a re-registered or swapped model can never hit another's entries) and of the row's
canonical content (the model's input columns only, keys sorted). Two backends: an
in-process LRU per worker, or Redis shared by every worker (entries expire).
A cache that fails (Redis down, an entry that cannot be read) is skipped, never an
error: the row is scored.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

Entry = tuple[Any, dict[str, float] | None, float | None]  # prediction, probabilities, score


def row_key(model_digest: str, row: dict[str, Any], columns: Sequence[str]) -> str:
    """Cache key of a row for one model version."""
    canonical = json.dumps(
        [row.get(c) for c in columns], separators=(",", ":"), default=str, allow_nan=True
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"mlctl:{model_digest[:24]}:{digest}"


class MemoryCache:
    """Least-recently-used entries of this process, at most ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        out: list[Entry | None] = []
        with self._lock:
            for key in keys:
                hit = self._data.get(key)
                if hit is not None:
                    self._data.move_to_end(key)
                out.append(hit)
        return out

    async def set_many(self, items: Sequence[tuple[str, Entry]]) -> None:
        with self._lock:
            for key, value in items:
                self._data[key] = value
                self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    """Entries in Redis, shared by every worker, expiring after ``ttl`` seconds.

    Redis is an optimisation, never a dependency: any error or timeout (0.5 s) reads as
    a miss. After an error the cache is skipped for a while (1 s, doubling up to 30 s
    while errors go on, reset by a success), so a hung or unreachable Redis costs a
    request at most one timeout per back-off period, not one per request.
    """

    BACKOFF_FIRST = 1.0
    BACKOFF_MAX = 30.0

    def __init__(self, url: str, ttl: int) -> None:
        import redis.asyncio as redis

        self.url = url
        self.ttl = ttl
        self.client = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.errors = 0
        self.skipped = 0  # calls answered without Redis during a back-off
        self._backoff = 0.0
        self._skip_until = 0.0

    def _skipping(self) -> bool:
        if time.monotonic() < self._skip_until:
            self.skipped += 1
            return True
        return False

    def _failed(self) -> None:
        self.errors += 1
        self._backoff = min(self.BACKOFF_MAX, max(self.BACKOFF_FIRST, self._backoff * 2))
        self._skip_until = time.monotonic() + self._backoff

    def _worked(self) -> None:
        self._backoff = 0.0

    async def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        if self._skipping():
            return [None] * len(keys)
        try:
            raw = await self.client.mget(list(keys))
        except Exception:
            self._failed()
            return [None] * len(keys)
        self._worked()
        entries: list[Entry | None] = []
        for r in raw:
            entry = None if r is None else _decode(r)
            self.errors += r is not None and entry is None
            entries.append(entry)
        return entries

    async def set_many(self, items: Sequence[tuple[str, Entry]]) -> None:
        if self._skipping():
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, json.dumps(value, default=str), ex=self.ttl)
            await pipe.execute()
        except Exception:
            self._failed()
            return
        self._worked()

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


def _decode(raw: bytes) -> Entry | None:
    """A stored entry, or None (a miss) for a value that is not one (written by
    something else, or damaged): it is scored again and overwritten, never an error."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(value, list) or len(value) != 3:
        return None
    prediction, probabilities, score = value
    if probabilities is not None and not isinstance(probabilities, dict):
        return None
    if score is not None and not isinstance(score, (int, float)):
        return None
    return prediction, probabilities, score


def make_cache(settings: Any) -> MemoryCache | RedisCache | None:
    """The cache a ``deploy.serve.cache`` section asks for, or None."""
    if settings.backend == "memory":
        return MemoryCache(settings.size)
    if settings.backend == "redis":
        return RedisCache(settings.url or "redis://127.0.0.1:6379/0", settings.ttl_seconds)
    return None
