"""The load itself: closed-loop clients or an open-loop fixed rate, measured into an
HDR histogram (``hdrhistogram``, the Python port of Gil Tene's HdrHistogram that wrk
uses too: 3 significant digits from 1 µs to 60 s, constant memory).

- **Closed loop** (``clients``): N connections, each sends its next request when the
  answer to the last came; latency is from the write to the whole answer (as wrk).
- **Open loop** (``rate``): request *i* is due at ``start + i / rate`` whatever the
  server does; up to ``connections`` are in flight, the rest wait in the generator.
  Latency is from the due time, so a server that stalls is charged for every request
  it held up (no coordinated omission, as wrk2 does), not only for the one it was
  answering.

The run always ends: no request starts after ``duration``; what is still unanswered
``grace`` seconds later is counted as ``unfinished`` (open loop: never sent ones as
``not sent``). ``stop`` (an :class:`asyncio.Event` set by Ctrl-C) ends it early with what
was measured so far. Runs on uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from mlctl.loadtest.http import Connection, NoAnswer, Target, connect

LOWEST_US, HIGHEST_US, DIGITS = 1, 60_000_000, 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0)
LEAD = 0.001  # open loop: a request may leave this much before its due time


@dataclass(frozen=True)
class Plan:
    """What to send and how: the requests (pre-encoded), the mode and its bounds."""

    requests: list[bytes]
    rows_per_request: int
    duration: float
    clients: int | None = None  # closed loop
    rate: float | None = None  # open loop, requests per second
    connections: int = 32  # open loop: most requests in flight
    timeout: float = 5.0  # one request; also the grace after the duration

    @property
    def mode(self) -> str:
        return "open" if self.rate else "closed"


@dataclass
class Measurement:
    """What the run measured (latencies in microseconds)."""

    histogram: HdrHistogram = field(
        default_factory=lambda: HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)
    )
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    scheduled: int = 0  # open loop: requests whose due time came
    sent: int = 0  # requests tried (a refused connection included)
    started: float = 0.0  # perf_counter
    last_answer: float = 0.0
    elapsed: float = 0.0  # seconds the load ran (start to the last answer)
    cpu_seconds: float = 0.0  # the generator's own CPU time during the run
    interrupted: bool = False

    def record(self, status: int, latency_ns: int, now: float) -> None:
        self.histogram.record_value(min(max(latency_ns // 1000, LOWEST_US), HIGHEST_US))
        self.statuses[status] += 1
        self.last_answer = now

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())


def run(plan: Plan, target: Target, on_tick: Callable[[Measurement], None] | None = None):
    """Run the plan against ``target`` in a fresh event loop; Ctrl-C/SIGTERM end it early
    (``interrupted``) with the partial measurement."""
    runner_kwargs: dict[str, Any] = {}
    with contextlib.suppress(ImportError):
        import uvloop

        runner_kwargs["loop_factory"] = uvloop.new_event_loop
    with asyncio.Runner(**runner_kwargs) as runner:
        return runner.run(_main(plan, target, on_tick))


async def _main(plan: Plan, target: Target, on_tick) -> Measurement:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    before = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            before[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, stop.set)
    try:
        return await measure(plan, target, stop, on_tick)
    finally:
        for sig, handler in before.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)  # the command's own handling again


async def measure(plan: Plan, target: Target, stop: asyncio.Event, on_tick=None) -> Measurement:
    """The run in the running loop (tests call it directly)."""
    m = Measurement()
    cpu0 = time.process_time()
    m.started = m.last_answer = time.perf_counter()
    end = m.started + plan.duration
    bodies = itertools.cycle(plan.requests)
    schedule = None
    if plan.rate:
        schedule = _Schedule(plan.rate, m, end, stop)
        schedule.start()
        n = plan.connections
        clients = [_open_client(plan, target, bodies, schedule, stop, m) for _ in range(n)]
    else:
        n = plan.clients or 1
        clients = [_closed_client(plan, target, bodies, end, stop, m) for _ in range(n)]
    tasks = [asyncio.ensure_future(c) for c in clients]
    extra = [asyncio.ensure_future(stop.wait())]
    if on_tick is not None:
        extra.append(asyncio.ensure_future(_tick(m, on_tick)))
    finished = asyncio.ensure_future(asyncio.wait(tasks))
    try:
        # every client ends by itself at `end` (plus its last answer, bounded by the
        # request timeout); a stop (Ctrl-C) ends the wait early
        await asyncio.wait(
            [finished, extra[0]],
            timeout=plan.duration + plan.timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        m.interrupted = stop.is_set()
        stop.set()  # nothing new starts from here
        if schedule is not None:
            schedule.close()
        if not finished.done():
            await asyncio.wait([finished], timeout=1.0 if m.interrupted else plan.timeout)
    finally:
        if schedule is not None:
            schedule.close()
        leftovers = [t for t in (*tasks, *extra, finished) if not t.done()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
    # every request sent was answered, failed, or is still out
    _count(m.failures, "unfinished", m.sent - m.answered - sum(m.failures.values()))
    if plan.rate:
        _count(m.failures, "not sent", m.scheduled - m.sent)
    ended = m.last_answer if m.answered else time.perf_counter()
    m.elapsed = max(ended - m.started, 1e-9)
    m.cpu_seconds = time.process_time() - cpu0
    return m


def _count(counter: collections.Counter[str], key: str, n: int) -> None:
    if n > 0:
        counter[key] += n


async def _tick(m: Measurement, on_tick) -> None:
    while True:
        await asyncio.sleep(0.5)
        on_tick(m)


async def _exchange(
    conn: Connection | None, plan: Plan, target: Target, request: bytes, m: Measurement
) -> tuple[Connection | None, int | None]:
    """Send one request (connecting first when needed); the status or None (counted)."""
    m.sent += 1
    try:
        if conn is None or not conn.open:
            conn = await connect(target, plan.timeout)
        return conn, await conn.send(request)
    except NoAnswer as exc:
        m.failures[exc.kind] += 1
        if exc.kind == "connection refused":
            await asyncio.sleep(0.05)  # no busy loop against a closed port
        return None, None


async def _closed_client(plan, target, bodies, end, stop, m: Measurement) -> None:
    conn = None
    perf, perf_ns = time.perf_counter, time.perf_counter_ns
    try:
        while not stop.is_set() and perf() < end:
            t0 = perf_ns()
            conn, status = await _exchange(conn, plan, target, next(bodies), m)
            if status is not None:
                m.record(status, perf_ns() - t0, perf())
    finally:
        if conn is not None:
            conn.close()


class _Schedule:
    """The open loop's clock: a loop timer hands each due time (perf_counter seconds)
    to an idle client when it comes, up to :data:`LEAD` early (the loop's timers wake
    up to a millisecond late), or keeps it until a client is free. A timer callback
    and a future per request: no queue, no task of its own."""

    def __init__(self, rate: float, m: Measurement, end: float, stop: asyncio.Event) -> None:
        self.interval = 1.0 / rate
        self.m, self.end, self.stop = m, end, stop
        self.backlog: collections.deque[float] = collections.deque()
        self.idle: collections.deque[asyncio.Future[float | None]] = collections.deque()
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._fire()

    def _fire(self) -> None:
        m, perf = self.m, time.perf_counter
        due = m.started + m.scheduled * self.interval
        horizon = perf() + LEAD
        while due <= horizon and due < self.end:
            self._hand(due)
            m.scheduled += 1
            due = m.started + m.scheduled * self.interval
        if due >= self.end or self.stop.is_set():
            self.close()
            return
        # never under a millisecond: libuv rounds a shorter timer down to 0 ms, and the
        # clock would spin until the due time (measured: 20 wake-ups per request)
        delay = max(due - LEAD - perf(), 0.001)
        self.timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _hand(self, due: float) -> None:
        while self.idle:
            waiter = self.idle.pop()  # the client idle the shortest: few busy connections
            if not waiter.done():
                waiter.set_result(due)
                return
        self.backlog.append(due)

    def close(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        while self.idle:
            waiter = self.idle.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def next(self) -> float | None:
        """The next due time for a free client; None when the schedule is over."""
        if self.backlog:
            return self.backlog.popleft()
        if self.closed:
            return None
        waiter = asyncio.get_running_loop().create_future()
        self.idle.append(waiter)
        return await waiter


async def _open_client(plan, target, bodies, schedule: _Schedule, stop, m: Measurement) -> None:
    conn = None
    perf, perf_ns = time.perf_counter, time.perf_counter_ns
    try:
        while not stop.is_set():
            due = await schedule.next()
            if due is None:
                return
            # from the due time, or from the send when it went out early
            start_ns = min(int(due * 1e9), perf_ns())
            conn, status = await _exchange(conn, plan, target, next(bodies), m)
            if status is not None:
                m.record(status, perf_ns() - start_ns, perf())
    finally:
        if conn is not None:
            conn.close()


def percentiles(m: Measurement) -> dict[str, float | None]:
    """p50/p90/p95/p99, max and mean in milliseconds (None with no answer)."""
    h = m.histogram
    if h.get_total_count() == 0:
        return {f"p{p:g}_ms": None for p in PERCENTILES} | {"max_ms": None, "mean_ms": None}
    out: dict[str, float | None] = {
        f"p{p:g}_ms": h.get_value_at_percentile(p) / 1000 for p in PERCENTILES
    }
    out["max_ms"] = h.get_max_value() / 1000
    out["mean_ms"] = h.get_mean_value() / 1000
    return out
