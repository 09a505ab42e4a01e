"""Prediction cache: rows already scored by THIS model version are answered from it.

The key is the SHA-256 digest of the model version's files (not just its number, so
a re-registered or swapped model can never hit another's entries) and of the row's
canonical content (the model's input columns only, keys sorted). Two backends: an
in-process LRU per worker, or Redis shared by every worker (entries expire).
A cache that fails (Redis down, an entry that cannot be read) is skipped, never an
error: the row is scored. An entry is checked against the model on every read
(:func:`check_entry`): one this model could not have given (a label that is not one
of its classes, probabilities outside [0, 1] or not summing to 1, the wrong classes,
a wrong type, bytes that are not JSON) is a miss, counted (``on_reject``), and the
fresh answer overwrites it.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

Entry = tuple[Any, dict[str, float] | None, float | None]  # prediction, probabilities, score
Reject = Callable[[int], None]  # told how many entries a read rejected

PROBABILITY_SUM_TOLERANCE = 1e-6
LABEL_TYPES = (str, int, float, bool)


def check_entry(entry: Any, model: Any) -> bool:
    """Whether a cached entry is an answer ``model`` could have given.

    ``model`` is a :class:`~mlctl.serve.model.ServedModel` (its ``classes`` and the
    labels of its probabilities)."""
    if not isinstance(entry, tuple | list) or len(entry) != 3:
        return False
    prediction, probabilities, score = entry
    if score is not None and not _finite(score):
        return False
    classes = model.classes
    if not classes:  # regression: a number, no probabilities
        return _finite(prediction) and probabilities is None
    if not isinstance(prediction, LABEL_TYPES) or not any(_same(prediction, c) for c in classes):
        return False
    if score is not None and not 0.0 <= score <= 1.0:
        return False
    return probabilities is None or _valid_probabilities(probabilities, model._labels)


def _valid_probabilities(probabilities: Any, labels: Sequence[str]) -> bool:
    if not isinstance(probabilities, dict) or sorted(probabilities) != sorted(labels):
        return False
    values = list(probabilities.values())
    if not all(_finite(v) and 0.0 <= v <= 1.0 for v in values):
        return False
    return abs(math.fsum(values) - 1.0) <= PROBABILITY_SUM_TOLERANCE * max(1, len(values))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _same(value: Any, cls: Any) -> bool:
    """A cached label equals a class (JSON keeps str, int, float and bool apart)."""
    plain = cls.item() if hasattr(cls, "item") else cls
    return type(value) is type(plain) and value == plain


def row_key(model_digest: str, row: dict[str, Any], columns: Sequence[str]) -> str:
    """Cache key of a row for one model version."""
    canonical = json.dumps(
        [row.get(c) for c in columns], separators=(",", ":"), default=str, allow_nan=True
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"mlctl:{model_digest[:24]}:{digest}"


class MemoryCache:
    """Least-recently-used entries of this process, at most ``size``."""

    def __init__(self, size: int, on_reject: Reject | None = None) -> None:
        self.size = size
        self.on_reject = on_reject
        self.rejected = 0
        self._data: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    async def get_many(self, keys: Sequence[str], model: Any = None) -> list[Entry | None]:
        out: list[Entry | None] = []
        with self._lock:
            for key in keys:
                hit = self._data.get(key)
                if hit is not None:
                    self._data.move_to_end(key)
                out.append(hit)
        return _checked(self, out, model)

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

    def __init__(self, url: str, ttl: int, on_reject: Reject | None = None) -> None:
        import redis.asyncio as redis

        self.url = url
        self.ttl = ttl
        self.on_reject = on_reject
        self.rejected = 0
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

    async def get_many(self, keys: Sequence[str], model: Any = None) -> list[Entry | None]:
        if self._skipping():
            return [None] * len(keys)
        try:
            raw = await self.client.mget(list(keys))
        except Exception:
            self._failed()
            return [None] * len(keys)
        self._worked()
        entries: list[Entry | None] = []
        undecodable = 0
        for r in raw:
            entry = None if r is None else _decode(r)
            undecodable += r is not None and entry is None
            entries.append(entry)
        if undecodable:
            _rejected(self, undecodable)
        return _checked(self, entries, model)

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


def _checked(cache: Any, entries: list[Entry | None], model: Any) -> list[Entry | None]:
    """Entries ``model`` could have given; the others are misses, counted."""
    if model is None:
        return entries
    bad = 0
    for i, entry in enumerate(entries):
        if entry is not None and not check_entry(entry, model):
            entries[i] = None
            bad += 1
    if bad:
        _rejected(cache, bad)
    return entries


def _rejected(cache: Any, n: int) -> None:
    cache.rejected += n
    if cache.on_reject is not None:
        cache.on_reject(n)


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
    if score is not None and not _finite(score):
        return None
    return prediction, probabilities, score


def make_cache(settings: Any, metrics: Any = None) -> MemoryCache | RedisCache | None:
    """The cache a ``deploy.serve.cache`` section asks for, or None. With ``metrics``
    (:class:`~mlctl.serve.metrics.Metrics`), rejected entries are counted there."""
    on_reject = None if metrics is None else metrics.cache_rejected.inc
    if settings.backend == "memory":
        return MemoryCache(settings.size, on_reject)
    if settings.backend == "redis":
        url = settings.url or "redis://127.0.0.1:6379/0"
        return RedisCache(url, settings.ttl_seconds, on_reject)
    return None
