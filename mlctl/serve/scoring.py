"""Scoring one request in ``mlctl serve``: the cache, the batcher, the prediction log
and the ``Idempotency-Key`` rule, shared by every protocol's route.

A 2xx is only sent once the rows are committed to the log; every failure is an
:class:`~mlctl.serve.responses.ApiError` (503 overloaded/timeout/log, 409 key
conflict, 422 rows the model cannot score).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from typing import Any

from mlctl.predlog import LogUnavailable, rows_for, shadow_id
from mlctl.predlog.schema import failure_row
from mlctl.serve import idempotency
from mlctl.serve.batcher import Overloaded
from mlctl.serve.cache import row_key
from mlctl.serve.idempotency import Answer, KeyConflict
from mlctl.serve.inputs import Columns
from mlctl.serve.model import Scored
from mlctl.serve.responses import ApiError, unavailable
from mlctl.serve.state import ServeState, Slot


async def score(
    state: ServeState,
    batch: Columns,
    records: list[dict[str, Any]],
    route: str,
    idempotency_key: str | None = None,
) -> Answer:
    """Score, log and wait for the commit; returns what the response needs.

    With an ``Idempotency-Key`` the request id is derived from the key: a retry gets the
    answer logged the first time, other rows under the key a 409 (see
    :mod:`mlctl.serve.idempotency`)."""
    if state.champion is None:
        raise unavailable(state)
    if idempotency_key is None:
        return await _fresh(state, batch, records, new_request_id())
    return await _idempotent(state, batch, records, idempotency_key)


ID_BYTES = 16  # 128 random bits, as many as a UUID's 122 and more
_ids = bytearray()  # random bytes for the next ids of this process
_ids_pid = -1


def new_request_id() -> str:
    """32 hex digits from the operating system's random source (as ``uuid4``).

    ``os.urandom`` is a system call; for a one-row request it was 4 % of the server's
    time, so it is read for 256 ids at a time. A process that was forked reads its own
    (``pid`` changed): two processes never share the bytes. Called on the event loop's
    thread only."""
    global _ids_pid
    if len(_ids) < ID_BYTES or _ids_pid != os.getpid():
        _ids[:] = os.urandom(ID_BYTES * 256)
        _ids_pid = os.getpid()
    raw = bytes(_ids[-ID_BYTES:])
    del _ids[-ID_BYTES:]
    return raw.hex()


async def _idempotent(
    state: ServeState, batch: Columns, records: list[dict[str, Any]], key: str
) -> Answer:
    request_id = _request_id(state, key)
    probe = idempotency.probe_ids(request_id, batch.rows)
    first = idempotency.digest(records)
    claimed = await _log_call(state, state.log.claim, request_id, first)
    stored = await _log_call(state, state.log.stored, probe)
    same = idempotency.matches(stored, records)
    if claimed != first or same is False:
        raise ApiError(409, "IDEMPOTENCY_CONFLICT", str(KeyConflict(key)), [{"key": key}])
    if same is None:
        fresh = await _fresh(state, batch, records, request_id)
        # A twin request (same key, same rows) may have committed first: answer what
        # the log holds, so that every 2xx under the key is the logged answer.
        stored = await _log_call(state, state.log.stored, probe)
        if idempotency.matches(stored, records) is not True:
            return fresh
    return idempotency.replay(stored, batch.rows, _classes_of(state, stored[0][4]))


async def _log_call(state: ServeState, fn: Any, *args: Any) -> Any:
    """A read or claim on the log's connection, off the event loop, within the request
    timeout; a failure is a 503 like a failed commit."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(state.settings.request_timeout_seconds):
            return await loop.run_in_executor(None, fn, *args)
    except TimeoutError:
        raise _log_unavailable(state, 0, "the prediction log did not answer in time") from None
    except LogUnavailable as exc:
        raise _log_unavailable(state, 0, str(exc)) from None


def _classes_of(state: ServeState, version: Any) -> list[Any]:
    """The classes of the served version that logged a replayed answer (else the
    champion's: a model name keeps its task)."""
    for slot in (state.challenger, state.champion):
        if slot is not None and str(slot.model.version) == str(version):
            return slot.model.classes
    return state.champion.model.classes if state.champion is not None else []


async def _fresh(
    state: ServeState, batch: Columns, records: list[dict[str, Any]], request_id: str
) -> Answer:
    """Score with the model and commit the rows to the log under ``request_id``; a
    request that fails once its variant is chosen (a 5xx, a 422 UNSCORABLE_INPUT) is
    recorded in the log's ``failures`` (what the rollout's error-rate guard counts),
    except when the log itself failed (503 LOG_UNAVAILABLE)."""
    started = time.perf_counter()
    slot, variant = state.choose(batch, records)
    try:
        return await _answer(state, batch, records, request_id, slot, variant, started)
    except ApiError as exc:
        # A log that cannot be written is not the variant's failure (and the row would
        # not be written either).
        if exc.code != "LOG_UNAVAILABLE" and (exc.status >= 500 or exc.code == "UNSCORABLE_INPUT"):
            _record_failure(state, request_id, slot, variant, exc.status, exc.code, batch, started)
        raise
    except Exception:  # answered 500 by the app's handler
        _record_failure(state, request_id, slot, variant, 500, "INTERNAL", batch, started)
        raise


def _record_failure(
    state: ServeState,
    request_id: str,
    slot: Slot,
    variant: str,
    status: int,
    code: str,
    batch: Columns,
    started: float,
) -> None:
    """Fire and forget through the log's writer thread; never changes the answer."""
    with contextlib.suppress(Exception):
        model = slot.model
        latency_ms = (time.perf_counter() - started) * 1000
        row = failure_row(
            request_id,
            time.time(),
            model.name,
            model.version,
            variant,
            status,
            code,
            batch.rows,
            latency_ms,
        )
        state.log.record_failure(row)


