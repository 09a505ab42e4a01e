"""Run the app under uvicorn: one process, or N worker processes sharing the port.

With several workers on Linux each worker listens on its own ``SO_REUSEPORT``
socket, so the kernel spreads connections evenly across them. uvicorn's default
(one socket shared by all workers) lets whichever worker wakes first accept every
pending connection: measured here, a load of 64 keep-alive clients all landed on
one of two workers, so the second core did nothing and p99 doubled. Every worker but
the first (and every restarted one) starts listening only once its model is loaded,
so no connection reaches a worker that is still loading. :class:`Supervisor` runs the
workers: it restarts one that dies, gives up when a worker cannot start the app, and
on SIGTERM/SIGINT asks every worker to drain.

Before any worker starts, math libraries are pinned to one thread per process
(``OMP_NUM_THREADS`` & co.; measured here: two workers with default threading
oversubscribe two cores and stall under load) and Prometheus' multiprocess directory
is set for more than one worker. Connections are read by
:class:`mlctl.serve.transport.GuardedHttp` (431 for oversized headers, 408 for requests
that arrive too slowly, a lingering close after an early answer). On SIGTERM each worker turns ``/ready`` to 503 (see
the app's lifespan), uvicorn drains in-flight requests, then the prediction log
commits what it holds and the command exits 0.

The console: :func:`configure_logging` sends the lines of the ``mlctl`` loggers (the
access log of :mod:`mlctl.serve.middleware` among them), uvicorn's warnings and Python's
warnings to stderr in every server process, through a bounded queue and a thread of its own, so a
slow or full console never stalls a request (lines that do not fit are dropped and
counted in a later line). uvicorn's own access log is off: ours replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

from mlctl.errors import WorkerFailed
from mlctl.serve.app import LOAD_FIRST_ENV, ServeConfig
from mlctl.serve.encoding import inflating
from mlctl.serve.fastpath import fast_scoring
from mlctl.serve.middleware import access_log_middleware

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass
class Bind:
    host: str
    port: int
    workers: int
    drain_seconds: float


def pin_threads() -> None:
    """One math-library thread per process (inherited by worker processes)."""
    for name in THREAD_VARS:
        os.environ[name] = "1"


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONSOLE_QUEUE = 10_000  # lines waiting for the console, at most
CONSOLE_FLUSH = 0.05  # seconds between two writes of the console's lines
PIPE_BUF = 4096  # POSIX: a pipe write of at most this many bytes is atomic


class _ConsoleQueue(logging.Handler):
    """Hands log records to a writer thread; drops them when the queue is full (a
    console that does not keep up, a pipe nobody reads) and says how many in the next
    line written.

    The thread writes with ``os.write`` on stderr's file descriptor: blocked on a full
    pipe, it holds none of the locks of ``sys.stderr``, so nothing else waits for it, not
    even the interpreter's exit."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.queue: queue.Queue[logging.LogRecord] = queue.Queue(CONSOLE_QUEUE)
        self.dropped = 0
        try:
            self.fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's capture)
            self.fd, self.stream = None, stream
        threading.Thread(target=self._write, name="mlctl-console", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        """Writes what waits, in one ``write`` at most every :data:`CONSOLE_FLUSH`
        seconds (a line a request, one at a time, would cost a wake-up and a system call
        each)."""
        while True:
            records = [self.queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(records) < CONSOLE_QUEUE:
                    records.append(self.queue.get_nowait())
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                note = {
                    "name": "mlctl.serve",
                    "levelno": logging.WARNING,
                    "levelname": "WARNING",
                    "msg": f"{dropped} log lines dropped (the console is slow)",
                }
                records.insert(0, logging.makeLogRecord(note))
            self._out("".join(self._line(r) for r in records))
            time.sleep(CONSOLE_FLUSH)

    def _line(self, record: logging.LogRecord) -> str:
        try:
            return self.format(record) + "\n"
        except Exception:  # a record whose message cannot be formatted
            return f"{record.levelname} {record.name}: {record.msg!r}\n"

    def _out(self, text: str) -> None:
        if self.fd is None:
            self.stream.write(text)
            return
        with contextlib.suppress(OSError):  # a closed console: the lines go nowhere
            for chunk in _chunks(text.encode("utf-8", "backslashreplace")):
                while chunk:
                    chunk = chunk[os.write(self.fd, chunk) :]

    def drain(self, seconds: float = 1.0) -> None:
        """At exit: give the thread a moment to write what waits."""
        deadline = time.monotonic() + seconds
        while not self.queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(min(CONSOLE_FLUSH * 2, max(0.0, deadline - time.monotonic())))


def _chunks(data: bytes, size: int = PIPE_BUF) -> list[bytes]:
    """Whole lines of at most ``size`` bytes each (a longer line alone): a pipe writes
    each such chunk at once, so a process that ends while the console is full leaves no
    half line behind."""
    out: list[bytes] = []
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + size) + 1
        if end <= start:  # a line longer than size: up to its end
            end = data.find(b"\n", start) + 1 or len(data)
        out.append(data[start:end])
        start = end
    return out


def configure_logging(access_log: str) -> None:
    """The server's console (stderr): ``mlctl`` lines at INFO and above, uvicorn's at
    WARNING, Python's warnings, the access log at the level ``access_log`` names
    (``off``: none), all through one :class:`_ConsoleQueue`. Idempotent in a process."""
    import atexit

    from mlctl.serve.middleware import ACCESS_LEVELS, ACCESS_LOGGER

    root = logging.getLogger("mlctl")
    if not getattr(root, "_mlctl_console", False):
        writer = _ConsoleQueue(sys.stderr)
        # Python's warnings too (a library's RuntimeWarning while scoring): written to
        # stderr directly, they would block a scoring thread on a full console.
        logging.captureWarnings(True)
        for name in ("mlctl", "uvicorn", "py.warnings"):
            logging.getLogger(name).addHandler(writer)
            logging.getLogger(name).propagate = False  # only through the queue
        atexit.register(writer.drain)
        root._mlctl_console = True  # type: ignore[attr-defined]
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    level = ACCESS_LEVELS.get(access_log)
    logging.getLogger(ACCESS_LOGGER).setLevel(level if level is not None else logging.CRITICAL + 1)


def _graceful_exit(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def reuse_port_supported() -> bool:
    """The kernel balances connections across ``SO_REUSEPORT`` listeners (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port that other workers of this user may bind too."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


STARTUP_FAILED = 3  # a worker's exit code when its app did not start (e.g. no model)
RESTARTS_PER_MINUTE = 5  # more crashes than this and the supervisor gives up


def _worker_main(common: dict[str, Any], load_first: bool) -> None:
    """One worker process: its own SO_REUSEPORT socket, the app from the environment.

    A worker that replaces a dead one loads its model before it listens (``load_first``),
    so the kernel sends it no connection while it could only answer 503."""
    import uvicorn

    _die_with_parent()
    if load_first:
        os.environ[LOAD_FIRST_ENV] = "1"
    config = uvicorn.Config(APP_FROM_ENV, factory=True, **common)
    server = uvicorn.Server(config)
    # uvicorn listens only after the app's lifespan started (with load_first: the model
    # is loaded by then).
    server.run(sockets=[reuse_port_socket(config.host, config.port)])
    if not server.started:  # the process's exit code tells the supervisor
        raise SystemExit(STARTUP_FAILED)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if the supervisor dies (no orphaned workers)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    """Runs N worker processes, restarts one that dies, stops all on SIGTERM/SIGINT.

    Args:
        workers: Number of worker processes.
        common: uvicorn.Config keyword arguments (host, port, ...).
        drain_seconds: How long a worker may drain before it is killed.
    """

    def __init__(self, workers: int, common: dict[str, Any], drain_seconds: float) -> None:
        import multiprocessing

        self.workers = workers
        self.common = common
        self.drain_seconds = drain_seconds
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._crashes: list[float] = []

    def _start(self, load_first: bool = False) -> Any:
        proc = self._ctx.Process(
            target=_worker_main, args=(self.common, load_first), name="mlctl-worker"
        )
        proc.start()
        return proc

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop.set()

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (blocks).

        Raises:
            WorkerFailed: a worker's app did not start, or workers kept crashing.
        """
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        # The first worker listens at once (so /health answers and /ready says "loading"
        # while the model loads); the others only once their model is loaded, so no
        # connection ever reaches a worker that is still loading: /ready never flips.
        procs = [self._start(load_first=i > 0) for i in range(self.workers)]
        try:
            while not self._stop.wait(0.2):
                for i, proc in enumerate(procs):
                    if proc.is_alive():
                        continue
                    self._check_crash(proc.exitcode)
                    procs[i] = self._start(load_first=True)
        finally:
            self._stop_all(procs)

    def _check_crash(self, exitcode: int | None) -> None:
        if exitcode == STARTUP_FAILED:
            raise WorkerFailed("a worker could not start the service (see the messages above)")
        now = time.monotonic()
        self._crashes = [t for t in self._crashes if now - t < 60] + [now]
        if len(self._crashes) > RESTARTS_PER_MINUTE:
            raise WorkerFailed(
                f"workers died {len(self._crashes)} times within a minute "
                f"(last exit code {exitcode}); stopping"
            )

    def _stop_all(self, procs: list[Any]) -> None:
        for proc in procs:  # a terminal's Ctrl-C reached them too; SIGTERM does not force
            if proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.drain_seconds + 10
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()


APP_FROM_ENV = "mlctl.serve.server:app_from_env"


def app_from_env() -> Any:
    """Uvicorn's factory in each worker process: the app (its config from the parent)
    with the access log around it."""
    from mlctl.serve import app

    config = ServeConfig.from_json(os.environ["MLCTL_SERVE_CONFIG"])
    access_log = _access_log(config)
    configure_logging(access_log)
    return access_log_middleware(_front(app.app_from_env(), config), access_log)


def _front(app: Any, config: ServeConfig) -> Any:
    """The Litestar app behind the layers that answer before it: compressed bodies
    inflated (:mod:`mlctl.serve.encoding`), then the lean scoring route
    (:mod:`mlctl.serve.fastpath`)."""
    from mlctl.recipe.schema import Serve

    limit = Serve.model_validate(config.settings).max_body_bytes
    return inflating(fast_scoring(app), limit)


def _access_log(config: ServeConfig) -> str:
    return str(config.settings.get("access_log", "info"))


def http_protocol() -> str:
    """uvicorn's HTTP protocol with header limits, receive deadlines and a lingering
    close (:mod:`mlctl.serve.transport`), as an import path (workers are spawned)."""
    try:
        import httptools  # noqa: F401  (part of uvicorn[standard])
    except ImportError:  # pragma: no cover - uvicorn's h11 protocol, without the guards
        return "h11"
    return "mlctl.serve.transport:GuardedHttp"


def run_server(config: ServeConfig, bind: Bind) -> None:
    """Serve until SIGTERM/SIGINT (blocks)."""
    import uvicorn

    pin_threads()
    configure_logging(_access_log(config))
    # uvicorn drains on SIGTERM, then re-raises it; the handler it restores then makes a
    # graceful stop exit 0 rather than "killed by SIGTERM".
    signal.signal(signal.SIGTERM, _graceful_exit)
    os.environ["MLCTL_SERVE_CONFIG"] = config.to_json()
    prom_dir = None
    if bind.workers > 1:
        prom_dir = tempfile.mkdtemp(prefix="mlctl-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
    common = dict(
        host=bind.host,
        port=bind.port,
        log_level="warning",
        access_log=False,  # the middleware's access log replaces uvicorn's
        log_config=None,  # its loggers go through configure_logging's queue
        timeout_graceful_shutdown=max(1, int(bind.drain_seconds)),
        lifespan="on",
        server_header=False,
        http=http_protocol(),
    )
    try:
        if bind.workers == 1:
            from mlctl.serve.app import create_app

            app = access_log_middleware(_front(create_app(config), config), _access_log(config))
            uvicorn.run(app, **common)
        elif reuse_port_supported():
            Supervisor(bind.workers, common, bind.drain_seconds).run()
        else:
            uvicorn.run(APP_FROM_ENV, factory=True, workers=bind.workers, **common)
    finally:
        if prom_dir:
            shutil.rmtree(prom_dir, ignore_errors=True)
