"""Where work runs: this machine, or a Dask cluster, behind one small interface.

:func:`open_session` reads a recipe's ``compute`` section. For ``backend: local`` it
starts nothing and its session runs work in this process (sklearn's searches keep
their own worker processes). For ``backend: dask`` it connects a
``distributed.Client`` to ``address`` (failing within ``connect_timeout`` with a
:class:`~mlctl.errors.ComputeError` naming the address) or starts a ``LocalCluster``
of worker processes on 127.0.0.1, and always closes what it started. While a Dask
session is open, joblib's Dask backend is active, so every ``n_jobs`` search of
scikit-learn runs its fits on the cluster.

Distributed logs to stderr by default; a session silences it unless ``verbose``
(or the user asked for Dask's logs with ``DASK_LOGGING__DISTRIBUTED``). Nothing here
prints: the session reports what it started or connected to through ``on_event``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mlctl.compute.settings import (
    LOCAL_START_TIMEOUT,
    local_cluster_size,
    usable_cores,
)
from mlctl.errors import ComputeError
from mlctl.recipe.forms import address_problem
from mlctl.recipe.schema import Compute
from mlctl.text import first_line

EventFn = Callable[[str, dict[str, Any]], None]
#: Loggers that distributed (and tornado, under it) configure to write to stderr.
NOISY_LOGGERS = ("distributed", "tornado", "bokeh")


class LocalSession:
    """Work runs in this process; nothing to start or close."""

    backend = "local"

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or usable_cores()

    def share(self, value: Any) -> Any:
        """``value`` itself: a local call needs no copy."""
        return value

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, here and now."""
        return fn(*args)

    def info(self) -> dict[str, Any] | None:
        return None


class EventChannel:
    """Small messages from tasks on Dask workers to a handler in this process.

    A copy sent to a worker (pickled) publishes each message with
    ``Worker.log_event`` on a topic the client subscribes to; the original, used in
    this process, calls the handler directly. Best effort: ``put`` never raises and
    never blocks on the network, so progress reporting cannot fail or hang a task.
    """

    def __init__(self, topic: str, handler: Callable[[Any], None] | None = None) -> None:
        self.topic = topic
        self._handler = handler

    def __getstate__(self) -> dict[str, Any]:
        return {"topic": self.topic}  # the handler stays in this process

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.topic = state["topic"]
        self._handler = None

    def put(self, message: Any) -> None:
        with contextlib.suppress(Exception):
            if self._handler is not None:
                self._handler(message)
                return
            from distributed import get_worker

            get_worker().log_event(self.topic, message)