async def _answer(
    state: ServeState,
    batch: Columns,
    records: list[dict[str, Any]],
    request_id: str,
    slot: Slot,
    variant: str,
    started: float,
) -> Answer:
    timeout = state.settings.request_timeout_seconds
    phase = "score"
    # One deadline for scoring and the log commit together: a timer per phase (or
    # wait_for's extra task) was ~7 % of the event loop's time under load.
    try:
        async with asyncio.timeout(timeout):
            scored = await _cached_or_scored(state, slot, batch, records)
            phase = "log"
            ids = [f"{request_id}-{i}" for i in range(batch.rows)]
            now = time.time()
            latency_ms = (time.perf_counter() - started) * 1000
            model = slot.model
            rows = rows_for(
                ids,
                request_id,
                now,
                model.name,
                model.version,
                variant,
                records,
                scored.predictions,
                scored.scores,
                scored.probabilities,
                latency_ms,
            )
            state.metrics.log_queue.inc()
            try:
                await state.log.write_async(rows)
            finally:
                state.metrics.log_queue.dec()
    except Overloaded as exc:
        state.metrics.rows_dropped.labels("overload").inc(batch.rows)
        raise ApiError(
            503, "OVERLOADED", f"overloaded: {exc}", headers={"Retry-After": "1"}
        ) from None
    except TimeoutError:
        if phase == "score":
            state.metrics.rows_dropped.labels("timeout").inc(batch.rows)
            raise ApiError(503, "TIMEOUT", f"scoring took longer than {timeout} s") from None
        message = "the prediction log did not commit in time"
        raise _log_unavailable(state, batch.rows, message) from None
    except LogUnavailable as exc:
        message = str(exc) or "the prediction log is not writable"
        raise _log_unavailable(state, batch.rows, message) from None
    except (ValueError, ArithmeticError) as exc:
        if phase != "score":
            raise
        # The model scored its smoke rows, so a failure on checked rows comes from their
        # values, e.g. numbers whose derived features overflow to infinity.
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise ApiError(
            422, "UNSCORABLE_INPUT", f"the model cannot score these rows: {first}"
        ) from None
    state.metrics.predicted(
        model.version, variant, scored.predictions, bool(model.classes), scored.scores
    )
    if state.settings.traffic.shadow and state.challenger is not None and variant == "champion":
        asyncio.get_running_loop().create_task(_shadow(state, batch, records, request_id))
    return Answer(
        model.name,
        model.version,
        variant,
        model.classes,
        scored.predictions,
        scored.probabilities,
        ids,
        request_id,
        now,
    )


def _request_id(state: ServeState, idempotency_key: str) -> str:
    key = f"{state.model_name}\0{idempotency_key}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def _log_unavailable(state: ServeState, rows: int, message: str) -> ApiError:
    state.metrics.log_failed.inc(rows)
    return ApiError(503, "LOG_UNAVAILABLE", message, headers={"Retry-After": "2"})


async def _cached_or_scored(
    state: ServeState, slot: Slot, batch: Columns, records: list[dict[str, Any]]
) -> Scored:
    """Rows this model version scored before come from the cache; the rest are scored."""
    cache = state.cache
    if cache is None:
        return await slot.batcher.submit(batch)
    names = [c.name for c in slot.model.columns]
    keys = [row_key(slot.model.digest, r if isinstance(r, dict) else {}, names) for r in records]
    hits = await cache.get_many(keys, slot.model)  # entries it could not give: misses
    missing = [i for i, hit in enumerate(hits) if hit is None]
    if len(missing) < len(keys):
        state.metrics.cache_hits.inc(len(keys) - len(missing))
    fresh = await slot.batcher.submit(_select(batch, missing)) if missing else None
    if fresh is not None and len(missing) == len(keys):
        await cache.set_many([(keys[i], _entry(fresh, j)) for j, i in enumerate(missing)])
        return fresh
    entries: list[Any] = list(hits)
    if fresh is not None:
        new = [(keys[i], _entry(fresh, j)) for j, i in enumerate(missing)]
        for (_, entry), i in zip(new, missing, strict=True):
            entries[i] = entry
        await cache.set_many(new)
    with_proba = any(e[1] is not None for e in entries)
    return Scored(
        [e[0] for e in entries],
        [e[1] for e in entries] if with_proba else None,
        [e[2] for e in entries],
    )


def _entry(scored: Scored, i: int) -> tuple[Any, Any, Any]:
    proba = None if scored.probabilities is None else scored.probabilities[i]
    return (scored.predictions[i], proba, scored.scores[i])


def _select(batch: Columns, rows: list[int]) -> Columns:
    if len(rows) == batch.rows:
        return batch
    values = {name: [col[i] for i in rows] for name, col in batch.values.items()}
    ids = [batch.ids[i] for i in rows] if batch.ids else []
    return Columns(batch.names, values, batch.numeric, len(rows), ids)


async def _shadow(
    state: ServeState, batch: Columns, records: list[dict[str, Any]], request_id: str
) -> None:
    """The challenger scores the same rows silently; its rows are logged as 'shadow'."""
    slot = state.challenger
    if slot is None:
        return
    with contextlib.suppress(Exception):
        scored = await slot.batcher.submit(batch)
        ids = [shadow_id(f"{request_id}-{i}") for i in range(batch.rows)]
        rows = rows_for(
            ids,
            request_id,
            time.time(),
            slot.model.name,
            slot.model.version,
            "shadow",
            records,
            scored.predictions,
            scored.scores,
            scored.probabilities,
            0.0,
        )
        await state.log.write_async(rows)