class DaskSession:
    """A connected ``distributed.Client``; see the module docstring."""

    backend = "dask"

    def __init__(self, client: Any, started_cluster: bool) -> None:
        self.client = client
        self.started_cluster = started_cluster
        self.address = client.scheduler.address

    @property
    def workers(self) -> int:
        return len(self.client.nthreads())

    @property
    def cores(self) -> int:
        """Threads over all workers: how many tasks run at once."""
        return max(1, sum(self.client.nthreads().values()))

    def share(self, value: Any) -> Any:
        """A future of ``value`` copied once to every worker; pass it to :meth:`call`."""
        return self.client.scatter(value, broadcast=True, hash=False)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on a worker; futures among ``args`` are their values there."""
        return self.client.submit(fn, *args, pure=False).result()

    @contextlib.contextmanager
    def channel(self, handler: Callable[[Any], None]) -> Iterator[EventChannel]:
        """An :class:`EventChannel` whose messages reach ``handler`` (in the client's thread)."""
        topic = f"mlctl-{uuid.uuid4().hex}"

        def deliver(event: tuple[float, Any]) -> None:
            with contextlib.suppress(Exception):
                handler(event[1])

        self.client.subscribe_topic(topic, deliver)
        try:
            yield EventChannel(topic, handler)
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(topic)

    def map_in_order(
        self,
        read: Callable[[Any], Any],
        parts: Sequence[Any],
        work: Callable[[Any, Any], Any],
        shared: Any,
        window: int | None = None,
    ) -> Iterator[Any]:
        """``work(shared, read(part))`` for every part, on the workers; results in order.

        The parts are the partitions of one ``dask.dataframe`` collection
        (``dask.dataframe.from_map(read, parts)``), read on the workers. ``shared``
        (e.g. a model) is copied once to each worker, not once per part. At most
        ``window`` parts (default twice the cluster's threads) are in flight, and the
        results are consumed in order, so memory stays bounded whatever the number of
        parts. Close the iterator (``contextlib.closing``) to cancel what is in flight.

        Raises:
            ComputeError: the cluster failed (a worker died, the scheduler went away).
            Any exception ``read`` or ``work`` raised, as it was raised.
        """
        if not parts:
            return
        import dask
        import dask.dataframe as dd
        import pandas as pd

        # No dtype enforcement: each partition keeps the types its own rows give it.
        frames = dd.from_map(
            read, list(parts), meta=pd.DataFrame(), enforce_metadata=False, label="mlctl-read"
        ).to_delayed()
        limit = max(1, window or 2 * self.cores)
        task = dask.delayed(work, pure=False)
        remote = self.share(shared)
        pending: deque[Any] = deque()
        todo = iter(frames)

        def submit() -> None:
            frame = next(todo, None)
            if frame is not None:
                pending.append(self.client.compute(task(remote, frame)))

        try:
            for _ in range(limit):
                submit()
            done = 0
            while pending:
                future = pending.popleft()
                result = _result(future, f"partition {done + 1} of {len(frames)}")
                future.release()
                done += 1
                submit()
                yield result
        finally:
            for future in pending:
                future.cancel()
            remote.release()

    def info(self) -> dict[str, Any]:
        """JSON-ready description of the cluster, for summaries."""
        return {
            "address": self.address,
            "workers": self.workers,
            "threads": self.cores,
            "started_by_mlctl": self.started_cluster,
        }

    def describe(self) -> str:
        threads = self.client.nthreads().values()
        if self.started_cluster:
            per = max(threads, default=1)
            return (
                f"dask: started a LocalCluster at {self.address} ({self.workers} worker "
                f"processes × {per} thread{'s' if per != 1 else ''})"
            )
        return f"dask: connected to {self.address} ({self.workers} workers, {self.cores} threads)"


Session = LocalSession | DaskSession


def _result(future: Any, what: str) -> Any:
    """A future's result; the cluster's own failures become a ComputeError."""
    try:
        return future.result()
    except Exception as exc:
        module = type(exc).__module__ or ""
        if module.startswith(("distributed", "tornado")) or isinstance(exc, OSError):
            raise ComputeError(
                f"the Dask cluster failed on {what}: {type(exc).__name__}: {_first_line(exc)}",
                hint="a worker may have run out of memory; try a smaller --chunk-size",
            ) from None
        raise


@contextlib.contextmanager
def open_session(
    spec: Compute,
    on_event: EventFn | None = None,
    *,
    verbose: bool = False,
    preload: Sequence[str] = (),
) -> Iterator[Session]:
    """The session a ``compute`` section asks for; see the module docstring.

    ``preload`` names modules the workers will need (scikit-learn, mlctl's
    transformers): they start importing them at once, in the background, while this
    process goes on (a fresh worker otherwise spends seconds importing on its first task).

    Raises:
        ComputeError: the scheduler at ``spec.address`` does not answer within
            ``spec.connect_timeout`` (the message names the address), has no worker,
            or a LocalCluster cannot be started.
    """
    if spec.backend == "local":
        yield LocalSession()
        return
    import joblib

    emit = on_event or (lambda kind, data: None)
    verbose = verbose or "DASK_LOGGING__DISTRIBUTED" in os.environ
    with _quiet(not verbose):
        cluster = None
        if spec.address:
            client = _connect(spec.address, spec.connect_timeout)
        else:
            cluster, client = _start_local(spec, verbose)
        try:
            if preload:
                with contextlib.suppress(Exception):  # only an optimisation
                    client.run(_import_modules, list(preload), wait=False)
            session = DaskSession(client, started_cluster=cluster is not None)
            emit("stage", {"message": session.describe()})
            with joblib.parallel_config(backend="dask"):
                yield session
        finally:
            _close(client, cluster)


CONNECT_HINT = (
    "check compute.address (or --address) and that a scheduler runs there "
    "(`dask scheduler`); leave the address out to start a local cluster"
)


def preflight(spec: Compute) -> None:
    """Fail at once, before a command starts anything (an MLflow run, a cluster), when
    ``spec.address`` is malformed or accepts no connection.

    Raises:
        ComputeError: naming the address.
    """
    if spec.backend == "dask" and spec.address:
        _reach(spec.address, spec.connect_timeout)


def _reach(address: str, timeout: float) -> None:
    problem = address_problem(address)
    if problem:
        raise ComputeError(problem)
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    try:  # a plain TCP connect: a closed port fails at once, not after retries
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            pass
    except OSError as exc:
        raise ComputeError(
            f"cannot reach the Dask scheduler at {address}: {_socket_reason(exc, timeout)}",
            hint=CONNECT_HINT,
        ) from None


def _connect(address: str, timeout: float) -> Any:
    """A client of the scheduler at ``address`` with at least one worker, or a ComputeError."""
    started = time.monotonic()
    hint = CONNECT_HINT
    _reach(address, timeout)
    from distributed import Client

    remaining = max(1.0, timeout - (time.monotonic() - started))
    try:
        client = Client(address, timeout=remaining, set_as_default=True)
    except Exception as exc:  # OSError, TimeoutError, handshake and protocol errors
        raise ComputeError(
            f"cannot connect to the Dask scheduler at {address}: {_first_line(exc)}",
            hint=hint,
        ) from None
    try:
        client.wait_for_workers(1, timeout=max(1.0, timeout - (time.monotonic() - started)))
    except Exception:
        _close(client, None)
        raise ComputeError(
            f"the Dask scheduler at {address} has no worker (waited {timeout:g} s)",
            hint="start workers with `dask worker " + address + "`",
        ) from None
    return client


def _start_local(spec: Compute, verbose: bool) -> tuple[Any, Any]:
    """A LocalCluster of worker processes on 127.0.0.1 and its client."""
    from distributed import Client, LocalCluster

    workers, threads = local_cluster_size(spec.n_workers, spec.threads_per_worker, usable_cores())
    timeout = max(spec.connect_timeout, LOCAL_START_TIMEOUT)
    cluster = None
    try:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
            silence_logs=False if verbose else logging.CRITICAL,
            timeout=timeout,
        )
        client = Client(cluster, set_as_default=True, timeout=timeout)
    except Exception as exc:
        _close(None, cluster)
        raise ComputeError(
            f"cannot start a local Dask cluster ({workers} workers × {threads} threads "
            f"on 127.0.0.1): {_first_line(exc)}",
            hint="run again with --traceback to see Dask's logs",
        ) from None
    return cluster, client


def _import_modules(names: list[str]) -> None:
    """Run on each worker by :func:`open_session`: import what its tasks will unpickle."""
    import importlib

    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def _close(client: Any, cluster: Any) -> None:
    """Close the client and the cluster mlctl started; never raises."""
    if client is not None:
        with contextlib.suppress(Exception):
            client.close(timeout=10)
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=10)


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence distributed's loggers and warnings for the session (restored after)."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    loggers += [
        logger
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.startswith(NOISY_LOGGERS)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in levels:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="distributed")
            yield
    finally:
        for logger, level in levels.items():
            logger.setLevel(level)


def _socket_reason(exc: OSError, timeout: float) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    return exc.strerror or _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return first_line(exc)[:300]  # a cluster's error can hold a whole log
